"""What a shutdown (SIGTERM, Ctrl+C) does to the API's open streams: each ends at once with a `server_shutdown`
error in its own protocol's shape, and its upstream request is closed.

uvicorn, left alone, stops accepting and then waits for every open response to finish before the app's shutdown
runs: a reply streaming for minutes would hold the process that long, and a deployment's kill would then cut it
with no last line. `Server` tells the streams first; each `WatchedResponse` waits on `SHUTDOWN` alongside its relay.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from ..errors import ChatError

# Seconds uvicorn waits, once the streams were told, for the connections to finish before it cancels them: a client
# that stopped reading cannot take its last line; the exit stays within a deployment's usual 5 to 10 s grace.
GRACE = 3


def shutdown_error() -> ChatError:
    """The error an open stream, or a request arriving during the shutdown, ends with."""
    return ChatError('server_shutdown', 'The server is shutting down; send the request again in a moment.', 503)


class Shutdown:
    """The process's shutdown, as the open streams wait for it."""

    def __init__(self) -> None:
        self.started = False
        self._waiting: set[asyncio.Future[None]] = set()

    @contextmanager
    def watch(self) -> Iterator[asyncio.Future[None]]:
        """A future done when the shutdown begins (at once if it has), for as long as the stream is open."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.started:
            future.set_result(None)
        self._waiting.add(future)
        try:
            yield future
        finally:
            self._waiting.discard(future)

    def begin(self) -> int:
        """Tell every open stream (in the event loop's thread); returns how many were open."""
        self.started = True
        waiting = [future for future in self._waiting if not future.done()]
        for future in waiting:
            future.set_result(None)
        return len(waiting)


# One per process: uvicorn serves one app per process, and a shutdown is the whole process's.
SHUTDOWN = Shutdown()


class Server(uvicorn.Server):
    """uvicorn's server, which ends the API's open streams before it waits for the connections to close."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        SHUTDOWN.begin()
        await super().shutdown(sockets)
