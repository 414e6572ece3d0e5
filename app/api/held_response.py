"""An ASGI response for a reply that can fail before it starts, shared by the OpenAI-compatible and UI stream routes.

It holds the status line back until the first frame (so a failure before it is still an HTTP error a client
library can map to its exception type), writes each later frame as it comes with no buffering, and watches for
the client's disconnect while it waits on the upstream, so a client that leaves closes the upstream at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ..errors import ChatError
from ..upstream.reply import DeltaKind
from .watched import WatchedResponse

log = logging.getLogger(__name__)
Batch = list[tuple[DeltaKind, str]]


class Last(bytes):
    """A frame that completes the response body; what the frames' generator does after it is cleanup."""


class HeldResponse(WatchedResponse):
    """Streams `frames` (bytes, one write each); `before` answers a failure before the first, `after` ends the body."""

    def __init__(self, frames: AsyncGenerator[bytes], *, media_type: str, headers: Mapping[str, str],
                 before: Callable[[ChatError], Response], after: Callable[[ChatError], bytes]) -> None:
        # Response.__init__ is skipped on purpose: this class renders its own status, headers and body.
        self.status_code = 200
        self.background = None
        self.frames = frames
        self.before, self.after = before, after
        self.raw_headers = [(b'content-type', media_type.encode()),
                            *((name.lower().encode(), value.encode()) for name, value in headers.items())]

    async def _relay(self, scope: Scope, receive: Receive, send: Send) -> None:
        frames = self.frames
        try:
            try:
                first = await anext(frames)
            except Exception as exc:
                self.started = self.ended = True  # the whole answer is this error: a shutdown has nothing to add
                await self.before(as_chat_error(exc))(scope, receive, send)
                return
            await send({'type': 'http.response.start', 'status': 200, 'headers': self.raw_headers})
            self.started = True
            self.ended = ended = type(first) is Last
            await send({'type': 'http.response.body', 'body': first, 'more_body': not ended})
            try:
                async for frame in frames:
                    if not ended:
                        self.ended = ended = type(frame) is Last
                        await send({'type': 'http.response.body', 'body': frame, 'more_body': not ended})
            except Exception as exc:
                if not ended:
                    self.ended = ended = True
                    await send({'type': 'http.response.body', 'body': self.after(as_chat_error(exc)),
                                'more_body': False})
            if not ended:
                self.ended = True
                await send({'type': 'http.response.body', 'body': b''})
        finally:
            await frames.aclose()

    def refusal(self, error: ChatError) -> Response:
        return self.before(error)

    def final_frame(self, error: ChatError) -> bytes:
        return self.after(error)


async def first_batch(batches: AsyncIterator[Batch], ping_interval: float) -> AsyncGenerator[Batch]:
    """An empty list (a ping) every `ping_interval` seconds until the first batch arrives, then that batch.

    Nothing more if the reply had none; the caller reads the rest from `batches` itself, with no task per batch.
    """
    first = asyncio.ensure_future(anext(batches, None))
    try:
        while not (await asyncio.wait({first}, timeout=ping_interval))[0]:
            yield []
        if (batch := first.result()) is not None:
            yield batch
    finally:
        first.cancel()
        # The generator runs inside `first` until that task has unwound: closing it before would fail.
        await asyncio.gather(first, return_exceptions=True)


def as_chat_error(exc: Exception) -> ChatError:
    """The error to show for a failure: a ChatError as it is, anything else (a bug) as a generic 500."""
    if isinstance(exc, ChatError):
        return exc
    # Log the type only: an exception's text could carry request data.
    log.error('reply stream failed: %s', type(exc).__name__)
    return ChatError('internal_error', 'The server failed while relaying the reply.', 500)
