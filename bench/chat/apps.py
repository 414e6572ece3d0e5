"""The apps under test, each a live `main.py` run through bench/chat/launch.py: this tree, and the old design."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import httpx

from bench.api.servers import ROOT, Server, export_tree, free_port

# The design before the database: conversations in memory, keyed by browser tab.
OLD_COMMIT = '602d8fe'
LAUNCH = ROOT / 'bench' / 'chat' / 'launch.py'
# The header a trusted proxy would set; the benchmark's browser sends it to pick the seeded person.
USER_HEADER = 'X-Bench-User'


class App:
    """One running app: its server process and URL, and the launcher's probe figures."""

    def __init__(self, server: Server, url: str, person: str | None) -> None:
        self.server, self.url = server, url
        self.person = person  # the trusted user header the browser sends, when the app takes one

    def stats(self) -> dict[str, Any]:
        """Wire bytes, database writes, timings (ms lists), open conversations and CPU seconds (`cpu_s`) so far.

        The CPU time is read inside the request: a window between two calls counts about one call (~3 ms here).
        """
        return dict(httpx.get(f'{self.url}/bench/stats', timeout=10).json())

    def stop(self) -> None:
        """End the app (SIGTERM: it saves and closes its database)."""
        self.server.stop()


def export_old(folder: Path) -> Path:
    """The old design's files (OLD_COMMIT) in `folder`: run side by side, no checkout."""
    return export_tree(OLD_COMMIT, folder)


def start(name: str, app_dir: Path, upstream_url: str, log_dir: Path, person: str | None = None, **env: str) -> App:
    """Start `app_dir`'s main.py on a free loopback port, talking to the bench upstream; extra `env` on top.

    With `person`, the app trusts USER_HEADER from loopback, and the browser says it is that person.
    """
    port = free_port()
    base = {'OPENAI_API_KEY': 'sk-bench', 'OPENAI_BASE_URL': upstream_url, 'OPENAI_MODEL': 'bench-model',
            'UPSTREAM_RETRIES': '0', 'HOST': '127.0.0.1', 'PORT': str(port), 'STORAGE_SECRET': 'bench-storage-secret',
            'APP_PASSWORD': '', 'ALLOWED_MODELS': '', 'DATABASE_URL': '', 'TRUSTED_USER_HEADER': '',
            'PYTHONUNBUFFERED': '1'}
    if person:
        base['TRUSTED_USER_HEADER'] = USER_HEADER
    server = Server(name, [sys.executable, str(LAUNCH), str(app_dir)], {**base, **env}, ROOT, log_dir)
    url = f'http://127.0.0.1:{port}'
    server.wait_until(f'{url}/bench/stats')
    return App(server, url, person)
