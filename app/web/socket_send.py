"""The tabs' websocket frames sent with the server's own `send`, beneath the app's middlewares.

Every frame engine.io writes to a tab's websocket goes through the `send` it was handed, and that `send` is the
server's wrapped once per layer the connection came through: FastAPI's and Starlette's error and exception
wrappers on the API's app and again on NiceGUI's, the session middleware's, our secure-cookie one. For a
`websocket.send` message none of them does anything (they look at `http.response.start` only), but each is an
awaited call per frame, and a streaming page sends a frame per batch to every tab (docs/page_load.md, "Third
round": ~5-8% of the server's busy time at 200 tabs).

`front(app)` goes outermost, in front of everything (main.py hands it to uvicorn): for a websocket it keeps the
server's own `send` in the scope, which every layer passes down as the same dict. `install()` makes engine.io's ASGI
websocket send its frames with that one; its accept and close still go through the layers, as do HTTP requests
(the long-polling transport included). Without the key (the app served some other way: NiceGUI's `user` fixture,
`ui.run`) engine.io's own `send` is used, as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from engineio.async_drivers import asgi as eio_asgi
from starlette.types import ASGIApp, Receive, Scope, Send

RAW_SEND = 'nicechat.raw_send'  # the scope key: the server's own send of a websocket connection

_library_call = eio_asgi.WebSocket.__call__


class RawSocketSend:
    """ASGI app in front of `app`: remembers each websocket's own `send` in its scope (see the module's docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope['type'] == 'websocket':
            scope[RAW_SEND] = send
        await self.app(scope, receive, send)


def front(app: ASGIApp) -> ASGIApp:
    """`app` with the websockets' own `send` kept for engine.io (outermost: before any middleware wraps `send`)."""
    return RawSocketSend(app)


async def _call(self: Any, environ: dict[str, Any]) -> Any:
    """engine.io's websocket start, also noting the server's own send (or the wrapped one, without the front)."""
    self.frame_send = environ['asgi.scope'].get(RAW_SEND) or environ['asgi.send']
    return await _library_call(self, environ)


async def _send(self: Any, message: str | bytes) -> None:
    """engine.io's `WebSocket.send`: the same ASGI message, to the server's own send."""
    frame_send: Callable[[dict[str, Any]], Awaitable[None]] = self.frame_send
    if isinstance(message, bytes):
        await frame_send({'type': 'websocket.send', 'bytes': message, 'text': None})
    else:
        await frame_send({'type': 'websocket.send', 'bytes': None, 'text': message})


def install() -> None:
    """Make engine.io's ASGI websocket send its frames with the server's own `send` (when `front` kept it)."""
    eio_asgi.WebSocket.__call__ = _call  # type: ignore[method-assign]
    eio_asgi.WebSocket.send = _send  # type: ignore[method-assign]
