"""The reply's body read beneath the SDK's httpx2 response, straight from its aiohttp transport, when it has one.

httpx2's `aiter_bytes` passes every network read through its response, its bound stream, the vendored transport's
stream and aiohttp's chunked iterator (an async generator or iterator step each) and decodes any Content-Encoding
(the transport asks aiohttp not to). Reading aiohttp's payload directly gives the same bytes with one await; its
connection errors are aiohttp's, which the reply maps like httpx2's. Anything else (another transport, a compressed
body) goes through httpx2 as before. At 100 paced streams this and the silence watch below took about a fifth off
the server's CPU per token (bench.api, docs/api.md).
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable, Sequence

import aiohttp
import httpx2
from aiohttp.client_proto import ResponseHandler
from aiohttp.helpers import _EXC_SENTINEL

from .reply import Batch, Reply


def open_reply(response: httpx2.Response, secrets: Sequence[str], started: float,
               read_timeout: float | None) -> tuple[Reply, Callable[[], None]]:
    """The reply of `response`, and what to call once it is over (stops the silence watch, if any)."""
    raw = getattr(getattr(response.stream, '_stream', None), '_aiohttp_response', None)
    if not (isinstance(raw, aiohttp.ClientResponse)
            and response.headers.get('content-encoding', 'identity') == 'identity'):
        return Reply(response.aiter_bytes(), secrets, started=started), _nothing
    reply = Reply(None, secrets, started=started, read=raw.content.readany,
                  timeout_errors=(aiohttp.ServerTimeoutError,), transport_errors=(aiohttp.ClientError,))
    connection = raw.connection
    if connection is None or connection.protocol is None:
        return reply, _nothing  # the whole body is in already
    reply.tap = _Tap(reply, raw.content, connection.protocol)
    if not read_timeout:
        return reply, _nothing
    # aiohttp enforces its read timeout by cancelling and re-arming a timer on every network read (a timer handle
    # made and dropped per token). The watch below keeps the same promise, no read for `read_timeout` seconds is
    # an error, with one timer per quiet period. aiohttp sets the protocol's timeout again for each request, so a
    # connection the pool reuses gets its own back. The timer already armed fires if not even one read comes.
    connection.protocol.read_timeout = None
    watch = _SilenceWatch(reply, raw.content, read_timeout)
    return reply, watch.stop


def _nothing() -> None:
    pass


class _SilenceWatch:
    """Fails the body's reads with aiohttp's own read timeout once the reply has read nothing for `timeout` s."""

    def __init__(self, reply: Reply, content: aiohttp.StreamReader, timeout: float) -> None:
        self._reply, self._content, self._timeout = reply, content, timeout
        self._loop = asyncio.get_running_loop()
        self._handle = self._loop.call_later(timeout, self._check)

    def _check(self) -> None:
        quiet = time.monotonic() - self._reply.last_read_at
        if quiet >= self._timeout:
            self._content.set_exception(aiohttp.SocketTimeoutError('Timeout on reading data from socket'))
        else:
            self._handle = self._loop.call_later(self._timeout - quiet, self._check)

    def stop(self) -> None:
        self._handle.cancel()


class _TappedReader(aiohttp.StreamReader):
    """aiohttp's body reader while a tap is engaged: the class of that very reader, swapped in and back.

    aiohttp's C parser hands each decoded piece of the body to `payload.feed_data`, looked up on the reader object
    at every call (StreamReader has __slots__, so no instance attribute can stand in; the parser keeps the reader in
    a C field, so no other object can either). With this class, the piece goes straight to the tap's parser and
    `deliver`: no deque append and pop, no waiter check, no `read_nowait` and `resume_reading` per read. The HTTP
    chunk bookkeeping (offsets kept for `readchunk`, which the reply never calls) is skipped as well, so the
    reader's counters (`total_bytes`, the cursor and the chunk offsets) leave the tapped bytes out, consistently
    with one another. The end of the body and the reader's failures (connection lost, a parse error, the silence
    watch) put the reader's own class back first, before they reach its waiters; so does the tap when it stops.
    Nothing is added to the layout (`__slots__ = ()`), which is what lets `__class__` be assigned.
    """

    __slots__ = ()

    def feed_data(self, data: bytes, size: int = 0) -> bool:
        if data:
            _FEEDS[self](data)
        return False  # no more data waiting in a decompressor (the parser asks)

    def begin_http_chunk_receiving(self) -> None:
        if self._http_chunk_splits is None:  # the body's first chunk (a tap can engage before it): as aiohttp does
            aiohttp.StreamReader.begin_http_chunk_receiving(self)

    def end_http_chunk_receiving(self) -> None:
        pass

    def feed_eof(self) -> None:
        _untap(self)
        aiohttp.StreamReader.feed_eof(self)

    def set_exception(self, exc: BaseException, exc_cause: BaseException = _EXC_SENTINEL) -> None:
        _untap(self)
        aiohttp.StreamReader.set_exception(self, exc, exc_cause)


# The engaged taps' parsers, by the reader they stand in for (an entry exactly while the reader is a _TappedReader).
_FEEDS: dict[aiohttp.StreamReader, Callable[[bytes], None]] = {}


def _untap(content: aiohttp.StreamReader) -> None:
    """Give the reader its own class back (a no-op when it has it)."""
    if _FEEDS.pop(content, None) is not None:
        content.__class__ = aiohttp.StreamReader


class _Tap:
    """Parses the body as aiohttp's C parser decodes it, in the network callback, while engaged.

    Reading the body with `readany` wakes the reading task once per network read: a future, a task step and the
    coroutines up to the relay resume, then aiohttp's reader re-arms itself (`resume_reading`, an empty parse). A
    paced upstream sends one token per read, so that is paid per token. Engaged, the tap turns the body's reader
    into a _TappedReader: aiohttp still parses the HTTP framing, enforces its limits and reports errors, and each
    decoded piece is parsed and given to `deliver` in the same callback, never stored. The task sleeps until the
    reply ends, fails, goes silent (the silence watch fails the reader), the connection breaks, or `deliver`
    refuses a batch; the reader is an ordinary StreamReader again from that moment, and what is left of the reply
    is read the ordinary way.
    """

    def __init__(self, reply: Reply, content: aiohttp.StreamReader, protocol: ResponseHandler) -> None:
        # The reply holds its tap: a strong reference back would make the two a cycle that outlives the reply until
        # a full pass of the garbage collector (app/ops/collector.py freezes it until the next reclaim).
        self._reply, self._content, self._protocol = weakref.ref(reply), content, protocol

    @property
    def engaged(self) -> bool:
        """Whether the body's reader hands its pieces to this tap right now."""
        return type(self._content) is _TappedReader

    async def run(self, deliver: Callable[[Batch], bool]) -> Batch | None:
        content, reply = self._content, self._reply()
        if (reply is None or type(content) is not aiohttp.StreamReader or self._protocol.transport is None
                or content.exception() is not None or content.is_eof()):
            return None  # over already (the reader reports how), or a reader this tap does not know
        stopped: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        refused: Batch | None = None

        def stop(failure: Exception | None = None) -> None:
            """Hand the reader back (later pieces of the body wait in it) and wake the task."""
            _untap(content)
            if failure is None:
                stopped.set_result(None)
            else:
                stopped.set_exception(failure)

        def feed(data: bytes) -> None:
            """Parse and deliver one piece of the body; stop the tap when the reply needs its task."""
            nonlocal refused
            try:
                batch = reply.feed(data)
                if batch and not deliver(batch):
                    refused = batch
                    stop()
                elif reply.stopped:
                    stop()
            except Exception as failure:  # ChatError from the events (or a bug): the relay reports it
                stop(failure)

        # What arrived while nobody was reading. Taking it can resume a paused protocol, whose parser then feeds
        # the bytes it held back into the reader again, after the pieces `read_nowait` drains: read until empty, or
        # those bytes would sit in the reader while the tap takes the ones after them.
        while content._buffer and not stopped.done():
            feed(content.read_nowait())
        if not stopped.done():
            _FEEDS[content] = feed
            content.__class__ = _TappedReader
            # The end of the body and the reader's failures (connection lost, silence) wake the eof waiter.
            ended = asyncio.ensure_future(content.wait_eof())
            try:
                await asyncio.wait({stopped, ended}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                _untap(content)
                if stopped.done():
                    stopped.exception()  # retrieved even when cancelled (Stop): not logged as a lost failure
                ended.cancel()
                await asyncio.gather(ended, return_exceptions=True)
        if stopped.done() and (failure := stopped.exception()) is not None:
            raise failure
        return refused
