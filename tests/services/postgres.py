"""A throwaway PostgreSQL server for tests and benchmarks: Debian's binaries, a temp dir, a free loopback port.

    with running_postgres() as server:
        url = server.url(server.create_database())

Fails with a message naming the package when PostgreSQL is not installed (CI installs it; tests do not skip).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import count
from pathlib import Path

MISSING = ("PostgreSQL's server binaries (initdb, pg_ctl, postgres) were not found: "
           "install Debian's `postgresql` package (apt-get install -y postgresql)")
USER = 'postgres'
PASSWORD = 'pg-test-pass-Zq81'  # loopback-only throwaway cluster; tests check it never shows in messages
# Seconds pg_ctl may take to start or stop the server (a loaded 2-core machine can be slow).
START_TIMEOUT_S = 60
# Settings for a throwaway cluster: nothing needs to survive a crash, so skip the disk flushes.
FAST = ('fsync=off', 'synchronous_commit=off', 'full_page_writes=off')


class PostgresMissing(RuntimeError):
    """PostgreSQL's server binaries are not installed."""


def bin_dir() -> Path:
    """The folder of the newest installed initdb/pg_ctl/postgres."""
    found = sorted(glob.glob('/usr/lib/postgresql/*/bin/initdb'), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which('initdb')
    if initdb is None:
        raise PostgresMissing(MISSING)
    return Path(initdb).resolve().parent


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One PostgreSQL cluster in a temp dir, listening on 127.0.0.1 and a unix socket in that dir."""

    def __init__(self, *, durable: bool = False) -> None:
        self.bin = bin_dir()
        self.durable = durable  # benchmarks keep PostgreSQL's default flushing; tests go fast
        self.root = Path(tempfile.mkdtemp(prefix='nicechat-pg-'))
        self.port = 0
        self._names = count(1)
        # PostgreSQL refuses to run as root: as root, run it (and own its files) as the postgres user.
        self._as = ['runuser', '-u', USER, '--'] if os.geteuid() == 0 else []
        if self._as:
            account = pwd.getpwnam(USER)
            os.chown(self.root, account.pw_uid, account.pw_gid)

    def start(self) -> PostgresServer:
        """Create the cluster and start the server; RuntimeError with its log if it does not come up."""
        (self.root / 'pw').write_text(PASSWORD)
        if self._as:
            shutil.chown(self.root / 'pw', USER)
        self._run('initdb', '-D', str(self.root / 'data'), '-U', USER, '-E', 'UTF8', '--locale=C.UTF-8',
                  '--auth-local=trust', '--auth-host=scram-sha-256', f'--pwfile={self.root / "pw"}')
        settings = ['listen_addresses=127.0.0.1', f'unix_socket_directories={self.root}', 'max_connections=200',
                    *(() if self.durable else FAST)]
        for _attempt in range(3):  # the free port may be taken between finding and binding it
            self.port = free_port()
            options = ' '.join([f'-p {self.port}', *(f'-c {setting}' for setting in settings)])
            started = subprocess.run([*self._as, str(self.bin / 'pg_ctl'), '-D', str(self.root / 'data'), '-w',
                                      '-t', str(START_TIMEOUT_S), '-l', str(self.root / 'log'), '-o', options,
                                      'start'], capture_output=True, text=True)
            if started.returncode == 0:
                return self
        log = (self.root / 'log').read_text(errors='replace') if (self.root / 'log').exists() else ''
        raise RuntimeError(f'PostgreSQL did not start:\n{started.stdout}{started.stderr}\n{log[-2000:]}')

    def stop(self) -> None:
        """Stop the server at once and delete its files."""
        if (self.root / 'data' / 'postmaster.pid').exists():
            subprocess.run([*self._as, str(self.bin / 'pg_ctl'), '-D', str(self.root / 'data'), '-m', 'immediate',
                            '-t', str(START_TIMEOUT_S), 'stop'], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = 'postgres', *, password: str = PASSWORD) -> str:
        """The postgresql:// URL of `database`, over TCP on loopback with the password."""
        return f'postgresql://{USER}:{password}@127.0.0.1:{self.port}/{database}'

    def sql(self, statement: str, database: str = 'postgres') -> str:
        """Run one statement with psql over the unix socket; its output."""
        done = subprocess.run([str(self.bin / 'psql'), '-h', str(self.root), '-p', str(self.port), '-U', USER,
                               '-d', database, '-v', 'ON_ERROR_STOP=1', '-At', '-c', statement],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f'psql failed: {done.stderr.strip()}')
        return done.stdout

    def create_database(self) -> str:
        """A new empty database; its name."""
        name = f'test_{os.getpid()}_{next(self._names)}'
        self.sql(f'CREATE DATABASE {name}')
        return name

    def drop_database(self, name: str) -> None:
        """Drop a database, closing whatever is still connected to it."""
        self.sql(f'DROP DATABASE IF EXISTS {name} WITH (FORCE)')

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run([*self._as, str(self.bin / program), *args], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f'{program} failed: {done.stdout}{done.stderr}')


@contextmanager
def running_postgres(*, durable: bool = False) -> Iterator[PostgresServer]:
    """A started PostgresServer, stopped and deleted on leaving; PostgresMissing if it is not installed."""
    server = PostgresServer(durable=durable)
    try:
        yield server.start()
    finally:
        server.stop()
