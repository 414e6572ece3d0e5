"""A reply streaming on another instance, followed here from Redis (with REDIS_URL), and how a reply's end is told.

A conversation opened on an instance that does not hold its streaming reply has the text the database had (the
last checkpoint, which never runs ahead of Redis); following reads the rest from Redis from that offset, then live,
then the end entry with the outcome (and the finish reason, usage and timing, so the page shows the same stats).
If the holder died, the reader's check of its lease claims the reply (app/live/lease.py) and the end entry says
interrupted. If Redis knows nothing of the reply, nobody is streaming it: it is saved as interrupted here.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..live.lease import LiveGap
from ..live.stream import ReplyGone
from .message import INTERRUPTED, Message

if TYPE_CHECKING:
    from .conversation import Conversation

log = logging.getLogger(__name__)


def outcome(reply: Message) -> dict[str, Any]:
    """What a follower elsewhere needs besides text and status to show the ended reply as its holder does."""
    return {'finish_reason': reply.finish_reason, 'usage': reply.usage, 'timing': reply.timing}


async def follow(conversation: Conversation, reply: Message) -> None:
    """Append the reply's text from Redis as it comes, and end it with its holder's outcome."""
    live, notify = conversation.chats.shared, conversation.views.notify
    assert live is not None
    reader = live.reader(reply.id, len(reply.content), len(reply.reasoning))
    try:
        while not reader.done:
            for piece in await reader.next():
                if piece.kind == 'content':
                    reply.content += piece.text
                    notify(lambda view, text=piece.text: view.on_delta(reply, text))  # type: ignore[misc]
                else:
                    reply.reasoning += piece.text
                    notify(lambda view, text=piece.text: view.on_reasoning(reply, text))  # type: ignore[misc]
        reply.status, reply.error = reader.status or INTERRUPTED, reader.error
        reply.finish_reason = reader.meta.get('finish_reason')
        reply.usage, reply.timing = reader.meta.get('usage'), reader.meta.get('timing')
    except (ReplyGone, LiveGap) as error:  # nobody streams it (or Redis lost its start): what the database has
        log.warning('reply %s could not be followed (%s): saved as interrupted', reply.id, type(error).__name__)
        reply.status = INTERRUPTED
        await conversation.chats.store.interrupt_reply(reply.id, reply.content, reply.reasoning)
    finally:
        if reply.streaming:  # cancelled (a shutdown): the holder, not this instance, decides how it ends
            reply.status = INTERRUPTED
        notify(lambda view: view.on_finish(reply))
        conversation.chats.release(conversation)
