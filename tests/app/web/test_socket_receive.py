"""The shorter path of a tab's messages to the server (app/web/socket_receive.py): frames read as wsproto reads them
(the same messages, the same errors), engine.io's receive loop closing a silent socket as its `wait_for` did, and
NiceGUI's acks pruning exactly what the library's prune does."""

from __future__ import annotations

import asyncio
import copy
import os
import zlib
from collections import deque
from typing import Any

import aiohttp
import engineio
import pytest
from engineio import packet as eio_packet
from uvicorn.protocols.websockets.wsproto_impl import WSProtocol
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Message, Ping, Request, TextMessage
from wsproto.extensions import PerMessageDeflate

from app.web import socket_frames, socket_path, socket_receive
from tests.app.web.test_socket_frames import _serve

# Messages around the frame header's length forms (7 bits, 16 bits, 64 bits: the last is wsproto's), ASCII and not.
TEXTS = ['', 'a', '42["ack",{"client_id":"c","next_message_id":7}]', 'x' * 125, 'y' * 126, 'Café 中文 🙂 ' * 30,
         'z' * 65535, 'w' * 70000, '42["event",{"args":["\\"hi\\""]}]']
# Last frames that wsproto refuses: bad UTF-8 (plain and compressed), bad deflate data.
BAD_UTF8, BAD_UTF8_DEFLATED, BAD_DEFLATE = 'bad-utf8', 'bad-utf8-deflated', 'bad-deflate'


def _frame(first: int, payload: bytes) -> bytes:
    """A client's frame: `first` (FIN, RSV, opcode), masked `payload`."""
    key = os.urandom(4)
    size = len(payload)
    header = bytes((first, 0x80 | size)) if size < 126 else bytes((first, 0x80 | 126)) + size.to_bytes(2, 'big')
    return header + key + bytes(byte ^ key[index % 4] for index, byte in enumerate(payload))


def _bad_frame(kind: str) -> bytes:
    if kind == BAD_UTF8:
        return _frame(0x81, b'ok \xff\xfe')
    if kind == BAD_UTF8_DEFLATED:  # a sync-flushed deflate block: valid after any context
        compressor = zlib.compressobj(wbits=-15)
        return _frame(0xC1, (compressor.compress(b'ok \xff') + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4])
    return _frame(0xC1, b'\xff\xff\xff\xff')


async def _exchange(offer: list[PerMessageDeflate], bad: str) -> tuple[list[Any], list[str]]:
    """Run an echo server; a wsproto client sends TEXTS (each once echoed: one read per frame), a fragmented
    message and a ping between them, then a frame wsproto refuses. What the app received, and the echoes."""
    received: list[Any] = []
    disconnected = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert scope['type'] == 'websocket'
        assert (await receive())['type'] == 'websocket.connect'
        await send({'type': 'websocket.accept'})
        while True:
            event = await receive()
            if event['type'] == 'websocket.disconnect':
                received.append(('disconnect', event['code'], event.get('reason')))
                disconnected.set()
                return
            received.append(event['text'])
            await send({'type': 'websocket.send', 'text': event['text']})

    server, task, url = await _serve(app)
    host, port = url.split('//')[1].split('/')[0].split(':')
    try:
        async with asyncio.timeout(30):
            return await _talk(host, int(port), offer, bad, received, disconnected)
    finally:
        server.should_exit = True
        await task


async def _talk(host: str, port: int, offer: list[PerMessageDeflate], bad: str, received: list[Any],
                disconnected: asyncio.Event) -> tuple[list[Any], list[str]]:
    """The client's side of `_exchange`."""
    reader, writer = await asyncio.open_connection(host, port)
    client = WSConnection(ConnectionType.CLIENT)
    offer = copy.deepcopy(offer)  # a fresh compressor for each connection (the extension object keeps its state)
    writer.write(client.send(Request(host=host, target='/', extensions=offer)))
    echoes: list[str] = []
    pending: deque[Any] = deque()

    async def next_event() -> Any:
        while not pending:
            data = await reader.read(1 << 20)
            client.receive_data(data or None)
            pending.extend(client.events())
        return pending.popleft()

    assert isinstance(await next_event(), AcceptConnection)

    async def echoed(*messages: Message) -> None:
        for message in messages:
            writer.write(client.send(message))
        text = ''
        while True:
            event = await next_event()
            assert not isinstance(event, CloseConnection), f'closed after {received[-1:]!r:.200}: {event}'
            if isinstance(event, TextMessage):  # (the ping's pong is uvicorn's business)
                text += event.data
                if event.message_finished:
                    break
        echoes.append(text)

    for index, text in enumerate(TEXTS):
        await echoed(Message(data=text))
        if index == 3:  # a message in two frames, with a ping between them: wsproto's path throughout
            writer.write(client.send(Ping(b'p')))
            await echoed(Message(data='part one, ', message_finished=False), Message(data='part two'))
    writer.write(_bad_frame(bad))
    await writer.drain()
    async with asyncio.timeout(10):
        await disconnected.wait()
    writer.close()
    return received, echoes


