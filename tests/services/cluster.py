"""Several app instances on one PostgreSQL database and one Redis, behind nginx with the repo's deploy/nginx.conf.

Each instance is `python main.py` on its own fixed loopback port, so one can be killed and started again on the
same address (nginx keeps routing to it); all share STORAGE_SECRET, DATA_DIR (images), the database and Redis,
as the instances of deploy/compose.yaml do.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app.store import open_store
from tests.services.nginx import NginxServer, free_port, render
from tests.services.processes import end

ROOT = Path(__file__).resolve().parents[2]
SITE_CONF = ROOT / 'deploy' / 'nginx.conf'
# Seconds an instance may take to answer /healthz after starting (seen over 30 on a loaded 2-core machine).
START_TIMEOUT_S = 90
# An instance's gauge of the replies it streams from the model now (app/ops/metrics.py): up from before the instance
# asks the model until the reply ends, so while a reply is held mid-stream it names the instance holding it.
STREAMS_IN_FLIGHT = 'nicechat_streams_in_flight'


@dataclass
class Instance:
    """One app process on a fixed port; start() again after kill() to bring it back on the same address."""

    name: str
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f'http://127.0.0.1:{self.port}'

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def launch(self) -> None:
        """Start the process (wait_ready() waits for it)."""
        env = {**os.environ, **self.env, 'HOST': '127.0.0.1', 'PORT': str(self.port), 'PYTHONUNBUFFERED': '1'}
        env.pop('PYTEST_CURRENT_TEST', None)  # NiceGUI changes behaviour under pytest; this is a real run
        env.pop('NICEGUI_USER_SIMULATION', None)
        with self.log_path.open('ab') as log:
            self.process = subprocess.Popen([sys.executable, 'main.py'], cwd=ROOT, env=env, stdout=log,
                                            stderr=subprocess.STDOUT)

    def wait_ready(self) -> None:
        """Wait until /healthz answers; RuntimeError with the log if the process exits or takes too long."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f'{self.name} exited:\n{self.log()[-3000:]}')
            try:
                if httpx.get(self.url + '/healthz', timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)  # polling a starting subprocess: there is no event to await
        raise RuntimeError(f'{self.name} did not start:\n{self.log()[-3000:]}')

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.process is not None and self.running:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        """SIGTERM (a clean shutdown), SIGKILL if it does not end in 10 s."""
        if self.process is not None and self.running:
            end(self.process)

    def log(self) -> str:
        return self.log_path.read_text(errors='replace') if self.log_path.exists() else ''

    def metric(self, name: str) -> float:
        """The unlabelled sample `name` of this instance's own /metrics (asked directly: nginx does not pass /metrics
        on, and each instance counts only itself)."""
        response = httpx.get(self.url + '/metrics', timeout=10)
        response.raise_for_status()
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                if sample.name == name and not sample.labels:
                    return sample.value
        raise KeyError(f'{self.name} has no metric {name}')


class Cluster:
    """N instances and nginx in front of them (`url`); `nginx.root / 'access.log'` says who served what."""

    def __init__(self, folder: Path, env: dict[str, str], database_url: str, count: int = 2) -> None:
        self.database_url = database_url
        shared = {**env, 'DATABASE_URL': database_url, 'DATA_DIR': str(folder / 'data')}
        self.instances = [Instance(f'app{i}', shared, folder / f'app{i}.log') for i in range(1, count + 1)]
        self.port = free_port()
        replacements = {f'server app{i}:8080': f'server {app.url.removeprefix("http://")}'
                        for i, app in enumerate(self.instances, 1)}
        replacements |= {'listen 80;': f'listen 127.0.0.1:{self.port};',
                         '/var/log/nginx/access.log': '{root}/access.log'}
        self.nginx = NginxServer(render(SITE_CONF.read_text(), replacements))

    @property
    def url(self) -> str:
        return f'http://127.0.0.1:{self.port}'

    def start(self) -> Cluster:
        """Migrate the database once (instances starting together would race to), then start everything."""
        asyncio.run(_migrate(self.database_url))
        for app in self.instances:
            app.launch()
        for app in self.instances:
            app.wait_ready()
        self.nginx.start(self.port)
        return self

    def revive(self) -> None:
        """Start again any instance a test killed, on its old port."""
        dead = [app for app in self.instances if not app.running]
        for app in dead:
            app.launch()
        for app in dead:
            app.wait_ready()

    def streams(self) -> dict[str, float]:
        """Per running instance (by name), how many replies it streams from the model now (its own /metrics)."""
        return {app.name: app.metric(STREAMS_IN_FLIGHT) for app in self.instances if app.running}

    def streaming(self, before: dict[str, float]) -> Instance:
        """The instance that streams one more reply than at `before` (`streams()` taken before the reply started).

        Asked of the instances themselves, not of nginx's access log: it names the instance holding the reply (its
        upstream request, and its lease in Redis) whichever way the browser's requests went. Call it while the reply
        is held mid-stream (a gated fake upstream, a token shown): the gauge rose before the model was asked, so
        there is nothing to wait for. AssertionError unless exactly one instance streams one more.
        """
        now = self.streams()
        more = [name for name, count in now.items() if count == before.get(name, 0) + 1]
        assert len(more) == 1 and all(count <= before.get(name, 0) for name, count in now.items()
                                      if name not in more), f'replies streamed now {now}, before {before}'
        return next(app for app in self.instances if app.name == more[0])

    def served_by(self, request: str = '', *, count: int = 0) -> list[str]:
        """Per line of nginx's access log whose request line starts with `request` (e.g. 'GET / '): the instance
        nginx sent it to ('' for none). For nginx's own routing (which instance it picked); to know which instance
        holds a tab's reply, ask the instances (`streaming`). nginx writes a line just after the response (a
        websocket's when it closes): with `count`, wait up to 5 s for that many lines."""
        names = {app.url.removeprefix('http://'): app.name for app in self.instances}
        log = self.nginx.root / 'access.log'
        deadline = time.monotonic() + 5
        while True:
            lines = [line for line in (log.read_text().splitlines() if log.exists() else [])
                     if line.partition('"')[2].startswith(request)]
            if len(lines) >= count or time.monotonic() > deadline:
                break
            time.sleep(0.01)  # a file another process appends to: no event to await
        # `upstream=A, B` when A failed and B answered
        answered = [line.rpartition('upstream=')[2].partition(' upstream_status=')[0].split(',')[-1].strip()
                    for line in lines]
        return [names.get(address, '') for address in answered]

    def close(self) -> list[str]:
        """Stop everything; the logs of instances that logged an error or a traceback."""
        self.nginx.close()
        for app in self.instances:
            app.stop()
        return [f'{app.name}:\n{app.log()[-3000:]}' for app in self.instances
                if 'ERROR' in app.log() or 'Traceback' in app.log()]


async def _migrate(url: str) -> None:
    store = await open_store(url)
    await store.close()
