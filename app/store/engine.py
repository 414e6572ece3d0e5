"""The SQLAlchemy async engine for a database URL, with the per-dialect settings the store relies on."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import Connection, event
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.util import await_only

# Execution option marking a write transaction; on SQLite it takes the write lock when the transaction begins.
WRITE = 'nicechat_write'
# Seconds to wait for a PostgreSQL server to accept the connection before opening fails.
CONNECT_TIMEOUT_S = 10
# How long a SQLite writer waits for another one to finish before giving up (milliseconds).
SQLITE_BUSY_TIMEOUT_MS = 10_000
# Readers never block the writer, nor the writer them. Switching a new database to WAL takes an exclusive lock and
# SQLite answers 'database is locked' at once, without the busy handler, when another connection holds any lock
# (several instances opening a new file together): it is retried for up to the busy timeout.
_SQLITE_WAL = 'PRAGMA journal_mode=WAL'
_SQLITE_WAL_RETRY_S = 0.01
_SQLITE_PRAGMAS = (
    f'PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}',
    'PRAGMA synchronous=NORMAL',  # durable at each WAL checkpoint; safe against corruption in WAL mode
    'PRAGMA foreign_keys=ON',  # off by default in SQLite; deleting a conversation cascades to its messages
)


def create_engine(url: URL) -> AsyncEngine:
    """An engine for `url` (already mapped to its async driver); nothing connects until first use."""
    if url.get_backend_name() == 'sqlite':
        engine = create_async_engine(url)
        event.listen(engine.sync_engine, 'connect', _sqlite_connect)
        event.listen(engine.sync_engine, 'begin', _sqlite_begin)
        return engine
    # Plan each statement for its actual values: a generic plan cannot tell a search for 'ab' (too short for the
    # trigram index, which would then read all of it) from one for 'needle' (a few index entries).
    settings = {'plan_cache_mode': 'force_custom_plan'}
    return create_async_engine(url, pool_pre_ping=True,
                               connect_args={'timeout': CONNECT_TIMEOUT_S, 'server_settings': settings})


def writer(engine: AsyncEngine) -> AsyncEngine:
    """The same engine (and pool), with transactions marked as writes."""
    return engine.execution_options(**{WRITE: True})


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own transaction handling would BEGIN only before DML (so DDL escaped the transaction) and
    # never with IMMEDIATE; switch it off and begin in _sqlite_begin instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in _SQLITE_PRAGMAS:
        cursor.execute(pragma)
    _switch_to_wal(cursor)
    cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute(_SQLITE_WAL)
            return
        except Exception as error:  # the driver's OperationalError, as the async adapter re-raises it
            if 'database is locked' not in str(error) or time.monotonic() >= deadline:
                raise
        await_only(asyncio.sleep(_SQLITE_WAL_RETRY_S))  # connect events run in the engine's greenlet, on the loop


def _sqlite_begin(connection: Connection) -> None:
    # A write takes the lock up front: a deferred transaction that reads first and then writes can fail with
    # 'database is locked' at once when another writer went ahead, busy timeout or not.
    immediate = connection.get_execution_options().get(WRITE, False)
    connection.exec_driver_sql('BEGIN IMMEDIATE' if immediate else 'BEGIN')
