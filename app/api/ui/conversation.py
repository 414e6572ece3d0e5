"""`/api/ui-chat` with the `X-Conversation-Id` header: the turn is appended to the key owner's stored conversation
and the reply, produced and saved by the chat runtime, is relayed as UI message chunks.

The rules of the turn are those of `/api/chat` with `conversation_id` and of `/v1` with this header
(app/api/conversations/turns.py): the last UI message is the new turn, the stored conversation is the history.
useChat sends the header through its transport's `headers` option. The body's `id` (useChat's chat id) is not
taken as the conversation: useChat makes up a random one for every chat that is not given one, so it cannot tell
"store this" from "do not".
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from ...chat.follow import Follower
from ...chat.message import COMPLETE
from ...errors import ChatError
from ..conversations.lines import ending
from ..held_response import Last
from ..openai.conversation import STOPPED_STATUS
from . import stream as ui_stream


async def ui_frames(follower: Follower, ping_interval: float) -> AsyncGenerator[bytes]:
    """The UI message stream of the followed reply: `start` (the stored reply's id as the message id), its parts as
    they come (a ping comment after a silence), then the finish and `[DONE]`; an `error` chunk if it did not
    complete. The follower is closed at the end or when the client goes (the reply goes on)."""
    message = follower.message
    try:
        writer = ui_stream.PartWriter(message.id)
        yield writer.start()
        async for pieces in follower.batches(ping_interval):
            yield writer.batch([(piece.kind, piece.text) for piece in pieces]) if pieces else ui_stream.PING
        if message.status != COMPLETE:
            code, text = ending(message)
            raise ChatError(code, text, STOPPED_STATUS)  # after the start: an `error` chunk, not this status
        yield Last(writer.finish(message.finish_reason))
    finally:
        follower.close()
