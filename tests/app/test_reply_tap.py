"""Replies relayed from the upstream's network callback (Reply.relay over raw_body's tap): every delta, in order,
delivered outside any task; a refused batch comes back; failures surface as next_batch raises them; the pooled
connection's protocol gets its own methods back."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import client_proto
from aiohttp.client_proto import ResponseHandler

from app.config import load_settings
from app.errors import ChatError
from app.upstream.client import Upstream
from app.upstream.raw_body import _FEEDS
from app.upstream.reply import Batch, Reply
from tests.fake_upstream import FakeUpstream, Script

QUIET = 0.5  # UPSTREAM_TIMEOUT here
MESSAGES = [{'role': 'user', 'content': 'hi'}]
TOKENS = [f'token {n}, ' for n in range(20)]


def _upstream(upstream: FakeUpstream) -> Upstream:
    return Upstream(load_settings({'OPENAI_API_KEY': 'sk-test', 'OPENAI_BASE_URL': upstream.url, 'OPENAI_MODEL': 'm',
                                   'UPSTREAM_RETRIES': '0', 'UPSTREAM_TIMEOUT': str(QUIET)}, env_file=None))


class Sink:
    """A `deliver` that keeps the text and notes whether each call ran inside a task; refuses the calls listed."""

    def __init__(self, refuse: set[int] | None = None) -> None:
        self.texts: list[str] = []
        self.in_task: list[bool] = []
        self.refuse = refuse or set()

    def __call__(self, batch: Batch) -> bool:
        self.in_task.append(asyncio.current_task() is not None)
        if len(self.in_task) in self.refuse:
            return False
        self.texts += [text for _, text in batch]
        return True


def untouched(protocol: ResponseHandler, content: aiohttp.StreamReader) -> bool:
    """Whether the body's reader and the connection's protocol are aiohttp's own again, as before the tap."""
    return type(content) is aiohttp.StreamReader and content not in _FEEDS and not vars(protocol).keys() & {
        'data_received', 'resume_reading'}


async def relay_all(reply: Reply, sink: Sink) -> list[str]:
    """The reply's text: the first batch read, then relayed, with refused batches taken the slow way."""
    texts = [text for _, text in await reply.next_batch() or []]
    while (refused := await reply.relay(sink)) is not None:
        texts += sink.texts + [text for _, text in refused]
        sink.texts = []
    return texts + sink.texts


async def test_every_delta_is_delivered_in_the_network_callback(upstream: FakeUpstream) -> None:
    client = _upstream(upstream)
    upstream.queue(Script(tokens=TOKENS, delay=0.005), Script(tokens=['once', 'more'], delay=0.02))
    sink = Sink()
    try:
        async with client.stream(MESSAGES) as reply:
            assert reply.tap is not None  # the aiohttp transport: the tap applies
            assert await relay_all(reply, sink) == TOKENS
            assert reply.complete and reply.finish_reason == 'stop'
            protocol, content = reply.tap._protocol, reply.tap._content  # type: ignore[attr-defined]
        # Only what was already waiting when the tap engaged is delivered from the task; the rest came in callbacks
        # (as many as the reads: tokens can share one on a busy machine).
        assert sink.in_task.count(True) <= 1 and sink.in_task.count(False) >= 1, sink.in_task
        assert untouched(protocol, content)
        async with client.stream(MESSAGES) as reply:  # the client serves the next reply as before
            assert [text async for _, text in reply.deltas()] == ['once', 'more']
    finally:
        await client.aclose()


async def test_a_refused_batch_comes_back_and_the_relay_goes_on(upstream: FakeUpstream) -> None:
    client = _upstream(upstream)
    upstream.queue(Script(tokens=TOKENS, delay=0.005))
    sink = Sink(refuse={3, 7})
    try:
        async with client.stream(MESSAGES) as reply:
            assert await relay_all(reply, sink) == TOKENS  # nothing lost or repeated around the refusals
            assert untouched(reply.tap._protocol, reply.tap._content)  # type: ignore[union-attr]
    finally:
        await client.aclose()


async def test_bytes_a_paused_parser_held_back_come_before_the_later_ones(upstream: FakeUpstream) -> None:
    # A fast upstream and a refused batch: the body's reader fills past its high water, aiohttp pauses the transport
    # and its parser keeps the rest of what it had read. The next relay drains the reader, which resumes the parser,
    # which feeds those held-back bytes into the reader again while it is being drained.
    tokens = [f'{n:05d} ' + 'x' * 2000 for n in range(600)]
    client = _upstream(upstream)
    upstream.queue(Script(tokens=tokens))
    try:
        async with client.stream(MESSAGES) as reply:
            assert reply.tap is not None
            protocol = reply.tap._protocol  # type: ignore[attr-defined]
            texts = [text for _, text in await reply.next_batch() or []]
            refused = await reply.relay(lambda batch: False)
            assert refused is not None
            texts += [text for _, text in refused]
            for _ in range(500):  # aiohttp's pause has no event to await: look until the reader is past its mark
                if protocol._reading_paused:
                    break
                await asyncio.sleep(0.01)
            assert protocol._reading_paused
            sink = Sink()
            assert await reply.relay(sink) is None  # the rest, through the tap, to the end
            texts += sink.texts
        assert [text for text in texts if text] == tokens
    finally:
        await client.aclose()


