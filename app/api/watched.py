"""The base of the streaming responses: the relay runs while the client's disconnect and the server's shutdown are
watched for."""

from __future__ import annotations

import asyncio

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ..errors import ChatError
from .shutdown import SHUTDOWN, shutdown_error


class WatchedResponse(Response):
    """Runs `_relay` and cancels it the moment the client goes away, so the upstream is closed at once, not at the
    next write; or when the server shuts down, and then ends the response with a `server_shutdown` error."""

    started = False  # the status line was sent (set by `_relay`)
    ended = False  # the body's last part was sent, or is being sent

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with SHUTDOWN.watch() as closing:
            relay = asyncio.ensure_future(self._relay(scope, receive, send))
            watcher = asyncio.ensure_future(_wait_for_disconnect(receive))
            try:
                done, _ = await asyncio.wait({relay, watcher, closing}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (relay, watcher):
                    task.cancel()
                # Wait for the relay to unwind: that is where the upstream connection gets closed.
                await asyncio.gather(relay, watcher, return_exceptions=True)
        if relay.done() and not relay.cancelled() and (error := relay.exception()) is not None:
            raise error
        if closing in done and relay not in done and watcher not in done:
            await self._end_early(shutdown_error(), scope, receive, send)

    async def _relay(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError

    async def _end_early(self, error: ChatError, scope: Scope, receive: Receive, send: Send) -> None:
        """End a relay cut short: an HTTP error if the status line has not gone out, else the stream's last frame."""
        if not self.started:
            await self.refusal(error)(scope, receive, send)
        elif not self.ended:
            await send({'type': 'http.response.body', 'body': self.final_frame(error), 'more_body': False})

    def refusal(self, error: ChatError) -> Response:
        """The HTTP answer for `error` before the stream began."""
        return error.to_response()

    def final_frame(self, error: ChatError) -> bytes:
        """The bytes that end a stream with `error`, in its protocol's shape."""
        raise NotImplementedError


async def _wait_for_disconnect(receive: Receive) -> None:
    while (await receive())['type'] != 'http.disconnect':
        pass
