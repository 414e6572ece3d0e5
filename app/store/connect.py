"""Opening a store: the engine for DATABASE_URL, the SQLite folder, migrations; every failure as one clear line."""

from __future__ import annotations

import re
import socket

from alembic.util.exc import CommandError
from sqlalchemy.exc import DBAPIError

from app.store import migrate, search
from app.store.engine import create_engine, writer
from app.store.records import StoreError
from app.store.store import Store
from app.store.urls import async_url, database_display, sqlite_file

# How much of a driver's message to show: enough to say why, short enough to stay one readable line.
_REASON_LENGTH = 300
# asyncpg errors reach SQLAlchemy as "<class 'asyncpg.exceptions.X'>: message"; the class path is noise.
_CLASS_PREFIX = re.compile(r"^<class '[\w.]+'>: ")


async def open_store(url: str) -> Store:
    """Open the database at `url`, making a SQLite file's folder and migrating it to head; StoreError on failure."""
    display = database_display(url)
    target = async_url(url)
    path = sqlite_file(target)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(f'Cannot open database {display}: cannot make the folder {path.parent}: '
                             f'{error.strerror or error}') from None
    engine = create_engine(target)
    try:
        revision = await migrate.revision_of(engine)
        if revision is not None and not migrate.known(revision):
            raise StoreError(f'Cannot open database {display}: its schema is at revision {revision}, newer than '
                             f'this version of NiceChat knows (up to {migrate.head()}); run a newer NiceChat')
        await migrate.upgrade(writer(engine))
        async with engine.connect() as connection:
            indexed = await connection.run_sync(search.has_index)
    except StoreError:
        await engine.dispose()
        raise
    except Exception as error:  # whatever went wrong, the user gets one line, not a traceback
        await engine.dispose()
        raise StoreError(f'Cannot open database {display}: {reason(error, target.password)}') from None
    return Store(engine, search_index=indexed)


def reason(error: BaseException, password: str | None = None) -> str:
    """Why opening failed, in one line, without the password."""
    if isinstance(error, DBAPIError) and error.orig is not None:
        error = error.orig
    if isinstance(error, ConnectionRefusedError) or 'Connect call failed' in str(error):
        text = 'connection refused (is the database server running, and on this host and port?)'
    elif isinstance(error, socket.gaierror):
        text = f'cannot find the database host ({error.strerror})'
    elif isinstance(error, TimeoutError):
        text = 'the server did not answer in time'
    elif isinstance(error, CommandError):
        text = f'migration failed: {error}'
    else:
        text = _CLASS_PREFIX.sub('', str(error)) or type(error).__name__
    line = ' '.join(text.split())
    if password:
        line = line.replace(password, '***')
    return line if len(line) <= _REASON_LENGTH else line[:_REASON_LENGTH - 1] + '…'
