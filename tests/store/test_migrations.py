"""Migrations: a database made by the first release upgrades in place, keeping its data, to the schema at head."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.store import Store, StoreError, database_display, migrate, open_store
from app.store.engine import create_engine, writer
from app.store.search import has_index, outside_metadata
from app.store.tables import metadata
from app.store.urls import async_url, sqlite_file

ALICE, CHAT, Q, A = 'a' * 32, 'c' * 32, '1' * 32, '2' * 32
WHEN = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A bare engine on the empty database, as open_store would make it."""
    url = async_url(database_url)
    if (path := sqlite_file(url)) is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    made = create_engine(url)
    yield made
    await made.dispose()


async def at_first_release(engine: AsyncEngine) -> None:
    """Migrate to 0001 only and store a user, a conversation and two messages with 0001's schema."""
    await migrate.upgrade(writer(engine), '0001')
    stamp = WHEN.replace(tzinfo=None) if engine.dialect.name == 'sqlite' else WHEN
    async with engine.begin() as connection:
        await connection.execute(text('INSERT INTO users (id, key, created_at) VALUES (:id, :key, :at)'),
                                 {'id': ALICE, 'key': 'browser-a', 'at': stamp})
        await connection.execute(text(
            'INSERT INTO conversations (id, owner_id, title, model, system_prompt, settings, created_at, updated_at) '
            'VALUES (:id, :owner, :title, :model, NULL, :settings, :at, :at)'),
            {'id': CHAT, 'owner': ALICE, 'title': 'Old chat', 'model': 'm', 'settings': '{"temperature": 0.3}',
             'at': stamp})
        for seq, (id, role, status) in enumerate([(Q, 'user', 'complete'), (A, 'assistant', 'streaming')]):
            await connection.execute(text(
                'INSERT INTO messages (id, conversation_id, parent_id, role, content, reasoning, status, error, '
                'finish_reason, usage, timing, model, created_at) VALUES (:id, :chat, NULL, :role, :content, '
                "'', :status, NULL, NULL, :usage, NULL, 'm', :at)"),
                {'id': id, 'chat': CHAT, 'role': role, 'content': f'text {seq}', 'status': status,
                 'usage': json.dumps({'total_tokens': 7}) if seq else None, 'at': stamp})


async def test_a_first_release_database_upgrades_in_place_with_its_data(engine: AsyncEngine,
                                                                        database_url: str) -> None:
    await at_first_release(engine)
    assert await migrate.revision_of(engine) == '0001'
    store = await open_store(database_url)
    try:
        assert await migrate.revision_of(engine) == migrate.head() != '0001'
        assert await store.user_id('browser-a') == ALICE
        record = await store.conversation(ALICE, CHAT)
        assert record is not None
        assert (record.title, record.settings, record.created_at) == ('Old chat', {'temperature': 0.3}, WHEN)
        assert [(m.id, m.content, m.status, m.usage) for m in await store.messages(CHAT)] == [
            (Q, 'text 0', 'complete', None), (A, 'text 1', 'streaming', {'total_tokens': 7})]
        assert [c.id for c in await store.conversations(ALICE, query='TEXT 1')] == [CHAT]
        assert await store.recover_interrupted() == 1
    finally:
        await store.close()
    async with engine.connect() as connection:
        indexes = await connection.run_sync(lambda sync: inspect(sync).get_indexes('conversations'))
    assert [index['column_names'] for index in indexes] == [['owner_id', 'updated_at', 'id']]


def schema_differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={
        'include_name': lambda name, type_, parent: not outside_metadata(name)})
    return list(compare_metadata(context, metadata))


