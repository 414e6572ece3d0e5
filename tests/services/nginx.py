"""A throwaway nginx for tests: the repo's deploy/nginx.conf, rendered for loopback ports, in a temp dir.

    with running_nginx(render(site, {'app1:8080': '127.0.0.1:5001', 'listen 80;': 'listen 127.0.0.1:5000;'})):
        ...

deploy/nginx.conf is an http-context file (the official image includes it from conf.d); this wraps it in a main
config of its own (pid, logs and temp paths in the temp dir, one worker, in the foreground). Fails with a message
naming the package when nginx is not installed (CI installs it; tests do not skip).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from tests.services.postgres import free_port
from tests.services.processes import end

MISSING = "nginx was not found: install Debian's `nginx` package (apt-get install -y nginx)"
# Seconds nginx may take to listen after starting (usually milliseconds).
START_TIMEOUT_S = 20

MAIN_CONF = """\
daemon off;
master_process on;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log info;
{user}
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    access_log {root}/access.log;
    include {site};
}}
"""


class NginxMissing(RuntimeError):
    """nginx is not installed."""


def render(site: str, replacements: Mapping[str, str]) -> str:
    """`site` with each key replaced by its value; ValueError if a key does not occur (the config changed shape)."""
    for old, new in replacements.items():
        if old not in site:
            raise ValueError(f'{old!r} is not in the nginx config')
        site = site.replace(old, new)
    return site


class NginxServer:
    """One nginx serving `site` (an http-context config) from a temp dir; `{root}` in it is that dir."""

    def __init__(self, site: str) -> None:
        binary = shutil.which('nginx') or ('/usr/sbin/nginx' if Path('/usr/sbin/nginx').exists() else None)
        if binary is None:
            raise NginxMissing(MISSING)
        self.binary = binary
        self.root = Path(tempfile.mkdtemp(prefix='nicechat-nginx-'))
        self.root.chmod(0o755)  # nginx's workers (not root) create their temp folders in it
        (self.root / 'site.conf').write_text(site.replace('{root}', str(self.root)))
        # As root, nginx's workers run as `nobody`; its logs are opened by the master, its temp dirs made for them.
        user = 'user nobody nogroup;' if os.geteuid() == 0 else ''
        (self.root / 'nginx.conf').write_text(MAIN_CONF.format(root=self.root, site=self.root / 'site.conf',
                                                               user=user))
        self.process: subprocess.Popen[bytes] | None = None

    def test_config(self) -> subprocess.CompletedProcess[str]:
        """`nginx -t` on the rendered config."""
        return subprocess.run([self.binary, '-t', '-p', str(self.root), '-c', str(self.root / 'nginx.conf')],
                              capture_output=True, text=True)

    def start(self, port: int) -> NginxServer:
        """Start nginx, which must listen on `port` (127.0.0.1); RuntimeError with its error log if it does not."""
        log = (self.root / 'stderr.log').open('ab')
        self.process = subprocess.Popen([self.binary, '-p', str(self.root), '-c', str(self.root / 'nginx.conf')],
                                        stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                socket.create_connection(('127.0.0.1', port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.02)  # a starting subprocess gives no event to await
        self.stop()
        raise RuntimeError(f'nginx did not start:\n{self.error_log()[-3000:]}')

    def stop(self) -> None:
        """Stop nginx (fast shutdown) and delete its files."""
        if self.process is not None:
            end(self.process)
        self.process = None

    def close(self) -> None:
        """Stop nginx and delete its folder."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def error_log(self) -> str:
        """nginx's error log and anything it printed."""
        return ''.join(path.read_text(errors='replace') for name in ('stderr.log', 'error.log')
                       if (path := self.root / name).exists())


@contextmanager
def running_nginx(site: str, port: int) -> Iterator[NginxServer]:
    """nginx serving `site` (which listens on 127.0.0.1:`port`), stopped and deleted on leaving."""
    server = NginxServer(site)
    try:
        yield server.start(port)
    finally:
        server.close()


__all__ = ['NginxMissing', 'NginxServer', 'free_port', 'render', 'running_nginx']
