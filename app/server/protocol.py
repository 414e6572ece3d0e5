"""uvicorn's httptools protocol with guards against slow and oversized requests, at the connection level.

It also gives every response its security headers (app/server/headers.py). httptools rather than h11: h11 frames
each body chunk through its state machine, ~4 us more per streamed chunk than httptools' one `%` format
(bench.protocol), a seventh of the server's CPU per token at 100 paced API streams (docs/api_load.md).

uvicorn leaves three holes that no ASGI app can close, since they happen where the app cannot see them:
- Headers have no deadline: a client that connects and sends nothing, or trickles a header a byte at a time, holds
  its connection forever (the keep-alive timer only runs between requests, and any byte cancels it).
- A body has no deadline either: a client trickling its body holds the request (and its handler) forever.
- A response sent before the body was read (the API refuses a body over MAX_REQUEST_BYTES from its Content-Length,
  and a bad token before reading) is followed by a plain close with the body still arriving. The kernel then answers
  the unread bytes with a reset, which destroys the response on its way: clients that write the whole body before
  reading (Python's urllib and requests) saw "connection reset" instead of the 413. On a keep-alive connection
  uvicorn instead reads and throws away the rest of the body, however large.

Here: HEADER_TIMEOUT bounds the wait for a request's headers (connection closed, with a 408 when some arrived);
BODY_TIMEOUT bounds the time from the headers to the body's end while no response has started (a 408, then
close); and a response that completes while the body is still coming is followed by a lingering close (as nginx and
Apache do): the server half-closes its side, so the response and a FIN reach the client, then reads and discards
what the client still sends, up to LINGER_MAX_BYTES or LINGER_SECONDS, before closing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from .headers import headers_for

# How long a lingering close reads and discards the rest of an unwanted body: enough for a client to finish a few
# megabytes on a slow link and then read the answer, short enough that a huge upload cannot hold the connection.
LINGER_SECONDS = 10.0
# How much of an unwanted body a lingering close reads before giving up (a reset then): several times any
# sensible MAX_REQUEST_BYTES, read at the socket's pace and thrown away, never stored.
LINGER_MAX_BYTES = 32 * 2**20
REQUEST_TIMEOUT_BODY = (b'{"error":{"code":"request_timeout","message":'
                        b'"The request did not arrive in time; send it again."}}')
REQUEST_TIMEOUT = (b'HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n'
                   b'content-length: %d\r\n\r\n%s' % (len(REQUEST_TIMEOUT_BODY), REQUEST_TIMEOUT_BODY))


# Scope key of the TCP peer's (host, port), as accepted, before any X-Forwarded-For rewrite (app/web/identity.py).
PEER = 'nicechat.peer'

def guarded_protocol(header_timeout: float, body_timeout: float) -> type[GuardedProtocol]:
    """The protocol class to give uvicorn (`http=`), with these deadlines in seconds."""
    return type('GuardedProtocol', (GuardedProtocol,),
                {'header_timeout': header_timeout, 'body_timeout': body_timeout})


class GuardedProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with a header deadline, a body deadline and a lingering close (see the module docstring).

    The parser's callbacks tell where the client is: `_began` from the first byte of a request to the end of its
    headers (a 408 can say why the connection is cut), `_body_open` from the end of its headers to the end of its
    body (the client is still sending one).
    """

    header_timeout = 10.0
    body_timeout = 60.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._socket: asyncio.Transport = self.transport
        # Request cycles get this transport, so a close they ask for after an early answer can linger instead.
        self.transport = _LingeringTransport(self._socket, self)  # type: ignore[assignment]
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._linger_timer: asyncio.TimerHandle | None = None
        self._began = False
        self._body_open = False
        self.lingering = False
        self._discarded = 0
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._header_timer, self._body_timer, self._linger_timer):
            if timer is not None:
                timer.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.lingering:  # the rest of a body nobody will read: count it and drop it
            self._discarded += len(data)
            if self._discarded > LINGER_MAX_BYTES:
                self._socket.close()
            return
        super().data_received(data)
        self._watch()

    def on_message_begin(self) -> None:
        self._began = True
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._began, self._body_open = False, True
        previous = self.cycle
        super().on_headers_complete()
        if self.cycle is not None and self.cycle is not previous:
            # A new request: its response gets the security headers for its path. Set here, before its task runs,
            # they cost nothing per streamed chunk and reach every response (the API's, the pages', uvicorn's 500).
            self.cycle.default_headers = [*self.cycle.default_headers, *headers_for(self.cycle.scope['path'])]
            # The connection's own peer, kept before uvicorn's proxy-headers layer replaces `client` with the
            # X-Forwarded-For address: TRUSTED_USER_HEADER must check the proxy that sent it, not the visitor.
            self.cycle.scope[PEER] = self.cycle.scope.get('client')  # type: ignore[literal-required]

    def on_message_complete(self) -> None:
        self._body_open = False
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self.transport = self._socket  # the websocket protocol takes over the plain transport
        super().handle_websocket_upgrade()
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._body_open and not self.transport.is_closing():
            # Answered before the body ended (a refusal): keep-alive would read all of it; linger instead.
            self.transport.close()
        self._watch()

    def wants_linger(self) -> bool:
        """Whether closing now would reset a client still sending a body we already answered."""
        return (not self.lingering and not self._socket.is_closing() and self._socket.get_protocol() is self
                and self._body_open and self.cycle is not None and self.cycle.response_complete)

    def linger(self) -> None:
        """Half-close (the answer and a FIN reach the client), then discard what it still sends, within bounds."""
        self.lingering = True
        self._watch()
        if self._socket.can_write_eof():
            self._socket.write_eof()
        self._linger_timer = self.loop.call_later(LINGER_SECONDS, self._socket.close)
        self.flow.resume_reading()

    def _watch(self) -> None:
        """Start or stop the header and body deadlines to match what the connection is waiting for."""
        active = not self.lingering and not self._socket.is_closing() and self._socket.get_protocol() is self
        self._header_timer = _timer(self._header_timer, active and self._waiting_for_headers(),
                                    self.loop, self.header_timeout, self._headers_late)
        self._body_timer = _timer(self._body_timer, active and self._waiting_for_body(),
                                  self.loop, self.body_timeout, self._body_late)

    def _waiting_for_headers(self) -> bool:
        return not self._body_open and (self.cycle is None or self.cycle.response_complete)

    def _waiting_for_body(self) -> bool:
        return self._body_open and self.cycle is not None and not self.cycle.response_started

    def _headers_late(self) -> None:
        self._header_timer = None
        if self._socket.is_closing() or not self._waiting_for_headers():
            return
        if self._began:  # part of a request came: say why it is cut
            self._socket.write(REQUEST_TIMEOUT)
        self._socket.close()

    def _body_late(self) -> None:
        self._body_timer = None
        cycle = self.cycle
        if self._socket.is_closing() or cycle is None or not self._waiting_for_body():
            return
        # The handler waiting for the body sees a disconnect; whatever it answers then is dropped.
        cycle.disconnected = True
        cycle.message_event.set()
        self._socket.write(REQUEST_TIMEOUT)
        self._socket.close()


