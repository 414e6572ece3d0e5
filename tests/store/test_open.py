"""Opening: the SQLite folder is made, data survives a reopen, and every failure is one line without the password."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from app.store import NewMessage, StoreError, database_display, open_store
from app.store.connect import reason
from tests.services.postgres import PASSWORD, PostgresServer, free_port


async def expect_error(url: str) -> str:
    """The StoreError message of opening `url`, checked to be one line that names the URL without a password."""
    before = set(threading.enumerate())
    with pytest.raises(StoreError) as raised:
        await open_store(url)
    # When sqlite3 cannot open the file, aiosqlite ends its connection's thread without waiting for it; let it end
    # while this test's event loop still runs (the app's loop outlives it anyway).
    for thread in set(threading.enumerate()) - before:
        if '_connection_worker_thread' in thread.name:
            await asyncio.to_thread(thread.join, 10)
    message = str(raised.value)
    assert '\n' not in message and len(message) < 500
    assert message.startswith(f'Cannot open database {database_display(url)}: ')
    # The driver's exception is not chained on, so even a printed traceback shows only the one line.
    assert raised.value.__cause__ is None
    assert raised.value.__context__ is None or raised.value.__suppress_context__
    return message


async def test_sqlite_folder_is_made_and_data_survives_reopening(tmp_path: Path) -> None:
    url = f'sqlite:///{tmp_path}/deep/er/nicechat.db'
    store = await open_store(url)
    owner = await store.user_id('alice')
    chat = await store.create_conversation(owner, title='kept', model='m')
    await store.add_messages(chat.id, [NewMessage('user', 'still here?')])
    await store.close()
    assert (tmp_path / 'deep' / 'er' / 'nicechat.db').is_file()
    store = await open_store(url)
    try:
        kept = await store.conversation(owner, chat.id)
        assert kept is not None and (kept.title, kept.created_at) == ('kept', chat.created_at)
        assert [m.content for m in await store.messages(chat.id)] == ['still here?']
    finally:
        await store.close()


async def test_relative_sqlite_path_is_under_the_working_directory(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = await open_store('sqlite:///data/nicechat.db')  # the default DATABASE_URL
    await store.close()
    assert (tmp_path / 'data' / 'nicechat.db').is_file()


async def test_a_path_under_a_file_cannot_be_made(tmp_path: Path) -> None:
    (tmp_path / 'plain-file').write_text('not a folder')
    message = await expect_error(f'sqlite:///{tmp_path}/plain-file/sub/nicechat.db')
    assert message.endswith(f'cannot make the folder {tmp_path}/plain-file/sub: Not a directory')


async def test_a_folder_is_not_a_database_file(tmp_path: Path) -> None:
    assert (await expect_error(f'sqlite:///{tmp_path}')).endswith(': unable to open database file')


@pytest.mark.parametrize('content', [os.urandom(8192), b'hello, I am a text file\n' * 200])
async def test_a_garbage_file_is_refused_and_left_as_it_was(tmp_path: Path, content: bytes) -> None:
    garbage = tmp_path / 'nicechat.db'
    garbage.write_bytes(content)
    assert (await expect_error(f'sqlite:///{garbage}')).endswith(': file is not a database')
    assert garbage.read_bytes() == content


async def test_nothing_listening_on_the_postgres_port() -> None:
    url = f'postgresql://nicechat:hunter2-secret@127.0.0.1:{free_port()}/nicechat'
    message = await expect_error(url)
    assert 'hunter2-secret' not in message and 'nicechat:***@127.0.0.1' in message
    assert message.endswith('connection refused (is the database server running, and on this host and port?)')


async def test_a_wrong_postgres_password_is_refused_and_not_shown(postgres_server: PostgresServer) -> None:
    wrong = 'Wrong-Pass-7731'
    message = await expect_error(postgres_server.url(password=wrong))
    assert wrong not in message and PASSWORD not in message
    assert message.endswith('password authentication failed for user "postgres"')


async def test_a_missing_postgres_database(postgres_server: PostgresServer) -> None:
    message = await expect_error(postgres_server.url('no_such_db'))
    assert PASSWORD not in message and message.endswith('database "no_such_db" does not exist')


async def test_an_unknown_host() -> None:
    message = await expect_error('postgresql://u:pw-secret@no-such-host.invalid/db')
    assert 'pw-secret' not in message and 'cannot find the database host' in message


@pytest.mark.parametrize(('url', 'reason'), [
    ('mysql://root:pw-secret@db/chat', "unsupported scheme 'mysql' (use sqlite:/// or postgresql://)"),
    ('postgresql+psycopg2://u:pw-secret@h/db', "unsupported scheme 'postgresql+psycopg2'"),
    ('nicechat.db', 'not a database URL'),
    ('sqlite://', 'in-memory SQLite database is not supported'),
    ('sqlite:///:memory:', 'in-memory SQLite database is not supported'),
])
async def test_urls_the_store_cannot_serve(url: str, reason: str) -> None:
    message = await expect_error(url)
    assert reason in message and 'pw-secret' not in message


@pytest.mark.parametrize(('url', 'shown'), [
    ('postgresql://user:s3cret@db.internal:5432/chat', 'postgresql://user:***@db.internal:5432/chat'),
    ('postgresql://user@db/chat', 'postgresql://user@db/chat'),
    ('sqlite:///data/nicechat.db', 'sqlite:///data/nicechat.db'),
    ('weird://user:s3cret@[bad', 'weird://user:***@[bad'),
])
def test_database_display_hides_the_password(url: str, shown: str) -> None:
    assert database_display(url) == shown


def test_a_reason_never_carries_the_password() -> None:
    # No driver here puts the password in its messages; if one ever does, it is still masked.
    error = RuntimeError('login "chat" with "s3cr3t-pw" refused\nsecond line')
    assert reason(error, 's3cr3t-pw') == 'login "chat" with "***" refused second line'
