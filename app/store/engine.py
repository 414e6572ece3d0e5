"""The SQLAlchemy async engine for a database URL, with the per-dialect settings the store relies on."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, event
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

# Execution option marking a write transaction; on SQLite it takes the write lock when the transaction begins.
WRITE = 'nicechat_write'
# Seconds to wait for a PostgreSQL server to accept the connection before opening fails.
CONNECT_TIMEOUT_S = 10
# How long a SQLite writer waits for another one to finish before giving up (milliseconds).
SQLITE_BUSY_TIMEOUT_MS = 10_000
_SQLITE_PRAGMAS = (
    'PRAGMA journal_mode=WAL',  # readers never block the writer, nor the writer them
    'PRAGMA synchronous=NORMAL',  # durable at each WAL checkpoint; safe against corruption in WAL mode
    'PRAGMA foreign_keys=ON',  # off by default in SQLite; deleting a conversation cascades to its messages
    f'PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}',
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
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # A write takes the lock up front: a deferred transaction that reads first and then writes can fail with
    # 'database is locked' at once when another writer went ahead, busy timeout or not.
    immediate = connection.get_execution_options().get(WRITE, False)
    connection.exec_driver_sql('BEGIN IMMEDIATE' if immediate else 'BEGIN')
