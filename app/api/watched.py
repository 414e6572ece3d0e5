"""The base of the streaming responses: the relay runs while the client's disconnect is watched for."""

from __future__ import annotations

import asyncio

from starlette.responses import Response
from starlette.types import Receive, Scope, Send


class WatchedResponse(Response):
    """Runs `_relay` and cancels it the moment the client goes away, so the upstream is closed at once, not at the
    next write."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        relay = asyncio.ensure_future(self._relay(scope, receive, send))
        watcher = asyncio.ensure_future(_wait_for_disconnect(receive))
        try:
            await asyncio.wait({relay, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (relay, watcher):
                task.cancel()
            # Wait for the relay to unwind: that is where the upstream connection gets closed.
            await asyncio.gather(relay, watcher, return_exceptions=True)
        if relay.done() and not relay.cancelled() and (error := relay.exception()) is not None:
            raise error

    async def _relay(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


async def _wait_for_disconnect(receive: Receive) -> None:
    while (await receive())['type'] != 'http.disconnect':
        pass
