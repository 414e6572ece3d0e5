"""Relaying one upstream reply to an HTTP client as NDJSON or SSE, with disconnect detection.

The response is a bare ASGI app rather than Starlette's StreamingResponse: it watches for the client's
disconnect while waiting on the upstream (so a client that leaves closes the upstream at once, not at the
next write), and it holds the status line back until the reply really started (the first delta or ping), so an
upstream failure in that time is still an HTTP error. A ping goes out at the latest HEADER_WAIT after the request,
so a slow upstream never leaves the client without a status line for longer.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

from starlette.types import Receive, Scope, Send

from ..config import DEFAULT_PING_INTERVAL
from ..errors import ChatError
from ..server.protocol import body_writer
from ..upstream import Upstream
from ..upstream.reply import Batch
from . import protocol
from .metering import Meter
from .validation import ChatRequest
from .watched import WatchedResponse

log = logging.getLogger(__name__)

# Longest wait for the upstream's response headers before the stream commits to a 200 and starts pinging: long
# enough that a prompt refusal (bad key, rate limit, 5xx) still gets its own HTTP status, short enough that the
# client and any proxy in between see the status line and bytes soon while a model server loads or queues.
HEADER_WAIT = 1.0


class Outlet:
    """Where a reply's groups can also go without being yielded: set by ReplyResponse once its status line is out,
    when the server can write the response's chunks from any callback (app/server/protocol.py: body_writer)."""

    __slots__ = ('encode', 'write')

    def __init__(self) -> None:
        self.write: Callable[[bytes], bool] | None = None
        self.encode: Callable[[dict[str, Any]], bytes] = protocol.ndjson


async def reply_events(upstream: Upstream, request: ChatRequest, ping_interval: float = DEFAULT_PING_INTERVAL,
                       meter: Meter | None = None, outlet: Outlet | None = None
                       ) -> AsyncIterator[list[dict[str, Any]]]:
    """The stream's objects, in groups to write at once: start, pings until the first token, deltas, then done.

    Deltas that arrived in one upstream read form one group. A group ending in a ping or a delta commits the status
    line (see ReplyResponse). Raises ChatError for a failure (a refusal by the limits first of all, before anything
    reaches the model server); the caller turns it into an HTTP error or a final error line. With an `outlet` that
    can write, the deltas after the first go straight to it from the upstream's network callback (Reply.relay);
    only what it refuses (a full socket) is yielded.
    """
    start = protocol.start(f'chat-{uuid.uuid4().hex}', request.model)
    async with meter or Meter() as meter, AsyncExitStack() as stack:
        # Opened in a task so that pings can go out while the upstream has not answered yet (a model server loading
        # a model or queueing the request sends no headers until it starts): the SDK's `post` returns only then.
        opening = asyncio.ensure_future(stack.enter_async_context(
            upstream.stream(request.messages, model=request.model, **request.params)))
        try:
            committed = not (await asyncio.wait({opening}, timeout=HEADER_WAIT))[0]
            if committed:  # still no headers: commit the 200 now and keep the connection busy until they come
                yield [start, protocol.ping()]
                while not (await asyncio.wait({opening}, timeout=ping_interval))[0]:
                    yield [protocol.ping()]
            reply = meter.reply = opening.result()
        finally:
            # A client gone while we wait: cancelling the task aborts the upstream request (it is not yet in `stack`).
            opening.cancel()
            await asyncio.gather(opening, return_exceptions=True)
        if not committed:
            yield [start]
        parts: list[str] = []
        first = asyncio.ensure_future(reply.next_batch())
        try:
            while not (await asyncio.wait({first}, timeout=ping_interval))[0]:
                yield [protocol.ping()]
            batch = first.result()
        finally:
            first.cancel()
            await asyncio.gather(first, return_exceptions=True)
        chunk, reasoning = protocol.chunk, protocol.reasoning

        def deliver(batch: Batch) -> bool:
            """Write a batch through the outlet, at once; False, with nothing counted, when it cannot take it."""
            encode = outlet.encode  # type: ignore[union-attr]
            if len(batch) == 1:  # the paced case: one token per read
                kind, text = batch[0]
                body = encode(chunk(text) if kind == 'content' else reasoning(text))
            else:
                body = b''.join([encode(chunk(text) if kind == 'content' else reasoning(text))
                                 for kind, text in batch])
            if not outlet.write(body):  # type: ignore[union-attr, misc]
                return False
            meter.add(batch)
            parts.extend([text for kind, text in batch if kind == 'content'])
            return True

        while batch is not None:
            meter.add(batch)
            events = []
            for kind, text in batch:
                if kind == 'content':
                    parts.append(text)
                    events.append(chunk(text))
                else:
                    events.append(reasoning(text))
            yield events
            if outlet is not None and outlet.write is not None:
                batch = await reply.relay(deliver)
            else:
                batch = await reply.next_batch()
        end = time.perf_counter()
        await meter.settle()  # counted before the client has the last line (its next request sees the count)
        ttft = None if reply.first_delta_at is None else round(reply.first_delta_at - reply.started, 4)
        yield [protocol.done(''.join(parts), finish_reason=reply.finish_reason, usage=reply.usage,
                             timing={'ttft_s': ttft, 'total_s': round(end - reply.started, 4)})]


