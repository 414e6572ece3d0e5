"""A reply's Redis Stream: late joiners read the whole text exactly once, then follow; offsets; a round trip a batch."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from redis.asyncio.connection import AbstractConnection

from app.live import keys
from app.live.link import Link
from app.live.stream import LiveError, Piece, ReplyGone, ReplyReader, ReplyWriter

WITHIN = 10  # seconds a test waits for what it expects


async def read_all(reader: ReplyReader) -> tuple[str, str]:
    """Follow the reply to its end: (content, reasoning) as handed out, each piece once."""
    content, reasoning = [], []
    while not reader.done:
        pieces = await reader.next(within=WITHIN)
        assert pieces or reader.done, 'the reader got nothing within the wait'
        for piece in pieces:
            (content if piece.kind == 'content' else reasoning).append(piece.text)
    return ''.join(content), ''.join(reasoning)


@contextmanager
def round_trips() -> Iterator[list[int]]:
    """Every round trip any Redis client makes meanwhile, as the number of commands it sent (a pipeline: several)."""
    sent: list[int] = []
    send = AbstractConnection.send_packed_command

    async def counting(connection: AbstractConnection, command: Any, *args: Any, **kwargs: Any) -> None:
        packed = b''.join(command) if isinstance(command, list) else command
        sent.append(len(re.findall(rb'(?:^|\r\n)\*\d+\r\n\$', packed)))  # a command: a RESP array of bulk strings
        await send(connection, command, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(AbstractConnection, 'send_packed_command', counting)
        yield sent


async def test_a_late_joiner_reads_the_whole_text_exactly_once_then_follows_to_the_end(
        links: tuple[Link, Link]) -> None:
    a, b = links
    writer = ReplyWriter(a, 'r1')
    await writer.start()
    early = ReplyReader(b, 'r1')
    following = asyncio.create_task(read_all(early))
    writer.add('reasoning', 'Thinking… ')
    for word in ['Once', ' upon', ' a', ' time', ' 🦊']:
        writer.add('content', word)
        assert await writer.flush()
    late = ReplyReader(b, 'r1')  # joins mid-reply
    first = await late.next(within=WITHIN)
    assert ''.join(p.text for p in first if p.kind == 'content') == 'Once upon a time 🦊'
    assert first[-1].offset == len('Once upon a time 🦊')
    rest = asyncio.create_task(read_all(late))
    for word in [' ran', ' off.']:
        writer.add('content', word)
        await writer.flush()
    writer.add('content', ' The end.')  # not flushed: end() sends it before the end entry
    await writer.end('complete')
    assert await asyncio.wait_for(following, WITHIN) == ('Once upon a time 🦊 ran off. The end.', 'Thinking… ')
    assert await asyncio.wait_for(rest, WITHIN) == (' ran off. The end.', '')
    assert (early.status, early.error, late.status) == ('complete', None, 'complete')
    # ended: no lease, not in flight, and the stream expires soon
    assert not await a.redis.exists(keys.lease('r1')) and not await a.redis.zscore(keys.INFLIGHT, 'r1')
    assert 0 < await a.redis.pttl(keys.stream('r1')) <= keys.ENDED_TTL_MS


async def test_a_reader_from_an_offset_gets_the_rest_and_the_outcome(links: tuple[Link, Link]) -> None:
    a, b = links
    writer = ReplyWriter(a, 'r2')
    await writer.start()
    for word in ['abc', 'def', 'ghi']:
        writer.add('content', word)
        await writer.flush()
    await writer.end('failed', 'The model server answered 500.')
    reader = ReplyReader(b, 'r2', offset=4)
    assert await reader.next(within=WITHIN) == [Piece('content', 'ef', 6), Piece('content', 'ghi', 9)]
    assert await reader.next(within=WITHIN) == [] and reader.done
    assert (reader.status, reader.error) == ('failed', 'The model server answered 500.')


async def test_text_published_again_is_not_handed_out_twice(links: tuple[Link, Link]) -> None:
    a, b = links
    writer = ReplyWriter(a, 'r3')
    await writer.start()
    writer.add('content', 'Hello')
    await writer.flush()
    reader = ReplyReader(b, 'r3')
    assert [p.text for p in await reader.next(within=WITHIN)] == ['Hello']
    writer.sent = {'c': 0, 'r': 0}  # what the writer does after an outage: everything again, from 0
    writer.add('content', ', world')
    await writer.flush()
    await writer.end('complete')
    assert await read_all(reader) == (', world', '')


async def test_each_batch_is_one_round_trip_whatever_its_deltas(links: tuple[Link, Link]) -> None:
    a, _ = links
    writer = ReplyWriter(a, 'r4', heartbeat=3600)
    await writer.start()
    with round_trips() as sent:
        for _ in range(3):
            for _ in range(50):
                writer.add('content', 'x')
            writer.add('reasoning', 'y')
            await writer.flush()
        for _ in range(3):
            for _ in range(50):
                writer.add('content', 'x')
            await writer.flush()
    # Per batch: an XADD per kind that grew, the first with the stream's TTL, in one pipeline; then a lone XADD.
    assert sent == [3, 2, 2, 1, 1, 1]
    assert await a.redis.xlen(keys.stream('r4')) == 9
    assert 0 < await a.redis.pttl(keys.stream('r4')) <= keys.STREAM_TTL_MS
    await writer.end('complete')


async def test_heartbeats_renew_the_streams_ttl_which_batches_do_not(links: tuple[Link, Link]) -> None:
    a, _ = links
    writer = ReplyWriter(a, 'r5', heartbeat=3600)
    await writer.start()
    writer.add('content', 'Hello')
    await writer.flush()
    await a.redis.pexpire(keys.stream('r5'), 10_000)
    writer.add('content', ', world')
    await writer.flush()
    assert await a.redis.pttl(keys.stream('r5')) <= 10_000  # a batch leaves the TTL alone
    await writer._renew()  # a heartbeat
    assert await a.redis.pttl(keys.stream('r5')) > keys.STREAM_TTL_MS - 60_000
    await writer.end('complete')
    assert await a.redis.pttl(keys.stream('r5')) <= keys.ENDED_TTL_MS


async def test_a_reply_is_published_by_one_instance_only_and_unknown_replies_are_gone(
        links: tuple[Link, Link]) -> None:
    a, b = links
    writer = ReplyWriter(a, 'r5')
    await writer.start()
    with pytest.raises(LiveError):
        await ReplyWriter(b, 'r5').start()
    await writer.end('stopped')
    with pytest.raises(ReplyGone):
        await ReplyReader(b, 'never-streamed').next(within=WITHIN)
