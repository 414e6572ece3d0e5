"""The engine a store runs on, its transactions, and its write counter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.store.engine import writer


def now() -> datetime:
    """The current time, aware UTC (the app's clock stamps rows, so both dialects agree)."""
    return datetime.now(UTC)


class Database:
    """An open database: read connections, counted write transactions, and closing."""

    def __init__(self, engine: AsyncEngine, *, search_index: bool = False) -> None:
        self._engine = engine
        self.search_index = search_index  # whether message search has its trigram index (else it scans)
        self._writer = writer(engine)
        self.writes = 0  # write transactions so far: proves checkpoints cost O(seconds), not O(deltas)
        self.closed = False
        event.listen(engine.sync_engine, 'checkin', self._checked_in)

    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self._engine.dialect.name

    async def close(self) -> None:
        """Close every pooled connection, and each one still in use as it comes back."""
        self.closed = True
        await self._engine.dispose()

    def _checked_in(self, dbapi_connection: Any, record: Any) -> None:
        # dispose() closes only the idle connections. One in use at close() (a sidebar refresh or an event handler
        # that outlived the shutdown), or one a straggler opened since, would go back to a pool nobody closes, and
        # the garbage collector would end it later, its aiosqlite thread calling into an event loop gone by then
        # ("Event loop is closed", seen after `user` tests). Once closed, a returned connection is closed instead.
        if self.closed and dbapi_connection is not None:
            record.invalidate()

    async def ping(self) -> None:
        """One round trip to the database (the readiness probe); raises when it does not answer."""
        async with self._engine.connect() as connection:
            await connection.execute(text('SELECT 1'))

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction: committed on leaving, rolled back on an exception."""
        self.writes += 1
        async with self._writer.begin() as connection:
            yield connection

    async def _read(self, statement: Any) -> list[Any]:
        """The rows of one query."""
        async with self._engine.connect() as connection:
            return list(await connection.execute(statement))
