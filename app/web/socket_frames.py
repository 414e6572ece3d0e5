"""engine.io packets written to a tab's websocket at once, in the step that sends them, when nothing waits before them.

engine.io gives each websocket a writer task: a packet is put on the socket's queue, the writer wakes (a task step, a
timer for its wait, a future per `queue.get`), encodes it and awaits `ws.send`, an ASGI `websocket.send` passed down
through the app's layers to uvicorn's protocol, which frames it with wsproto (an event object, pure-Python framing,
permessage-deflate through an extension object) and writes it to the transport. With hundreds of tabs streaming,
that was a fifth of the server's busy time (docs/page_load.md). `send(socket, text)` does the same in one
synchronous step: the frame, made as wsproto makes it (compressed with the connection's own deflate compressor, so
its context is the one wsproto's later frames continue; short messages are sent uncompressed, see COMPRESS_FROM),
written to the connection's transport.

Only when engine.io's order cannot change and the connection is plainly open; otherwise the packet goes on the
socket's queue for the writer, as engine.io's `send` puts it:
- the socket's writer is parked in `_poll` waiting for its queue, which is empty: every packet handed to engine.io
  before (pings, the packets of an outbox batch, whatever the library queued) is on the wire already; the writer
  is not mid-send (it sends a batch without pausing unless the transport is paused, and then `writable` is clear);
- the socket was upgraded to a websocket through `front` (the server's own protocol noted in the scope; without it,
  e.g. NiceGUI's `user` fixture or another server, nothing changes), is not upgrading, closing or closed;
- the protocol is uvicorn's wsproto one, its handshake done, no close sent or received, not disconnected, its
  transport writable and not closing, no fragmented message half sent, and no extension but permessage-deflate.

engine.io's writer gives up on a socket (and closes it) when nothing was queued for it for its ping interval plus
ping timeout; a frame written here counts as sent for that wait, so a socket whose replies stream past the queue is
closed no sooner than before.
"""

from __future__ import annotations

import asyncio
import math
import struct
import zlib
from typing import Any

from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.websockets.wsproto_impl import WSProtocol
from wsproto.connection import Connection, ConnectionState
from wsproto.extensions import PerMessageDeflate

PROTOCOL = 'nicechat.ws_protocol'  # scope key: the uvicorn protocol serving a websocket connection
OPEN = ConnectionState.OPEN
TEXT, TEXT_DEFLATED = 0x81, 0xC1  # a final text frame's first byte (FIN, opcode 1), with RSV1 when compressed
MESSAGE = str(eio_packet.MESSAGE)  # how an engine.io message packet starts
MESSAGE_BYTES = MESSAGE.encode()
# The server's deflate compressor: a 4 KB window and zlib's memLevel 5 instead of wsproto's 32 KB and 8. Its state
# is kept for the connection's life: ~0.035 MB per tab instead of ~0.13 MB after a reply (up to ~0.26 MB), measured
# with 400 compressors; on the page's messages (appends, updates) it compresses as well (0.164 of the raw size vs
# 0.160), as what repeats between them (the call, the ids) is within the last few hundred bytes. A server may use a
# smaller window than negotiated (RFC 7692, 7.1.2.1): the browser's decompressor reads it unchanged.
WINDOW_BITS, MEM_LEVEL = 12, 5
# Messages shorter than this (UTF-8 bytes) go uncompressed even where deflate was negotiated, as RFC 7692 allows
# (RSV1 clear; the compressor and the browser's decompressor skip them). A streaming append is ~100 bytes: deflate
# saved ~80 of them, less than the TCP/IP (and TLS) headers each message carries anyway, and cost a zlib call per
# message (a sync flush, on one of hundreds of compressor states) that was 6.2% of the server's busy samples at
# 200 tabs, more than the rest of this path. The page's updates (new messages, a loaded conversation) are larger
# and compressed. 1024 is also Node's `ws` default threshold.
COMPRESS_FROM = 1024

_library_upgrade = AsyncSocket._upgrade_websocket


