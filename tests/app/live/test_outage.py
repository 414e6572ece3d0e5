"""Redis restarted mid-reply: the writer streams on locally, each instance logs one line down and one back, and the
reply is whole in Redis again once it is back (a follower on another instance sees it all, exactly once)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest

from app.live import keys
from app.live.lease import Reaper
from app.live.link import Link
from app.live.stop import StopChannel
from app.live.stream import ReplyReader, ReplyWriter
from tests.app.live.test_stream import WITHIN, read_all
from tests.services.redis import RedisServer, running_redis


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis server of this test's own: it is restarted, which would empty the shared one under other tests."""
    with running_redis() as server:
        yield server


async def test_redis_restarted_mid_reply(own_redis: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger='app.live')
    a = Link(own_redis.url(), instance_id='a', probe_interval=0.1)
    b = Link(own_redis.url(), instance_id='b', probe_interval=0.1)
    writer = ReplyWriter(a, 'through-outage', heartbeat=0.05)
    await writer.start()
    stops = StopChannel(a)
    stopped: list[str] = []
    stops.start(stopped.append)
    await asyncio.wait_for(stops.subscribed(), WITHIN)
    reader = ReplyReader(b, 'through-outage', block_ms=100)
    following = asyncio.create_task(read_all(reader))
    saved: list[str] = []

    async def on_interrupted(reply_id: str, content: str, reasoning: str) -> None:
        saved.append(reply_id)

    reaper = Reaper(b, on_interrupted, interval=0.05)
    reaper.start()
    published: list[bool] = []
    words = [f'w{n} ' for n in range(60)]
    for number, word in enumerate(words):
        if number == 20:
            await asyncio.to_thread(own_redis.restart)  # killed and started again, empty, on the same port
        writer.add('content', word)
        published.append(await writer.flush())  # never raises: the reply goes on
        await asyncio.sleep(0.01)
    assert False in published and published[:20] == [True] * 20
    assert await a.wait_up(WITHIN) and await b.wait_up(WITHIN)
    for _ in range(100):  # the writer republishes on the link's `back` callback, which runs after wait_up returns
        if writer.sent['c'] == len(writer.text['c']):
            break
        await asyncio.sleep(0.05)  # polled: the callback offers no event of its own
    await writer.end('complete')
    assert await asyncio.wait_for(following, WITHIN) == (''.join(words), '')  # all of it, exactly once
    assert reader.status == 'complete' and saved == []  # the lease was taken again: nobody reaped a live reply
    assert not await a.redis.exists(keys.lease('through-outage'))
    await asyncio.wait_for(stops.subscribed(), WITHIN)  # the Stop listener subscribed again
    assert await StopChannel(b).request('through-outage') is False
    lines = [r.getMessage() for r in caplog.records if r.name == 'app.live.link']
    for where in ('unreachable', 'reachable again'):
        assert len([line for line in lines if where in line]) == 2, lines  # once per instance
    assert all('Traceback' not in line for line in lines)
    await reaper.aclose()
    await stops.aclose()
    await a.aclose()
    await b.aclose()
