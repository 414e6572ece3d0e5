"""Two chat runtimes (two instances) on one database and one real redis-server: a reply streamed by A is followed
live by B, Stop on B closes A's upstream request, and a reply whose instance is gone ends interrupted once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.chat.chats import Chats
from app.chat.message import COMPLETE, INTERRUPTED, STOPPED, STREAMING
from app.config import load_settings
from app.live import keys
from app.live.hub import Live
from app.store import NewMessage, new_id, open_store
from app.upstream import Upstream
from tests.app.chat.conftest import Recorder
from tests.conftest import app_env
from tests.fake_upstream import FakeUpstream, Script
from tests.services.redis import RedisServer

EVENT_TIMEOUT = 10
SHARED_DB = 4  # the Redis database of these tests
LEASE_MS = 600  # short, so a dead instance's reply is claimed quickly


async def wait(event: asyncio.Event) -> None:
    await asyncio.wait_for(event.wait(), EVENT_TIMEOUT)


@pytest.fixture
async def instances(tmp_path: Path, upstream: FakeUpstream,
                    redis_server: RedisServer) -> AsyncIterator[tuple[Chats, Chats]]:
    """Instances A and B: each its own store connection to one SQLite file, its own upstream client and Redis link."""
    started: list[tuple[Chats, Upstream]] = []
    for name in ('a', 'b'):
        live = Live(redis_server.url(SHARED_DB), instance_id=name, lease_ttl_ms=LEASE_MS)
        if name == 'a':
            await live.link.redis.flushdb()
        client = Upstream(load_settings(app_env(upstream), env_file=None))
        runtime = Chats(client, model='fake-model', checkpoint_interval=3600, shared=live)
        await runtime.start(await open_store(f'sqlite:///{tmp_path}/shared.db'))
        await asyncio.wait_for(live.stops.subscribed(), EVENT_TIMEOUT)
        started.append((runtime, client))
    yield started[0][0], started[1][0]
    for runtime, client in started:
        await runtime.shutdown()
        await client.aclose()


async def test_a_reply_streamed_on_a_is_followed_live_on_b_to_the_same_end(
        instances: tuple[Chats, Chats], upstream: FakeUpstream) -> None:
    a, b = instances
    upstream.queue(Script(tokens=[f'w{n} ' for n in range(60)], delay=0.01, reasoning=['Hmm. ']))
    owner = await a.store.user_id('browser:a')
    on_a = a.draft(owner)
    seen_a = Recorder(wanted=30)
    on_a.attach(seen_a)
    await on_a.send('count')
    await wait(seen_a.grew)  # mid-reply, B opens the conversation (a reload through another instance)
    on_b = await b.open(owner, on_a.id)
    assert on_b is not None and on_b is not on_a and on_b.busy
    reply_b = on_b.messages[-1]
    before = reply_b.content  # what Redis had when B opened it (the database's checkpoint is behind)
    seen_b = Recorder()
    on_b.attach(seen_b)
    await wait(seen_b.finished)
    await wait(seen_a.finished)
    reply_a = on_a.messages[-1]
    assert reply_b.content == before + seen_b.text == reply_a.content == ''.join(f'w{n} ' for n in range(60))
    assert reply_b.reasoning == reply_a.reasoning == 'Hmm. '
    assert reply_b.status == COMPLETE and not on_b.busy
    assert (reply_b.finish_reason, reply_b.usage, reply_b.timing) == (reply_a.finish_reason, reply_a.usage,
                                                                      reply_a.timing)
    assert len(upstream.records) == 1  # B never asked the model itself


async def test_stop_on_b_closes_the_upstream_request_on_a(
        instances: tuple[Chats, Chats], upstream: FakeUpstream) -> None:
    a, b = instances
    upstream.queue(Script(tokens=['tick '] * 1000, delay=0.01))
    owner = await a.store.user_id('browser:a')
    on_a = a.draft(owner)
    seen_a = Recorder(wanted=20)
    on_a.attach(seen_a)
    await on_a.send('count')
    await wait(seen_a.grew)
    on_b = await b.open(owner, on_a.id)
    assert on_b is not None
    seen_b = Recorder()
    on_b.attach(seen_b)
    pressed = time.monotonic()
    on_b.stop()  # Stop pressed in a tab on B
    assert await asyncio.to_thread(upstream.records[0].disconnected.wait, EVENT_TIMEOUT), 'A kept generating'
    disconnected_at = upstream.records[0].disconnected_at
    assert disconnected_at is not None
    print(f'\nStop on B -> upstream closed by A: {(disconnected_at - pressed) * 1000:.1f} ms')
    await wait(seen_b.finished)
    await a.settle()
    assert on_b.messages[-1].status == on_a.messages[-1].status == STOPPED
    assert on_b.messages[-1].content == on_a.messages[-1].content
    assert (await a.store.messages(on_a.id))[-1].status == STOPPED


async def test_a_reply_whose_instance_died_is_interrupted_once_with_what_redis_had(
        instances: tuple[Chats, Chats], redis_server: RedisServer) -> None:
    a, b = instances
    owner = await a.store.user_id('browser:a')
    record = await a.store.create_conversation(owner, title='t', model='fake-model')
    prompt, reply = new_id(), new_id()
    await a.store.add_messages(record.id, [NewMessage('user', 'q', id=prompt),
                                           NewMessage('assistant', 'che', parent_id=prompt, id=reply,
                                                      status=STREAMING)])
    # An instance that died mid-reply: it had published more than its last checkpoint, and its lease is expiring.
    dead = Live(redis_server.url(SHARED_DB), instance_id='dead', lease_ttl_ms=LEASE_MS)
    writer = dead.writer(reply)
    await writer.start()
    writer._beats.cancel()  # type: ignore[union-attr]  # killed: no more heartbeats
    writer.add('content', 'checkpointed and then shown')
    await writer.flush()
    on_b = await b.open(owner, record.id)  # opened while the lease still holds: followed
    assert on_b is not None and on_b.busy
    # Opened with what Redis had, not the checkpoint ('che'): a tab moved here never shows less than it did.
    assert on_b.messages[-1].content == 'checkpointed and then shown'
    seen = Recorder()
    on_b.attach(seen)
    await wait(seen.finished)  # the lease expired: claimed (by B's reader, or A's or B's sweep), ended interrupted
    assert on_b.messages[-1].status == INTERRUPTED
    assert on_b.messages[-1].content == 'checkpointed and then shown'
    await a.settle()
    for _ in range(50):  # the claimer's save is its own background work, on whichever instance won
        saved = (await a.store.messages(record.id))[-1]
        if saved.status == INTERRUPTED:
            break
        await asyncio.sleep(0.05)
    assert (saved.status, saved.content) == (INTERRUPTED, 'checkpointed and then shown')
    assert not await dead.link.redis.zscore(keys.INFLIGHT, reply)
    await dead.aclose()


async def test_a_streaming_reply_nobody_holds_is_interrupted_at_open(
        instances: tuple[Chats, Chats]) -> None:
    a, b = instances
    owner = await a.store.user_id('browser:a')
    record = await a.store.create_conversation(owner, title='t', model='fake-model')
    prompt = new_id()
    await a.store.add_messages(record.id, [NewMessage('user', 'q', id=prompt),
                                           NewMessage('assistant', 'half', parent_id=prompt, status=STREAMING)])
    opened = await b.open(owner, record.id)  # every instance restarted (Redis knows nothing of it)
    assert opened is not None and not opened.busy and opened.messages[-1].status == INTERRUPTED
    assert (await b.store.messages(record.id))[-1].status == INTERRUPTED


async def test_a_reply_continued_on_a_is_followed_on_b_from_its_partial_text(
        instances: tuple[Chats, Chats], upstream: FakeUpstream) -> None:
    a, b = instances
    owner = await a.store.user_id('browser:a')
    record = await a.store.create_conversation(owner, title='t', model='fake-model')
    prompt = new_id()
    await a.store.add_messages(record.id, [NewMessage('user', 'q', id=prompt),
                                           NewMessage('assistant', 'Once upon a ti', parent_id=prompt,
                                                      status=INTERRUPTED)])
    upstream.queue(Script(tokens=['me'] + [' and on'] * 40, delay=0.01))
    on_a = await a.open(owner, record.id)
    assert on_a is not None
    seen_a = Recorder(wanted=10)
    on_a.attach(seen_a)
    await on_a.continue_reply(on_a.messages[-1])
    await wait(seen_a.grew)
    on_b = await b.open(owner, record.id)  # the database says streaming: B follows it
    assert on_b is not None and on_b.busy
    seen_b = Recorder()
    on_b.attach(seen_b)
    await wait(seen_b.finished)
    await wait(seen_a.finished)
    expected = 'Once upon a time' + ' and on' * 40
    assert on_b.messages[-1].content == on_a.messages[-1].content == expected
    assert on_b.messages[-1].status == COMPLETE
