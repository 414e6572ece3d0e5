"""Store fixtures: every store test runs on a SQLite file and on a real PostgreSQL server (`postgres_server`, from
tests/services/fixtures.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.store import Store, open_store
from tests.services.postgres import PostgresServer

DIALECTS = ('sqlite', 'postgresql')


def fresh_url(dialect: str, request: pytest.FixtureRequest, folder: Path) -> str:
    """The URL of a new, empty database of `dialect`; a PostgreSQL one is dropped when the test ends."""
    if dialect == 'sqlite':
        return f'sqlite:///{folder / "data" / "nicechat.db"}'
    server: PostgresServer = request.getfixturevalue('postgres_server')
    name = server.create_database()
    request.addfinalizer(lambda: server.drop_database(name))
    return server.url(name)


@pytest.fixture(params=DIALECTS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database, once per dialect."""
    return fresh_url(request.param, request, tmp_path)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    """An open, migrated store on an empty database."""
    opened = await open_store(database_url)
    yield opened
    await opened.close()
