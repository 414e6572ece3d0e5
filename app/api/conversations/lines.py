"""A followed reply as the stream lines of `/api/chat` (app/api/protocol.py), for NDJSON or SSE.

The same line types as a stateless reply, so the same clients read them; `chunk` lines also carry `offset`, the
reply's length in characters once that chunk is added: the number to reconnect with.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ...chat.follow import Follower, Piece
from ...chat.message import COMPLETE, FAILED, INTERRUPTED, Message
from .. import protocol
from ..relay import HEADER_WAIT

# How a reply that did not complete ends its stream: the `error` line's code and message.
_ENDINGS = {
    INTERRUPTED: ('interrupted', 'The server stopped while this reply was streaming; the text so far is kept.'),
    FAILED: ('reply_failed', 'The reply failed.'),
}
STOPPED_LINE = ('stopped', 'The reply was stopped before it finished; the text so far is kept.')


async def reply_lines(follower: Follower, ping_interval: float) -> AsyncIterator[list[dict[str, Any]]]:
    """`start`, then the reply's pieces as they come (a `ping` after a silence), then `done` or `error`; the
    follower is closed at the end, or when the client goes (which does not stop the reply)."""
    message = follower.message
    try:
        yield [protocol.start(message.id, message.model or '')]
        # The status line goes out within about a second (HEADER_WAIT), as for a stateless reply.
        async for pieces in follower.batches(ping_interval, HEADER_WAIT):
            yield [line(piece) for piece in pieces] if pieces else [protocol.ping()]
        yield [final_line(message)]
    finally:
        follower.close()


def line(piece: Piece) -> dict[str, Any]:
    """One piece as a `chunk` line (with the offset after it) or a `reasoning` line."""
    if piece.kind == 'content':
        return {'type': 'chunk', 'content': piece.text, 'offset': piece.offset}
    return protocol.reasoning(piece.text)


def final_line(message: Message) -> dict[str, Any]:
    """`done` for a complete reply; an `error` line saying how it ended otherwise."""
    if message.status == COMPLETE:
        return protocol.done(message.content, finish_reason=message.finish_reason, usage=message.usage,
                             timing=message.timing or {'ttft_s': None, 'total_s': None})
    code, text = ending(message)
    return protocol.error(code, text)


def ending(message: Message) -> tuple[str, str]:
    """The code and message of a reply that did not complete."""
    code, text = _ENDINGS.get(message.status, STOPPED_LINE)
    return code, message.error if message.status == FAILED and message.error else text