OFFERS = {'plain': [], 'deflate': [PerMessageDeflate()],
          'deflate-no-context-takeover': [PerMessageDeflate(client_no_context_takeover=True)]}


@pytest.mark.parametrize(('offer', 'bad'), [(offer, bad) for offer in OFFERS
                                            for bad in (BAD_UTF8, BAD_UTF8_DEFLATED, BAD_DEFLATE)
                                            if offer != 'plain' or bad == BAD_UTF8])  # (RSV1 needs deflate)
async def test_frames_are_read_as_wsproto_reads_them_errors_included(
        offer: str, bad: str, monkeypatch: pytest.MonkeyPatch) -> None:
    read: list[bool] = []
    real_read = socket_receive.read_frame

    def counted(protocol: WSProtocol, data: bytes) -> bool:
        read.append(real_read(protocol, data))
        return read[-1]

    monkeypatch.setattr(WSProtocol, 'data_received', socket_receive._library_data_received)
    expected = await _exchange(OFFERS[offer], bad)
    monkeypatch.setattr(socket_receive, 'read_frame', counted)
    monkeypatch.setattr(WSProtocol, 'data_received', socket_receive.data_received)
    got = await _exchange(OFFERS[offer], bad)
    assert got == expected
    received, echoes = got
    assert echoes == [*TEXTS[:4], 'part one, part two', *TEXTS[4:]]
    assert received[-1][:2] == ('disconnect', 1007)
    assert sum(read) >= len(TEXTS) - 1  # all but the 64-bit length one read here (and the bad frame: its close)


async def test_a_silent_socket_is_closed_after_the_timeout_and_a_talking_one_is_not() -> None:
    """engine.io's receive loop ends a socket from which nothing came for its ping interval plus timeout; one timer
    per connection instead of `wait_for` per message must still count each wait from its start."""
    socket_frames.install()
    socket_receive.install()
    eio = engineio.AsyncServer(async_mode='asgi')
    messages: list[str] = []
    eio.on('message', lambda sid, data: messages.append(data))
    server, task, url = await _serve(socket_frames.front(engineio.ASGIApp(eio)))
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
            await ws.receive_str()  # the open packet; the first wait began with the default limits (45 s)
            eio.ping_interval, eio.ping_timeout = 0.2, 0.3  # each wait from the next: 0.5 s (first ping: in 25 s)
            await ws.send_str('4start')
            loop = asyncio.get_running_loop()
            start = loop.time()
            for index in range(8):  # 0.15 s apart for ~1.2 s: more than two limits, no wait as long as one
                await asyncio.sleep(0.15)
                await ws.send_str(f'4{index}')
            talked = loop.time()
            closed = await ws.receive(timeout=5)
            silent = loop.time() - talked
            assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            assert messages == ['start', *(str(index) for index in range(8))]
            assert talked - start > 1.0
            assert 0.45 <= silent < 2.0  # closed for the silence (0.5 s), not earlier
    finally:
        server.should_exit = True
        await task


def _histories() -> list[tuple[deque[Any], Any]]:
    consecutive = deque((n, 0.0, ('c', 'm', {})) for n in range(10, 40))
    gapped = deque((n, 0.0, ('c', 'm', {})) for n in [*range(10, 20), *range(25, 30)])
    cases: list[tuple[deque[Any], Any]] = [(deque(), 5)]
    for history in (consecutive, gapped):
        cases += [(history, n) for n in (0, 10, 11, 25, 27, 39, 40, 41, 1000, -3, 15.5)]
    return cases


@pytest.mark.parametrize(('history', 'next_id'), _histories())
def test_ack_prune_is_nicegui_prune(history: deque[Any], next_id: Any) -> None:
    ours = socket_path.LeanOutbox.__new__(socket_path.LeanOutbox)  # its history alone (no client, no loop)
    theirs = socket_path.Outbox.__new__(socket_path.Outbox)
    ours.message_history, theirs.message_history = deque(history), deque(history)
    ours.prune_history(next_id)
    theirs.prune_history(next_id)
    assert ours.message_history == theirs.message_history


def test_engineio_decodes_socketio_packets_as_strings() -> None:
    """The receive loop hands a message packet whose data starts with a digit on as its text, as engine.io's decode
    leaves it (it would parse other data as JSON)."""
    assert eio_packet.Packet(encoded_packet='42["ack",{}]').data == '2["ack",{}]'
    assert eio_packet.Packet(encoded_packet='4{"a":1}').data == {'a': 1}  # not a socket.io packet: the library's
    assert isinstance(TextMessage(data='x').data, str)
