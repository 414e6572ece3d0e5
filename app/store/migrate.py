"""Bringing a database's schema up to date, with alembic, on the connection the store opened."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).resolve().parent / 'migrations'
# Any fixed number: instances starting together against one PostgreSQL database take turns migrating it.
_PG_MIGRATION_LOCK = 0x6E696365  # 'nice'


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option('script_location', str(MIGRATIONS))
    config.attributes['connection'] = connection
    return config


def head() -> str:
    """The newest revision this version of NiceChat knows."""
    revision = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert revision is not None
    return revision


def known(revision: str) -> bool:
    """Whether this version of NiceChat has the migration `revision`."""
    return revision in {script.revision for script in ScriptDirectory(str(MIGRATIONS)).walk_revisions()}


def current(connection: Connection) -> str | None:
    """The revision the database is at (None for an empty database)."""
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade(engine: AsyncEngine, revision: str = 'head') -> None:
    """Migrate the database to `revision` in one transaction (it rolls back as a whole if a step fails)."""
    async with engine.begin() as connection:
        if connection.dialect.name == 'postgresql':
            await connection.execute(text('SELECT pg_advisory_xact_lock(:key)'), {'key': _PG_MIGRATION_LOCK})
        await connection.run_sync(lambda sync: command.upgrade(_config(sync), revision))


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    """Migrate the database down to `revision` (for tests and for undoing an upgrade by hand)."""
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.downgrade(_config(sync), revision))


async def revision_of(engine: AsyncEngine) -> str | None:
    """The revision the database is at."""
    async with engine.connect() as connection:
        return await connection.run_sync(current)