def body_writer(send: Callable[..., Any]) -> Callable[[bytes], bool] | None:
    """A plain function that writes one chunk of a streamed response at once, for code that runs outside the
    response's task (an upstream reply relayed from its network callback, app/upstream/raw_body.py).

    Only when `send` is this server's own, with nothing between it and the app that could change the body
    (compression, a middleware's wrapper), and the response is a chunked one already started. The writer frames the
    chunk as `send` would and returns False, writing nothing, when `send` must be awaited instead: the client's
    socket is full (backpressure), the client left, or the response is complete.
    """
    cycle = getattr(send, '__self__', None)
    if (not isinstance(cycle, RequestResponseCycle) or not isinstance(cycle.transport, _LingeringTransport)
            or getattr(send, '__func__', None) is not RequestResponseCycle.send
            or not cycle.response_started or cycle.response_complete or not cycle.chunked_encoding
            or cycle.scope['method'] == 'HEAD'):
        return None
    write, flow = cycle.transport.write, cycle.flow

    def write_chunk(body: bytes) -> bool:
        if flow.write_paused or cycle.disconnected or cycle.response_complete:
            return False
        if body:  # an empty chunk would end the response
            write(b'%x\r\n%b\r\n' % (len(body), body))
        return True

    return write_chunk


class _LingeringTransport:
    """The connection's transport, except that a close asked for while the client still sends a body lingers."""

    def __init__(self, transport: asyncio.Transport, protocol: GuardedProtocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self.write = transport.write  # bound once: a streamed reply writes through here once per chunk

    def close(self) -> None:
        if self._protocol.wants_linger():
            self._protocol.linger()
        else:
            self._transport.close()

    def is_closing(self) -> bool:
        return self._protocol.lingering or self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _timer(timer: asyncio.TimerHandle | None, wanted: bool, loop: asyncio.AbstractEventLoop, delay: float,
           callback: Any) -> asyncio.TimerHandle | None:
    """Keep a running timer while wanted (it measures from when the wait began), start one, or cancel it."""
    if wanted:
        return timer or loop.call_later(delay, callback)
    if timer is not None:
        timer.cancel()
    return None
