"""A throwaway Redis server for tests and benchmarks: Debian's redis-server, a temp dir, a free loopback port.

    with running_redis(password='...') as server:
        url = server.url(db=1)      # redis://:<password>@127.0.0.1:<port>/1
        server.flush()              # empty every database, between tests that share the server

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

import redis

from tests.services.postgres import free_port

__all__ = ['RedisMissing', 'RedisServer', 'free_port', 'running_redis']

MISSING = "redis-server was not found: install Debian's `redis-server` package (apt-get install -y redis-server)"
# Seconds redis-server may take to answer PING after starting (it is usually ready in milliseconds).
START_TIMEOUT_S = 20


class RedisMissing(RuntimeError):
    """redis-server is not installed."""


class RedisServer:
    """One redis-server process on 127.0.0.1, its files in a temp dir, no persistence; `password` sets requirepass."""

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
        """Start the server (on a new free port the first time, the same one after that); RuntimeError if it fails."""
        for _attempt in range(3):  # the free port may be taken between finding and binding it
            port = self.port or free_port()
            log = (self.root / 'log').open('ab')
            args = [self.binary, '--port', str(port), '--bind', '127.0.0.1', '--dir', str(self.root), '--save', '',
                    '--appendonly', 'no', '--daemonize', 'no', '--protected-mode', 'yes', '--logfile', '']
            if self.password:
                args += ['--requirepass', self.password]
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
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
        """The redis:// URL of database `db` (0-15), with the password when there is one."""
        auth = f':{self.password}@' if self.password else ''
        return f'redis://{auth}127.0.0.1:{self.port}/{db}'

    def client(self, db: int = 0) -> redis.Redis:
        """A blocking client of database `db` (for a test to look at or change what the app stored)."""
        return redis.Redis.from_url(self.url(db))

    def flush(self) -> None:
        """Empty every database."""
        with self.client() as client:
            client.flushall()

    def command(self, *args: str) -> str:
        """Send one command (inline protocol) and return the first line of the answer."""
        with socket.create_connection(('127.0.0.1', self.port), timeout=5) as sock:
            answers = sock.makefile('rb')
            if self.password:
                sock.sendall(f'AUTH {self.password}\r\n'.encode())
                answers.readline()
            sock.sendall(' '.join(args).encode() + b'\r\n')
            return answers.readline().decode().strip()

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
                    # Without AUTH a password-protected server answers -NOAUTH: that is an answer too.
                    sock.sendall(b'PING\r\n')
                    if sock.recv(64).startswith((b'+PONG', b'-NOAUTH')):
                        return True
            except OSError:
                time.sleep(0.02)  # a starting subprocess gives no event to await
        return False


@contextmanager
def running_redis(*, password: str | None = None) -> Iterator[RedisServer]:
    """A started RedisServer, stopped and deleted on leaving; RedisMissing if it is not installed."""
    server = RedisServer(password=password)
    try:
        yield server.start()
    finally:
        server.close()
