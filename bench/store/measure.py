"""The figures of the store benchmark, measured through the Store's public methods where there is one."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import text

from app.store import MessageUpdate, NewMessage, Store, migrate, open_store
from app.store.engine import create_engine, writer
from app.store.urls import async_url
from bench.store.fill import MESSAGE_MARKER, MISSING, TITLE_MARKER, VOCABULARY, answers

LONG_CONVERSATION = 1_000  # messages
BATCH = 100  # messages added per transaction while building one
SIZE_SAMPLE = 5_000  # ~1 KB messages stored to measure bytes per 1,000
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
    return round(statistics.median(times), 1)


async def reads(store: Store, owner: str, runs: int) -> dict[str, Any]:
    """The sidebar's first page and searches of each kind, with how many results each found."""
    cases = {'list first page': None, 'search, title hit': TITLE_MARKER.lower(),
             'search, message-text hit': MESSAGE_MARKER.upper(), 'search, miss': MISSING,
             'search, 2 letters, common': 'ab', 'search, 2 letters, nowhere': 'qx'}
    figures: dict[str, Any] = {}
    for name, query in cases.items():
        async def search(query: str | None = query) -> Any:
            return await store.conversations(owner, query=query)
        figures[name] = {'ms': await median_ms(search, runs), 'results': len(await search())}
    return figures


async def long_conversation(store: Store, owner: str, runs: int) -> dict[str, Any]:
    """Loading the last 50 and all of a 1,000-message conversation."""
    chat = await store.create_conversation(owner, title='A very long conversation', model='m')
    await add(store, chat.id, LONG_CONVERSATION)
    return {'load last 50 of 1,000 ms': await median_ms(lambda: store.messages(chat.id, limit=50), runs),
            'load all 1,000 ms': await median_ms(lambda: store.messages(chat.id), runs)}


async def add(store: Store, conversation: str, count: int) -> None:
    """`count` ~1 KB messages, alternately from the user and the assistant, in batches."""
    pool, rng = answers(), random.Random(3)
    for start in range(0, count, BATCH):
        await store.add_messages(conversation, [NewMessage('user' if i % 2 else 'assistant', rng.choice(pool))
                                                for i in range(start, min(start + BATCH, count))])


async def bytes_per_thousand(url: str, before_index: str) -> dict[str, Any]:
    """Database bytes per 1,000 ~1 KB messages in a fresh database, without and with the search index."""
    engine = create_engine(async_url(url))
    await migrate.upgrade(writer(engine), before_index)
    plain = Store(engine)
    chat = await plain.create_conversation(await plain.user_id('size'), title='size', model='m')
    empty = await database_bytes(url)
    await add(plain, chat.id, SIZE_SAMPLE)
    without = await database_bytes(url) - empty
    await plain.close()
    indexed = await open_store(url)  # migrates to head: builds the search index over them
    with_index = await database_bytes(url) - empty
    await indexed.close()
    return {'bytes per 1,000 messages': round(with_index * 1_000 / SIZE_SAMPLE),
            'of which search index': round((with_index - without) * 1_000 / SIZE_SAMPLE)}


async def database_bytes(url: str) -> int:
    """Bytes the database occupies, free space inside it not counted (PostgreSQL: after VACUUM)."""
    engine = create_engine(async_url(url))
    try:
        if engine.dialect.name == 'postgresql':
            async with engine.connect() as connection:
                await connection.execution_options(isolation_level='AUTOCOMMIT')
                await connection.execute(text('VACUUM'))  # also folds GIN's pending entries into the index
                query = 'SELECT pg_database_size(current_database())'
                return int((await connection.execute(text(query))).scalar_one())
        async with engine.connect() as connection:
            pages = (await connection.execute(text('PRAGMA page_count'))).scalar_one()
            free = (await connection.execute(text('PRAGMA freelist_count'))).scalar_one()
            size = (await connection.execute(text('PRAGMA page_size'))).scalar_one()
            return int((pages - free) * size)
    finally:
        await engine.dispose()


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
    finals = []
    for id, content in zip(answers, contents, strict=True):  # each reply is saved in full as it ends
        started = time.perf_counter()
        await store.save_messages([MessageUpdate(id, content, status='complete', finish_reason='stop')])
        finals.append((time.perf_counter() - started) * 1000)
    writes = store.writes - before
    return {'deltas per reply': deltas // replies, 'write transactions': writes,
            'per reply': round(writes / replies, 2), 'checkpoint ms': round(statistics.median(checkpoint_ms), 1),
            'final save ms': round(statistics.median(finals), 1), 'reply bytes': len(contents[0])}
