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
from collections.abc import Callable, Sequence

import aiohttp
import httpx2
from aiohttp.client_proto import ResponseHandler

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


class _Tap:
    """Parses the body in aiohttp's `data_received`, right after aiohttp has decoded the bytes, while engaged.

    Reading the body with `readany` wakes the reading task once per network read: a future, a task step and the
    coroutines up to the relay resume, then aiohttp's reader re-arms itself (`resume_reading`, an empty parse). A
    paced upstream sends one token per read, so that is paid per token. Engaged, the tap wraps the connection
    protocol's `data_received` (the transport is told again, since uvloop keeps the bound method): aiohttp still
    parses the HTTP framing, enforces its limits and reports errors, and the decoded bytes are taken from its
    reader at once, parsed, and given to `deliver` in the same callback. The task sleeps until the reply ends,
    fails, goes silent (the silence watch fails the reader), the connection breaks, or `deliver` refuses a batch;
    then the wrapper is removed and the reply is read the ordinary way for what is left.
    """

    def __init__(self, reply: Reply, content: aiohttp.StreamReader, protocol: ResponseHandler) -> None:
        self._reply, self._content, self._protocol = reply, content, protocol
        self._stopped: asyncio.Future[None] | None = None
        self._deliver: Callable[[Batch], bool] | None = None
        self._refused: Batch | None = None

    async def run(self, deliver: Callable[[Batch], bool]) -> Batch | None:
        content, protocol = self._content, self._protocol
        transport = protocol.transport
        if transport is None or content.exception() is not None or content.is_eof():
            return None  # over already: the reader reports how
        loop = asyncio.get_running_loop()
        stopped = self._stopped = loop.create_future()
        self._deliver, self._refused = deliver, None
        self._take()  # what arrived while nobody was reading
        if not stopped.done():
            data_received, resume_reading = protocol.data_received, protocol.resume_reading

            def tapped(data: bytes) -> None:
                data_received(data)
                if data:  # an empty call is aiohttp resuming its own parser
                    self._take()

            def resume(resume_parser: bool = True) -> None:
                # Taking the reader's bytes asks the protocol to resume reading, which runs an empty parse and
                # resumes the transport; while nothing paused it (the tap keeps the reader empty), it is a no-op.
                if protocol._reading_paused or protocol._buffer_paused:
                    resume_reading(resume_parser)

            protocol.data_received = tapped  # type: ignore[method-assign]
            protocol.resume_reading = resume  # type: ignore[method-assign]
            transport.set_protocol(protocol)
            # The end of the body and the reader's failures (connection lost, silence) wake the eof waiter.
            ended = asyncio.ensure_future(content.wait_eof())
            try:
                await asyncio.wait({stopped, ended}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                self._stopped = self._deliver = None
                del protocol.data_received, protocol.resume_reading
                if protocol.transport is not None:
                    protocol.transport.set_protocol(protocol)
                if stopped.done() and not stopped.cancelled():
                    stopped.exception()  # retrieved even when cancelled (Stop): not logged as a lost failure
                ended.cancel()
                await asyncio.gather(ended, return_exceptions=True)
        self._stopped = self._deliver = None
        if stopped.done() and (failure := stopped.exception()) is not None:
            raise failure
        refused, self._refused = self._refused, None
        return refused

    def _take(self) -> None:
        """Parse and deliver what the reader holds; stop the tap when the reply needs its task."""
        stopped, deliver, reply = self._stopped, self._deliver, self._reply
        if stopped is None or deliver is None or stopped.done():
            return
        try:
            if not (data := self._content.read_nowait()):  # all the reader holds, in one piece
                return
            batch = reply.feed(data)
            if batch and not deliver(batch):
                self._refused = batch
                stopped.set_result(None)
            elif reply.stopped:
                stopped.set_result(None)
        except aiohttp.ClientError:
            stopped.set_result(None)  # the reader's own failure: `next_batch` reads and reports it
        except Exception as failure:  # ChatError from the events (or a bug): the relay reports it
            stopped.set_exception(failure)
