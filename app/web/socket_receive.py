"""The path of a message from a tab, made shorter where the libraries spend most per message (installed for the whole
process by `install()`, from app/web/socket_path.py's).

A tab sends little (Enter, the cleared box's echo, an ack every 3 s, pongs), but each message cost the server ~150 µs
on one tab (bench/page_load/socket_messages.py), ~12% of its busy time at 400 tabs (docs/page_load.md), in three
libraries; each step here does what the library does, in fewer Python calls, and leaves anything else to it:

- uvicorn hands each read to wsproto, whose pure-Python parser (a generator, header and frame objects, an
  extension hook per step, an incremental decoder) was half of it. `read_frame` reads a read that is exactly one
  final, masked text frame (what a browser's message is) on an open connection with nothing pending in the parser:
  unmasked, inflated by the connection's own decompressor (the context wsproto continues), decoded, and handed to
  uvicorn's `handle_message` as `handle_events` would. wsproto's errors (bad deflate data, bad UTF-8) end the
  connection as there (its parser stops; uvicorn handles the same CloseConnection event).
- engine.io's websocket handler waited for each message through `asyncio.wait_for(ensure_future(ws.wait()), t)`
  (a task, a future, a timer per message) to close a socket silent for the ping interval plus timeout.
  `_websocket_handler` is the library's (4.15), its upgrade and writer unchanged, with a receive loop that awaits
  `ws.wait()` itself under one `Silence` per connection: a timer that fires once per timeout and cancels the wait
  only when that wait has lasted the whole timeout (a message being handled does not count, as before). A message
  packet goes to socket.io's handler as `receive` and `_trigger_event` pass it, without their per-message objects.
- socket.io runs each event's handler in a task of its own. NiceGUI's `ack` handler only prunes the tab's message
  history (app/web/socket_path.py): `_handle_event` runs it at once, as the task would have (the same handler
  lookup and arguments; an error is logged, the connection stays). Other events keep their tasks.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import zlib
from typing import Any

from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket
from socketio import AsyncServer
from uvicorn.protocols.websockets.wsproto_impl import WSProtocol
from wsproto.connection import ConnectionState
from wsproto.events import CloseConnection, TextMessage
from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import CloseReason

# Events whose (synchronous) handlers run in the receive loop instead of a task each: NiceGUI's `ack`.
INLINE_EVENTS = frozenset({'ack'})
OPEN = ConnectionState.OPEN
MASKED = 0x80  # the second byte of a frame from a client: its mask bit (RFC 6455 5.3: clients mask every frame)
TEXT, TEXT_DEFLATED = 0x81, 0xC1  # a final text frame's first byte, with RSV1 when compressed
INVALID_DATA = CloseReason.INVALID_FRAME_PAYLOAD_DATA
MESSAGE = str(eio_packet.MESSAGE)  # how an engine.io message packet starts
DEFLATE_TAIL = b'\x00\x00\xff\xff'  # what RFC 7692 7.2.2 appends to a message before inflating it

_library_handle_event = AsyncServer._handle_event
_library_data_received = WSProtocol.data_received


def data_received(self: WSProtocol, data: bytes) -> None:
    """uvicorn's `WSProtocol.data_received`: a read that is one whole text frame is read by `read_frame`."""
    if not read_frame(self, data):
        _library_data_received(self, data)