@pytest.mark.parametrize(('script', 'code'), [
    (Script(tokens=TOKENS[:6], delay=0.005, error_after=3), 'upstream_error'),
    (Script(tokens=TOKENS[:6], delay=0.005, drop_after=3), 'upstream_disconnected'),
    (Script(tokens=TOKENS[:6], delay=0.005, end_after=3), 'upstream_disconnected'),
    (Script(tokens=TOKENS[:6], delay=0.005, silent_after=3), 'upstream_timeout'),
    (Script(tokens=TOKENS[:6], delay=0.005, inject={3: b'data: {not json\n\n'}), 'bad_upstream_response'),
], ids=['error event', 'dropped', 'ended early', 'silent', 'bad json'])
async def test_failures_mid_reply_are_raised_after_the_text_before_them(upstream: FakeUpstream, script: Script,
                                                                        code: str) -> None:
    client = _upstream(upstream)
    upstream.queue(script)
    sink = Sink()
    try:
        with pytest.raises(ChatError) as failed:
            async with client.stream(MESSAGES) as reply:
                tap = reply.tap
                first = [text for _, text in await reply.next_batch() or []]
                await reply.relay(sink)
                await reply.relay(sink)  # a failure after a batch is raised by the next call
        assert failed.value.code == code
        assert first + sink.texts == TOKENS[:3]
        assert untouched(tap._protocol, tap._content)  # type: ignore[union-attr]
    finally:
        await client.aclose()


# The aiohttp internals raw_body.py's tap relies on, by the SHA-256 (first 16 hex digits) of their source in the
# pinned version (requirements.lock). The tap swaps the class of the body's StreamReader for one that parses each
# piece the C parser hands to `feed_data`, and relies on: StreamReader's slots (the swap needs the same layout) and
# what its methods do with its buffer and chunk offsets (the tapped pieces are left out of them, consistently); the
# C parser creating a plain StreamReader and calling `feed_data`, `begin/end_http_chunk_receiving`, `feed_eof` and
# the failures (`set_exception`) on it by attribute, each time, with `feed_data`'s result meaning "more data waits";
# the protocol failing the reader through `set_exception` when the connection is lost. An upgrade that changes any
# of them fails here: read raw_body.py's _TappedReader against it, then update the hash.
PINNED: dict[str, tuple[Callable[..., Any], str]] = {
    'StreamReader.feed_data': (aiohttp.StreamReader.feed_data, '7548cdda3ea70bf8'),
    'StreamReader.begin_http_chunk_receiving': (aiohttp.StreamReader.begin_http_chunk_receiving, '08181269c2e3410e'),
    'StreamReader.end_http_chunk_receiving': (aiohttp.StreamReader.end_http_chunk_receiving, '0df4db460aba70a6'),
    'StreamReader.feed_eof': (aiohttp.StreamReader.feed_eof, '01592f4473c176b3'),
    'StreamReader.set_exception': (aiohttp.StreamReader.set_exception, 'dfa3db714fb895ed'),
    'StreamReader.read_nowait': (aiohttp.StreamReader.read_nowait, 'e340a15bd631cecb'),
    'StreamReader._read_nowait': (aiohttp.StreamReader._read_nowait, '05fc75740b9d4d63'),
    'StreamReader._read_nowait_chunk': (aiohttp.StreamReader._read_nowait_chunk, '672849652cf250d3'),
    'StreamReader.wait_eof': (aiohttp.StreamReader.wait_eof, 'ea9aa462cb694b92'),
    'ResponseHandler.data_received': (ResponseHandler.data_received, '9bf7ecf8e50516cd'),
    'ResponseHandler.connection_lost': (ResponseHandler.connection_lost, '84b98dfd8035e493'),
}
C_PARSER = Path(client_proto.__file__).with_name('_http_parser.pyx')
C_PARSER_HASH = '6e63b556cc67300e'
SLOTS = ('_protocol', '_low_water', '_high_water', '_low_water_chunks', '_high_water_chunks', '_loop', '_size',
         '_cursor', '_http_chunk_splits', '_buffer', '_buffer_offset', '_eof', '_waiter', '_eof_waiter', '_exception',
         '_timer', '_eof_callbacks', '_eof_counter', 'total_bytes', 'total_compressed_bytes')


def source_hash(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def test_the_aiohttp_internals_the_tap_relies_on_are_unchanged() -> None:
    changed = {name: source_hash(inspect.getsource(function)) for name, (function, digest) in PINNED.items()
               if source_hash(inspect.getsource(function)) != digest}
    if source_hash(C_PARSER.read_text()) != C_PARSER_HASH:
        changed['_http_parser.pyx'] = source_hash(C_PARSER.read_text())
    assert not changed, f'aiohttp {aiohttp.__version__}: changed since raw_body.py was written against them: {changed}'
    assert aiohttp.StreamReader.__slots__ == SLOTS
    # The compiled parser (what the pyx above is the source of) is the one responses are parsed with.
    assert client_proto.HttpResponseParser.__module__ == 'aiohttp._http_parser'
