"""The app as a live server (SQLite, and PostgreSQL) with real personal API keys for three people, and helpers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.store import open_store
from tests.conftest import API_TOKEN, LiveApp, app_env, start_app, stop_app
from tests.fake_upstream import FakeUpstream
from tests.services.postgres import PostgresMissing, running_postgres

# Who sends a request: three people with a personal API key each, and the admin token (API_TOKENS), nobody's.
ALICE, BOB, CAROL, ADMIN = 'alice', 'bob', 'carol', 'admin'
# The sign-in proxy's header the page takes a person from (from loopback): a test opens a person's page with it.
USER_HEADER = 'X-Test-User'
ALLOWED_MODELS = 'fake-model,other-model'


@dataclass
class KeyedApp(LiveApp):
    """The live app and the secret of each person's key (made through the store, as the API keys page makes one)."""

    keys: dict[str, str] = field(default_factory=dict)

    def auth(self, who: str) -> dict[str, str]:
        """The Authorization header of `who`."""
        return {'Authorization': f'Bearer {self.keys[who]}'}


async def _make_keys(database: str) -> dict[str, str]:
    store = await open_store(database)
    try:
        keys = {ADMIN: API_TOKEN}
        for name in (ALICE, BOB, CAROL):
            owner = await store.user_id(f'header:{name}')  # the person the page knows by USER_HEADER
            keys[name] = (await store.create_api_key(owner, f'{name} tests')).secret
        return keys
    finally:
        await store.close()


def _start(upstream: FakeUpstream, folder: Path, database: str | None = None) -> KeyedApp:
    extra = {'DATABASE_URL': database} if database else {}
    env = app_env(upstream, TRUSTED_USER_HEADER=USER_HEADER, ALLOWED_MODELS=ALLOWED_MODELS, PING_INTERVAL='0.5',
                  **extra)
    live = start_app(env, folder / 'app.log')
    keys = asyncio.run(_make_keys(database or f'sqlite:///{folder / "data" / "nicechat.db"}'))
    return KeyedApp(live.url, live.process, live.log_path, keys)


@pytest.fixture(scope='session')
def conv_app(fake_upstream_server: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyedApp]:
    """main.py on the fake upstream (SQLite), with API_TOKENS (admin), people's keys, their pages by user header."""
    app = _start(fake_upstream_server, tmp_path_factory.mktemp('conv'))
    yield app
    stop_app(app)


@pytest.fixture(scope='session')
def conv_app_pg(fake_upstream_server: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyedApp]:
    """The same app on a throwaway PostgreSQL server (fails, not skips, when PostgreSQL is not installed)."""
    try:
        with running_postgres() as server:
            app = _start(fake_upstream_server, tmp_path_factory.mktemp('conv-pg'),
                         server.url(server.create_database()))
            yield app
            stop_app(app)
    except PostgresMissing as missing:
        pytest.fail(str(missing), pytrace=False)


@pytest.fixture(params=['sqlite', 'postgresql'])
def any_app(request: pytest.FixtureRequest) -> KeyedApp:
    """The conversation app on each database."""
    app: KeyedApp = request.getfixturevalue('conv_app' if request.param == 'sqlite' else 'conv_app_pg')
    return app


def create(app: KeyedApp, who: str = ALICE, **fields: Any) -> str:
    """A new conversation of `who`; its id."""
    response = httpx.post(app.url + '/api/conversations', json=fields, headers=app.auth(who), timeout=10)
    assert response.status_code == 201, response.text
    return str(response.json()['id'])


def lines_of(response: httpx.Response) -> list[dict[str, Any]]:
    """The NDJSON lines of a whole response."""
    return [json.loads(line) for line in response.text.splitlines() if line]


def read(app: KeyedApp, conversation_id: str, who: str = ALICE, **params: Any) -> httpx.Response:
    """GET /api/conversations/{id} as `who`."""
    return httpx.get(f'{app.url}/api/conversations/{conversation_id}', params=params, headers=app.auth(who),
                     timeout=10)
