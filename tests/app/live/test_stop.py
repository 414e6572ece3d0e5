"""Stop across instances: a request sent from one instance reaches the one holding the reply, pushed, not polled."""

from __future__ import annotations

import asyncio
import time

from app.live.link import Link
from app.live.stop import StopChannel
from app.live.stream import ReplyWriter

WITHIN = 10


async def test_stop_sent_from_one_instance_reaches_the_holder(links: tuple[Link, Link]) -> None:
    a, b = links
    writer = ReplyWriter(a, 'held')
    await writer.start()
    arrived: dict[str, float] = {}
    got = asyncio.Event()

    def on_stop(reply_id: str) -> None:
        arrived[reply_id] = time.perf_counter()
        got.set()

    holder, other = StopChannel(a), StopChannel(b)
    holder.start(on_stop)
    await asyncio.wait_for(holder.subscribed(), WITHIN)
    sent = time.perf_counter()
    assert await other.request('held') is True  # held by an instance: it was told
    await asyncio.wait_for(got.wait(), WITHIN)
    print(f'\nStop delivered across instances in {(arrived["held"] - sent) * 1000:.1f} ms')
    assert list(arrived) == ['held']
    await writer.end('stopped')
    assert await other.request('held') is False  # nobody holds it any more
    await holder.aclose()


async def test_a_failing_stop_handler_does_not_end_the_listener(links: tuple[Link, Link]) -> None:
    a, b = links
    seen: list[str] = []
    second = asyncio.Event()

    def on_stop(reply_id: str) -> None:
        seen.append(reply_id)
        if reply_id == 'bad':
            raise RuntimeError('a bug in the handler')
        second.set()

    listener = StopChannel(a)
    listener.start(on_stop)
    await asyncio.wait_for(listener.subscribed(), WITHIN)
    await StopChannel(b).request('bad')
    await StopChannel(b).request('good')
    await asyncio.wait_for(second.wait(), WITHIN)
    assert seen == ['bad', 'good']
    await listener.aclose()