class Front:
    """ASGI app in front of everything: notes uvicorn's wsproto protocol of each websocket in its scope (which every
    layer passes on as the same dict) for engine.io's socket to write its frames to."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope['type'] == 'websocket' and type(protocol := getattr(send, '__self__', None)) is WSProtocol:
            scope[PROTOCOL] = protocol
            link = _Link(receive, send)
            try:
                await self.app(scope, link.receive, link.send)
            finally:
                # Once the websocket has ended nothing refers to its protocol (its wsproto state, deflate compressor
                # and buffers) but what is garbage: the protocol holds this scope, which would be a cycle, and
                # engine.io leaves cycles that hold the receive and send it was given (a class it makes per request
                # closes over them; the task that waited for the browser's messages, failed with OSError when a
                # browser closes its tab, is held by its own exception's traceback). Reference counting frees it.
                del scope[PROTOCOL]
                link.cut()
            return
        await self.app(scope, receive, send)


class _Link:
    """uvicorn's `receive` and `send` for one websocket, passed on until `cut` (when the websocket has ended)."""

    __slots__ = ('_receive', '_send')

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive, self._send = receive, send

    async def receive(self) -> Message:
        return await self._receive()

    async def send(self, message: Message) -> None:
        await self._send(message)

    def cut(self) -> None:
        self._receive, self._send = _ended_receive, _ended_send


async def _ended_receive() -> Message:
    return {'type': 'websocket.disconnect', 'code': 1006}


async def _ended_send(message: Message) -> None:
    raise OSError('the websocket has ended')


def front(app: ASGIApp) -> ASGIApp:
    """`app` behind a `Front` (outermost: uvicorn must hand it its own `send`)."""
    return Front(app)


class Frames:
    """Writes text messages to one uvicorn wsproto connection as its `send` would (see the module's docstring)."""

    __slots__ = ('connection', 'deflate', 'frames', 'protocol')

    def __init__(self, protocol: WSProtocol, connection: Connection, deflate: PerMessageDeflate | None) -> None:
        self.protocol = protocol
        self.connection = connection  # wsproto's open connection: its state
        self.frames = connection._proto  # and its frame protocol (a fragmented message half sent, the extensions)
        self.deflate = deflate

    @classmethod
    def of(cls, protocol: WSProtocol) -> Frames | None:
        """Frames for `protocol`'s connection, or None where only the library's path applies (not accepted yet,
        another extension). Before its first compressed frame, the connection gets the smaller compressor."""
        connection = protocol.conn.connection
        if connection is None:
            return None
        extensions = connection._proto.extensions
        if not extensions:
            return cls(protocol, connection, None)
        if len(extensions) == 1 and type(deflate := extensions[0]) is PerMessageDeflate:
            if deflate._compressor is None:  # wsproto makes it at the first frame, as `write` does after a reset
                deflate._compressor = _compressor(deflate)
            return cls(protocol, connection, deflate)
        return None

    def write(self, payload: bytes) -> bool:
        """Write `payload` (UTF-8 text) as one final text frame, now; False (nothing written) when the connection is
        not plainly open: the library's path then sends it, or finds the connection closed."""
        protocol = self.protocol
        if (protocol.close_sent or protocol.disconnected or not protocol.writable.is_set()
                or protocol.transport.is_closing() or self.connection.state is not OPEN
                or self.frames._outbound_opcode is not None):
            return False
        protocol.transport.write(self.frame(payload))
        return True

    def frame(self, payload: bytes) -> bytes:
        """The frame of the UTF-8 text `payload` (compressed with the connection's compressor, whose state it
        advances)."""
        deflate = self.deflate
        if deflate is None or len(payload) < COMPRESS_FROM:
            first = TEXT
        else:  # wsproto's PerMessageDeflate.frame_outbound for a whole message, on the same compressor
            compressor = deflate._compressor
            if compressor is None:
                compressor = deflate._compressor = _compressor(deflate)
            payload = (compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
            if deflate.server_no_context_takeover:
                deflate._compressor = None
            first = TEXT_DEFLATED
        size = len(payload)
        if size < 126:
            header = bytes((first, size))
        elif size < 65536:
            header = struct.pack('!BBH', first, 126, size)
        else:
            header = struct.pack('!BBQ', first, 127, size)
        return header + payload


def _compressor(deflate: PerMessageDeflate) -> Any:
    """A raw deflate compressor for the server's side of `deflate`: the smaller one (see WINDOW_BITS) when it is kept
    between messages, else wsproto's (a new one per message, as wsproto makes them)."""
    bits = int(deflate.server_max_window_bits)
    if deflate.server_no_context_takeover:
        return zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -bits)
    return zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -min(WINDOW_BITS, bits), MEM_LEVEL)


