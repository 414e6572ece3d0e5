"""The processes under test: the bench upstream, this app, the seed's Next.js route; CPU time from /proc."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.api.load import TOKEN

ROOT = Path(__file__).resolve().parents[2]
SEED_PEER = Path(os.environ.get('SEED_PEER_DIR', ROOT.parent / 'shared' / 'peers' / 'seed-nextjs'))
CLOCK_TICKS = os.sysconf('SC_CLK_TCK')
# A server that is not answering after this long will not: give up with its log.
START_TIMEOUT = 60.0


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return int(sock.getsockname()[1])


def export_tree(commit: str, folder: Path) -> Path:
    """`commit`'s files in `folder` (git archive: no checkout, no worktree left behind), to run beside this tree."""
    folder.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(['git', 'archive', commit], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(['tar', '-x', '-C', str(folder)], input=archive, check=True)
    return folder


def cpu_seconds(pid: int) -> float:
    """User + system CPU of `pid` and its live descendants (Next.js runs its server in a child process)."""
    children: dict[int, list[int]] = {}
    times: dict[int, float] = {}
    for entry in Path('/proc').iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / 'stat').read_text().rpartition(')')[2].split()
        except OSError:
            continue  # the process ended while we looked
        # After the command name: state ppid ... utime (14th field overall) stime (15th).
        children.setdefault(int(fields[1]), []).append(int(entry.name))
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += times.get(current, 0.0)
        todo.extend(children.get(current, []))
    return total


class Server:
    """One process we started, with its log; `stop()` ends it and its process group."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], cwd: Path, log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f'{name}.log'
        self.process = subprocess.Popen(command, cwd=cwd, env={**os.environ, **env}, stdout=self.log_path.open('wb'),
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def wait_until(self, url: str) -> Server:
        """Poll `url` until it answers at all."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f'{self.name} exited:\n{self.log_path.read_text(errors="replace")[-3000:]}')
            try:
                httpx.get(url, timeout=2)
                return self
            except httpx.TransportError:
                time.sleep(0.1)  # a starting process gives no event to wait for
        self.stop()
        raise RuntimeError(f'{self.name} did not start:\n{self.log_path.read_text(errors="replace")[-3000:]}')

    def cpu(self) -> float:
        """CPU seconds used so far by the server's process tree."""
        return cpu_seconds(self.process.pid)

    def stop(self) -> None:
        """Terminate the process group this server leads."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)


def start_upstream(log_dir: Path) -> tuple[Server, str]:
    """The bench upstream; returns it and its base URL (ending in /v1)."""
    port = free_port()
    server = Server('upstream', [sys.executable, '-m', 'bench.api.upstream', str(port)], {}, ROOT, log_dir)
    base = f'http://127.0.0.1:{port}'
    return server.wait_until(base), base + '/v1'


def start_nicechat(upstream_url: str, log_dir: Path, root: Path = ROOT, name: str = 'nicechat',
                   wrapper: list[str] | None = None, env_extra: dict[str, str] | None = None) -> tuple[Server, str]:
    """This app (`python main.py` in `root`, by default this checkout) talking to the bench upstream.

    `wrapper` runs main.py through a script of the bench (`python WRAPPER... main.py`: a profiler, a probe).
    """
    port = free_port()
    env = {'OPENAI_API_KEY': 'sk-bench', 'OPENAI_BASE_URL': upstream_url, 'OPENAI_MODEL': 'bench-model',
           'API_TOKENS': TOKEN, 'UPSTREAM_RETRIES': '0', 'HOST': '127.0.0.1', 'PORT': str(port),
           'STORAGE_SECRET': 'bench-storage-secret', **(env_extra or {})}
    server = Server(name, [sys.executable, *(wrapper or []), 'main.py'], env, root, log_dir)
    base = f'http://127.0.0.1:{port}'
    return server.wait_until(base + '/docs'), base


def build_seed() -> Path | None:
    """The seed's Next.js app, installed and built once per version of its source; None if npm is missing."""
    if shutil.which('npm') is None or shutil.which('node') is None:
        print('seed route: SKIPPED (npm/node not found; install Node 20 + npm to compare against it)')
        return None
    if not SEED_PEER.is_dir():
        print(f'seed route: SKIPPED ({SEED_PEER} not found; set SEED_PEER_DIR)')
        return None
    digest = hashlib.sha256()
    for path in sorted(p for p in SEED_PEER.rglob('*') if p.is_file()):
        digest.update(str(path.relative_to(SEED_PEER)).encode() + path.read_bytes())
    target = Path(tempfile.gettempdir()) / f'nicechat-bench-seed-{digest.hexdigest()[:12]}'
    if (target / '.next' / 'BUILD_ID').is_file():
        return target
    print(f'seed route: building in {target} (npm install + next build, once)...', flush=True)
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(SEED_PEER, target)
    for path in [target, *target.rglob('*')]:  # the shared copy is read-only
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    env = {**os.environ, 'OPENAI_API_KEY': 'sk-build', 'NEXT_TELEMETRY_DISABLED': '1'}
    for command in (['npm', 'install', '--no-audit', '--no-fund'], ['npx', 'next', 'build']):
        done = subprocess.run(command, cwd=target, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            print(f'seed route: SKIPPED ({" ".join(command)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]})')
            return None
    return target


def start_seed(build: Path, upstream_url: str, log_dir: Path) -> tuple[Server, str]:
    """`next start` of the built seed app, talking to the bench upstream."""
    port = free_port()
    env = {'OPENAI_API_KEY': 'sk-any', 'OPENAI_BASE_URL': upstream_url, 'NEXT_TELEMETRY_DISABLED': '1',
           'NODE_ENV': 'production'}
    command = ['node', str(build / 'node_modules' / 'next' / 'dist' / 'bin' / 'next'), 'start', '-p', str(port),
               '-H', '127.0.0.1']
    server = Server('seed', command, env, build, log_dir)
    base = f'http://127.0.0.1:{port}'
    return server.wait_until(base), base