async def test_migrations_build_exactly_the_tables_the_queries_use(store: Store, engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        assert await connection.run_sync(schema_differences) == []
        assert await connection.run_sync(has_index)  # and the trigram index (FTS5 / pg_trgm are here)
    assert store.search_index


async def test_a_database_at_0004_with_data_upgrades_in_place_and_gets_api_keys(engine: AsyncEngine,
                                                                              database_url: str) -> None:
    await at_first_release(engine)
    await migrate.upgrade(writer(engine), '0004')
    async with engine.begin() as connection:
        await connection.execute(text('UPDATE messages SET attachments = :images WHERE id = :id'),
                                 {'images': json.dumps([{'id': 'i' * 32, 'mime': 'image/png', 'size': 3}]), 'id': Q})
    store = await open_store(database_url)
    try:
        assert await migrate.revision_of(engine) == migrate.head()
        assert [m.attachments for m in await store.messages(CHAT)] == [
            [{'id': 'i' * 32, 'mime': 'image/png', 'size': 3}], None]
        created = await store.create_api_key(ALICE, 'after the upgrade')
        assert await store.api_key_by_secret(created.secret) == created.record
        assert await store.api_keys(ALICE) == [created.record]
    finally:
        await store.close()
    await migrate.downgrade(writer(engine), '0004')  # and back: the keys go, the conversations stay
    async with engine.connect() as connection:
        assert 'api_keys' not in await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        assert (await connection.execute(text('SELECT count(*) FROM messages'))).scalar_one() == 2


async def test_downgrade_and_upgrade_again(engine: AsyncEngine, database_url: str) -> None:
    await at_first_release(engine)
    await migrate.upgrade(writer(engine))
    await migrate.downgrade(writer(engine), '0001')
    assert await migrate.revision_of(engine) == '0001'
    store = await open_store(database_url)
    try:
        assert [m.id for m in await store.messages(CHAT)] == [Q, A]
    finally:
        await store.close()


async def test_opening_twice_migrates_once(database_url: str) -> None:
    first = await open_store(database_url)
    second = await open_store(database_url)  # already at head: nothing to do, no error
    await first.close()
    await second.close()


async def test_a_database_from_a_newer_release_is_refused_and_left_alone(engine: AsyncEngine,
                                                                        database_url: str) -> None:
    await migrate.upgrade(writer(engine))
    async with engine.begin() as connection:
        await connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    with pytest.raises(StoreError) as raised:
        await open_store(database_url)
    message = str(raised.value)
    assert message == (f'Cannot open database {database_display(database_url)}: its schema is at revision 0099, '
                       f'newer than this version of NiceChat knows (up to {migrate.head()}); run a newer NiceChat')
    assert await migrate.revision_of(engine) == '0099'


async def test_instances_starting_together_on_a_new_database_all_open_it(database_url: str) -> None:
    # Each open reads the schema revision, then migrates: without a lock taken up front, the later ones would
    # find the database changed under them ('database is locked' on SQLite, duplicate tables on PostgreSQL).
    stores = await asyncio.gather(*(open_store(database_url) for _ in range(6)))
    try:
        owner = await stores[0].user_id('alice')
        assert await stores[-1].user_id('alice') == owner
    finally:
        await asyncio.gather(*(store.close() for store in stores))


async def test_connections_racing_to_switch_a_new_sqlite_file_to_wal_all_open_it(tmp_path: Path) -> None:
    # Switching a new file to WAL answers 'database is locked' at once, without the busy timeout, when another
    # connection is switching it too (several instances opening a new file together; CI saw it once in the test
    # above). Before the switch was retried, about one race in 25 failed: run 200.
    async def connect(engine: AsyncEngine) -> str:
        async with engine.connect() as connection:
            return str((await connection.exec_driver_sql('PRAGMA journal_mode')).scalar())

    for attempt in range(200):
        engines = [create_engine(async_url(f'sqlite:///{tmp_path / f"{attempt}.db"}')) for _ in range(6)]
        try:
            assert await asyncio.gather(*(connect(engine) for engine in engines)) == ['wal'] * 6
        finally:
            await asyncio.gather(*(engine.dispose() for engine in engines))
