"""engine.io's websocket frames go to the server's own `send` behind `front` (app/web/socket_send.py), skipping the
layers in between; accept and close still pass through them, and without `front` everything does, as before."""

from __future__ import annotations

from typing import Any

import pytest
from engineio.async_drivers import asgi as eio_asgi
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.web import socket_send

FRAMES = ['4hello', b'\x01\x02']


def _engineio_app(scope: Scope, receive: Receive, send: Send) -> Any:
    """What engine.io's ASGI app does with a websocket: wrap it and let its handler write frames, then close."""

    async def handler(ws: Any) -> None:
        for frame in FRAMES:
            await ws.send(frame)
        await ws.close()

    return eio_asgi.WebSocket(handler, None)({'asgi.scope': scope, 'asgi.receive': receive, 'asgi.send': send})


def _layer(app: Any, seen: list[str]) -> ASGIApp:
    """A middleware that wraps `send`, as Starlette's and the session middleware do, noting what passes."""

    async def layered(scope: Scope, receive: Receive, send: Send) -> None:
        async def wrapped(message: Message) -> None:
            seen.append(message['type'])
            await send(message)

        await app(scope, receive, wrapped)

    return layered


async def _serve(app: ASGIApp) -> list[Message]:
    sent: list[Message] = []

    async def server_send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {'type': 'websocket.disconnect'}

    await app({'type': 'websocket', 'path': '/_nicegui_ws/socket.io/'}, receive, server_send)
    return sent


@pytest.fixture(autouse=True)
def installed() -> None:
    socket_send.install()  # what main.py does at import (idempotent)


async def test_frames_skip_the_layers_accept_and_close_do_not() -> None:
    seen: list[str] = []
    sent = await _serve(socket_send.front(_layer(_layer(_engineio_app, seen), seen)))
    assert sent == [{'type': 'websocket.accept'},
                    {'type': 'websocket.send', 'bytes': None, 'text': '4hello'},
                    {'type': 'websocket.send', 'bytes': b'\x01\x02', 'text': None},
                    {'type': 'websocket.close'}]
    assert seen == ['websocket.accept', 'websocket.accept', 'websocket.close', 'websocket.close']


async def test_without_the_front_every_message_passes_the_layers() -> None:
    seen: list[str] = []
    sent = await _serve(_layer(_engineio_app, seen))
    assert [message['type'] for message in sent] == ['websocket.accept', 'websocket.send', 'websocket.send',
                                                     'websocket.close']
    assert seen == [message['type'] for message in sent]


async def test_http_requests_are_left_alone() -> None:
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scopes.append(scope)

    async def nothing() -> Message:
        return {}

    async def ignore(message: Message) -> None:
        return None

    await socket_send.front(app)({'type': 'http', 'path': '/'}, nothing, ignore)
    assert socket_send.RAW_SEND not in scopes[0]