def read_frame(protocol: WSProtocol, data: bytes) -> bool:
    """Hand `protocol` the message of `data` when `data` is exactly one final, masked text frame of a client (short
    or 16-bit length) on an open connection with nothing of an earlier read pending: the text message wsproto's
    parser would make of it (unmasked, inflated with the connection's own decompressor, UTF-8 decoded), to uvicorn's
    `handle_message` as `handle_events` would. An error wsproto would report (bad deflate data or UTF-8) ends the
    connection as it does: its parser stops, and uvicorn handles its CloseConnection event.
    False, with nothing read, for anything else: wsproto reads it then."""
    size = len(data)
    if size < 6 or protocol.close_sent:
        return False
    first, second = data[0], data[1]
    if (first != TEXT and first != TEXT_DEFLATED) or not second & MASKED:
        return False
    length = second & 0x7F
    start = 2
    if length == 126:
        length = int.from_bytes(data[2:4], 'big')
        if length < 126:
            return False  # not the shortest length form: wsproto's error
        start = 4
    elif length == 127:
        return False
    if size != start + 4 + length:
        return False  # part of a frame, or more than one
    ws = protocol.conn
    connection = ws.connection
    if connection is None or connection.state is not OPEN or connection._events or ws.handshake._events:
        return False
    frames = connection._proto
    decoder = frames._frame_decoder
    if decoder.header is not None or decoder.buffer.buffer or frames._message_decoder.opcode is not None:
        return False  # wsproto is in the middle of a frame or a message
    extensions = frames.extensions
    deflate: PerMessageDeflate | None = None
    if extensions:
        extension = extensions[0]
        if (len(extensions) != 1 or type(extension) is not PerMessageDeflate
                or extension._inbound_compressed is not None):
            return False  # another extension, or (not from a browser) a compressed message still being read
        deflate = extension
    elif first == TEXT_DEFLATED:
        return False  # RSV1 without the extension: wsproto's error
    key = data[start:start + 4]
    payload = (int.from_bytes(data[start + 4:], 'big')
               ^ int.from_bytes((key * (length // 4 + 1))[:length], 'big')).to_bytes(length, 'big')
    try:
        if first == TEXT_DEFLATED:
            assert deflate is not None
            decompressor = deflate._decompressor
            if decompressor is None:  # made at a message's first compressed frame, as wsproto makes it
                decompressor = deflate._decompressor = zlib.decompressobj(-int(deflate.client_max_window_bits))
            try:
                payload = decompressor.decompress(payload + DEFLATE_TAIL) + decompressor.flush()
            except zlib.error:
                raise _Failed('error in extension', INVALID_DATA) from None
            finally:
                if deflate.client_no_context_takeover:
                    deflate._decompressor = None
        try:
            text = payload.decode()
        except UnicodeDecodeError as error:
            raise _Failed(str(error), INVALID_DATA) from None
    except _Failed as failed:  # as wsproto: its parser raised ParseFailed, which ends it; events() yields the close
        frames._parse_more.close()
        protocol.handle_close(CloseConnection(code=failed.code, reason=str(failed)))
        return True
    protocol.handle_message(TextMessage(data=text, frame_finished=True, message_finished=True))
    return True


class _Failed(Exception):
    """What wsproto's ParseFailed would have said."""

    def __init__(self, message: str, code: CloseReason) -> None:
        super().__init__(message)
        self.code = code


class Silence:
    """Cancels the task awaiting a message when that one wait lasts its limit (what `wait_for` did per message),
    with a timer per limit's length instead of one per message: it fires, and re-arms for the end of the wait then
    running, or ends it. (A message that arrives in the very loop step the limit ends in is not read: the socket
    closes, where `wait_for` would have returned it. It had been silent for the whole limit.)"""

    __slots__ = ('due', 'fired', 'handle', 'limit', 'loop', 'started', 'task', 'waiting')

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.task = asyncio.current_task()
        self.waiting = False
        self.started = self.limit = 0.0  # when the current (or last) wait began, loop time, and its limit
        self.fired = False  # this cancelled the task
        self.handle: asyncio.TimerHandle | None = None
        self.due = math.inf  # when the handle fires

    def begin(self, limit: float) -> None:
        """A wait for the next message begins; it may last `limit` seconds."""
        now = self.loop.time()
        self.started, self.limit, self.waiting = now, limit, True
        if now + limit < self.due:  # no timer, or one set for a longer limit
            self._arm(now + limit)

    def _arm(self, when: float) -> None:
        if self.handle is not None:
            self.handle.cancel()
        self.due = when
        self.handle = self.loop.call_at(when, self._check)

    def _check(self) -> None:
        self.handle, self.due = None, math.inf
        if not self.waiting:
            return  # a message is being handled: the next wait arms the timer again
        end = self.started + self.limit
        if self.loop.time() < end:
            self._arm(end)
        else:
            self.fired = True
            assert self.task is not None
            self.task.cancel()

    def close(self) -> None:
        """The loop is over: no more timer; a cancellation of ours is taken back (it ended the loop already)."""
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
        if self.fired and self.task is not None:
            self.fired = False
            self.task.uncancel()


async def _websocket_handler(self: AsyncSocket, ws: Any) -> None:
    """engine.io's `AsyncSocket._websocket_handler`, with the receive loop of the module's docstring."""
    async def websocket_wait() -> Any:
        data = await ws.wait()
        if data and len(data) > self.server.max_http_buffer_size:
            raise ValueError('packet is too large')
        return data

    if self.connected:
        # the socket was already connected, so this is an upgrade
        self.upgrading = True  # hold packet sends during the upgrade

        try:
            pkt = await websocket_wait()
        except OSError:  # pragma: no cover
            return
        decoded_pkt = eio_packet.Packet(encoded_packet=pkt)
        if decoded_pkt.packet_type != eio_packet.PING or decoded_pkt.data != 'probe':
            self.server.logger.info('%s: Failed websocket upgrade, no PING packet', self.sid)
            self.upgrading = False
            return
        await ws.send(eio_packet.Packet(eio_packet.PONG, data='probe').encode())
        await self.queue.put(eio_packet.Packet(eio_packet.NOOP))  # end poll

        try:
            pkt = await websocket_wait()
        except OSError:  # pragma: no cover
            self.upgrading = False
            return
        decoded_pkt = eio_packet.Packet(encoded_packet=pkt)
        if decoded_pkt.packet_type != eio_packet.UPGRADE:
            self.upgraded = False
            self.server.logger.info(('%s: Failed websocket upgrade, expected UPGRADE packet, received %s instead.'),
                                    self.sid, pkt)
            self.upgrading = False
            return
        self.upgraded = True
        self.upgrading = False
    else:
        self.connected = True
        self.upgraded = True

    # start separate writer thread
    async def writer() -> None:
        while True:
            packets = None
            try:
                packets = await self.poll()
            except eio_exceptions.QueueEmpty:
                break
            if not packets:
                # empty packet list returned -> connection closed
                break
            try:
                for pkt in packets:
                    await ws.send(pkt.encode())
            except:  # noqa: E722  (the library's: any failure ends the writer)
                break
        await ws.close()

    writer_task = asyncio.ensure_future(writer())

    self.server.logger.info('%s: Upgrade to websocket successful', self.sid)

    server = self.server
    largest = server.max_http_buffer_size
    checked: Any = None  # the message handler last seen, and whether it is a coroutine function
    awaitable = False
    silence = Silence()
    try:
        while True:
            silence.begin(server.ping_interval + server.ping_timeout)
            try:
                p = await ws.wait()
            except BaseException:  # silent too long, cancelled, closed: the library's `break`s
                break
            finally:
                silence.waiting = False
            if p and len(p) > largest:  # the library's ValueError('packet is too large'): a `break` too
                break
            if p is None:
                # connection closed by client
                break
            if type(p) is str and len(p) > 1 and p[0] == MESSAGE and p[1].isdigit() \
                    and (on_message := server.handlers.get('message')) is not None and not server.async_handlers:
                # A message packet (socket.io's: its type digit first, so the library's decode keeps it a string):
                # `receive`'s call of the handler, as `_trigger_event` awaits a coroutine one, without the packet
                # object, the log line's arguments, the handler check and closure per message.
                if on_message is not checked:
                    checked, awaitable = on_message, inspect.iscoroutinefunction(on_message)
                if awaitable:
                    try:
                        await on_message(self.sid, p[1:])
                    except asyncio.CancelledError:  # pragma: no cover
                        pass
                    except:  # noqa: E722  (the library's: logged, and the connection goes on)
                        server.logger.exception('message async handler error')
                    continue
            pkt = eio_packet.Packet(encoded_packet=p)
            try:
                await self.receive(pkt)
            except eio_exceptions.UnknownPacketError:  # pragma: no cover
                pass
            except eio_exceptions.SocketIsClosedError:  # pragma: no cover
                self.server.logger.info('Receive error -- socket is closed')
                break
            except:  # noqa: E722  # pragma: no cover
                # if we get an unexpected exception we log the error and exit
                # the connection properly
                self.server.logger.exception('Unknown receive error')
    finally:
        silence.close()

    await self.queue.put(None)  # unlock the writer task so it can exit
    await asyncio.wait_for(writer_task, timeout=None)
    await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)


async def _handle_event(self: AsyncServer, eio_sid: str, namespace: str | None, id: int | None, data: Any) -> None:
    """socket.io's `_handle_event`, with the events of INLINE_EVENTS handled at once (see the module's docstring)."""
    if id is None and self.async_handlers and data and data[0] in INLINE_EVENTS:
        namespace = namespace or '/'
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
        if self.manager.is_connected(sid, namespace):
            event = data[0]
            handler, args = self._get_event_handler(event, namespace, (sid, *data[1:]))
            if handler is not None and not inspect.iscoroutinefunction(handler):
                self.logger.info('received event "%s" from %s [%s]', event, sid, namespace)
                try:
                    handler(*args)
                except Exception:
                    self.logger.exception('%s handler error', event)
                return
    await _library_handle_event(self, eio_sid, namespace, id, data)


def install() -> None:
    """Give uvicorn's wsproto protocol the short frame reader, every engine.io websocket the shorter receive loop,
    and socket.io the inline events."""
    WSProtocol.data_received = data_received  # type: ignore[method-assign]
    AsyncSocket._websocket_handler = _websocket_handler
    AsyncServer._handle_event = _handle_event
