"""A throwaway Redis server for tests and benchmarks: `redis-server` on a free loopback port, in a temp dir.

    with running_redis() as server:
        url = server.url()          # redis://127.0.0.1:<port>/0
        server.flush()              # empty every database, between tests that share the server

Nothing is written to disk (no snapshots, no append-only file). Fails with a message naming the package when
redis-server is not installed (CI installs it; tests do not skip).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

MISSING = 'redis-server was not found: install Debian\'s `redis-server` package (apt-get install -y redis-server)'
# Seconds redis-server may take to answer its first PING (a loaded 2-core machine can be slow).
START_TIMEOUT_S = 30


class RedisMissing(RuntimeError):
    """redis-server is not installed."""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One redis-server process on 127.0.0.1, its files in a temp dir; `password` sets `requirepass`."""

    def __init__(self, *, password: str | None = None) -> None:
        binary = shutil.which('redis-server')
        if binary is None:
            raise RedisMissing(MISSING)
        self.binary = binary
        self.password = password
        self.root = Path(tempfile.mkdtemp(prefix='nicechat-redis-'))
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        """Start the server and wait until it answers PING; RuntimeError with its log if it does not."""
        for _attempt in range(3):  # the free port may be taken between finding and binding it
            self.port = free_port()
            args = [self.binary, '--port', str(self.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
                    '--dir', str(self.root), '--logfile', str(self.root / 'log')]
            if self.password:
                args += ['--requirepass', self.password]
            self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if self._answers():
                return self
            self._kill()
        log = (self.root / 'log').read_text(errors='replace') if (self.root / 'log').exists() else ''
        raise RuntimeError(f'redis-server did not start:\n{log[-2000:]}')

    def stop(self) -> None:
        """Stop the server and delete its files."""
        self._kill()
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, db: int = 0) -> str:
        """The redis:// URL of database `db` (with the password, when there is one)."""
        auth = f':{self.password}@' if self.password else ''
        return f'redis://{auth}127.0.0.1:{self.port}/{db}'

    def client(self, db: int = 0) -> redis.Redis:
        """A blocking client of database `db` (for a test to look at or change what the app stored)."""
        return redis.Redis.from_url(self.url(db))

    def flush(self) -> None:
        """Empty every database."""
        with self.client() as client:
            client.flushall()

    def _answers(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False  # exited: the port was taken, or a bad argument (its log says)
            try:
                with self.client() as client:
                    if client.ping():
                        return True
            except redis.ConnectionError:
                time.sleep(0.02)  # a starting subprocess offers no event to await
        return False

    def _kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@contextmanager
def running_redis(*, password: str | None = None) -> Iterator[RedisServer]:
    """A started RedisServer, stopped and deleted on leaving; RedisMissing if redis-server is not installed."""
    server = RedisServer(password=password)
    try:
        yield server.start()
    finally:
        server.stop()
