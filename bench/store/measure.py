"""The figures of the store benchmark, each measured through the Store's public methods."""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import text

from app.store import MessageUpdate, NewMessage, Store
from app.store.engine import create_engine
from app.store.urls import async_url, sqlite_file
from bench.store.fill import ANSWER_BYTES, MESSAGE_MARKER, MISSING, TITLE_MARKER, VOCABULARY

LONG_CONVERSATION = 1_000  # messages
LONG_BATCH = 100  # messages added per transaction while building it
REPLY_SECONDS = 30  # a long streamed reply
TOKENS_PER_SECOND = 30  # a typical hosted model's pace
CHECKPOINT_EVERY_S = 1.0  # the runtime's checkpoint interval
CONCURRENT_REPLIES = 20


async def median_ms(call: Callable[[], Awaitable[Any]], runs: int) -> float:
    """Median wall time of `call` over `runs` runs, after one warm-up run (milliseconds)."""
    await call()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def reads(store: Store, owner: str, runs: int) -> dict[str, Any]:
    """Sidebar listing and the three kinds of search, with how many results each found."""
    figures: dict[str, Any] = {}
    cases = {'list first page': None, 'search, title hit': TITLE_MARKER.lower(),
             'search, message-text hit': MESSAGE_MARKER.upper(), 'search, miss': MISSING}
    for name, query in cases.items():
        found = await store.conversations(owner, query=query)
        figures[name] = {'ms': await median_ms(lambda q=query: store.conversations(owner, query=q), runs),  # type: ignore[misc]
                         'results': len(found)}
    return figures


async def database_bytes(url: str) -> int:
    """The database's size on disk (SQLite: after folding the WAL back into the file)."""
    engine = create_engine(async_url(url))
    try:
        async with engine.connect() as connection:
            if engine.dialect.name == 'postgresql':
                return int((await connection.execute(text('SELECT pg_database_size(current_database())'))).scalar())
            await connection.execute(text('PRAGMA wal_checkpoint(TRUNCATE)'))
    finally:
        await engine.dispose()
    path = sqlite_file(async_url(url))
    assert path is not None
    return path.stat().st_size


async def long_conversation(store: Store, url: str, owner: str, runs: int) -> dict[str, Any]:
    """Bytes per 1,000 ~1 KB messages, and loading the last 50 and all of a 1,000-message conversation."""
    chat = await store.create_conversation(owner, title='A very long conversation', model='m')
    sentence = ' '.join(VOCABULARY[:200])
    before = await database_bytes(url)
    for start in range(0, LONG_CONVERSATION, LONG_BATCH):
        await store.add_messages(chat.id, [NewMessage('user' if (start + i) % 2 == 0 else 'assistant',
                                                      f'{start + i}: {sentence}'[:ANSWER_BYTES])
                                           for i in range(LONG_BATCH)])
    grown = await database_bytes(url) - before
    return {
        'bytes per 1,000 messages': round(grown * 1_000 / LONG_CONVERSATION),
        'load last 50 of 1,000 ms': await median_ms(lambda: store.messages(chat.id, limit=50), runs),
        'load all 1,000 ms': await median_ms(lambda: store.messages(chat.id), runs),
    }


async def streamed_replies(store: Store, owner: str, replies: int) -> dict[str, Any]:
    """Write transactions for `replies` replies of 30 s streamed at once, checkpointed together every second."""
    chats = [await store.create_conversation(owner, title=f'stream {i}', model='m') for i in range(replies)]
    before = store.writes
    answers = [(await store.add_messages(chat.id, [NewMessage('user', 'Tell me a long story.'),
                                                   NewMessage('assistant', status='streaming')]))[1].id
               for chat in chats]
    contents = [''] * replies
    deltas, checkpoint_ms, next_checkpoint = 0, [], CHECKPOINT_EVERY_S
    for tick in range(REPLY_SECONDS * TOKENS_PER_SECOND):
        clock = (tick + 1) / TOKENS_PER_SECOND  # simulated seconds: the figures count writes, not wall time
        for index in range(replies):
            contents[index] += VOCABULARY[(tick * 7 + index) % len(VOCABULARY)] + ' '
            deltas += 1
        if clock >= next_checkpoint:
            started = time.perf_counter()
            await store.save_messages([MessageUpdate(id, text) for id, text in zip(answers, contents, strict=True)])
            checkpoint_ms.append((time.perf_counter() - started) * 1000)
            next_checkpoint += CHECKPOINT_EVERY_S
    for id, content in zip(answers, contents, strict=True):  # each reply is saved in full as it ends
        await store.save_messages([MessageUpdate(id, content, status='complete', finish_reason='stop')])
    writes = store.writes - before
    return {'replies': replies, 'deltas per reply': deltas // replies, 'writes': writes,
            'writes per reply': round(writes / replies, 2), 'checkpoint ms (median)': statistics.median(checkpoint_ms),
            'reply bytes': len(contents[0])}