def send(socket: AsyncSocket, text: str | bytes) -> None:
    """Hand engine.io the message packet whose data is `text` (or its UTF-8 bytes) for `socket`: written to its
    websocket now when nothing of engine.io's can be before it (see the module's docstring), else put on its queue
    for the writer, as `AsyncSocket.send` does (its ping-timeout check is the caller's)."""
    frames: Frames | None = socket.frames
    if (frames is None or not socket.writer_parked or socket.upgrading or socket.closing or socket.closed
            or not socket.queue.empty()
            or not frames.write(MESSAGE_BYTES + text if isinstance(text, bytes) else (MESSAGE + text).encode())):
        data = text.decode() if isinstance(text, bytes) else text
        socket.queue.put_nowait(eio_packet.Packet(eio_packet.MESSAGE, data))
    else:
        socket.written_at = asyncio.get_running_loop().time()


async def _upgrade_websocket(self: AsyncSocket, environ: dict[str, Any]) -> Any:
    """engine.io's upgrade to a websocket; while the websocket lives, the socket knows its connection's frames."""
    scope = environ.get('asgi.scope') or {}
    protocol = scope.get(PROTOCOL)
    if protocol is None:
        return await _library_upgrade(self, environ)
    self.frames_of = protocol
    try:
        return await _library_upgrade(self, environ)
    finally:
        self.frames_of = None
        self.frames = None


async def _poll(self: AsyncSocket) -> list[eio_packet.Packet]:
    """engine.io's `AsyncSocket.poll`: the packets queued for the socket, waiting up to the ping interval and timeout
    for the first, counting frames written straight to the websocket as sent; without `wait_for`. While it waits on
    an upgraded socket, the socket's packets may be written by `send`."""
    if self.frames is None and self.frames_of is not None and self.upgraded:
        # The websocket's writer polls, before its first frame: the accept is sent, the connection open.
        self.frames = Frames.of(self.frames_of)
    queue = self.queue
    if queue.empty():
        server = self.server
        wait = server.ping_interval + server.ping_timeout
        self.writer_parked = True
        try:
            while True:
                try:
                    async with asyncio.timeout(wait):
                        first = await queue.get()
                    break
                except TimeoutError:
                    wait = self.written_at + server.ping_interval + server.ping_timeout - \
                        asyncio.get_running_loop().time()
                    if wait <= 0:
                        raise eio_exceptions.QueueEmpty() from None
        except asyncio.CancelledError:
            raise eio_exceptions.QueueEmpty() from None
        finally:
            self.writer_parked = False
    else:
        first = queue.get_nowait()
    queue.task_done()
    if first is None:
        return []
    packets = [first]
    while not queue.empty():
        packet = queue.get_nowait()
        queue.task_done()
        if packet is None:
            queue.put_nowait(None)  # the close marker stays for the next poll, as the library does
            break
        packets.append(packet)
    return packets


def install() -> None:
    """Give every engine.io socket the shorter poll, and the websockets `front` noted their frames (`send`)."""
    AsyncSocket.frames = None
    AsyncSocket.frames_of = None
    AsyncSocket.writer_parked = False
    AsyncSocket.written_at = -math.inf
    AsyncSocket.poll = _poll
    AsyncSocket._upgrade_websocket = _upgrade_websocket
