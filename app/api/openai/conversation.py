"""`/v1/chat/completions` with the `X-Conversation-Id` header: the turn is appended to the key owner's stored
conversation and the reply, produced and saved by the chat runtime, is relayed in OpenAI's format.

The rules of the turn are those of `/api/chat` with `conversation_id` (app/api/conversations/turns.py): the last
message is the new turn. Tools are refused: the runtime stores text replies, and a tool call's answer would have to
come back as a `tool` message, which a stored conversation does not hold.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import orjson

from ...chat.follow import Follower
from ...chat.message import COMPLETE, FAILED, INTERRUPTED
from ...errors import ChatError
from ..conversations.lines import ending
from ..held_response import Last
from . import protocol as wire
from .messages import bad
from .request import CompletionRequest

HEADER = 'x-conversation-id'
HEADER_DOC: dict[str, Any] = {
    'name': 'X-Conversation-Id', 'in': 'header', 'required': False, 'schema': {'type': 'string'},
    'description': 'Continue this stored conversation of the key\'s owner (personal API keys only): the '
                   'last message is the new turn, the stored conversation is the history, and the reply is saved to '
                   'it and shown in their sidebar. Without it nothing is stored.'}
# Parameters that make no sense for a stored conversation's reply.
REFUSED = ('tools', 'tool_choice', 'parallel_tool_calls')
# HTTP status for a reply that did not complete, when no byte was sent yet (a whole, non-streamed answer). None is
# one an OpenAI SDK retries blindly except a failure, which a retry asks again for (see turns.py) instead of
# appending the prompt twice.
_STATUS = {FAILED: 502, INTERRUPTED: 503}
STOPPED_STATUS = 400


def check(completion: CompletionRequest) -> None:
    """400 for a parameter a conversation's reply cannot take."""
    for name in REFUSED:
        if name in completion.params:
            raise bad(f'"{name}" cannot be used with X-Conversation-Id: a stored conversation holds text turns.', name)


async def stream_frames(follower: Follower, completion: CompletionRequest,
                        ping_interval: float) -> AsyncGenerator[bytes]:
    """The SSE events of the followed reply: the role chunk, its pieces as they come (a ping comment after a
    silence), then the finish reason, the usage if asked for and `[DONE]`; a last error event if it did not
    complete. The follower is closed at the end or when the client goes (the reply goes on)."""
    message = follower.message
    try:
        encoder = wire.ChunkEncoder(message.model or completion.model, reply_id=f'chatcmpl-{message.id}')
        yield encoder.role()
        async for pieces in follower.batches(ping_interval):
            yield encoder.batch([(piece.kind, piece.text) for piece in pieces]) if pieces else wire.PING
        if message.status != COMPLETE:
            code, text = ending(message)
            raise ChatError(code, text, _STATUS.get(message.status, STOPPED_STATUS))
        yield Last(encoder.finish(message.finish_reason, message.usage, completion.include_usage))
    finally:
        follower.close()


async def whole_frames(follower: Follower, completion: CompletionRequest) -> AsyncGenerator[bytes]:
    """One chat.completion object once the followed reply has ended; an OpenAI error if it did not complete."""
    message = follower.message
    try:
        while not follower.done:
            await follower.next()
        if message.status != COMPLETE:
            code, text = ending(message)
            raise ChatError(code, text, _STATUS.get(message.status, STOPPED_STATUS))
        answer = wire.completion(message.model or completion.model, message.content, message.reasoning, None,
                                 message.finish_reason, message.usage)
        answer['id'] = f'chatcmpl-{message.id}'
        yield Last(orjson.dumps(answer))
    finally:
        follower.close()
