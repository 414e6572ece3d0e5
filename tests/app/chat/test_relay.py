"""The relay between the upstream and a shared reply (app/chat/relay.py), on a real redis-server: Redis has each batch
before the views do, one round trip per batch, and batches far enough apart that the page sends each on its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from app.chat.relay import GAP_MARGIN, PAGE_GAP, Kind, Relay
from app.live import keys
from app.live.lease import read_text
from app.live.link import Link
from app.live.stream import ReplyWriter
from components.coalescer import MAX_AGE, SLOW_GAP, Coalescer
from components.loop_load import WIDEST_AGE, LoopLoad
from tests.app.live.test_stream import round_trips
from tests.services.redis import RedisServer

RELAY_DB = 11  # a database of its own on the session's server
WITHIN = 10  # seconds a test waits for what it expects
DELTA_GAP = 0.01  # seconds between two deltas: an LLM's pace


class Batches:
    """The relay's `apply`: each batch with the loop time it came, and how much of it Redis had acknowledged then;
    also fed to a page's coalescer (widened to `page_age`), with how long past its arrival each batch was due."""

    def __init__(self, writer: ReplyWriter, wanted: int, page_age: float = MAX_AGE) -> None:
        self.writer, self.wanted, self.page_age = writer, wanted, page_age
        self.text = ''
        self.times: list[float] = []
        self.acknowledged: list[bool] = []
        self.page = Coalescer()
        self.page_waits: list[float] = []
        self.whole = asyncio.Event()
        self.grew = asyncio.Event()

    def __call__(self, kind: Kind, text: str) -> None:
        now = asyncio.get_running_loop().time()
        self.text += text
        self.times.append(now)
        due = self.page.add(text, now, self.page_age)
        assert due is not None
        self.page_waits.append(due - now)
        self.page.take(now)  # sent (the page's timer would run on the loop's next turn)
        self.acknowledged.append(self.writer.sent['c'] >= len(self.text))
        self.grew.set()
        if len(self.text) >= self.wanted:
            self.whole.set()


@pytest.fixture
async def link(redis_server: RedisServer) -> AsyncIterator[Link]:
    opened = Link(redis_server.url(RELAY_DB), instance_id='relay')
    await opened.redis.flushdb()
    yield opened
    await opened.aclose()


@pytest.mark.parametrize('page_gap', [None, 0.15], ids=['idle page', 'page widened by a busy loop'])
async def test_a_paced_reply_reaches_the_views_after_redis_one_round_trip_a_batch_page_gap_apart(
        link: Link, page_gap: float | None) -> None:
    writer = ReplyWriter(link, 'paced', heartbeat=3600)
    words = [f'w{n} ' for n in range(40)]
    batches = Batches(writer, len(''.join(words)), page_gap or MAX_AGE)
    relay = Relay(writer, batches, None if page_gap is None else lambda: page_gap)
    await relay.start()
    with round_trips() as sent:
        for word in words:
            relay.add('content', word)
            await asyncio.sleep(DELTA_GAP)  # the upstream's pace
        await asyncio.wait_for(batches.whole.wait(), WITHIN)  # the last batch, with the timer: no delta carries it
    assert batches.text == ''.join(words)
    assert all(batches.acknowledged)  # Redis first: a browser never has text a failover could not show
    assert len(sent) == relay.flushes == len(batches.times)  # one round trip per batch, none without one
    assert sent == [2] + [1] * (len(sent) - 1)  # the first with the stream's TTL, then a lone XADD
    gaps = [later - earlier for earlier, later in zip(batches.times, batches.times[1:], strict=False)]
    assert min(gaps) >= (page_gap or PAGE_GAP) + GAP_MARGIN - 0.001  # (a loop clock may count whole milliseconds)
    assert batches.page_waits == [0.0] * len(sent)  # and a page sends each batch as it comes: no wait added there
    assert (await read_text(link, 'paced'))[0] == batches.text
    with round_trips() as sent:
        await relay.end('complete', None, {})
    assert sent == [6]  # the end: its entry, TTL, lease and in-flight set in one MULTI (with MULTI and EXEC)


async def test_a_lone_first_delta_is_flushed_and_the_rest_drained_at_the_end(link: Link) -> None:
    writer = ReplyWriter(link, 'drained', heartbeat=3600)
    batches = Batches(writer, len('Hello, world'))
    relay = Relay(writer, batches)
    await relay.start()
    relay.add('content', 'Hello')
    await asyncio.wait_for(batches.grew.wait(), WITHIN)  # the first batch: nothing before it to keep a gap from
    assert batches.text == 'Hello'
    relay.add('content', ', ')
    relay.add('content', 'world')
    await relay.drain()  # the reply ended: no waiting for the gap
    assert batches.text == 'Hello, world' and all(batches.acknowledged)
    assert len(batches.times) == relay.flushes == 2
    await relay.end('complete', None, {})
    assert await link.redis.exists(keys.lease('drained')) == 0


async def test_while_redis_is_down_the_batches_still_reach_the_views(link: Link) -> None:
    writer = ReplyWriter(link, 'outage', heartbeat=3600)
    batches = Batches(writer, len('Hello, world'))
    relay = Relay(writer, batches)
    await relay.start()
    link.up = False  # as after a failed command (tests/app/live/test_outage.py restarts a real server)
    with round_trips() as sent:
        relay.add('content', 'Hello')
        await asyncio.wait_for(batches.grew.wait(), WITHIN)
        relay.add('content', ', world')
        await relay.drain()
    assert batches.text == 'Hello, world' and sent == []  # the reply goes on locally, with no wait on Redis
    assert not any(batches.acknowledged) and writer.sent == {'c': 0, 'r': 0}  # published again once Redis is back
    link.up = True


@pytest.mark.parametrize('lag', [0.0, 0.005, 0.03], ids=['idle loop', 'busy loop', 'widest'])
def test_the_page_sends_each_relay_batch_on_its_own(lag: float) -> None:
    """main.py paces the relay by loop_load.max_age: a batch that far apart is sent by the page as it comes (on the
    loop's next turn), not held MAX_AGE (or its widened age) for the next one, nor a frame for company."""
    load = LoopLoad()
    load.lag = lag
    assert PAGE_GAP >= SLOW_GAP and load.max_age() <= WIDEST_AGE
    coalescer = Coalescer()
    now = 100.0
    for _ in range(10):
        due = coalescer.add('some words ', now, load.max_age())
        assert due == now
        coalescer.take(due)
        now += load.max_age() + GAP_MARGIN
    assert MAX_AGE <= load.max_age()
