"""Closing a store closes every connection: idle ones at once, one still in use when it comes back, and one a
straggler opens afterwards right after its query, so no aiosqlite thread outlives the event loop."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from sqlalchemy import text

from app.store import open_store

# Longest an aiosqlite thread takes to end once its connection is closed (it ends after its next queued call).
THREAD_END_TIMEOUT = 5.0


def sqlite_threads() -> set[threading.Thread]:
    """The worker threads of open aiosqlite connections (one each; it ends when its connection is closed)."""
    return {t for t in threading.enumerate() if '_connection_worker_thread' in t.name}


async def test_a_connection_in_use_at_close_and_one_opened_after_are_closed(tmp_path: Path) -> None:
    before = sqlite_threads()
    store = await open_store(f'sqlite:///{tmp_path}/nicechat.db')
    owner = await store.user_id('alice')
    in_use, release = asyncio.Event(), asyncio.Event()

    async def outlives_the_close() -> None:  # a sidebar refresh or an event handler still running at shutdown
        async with store._engine.connect() as connection:
            await connection.execute(text('SELECT 1'))
            in_use.set()
            await release.wait()
            await connection.execute(text('SELECT 2'))

    task = asyncio.create_task(outlives_the_close())
    await in_use.wait()
    await store.close()
    release.set()
    await task
    assert await store.user_id('alice') == owner  # a straggler after the close still gets its answer
    left = sqlite_threads() - before
    for thread in left:
        await asyncio.to_thread(thread.join, THREAD_END_TIMEOUT)
    assert not [thread for thread in left if thread.is_alive()], 'a connection was left open after close()'