class ReplyResponse(WatchedResponse):
    """ASGI response that streams groups of events to the client, one write per group."""

    def __init__(self, events: AsyncIterator[list[dict[str, Any]]], *, sse: bool = False,
                 outlet: Outlet | None = None) -> None:
        # Response.__init__ is skipped on purpose: this class renders its own status, headers and body.
        self.status_code = 200
        self.background = None
        self.events = events
        self.encode: Callable[[dict[str, Any]], bytes] = protocol.sse if sse else protocol.ndjson
        self.stream_type = protocol.SSE if sse else protocol.NDJSON
        self.outlet = outlet  # given to `events` too, which then writes through it when the server allows

    async def _relay(self, scope: Scope, receive: Receive, send: Send) -> None:
        events, encode = self.events, self.encode
        held: list[bytes] = []
        try:
            # Hold the status line until the stream is really going (a delta, a ping or the end).
            async for group in events:
                held += map(encode, group)
                if group[-1]['type'] != 'start':
                    break
        except Exception as exc:
            self.started = self.ended = True  # the whole answer is this error: a shutdown has nothing to add
            await _as_chat_error(exc).to_response()(scope, receive, send)
            return
        headers = [(b'content-type', self.stream_type.encode())]
        headers += [(k.lower().encode(), v.encode()) for k, v in protocol.STREAM_HEADERS.items()]
        await send({'type': 'http.response.start', 'status': 200, 'headers': headers})
        self.started = True
        await send({'type': 'http.response.body', 'body': b''.join(held), 'more_body': True})
        if self.outlet is not None:
            self.outlet.encode, self.outlet.write = encode, body_writer(send)
        ended = False
        try:
            async for group in events:
                # The `done` line ends the HTTP response in the same write: the client has the whole reply while
                # the upstream response is still being read to its end and closed.
                self.ended = ended = group[-1]['type'] == 'done'
                body = encode(group[0]) if len(group) == 1 else b''.join(map(encode, group))
                await send({'type': 'http.response.body', 'body': body, 'more_body': not ended})
        except Exception as exc:
            error = _as_chat_error(exc)
            if not ended:
                await send({'type': 'http.response.body', 'body': encode(protocol.error(error.code, error.message)),
                            'more_body': True})
        finally:
            await events.aclose()  # type: ignore[attr-defined]
        if not ended:
            self.ended = True
            await send({'type': 'http.response.body', 'body': b''})

    def final_frame(self, error: ChatError) -> bytes:
        return self.encode(protocol.error(error.code, error.message))


def _as_chat_error(exc: Exception) -> ChatError:
    if isinstance(exc, ChatError):
        return exc
    # A bug, not an upstream failure: log the type only (an exception's text could carry request data).
    log.error('reply stream failed: %s', type(exc).__name__)
    return ChatError('internal_error', 'The server failed while relaying the reply.', 500)
