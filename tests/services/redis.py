"""A throwaway Redis server for tests and benchmarks: Debian's redis-server, a temp dir, a free loopback port.

    with running_redis() as server:
        url = server.url(db=1)

Nothing is saved to disk. Fails with a message naming the package when redis-server is not installed (CI installs
it; tests do not skip). `restart()` stops and starts it on the same port, for tests of the app riding out an outage.
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

from tests.services.postgres import free_port

MISSING = "redis-server was not found: install Debian's `redis-server` package (apt-get install -y redis-server)"
# Seconds redis-server may take to answer PING after starting (it is usually ready in milliseconds).
START_TIMEOUT_S = 20


class RedisMissing(RuntimeError):
    """redis-server is not installed."""


class RedisServer:
    """One redis-server process on 127.0.0.1, its files in a temp dir, no persistence."""

    def __init__(self) -> None:
        binary = shutil.which('redis-server')
        if binary is None:
            raise RedisMissing(MISSING)
        self.binary = binary
        self.root = Path(tempfile.mkdtemp(prefix='nicechat-redis-'))
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        """Start the server (on a new free port the first time, the same one after that); RuntimeError if it fails."""
        for _attempt in range(3):  # the free port may be taken between finding and binding it
            port = self.port or free_port()
            log = (self.root / 'log').open('ab')
            self.process = subprocess.Popen(
                [self.binary, '--port', str(port), '--bind', '127.0.0.1', '--dir', str(self.root), '--save', '',
                 '--appendonly', 'no', '--daemonize', 'no', '--protected-mode', 'yes', '--logfile', ''],
                stdout=log, stderr=subprocess.STDOUT)
            log.close()
            if self._answers(port):
                self.port = port
                return self
            self.process.kill()
            self.process.wait()
        raise RuntimeError(f'redis-server did not start:\n{self.log()[-2000:]}')

    def stop(self) -> None:
        """Stop the server at once (its data is gone: nothing is persisted)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self) -> None:
        """Stop, then start again on the same port, empty."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server and delete its files."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, db: int = 0) -> str:
        """The redis:// URL of database `db` (0-15)."""
        return f'redis://127.0.0.1:{self.port}/{db}'

    def command(self, *args: str) -> str:
        """Send one command (inline protocol) and return the first line of the answer."""
        with socket.create_connection(('127.0.0.1', self.port), timeout=5) as sock:
            sock.sendall(' '.join(args).encode() + b'\r\n')
            return sock.makefile('rb').readline().decode().strip()

    def log(self) -> str:
        """What the server printed."""
        path = self.root / 'log'
        return path.read_text(errors='replace') if path.exists() else ''

    def _answers(self, port: int) -> bool:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False  # exited: most likely the port was taken
            try:
                with socket.create_connection(('127.0.0.1', port), timeout=1) as sock:
                    sock.sendall(b'PING\r\n')
                    if sock.recv(64).startswith(b'+PONG'):
                        return True
            except OSError:
                time.sleep(0.02)  # a starting subprocess gives no event to await
        return False


@contextmanager
def running_redis() -> Iterator[RedisServer]:
    """A started RedisServer, stopped and deleted on leaving; RedisMissing if it is not installed."""
    server = RedisServer()
    try:
        yield server.start()
    finally:
        server.close()
