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

from .reply import Reply


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
    if connection is None or connection.protocol is None or not read_timeout:
        return reply, _nothing  # the whole body is in already, or no read timeout was asked for
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
