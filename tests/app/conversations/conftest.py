"""The app as a live server with stand-in personal API keys (launch.py), and helpers for its conversation routes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.app.conversations.launch import KEYS, USER_HEADER
from tests.conftest import API_TOKEN, LiveApp, app_env, start_app, stop_app
from tests.fake_upstream import FakeUpstream
from tests.services.postgres import PostgresMissing, running_postgres

ALICE, BOB, CAROL = (f'Bearer {secret}' for secret in KEYS)
ADMIN = f'Bearer {API_TOKEN}'
ALLOWED_MODELS = 'fake-model,other-model'


def _env(upstream: FakeUpstream, **extra: str) -> dict[str, str]:
    return app_env(upstream, TRUSTED_USER_HEADER=USER_HEADER, ALLOWED_MODELS=ALLOWED_MODELS, PING_INTERVAL='0.5',
                   **extra)


LAUNCH = ('-m', 'tests.app.conversations.launch')


@pytest.fixture(scope='session')
def conv_app(fake_upstream_server: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """main.py on the fake upstream (SQLite), with API_TOKENS (admin), people's keys, their pages by user header."""
    app = start_app(_env(fake_upstream_server), tmp_path_factory.mktemp('conv') / 'app.log', args=LAUNCH)
    yield app
    stop_app(app)


@pytest.fixture(scope='session')
def conv_app_pg(fake_upstream_server: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """The same app on a throwaway PostgreSQL server (fails, not skips, when PostgreSQL is not installed)."""
    try:
        with running_postgres() as server:
            env = _env(fake_upstream_server, DATABASE_URL=server.url(server.create_database()))
            app = start_app(env, tmp_path_factory.mktemp('conv-pg') / 'app.log', args=LAUNCH)
            yield app
            stop_app(app)
    except PostgresMissing as missing:
        pytest.fail(str(missing), pytrace=False)


@pytest.fixture(params=['sqlite', 'postgresql'])
def any_app(request: pytest.FixtureRequest) -> LiveApp:
    """The conversation app on each database."""
    app: LiveApp = request.getfixturevalue('conv_app' if request.param == 'sqlite' else 'conv_app_pg')
    return app


def create(app: LiveApp, auth: str = ALICE, **fields: Any) -> str:
    """A new conversation of the key's owner; its id."""
    response = httpx.post(app.url + '/api/conversations', json=fields, headers={'Authorization': auth}, timeout=10)
    assert response.status_code == 201, response.text
    return str(response.json()['id'])


def lines_of(response: httpx.Response) -> list[dict[str, Any]]:
    """The NDJSON lines of a whole response."""
    return [json.loads(line) for line in response.text.splitlines() if line]


def read(app: LiveApp, conversation_id: str, auth: str = ALICE, **params: Any) -> httpx.Response:
    """GET /api/conversations/{id}."""
    return httpx.get(f'{app.url}/api/conversations/{conversation_id}', params=params,
                     headers={'Authorization': auth}, timeout=10)
