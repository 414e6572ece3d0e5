"""A reply streaming on another instance, followed here from Redis (with REDIS_URL), and how a reply's end is told.

A conversation opened on an instance that does not hold its streaming reply has the text the database had (the
last checkpoint, which never runs ahead of Redis); catching up appends what Redis has beyond that offset before the
conversation is handed to a page (a tab whose instance died is reloaded here: the checkpoint may be a second behind
what it showed, and it must not show less, then more again); following reads the rest live, then the end entry with
the outcome (and the finish reason, usage and timing, so the page shows the same stats).
If the holder died, the reader's check of its lease claims the reply (app/live/lease.py) and the end entry says
interrupted. If Redis knows nothing of the reply, nobody is streaming it: it is saved as interrupted here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..live.lease import LiveGap
from ..live.stream import Piece, ReplyGone, ReplyReader
from .message import INTERRUPTED, Message

if TYPE_CHECKING:
    from .conversation import Conversation
    from .view import View

log = logging.getLogger(__name__)


def outcome(reply: Message) -> dict[str, Any]:
    """What a follower elsewhere needs besides text and status to show the ended reply as its holder does."""
    return {'finish_reason': reply.finish_reason, 'usage': reply.usage, 'timing': reply.timing}


def _append(reply: Message, pieces: list[Piece], notify: Callable[[Callable[[View], None]], None] | None) -> None:
    for piece in pieces:
        if piece.kind == 'content':
            reply.content += piece.text
            if notify is not None:
                notify(lambda view, text=piece.text: view.on_delta(reply, text))  # type: ignore[misc]
        else:
            reply.reasoning += piece.text
            if notify is not None:
                notify(lambda view, text=piece.text: view.on_reasoning(reply, text))  # type: ignore[misc]


async def catch_up(conversation: Conversation, reply: Message) -> ReplyReader | None:
    """Bring the reply (loaded from its last checkpoint) up to what Redis has now; the reader to follow on with, or
    None if that failed (follow() starts afresh and meets the error itself). For a conversation being loaded: no
    view is told (none is attached yet; the page is built from the message afterwards)."""
    live = conversation.chats.shared
    assert live is not None
    reader = live.reader(reply.id, len(reply.content), len(reply.reasoning))
    try:
        pieces = await reader.available()
    except (ReplyGone, LiveGap):
        return None
    _append(reply, pieces, None)
    return reader


async def follow(conversation: Conversation, reply: Message, reader: ReplyReader | None = None) -> None:
    """Append the reply's text from Redis as it comes (on from `reader`'s position), and end it with its holder's
    outcome."""
    live, notify = conversation.chats.shared, conversation.views.notify
    assert live is not None
    if reader is None:
        reader = live.reader(reply.id, len(reply.content), len(reply.reasoning))
    try:
        while not reader.done:
            _append(reply, await reader.next(), notify)
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
