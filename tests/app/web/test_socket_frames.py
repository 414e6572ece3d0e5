"""engine.io packets written straight to a tab's websocket (app/web/socket_frames.py): the bytes wsproto would send
(short messages uncompressed), in engine.io's order, in the step that sends them, and the library's path whenever
something waits before them."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import socket as sockets
import weakref
from types import SimpleNamespace
from typing import Any

import aiohttp
import engineio
import pytest
import uvicorn
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket
from uvicorn.protocols.websockets.wsproto_impl import WSProtocol
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Message, Request, TextMessage
from wsproto.extensions import PerMessageDeflate

from app.web import socket_frames

# Sizes around the frame header's length forms (7 bits, 16 bits, 64 bits), ASCII and not.
TEXTS = ['', 'a', 'x' * 125, 'y' * 126, 'Café 中文 🙂 ' * 20, 'z' * 65535,
         '42["run_javascript",{"code":"__nc(7,0,1)"}]',
         'w' * 70000, '42["run_javascript",{"code":"__nc(7,3,2)"}]']


def _server(offer: list[PerMessageDeflate]) -> tuple[WSConnection, WSConnection]:
    """A wsproto server connection accepted with what the client offered, and the client."""
    client, server = WSConnection(ConnectionType.CLIENT), WSConnection(ConnectionType.SERVER)
    server.receive_data(client.send(Request(host='localhost', target='/', extensions=offer)))
    assert isinstance(next(server.events()), Request)
    client.receive_data(server.send(AcceptConnection(extensions=[PerMessageDeflate()] if offer else [])))
    list(client.events())
    return server, client


class Recording:
    """A transport that keeps what is written to it (and passes everything else to the real one, if any)."""

    def __init__(self, transport: Any = None) -> None:
        self.transport = transport
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        if self.transport is not None:
            self.transport.write(data)

    def is_closing(self) -> bool:
        return self.transport is not None and self.transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


@pytest.mark.parametrize('offer', [[], [PerMessageDeflate()], [PerMessageDeflate(server_no_context_takeover=True)]],
                         ids=['plain', 'deflate', 'deflate-no-context-takeover'])
def test_frames_are_the_bytes_wsproto_sends_and_continue_its_compression(offer: list[PerMessageDeflate]) -> None:
    library, _ = _server(offer)
    ours, client = _server(offer)  # the client's decompressor keeps wsproto's 15-bit window
    transport = Recording()
    protocol = SimpleNamespace(conn=ours, close_sent=False, disconnected=False, writable=asyncio.Event(),
                               transport=transport)
    protocol.writable.set()
    frames = socket_frames.Frames.of(protocol)  # type: ignore[arg-type]
    assert frames is not None
    if frames.deflate is not None:  # wsproto on its own then compresses with the compressor ours starts with
        extension = library.connection._proto.extensions[0]  # type: ignore[union-attr]
        extension._compressor = socket_frames._compressor(extension)  # type: ignore[attr-defined]
    assert (frames.deflate is not None) == bool(offer)
    plain, _ = _server([])
    received = b''
    for index, text in enumerate(TEXTS * 2):
        if index % 3 == 2:  # now and then wsproto frames one on the same connection: the compressor is shared
            sent, expected = ours.send(Message(data=text)), library.send(Message(data=text))
        else:
            assert frames.write(text.encode())
            sent = transport.writes[-1]
            short = frames.deflate is not None and len(text.encode()) < socket_frames.COMPRESS_FROM
            expected = (plain if short else library).send(Message(data=text))  # short ones: not compressed
        assert sent == expected, f'message {index} ({len(text)} characters)'
        received += sent
    client.receive_data(received)
    assert [event.data for event in client.events() if isinstance(event, TextMessage)] == TEXTS * 2


def _listening() -> sockets.socket:
    sock = sockets.socket()
    sock.bind(('127.0.0.1', 0))
    sock.listen()
    return sock


async def _serve(app: Any) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    """`app` served by uvicorn's wsproto protocol in this loop (the socket listens already: connect at once)."""
    sock = _listening()
    server = uvicorn.Server(uvicorn.Config(app, ws='wsproto', lifespan='off', log_level='warning'))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    host, port = sock.getsockname()
    return server, task, f'http://{host}:{port}/engine.io/?EIO=4&transport=websocket'


@pytest.mark.parametrize('compress', [15, 0], ids=['deflate', 'plain'])
async def test_a_packet_for_a_waiting_writer_is_on_the_wire_at_once_and_order_is_engineios(
        compress: int, monkeypatch: pytest.MonkeyPatch) -> None:
    socket_frames.install()
    polls: list[int] = []

    async def counted_poll(self: AsyncSocket) -> list[eio_packet.Packet]:
        packets = await socket_frames._poll(self)
        polls.append(len(packets))  # the writer woke and took these
        return packets

    monkeypatch.setattr(AsyncSocket, 'poll', counted_poll)
    eio = engineio.AsyncServer(async_mode='asgi')
    server, task, url = await _serve(socket_frames.front(engineio.ASGIApp(eio)))
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(url, compress=compress) as ws:
            assert ws.compress == compress  # what a browser offers (Chromium: deflate) is what the server took
            sid = json.loads((await ws.receive_str())[1:])['sid']  # engine.io's open packet, through the writer
            socket = eio.sockets[sid]
            assert socket.frames is not None and socket.writer_parked
            protocol = socket.frames.protocol
            transport = protocol.transport = Recording(protocol.transport)
            woken = len(polls)

            socket_frames.send(socket, 'a')
            assert len(transport.writes) == 1 and socket.queue.empty()  # written in this step, nothing queued
            assert await ws.receive_str() == '4a'
            assert len(polls) == woken  # the writer was not woken for it

            await socket.send(eio_packet.Packet(eio_packet.MESSAGE, 'b'))  # the library's way: queued for the writer
            socket_frames.send(socket, 'c')  # 'b' waits before it: 'c' goes on the queue behind it
            assert len(transport.writes) == 1
            assert [await ws.receive_str() for _ in range(2)] == ['4b', '4c']
            assert polls[woken:] == [2]  # both in one wake of the writer

            protocol.writable.clear()  # the transport's buffer is full: the writer's send would wait for it
            socket_frames.send(socket, 'd')
            assert len(transport.writes) == 3 and not socket.queue.empty()
            protocol.writable.set()
            assert await ws.receive_str() == '4d'

            long = 'L' * socket_frames.COMPRESS_FROM
            for text in ('e', long, 'f'):  # straight again; the long one compressed (with deflate), the others not
                socket_frames.send(socket, text)
                assert transport.writes[-1][0] == (0xC1 if compress and text == long else 0x81)  # RSV1: deflated
                assert await ws.receive_str() == '4' + text
            await socket.send(eio_packet.Packet(eio_packet.MESSAGE, 'g'))  # wsproto compresses even a short one
            socket_frames.send(socket, long)  # behind it
            assert [await ws.receive_str() for _ in range(2)] == ['4g', '4' + long]
            assert len(polls) == woken + 3  # the writer woke for 'g' only
    finally:
        server.should_exit = True
        await task


async def test_without_the_front_packets_take_the_library_path() -> None:
    socket_frames.install()
    eio = engineio.AsyncServer(async_mode='asgi')
    server, task, url = await _serve(engineio.ASGIApp(eio))  # no front: NiceGUI's `user` fixture, another server
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(url, compress=15) as ws:
            sid = json.loads((await ws.receive_str())[1:])['sid']
            socket = eio.sockets[sid]
            assert socket.frames is None
            socket_frames.send(socket, 'a')
            assert not socket.queue.empty()  # for the writer
            assert await ws.receive_str() == '4a'
    finally:
        server.should_exit = True
        await task


async def test_frames_written_straight_count_as_sent_for_the_writers_wait() -> None:
    """engine.io's writer closes a websocket nothing was sent to for its ping interval plus timeout; a reply streamed
    past its queue keeps the socket open as the same packets queued did, and the wait still ends it after."""
    socket_frames.install()
    eio = engineio.AsyncServer(async_mode='asgi')
    server, task, url = await _serve(socket_frames.front(engineio.ASGIApp(eio)))
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
            sid = json.loads((await ws.receive_str())[1:])['sid']
            socket = eio.sockets[sid]
            eio.ping_interval, eio.ping_timeout = 0.2, 0.1  # the writer's next wait: 0.3 s (the first ping: 25 s)
            await socket.send(eio_packet.Packet(eio_packet.NOOP))  # the writer wakes and waits again, for 0.3 s
            assert await ws.receive_str() == '6'
            for index in range(10):  # a stream, 0.1 s apart, for 1 s: more than three of the writer's waits
                socket_frames.send(socket, str(index))
                assert socket.queue.empty() and await ws.receive_str() == f'4{index}'
                await asyncio.sleep(0.1)
            assert not socket.closed
            assert (await ws.receive(timeout=5)).type == aiohttp.WSMsgType.CLOSE  # nothing more: the wait ends it
    finally:
        server.should_exit = True
        await task


@pytest.mark.parametrize('fails', [False, True], ids=['ends', 'raises'])
async def test_once_a_websocket_has_ended_nothing_the_front_passed_on_holds_its_protocol(fails: bool) -> None:
    """uvicorn's protocol holds the scope it passes on, and engine.io leaves garbage cycles that hold the receive and
    send it was given; once the websocket has ended, neither holds the protocol, so a closed tab's connection
    (wsproto's state, its deflate compressor) goes by reference counting."""
    protocol = WSProtocol.__new__(WSProtocol)  # only its identity matters here: nothing of it is called
    scope: dict[str, Any] = {'type': 'websocket'}
    protocol.scope = scope
    seen: list[Any] = []
    kept: list[Any] = []  # what engine.io's leftovers keep of a websocket

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope.get(socket_frames.PROTOCOL))
        kept.extend((receive, send))
        if fails:
            raise OSError('the websocket broke')

    freed = asyncio.Event()
    weakref.finalize(protocol, freed.set)
    gc.collect()
    gc.disable()
    try:
        with contextlib.suppress(OSError):
            await socket_frames.front(app)(scope, protocol.receive, protocol.send)
        assert seen == [protocol]  # the websocket's layers had it
        seen.clear()
        del protocol
        assert freed.is_set(), 'the protocol is still held'  # the collector is off: reference counting alone
        assert socket_frames.PROTOCOL not in scope and len(kept) == 2
    finally:
        gc.enable()


async def test_the_front_passes_a_websockets_messages_on_until_it_has_ended() -> None:
    received: list[Any] = []
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {'type': 'websocket.receive', 'text': '2'}

    async def send(message: Any) -> None:
        sent.append(message)

    link = socket_frames._Link(receive, send)
    received.append(await link.receive())
    await link.send({'type': 'websocket.send', 'text': '3'})
    assert received == [{'type': 'websocket.receive', 'text': '2'}]
    assert sent == [{'type': 'websocket.send', 'text': '3'}]
    link.cut()
    assert (await link.receive())['type'] == 'websocket.disconnect'  # as a closed websocket answers
    with pytest.raises(OSError):
        await link.send({'type': 'websocket.send', 'text': '4'})
    assert len(sent) == 1
