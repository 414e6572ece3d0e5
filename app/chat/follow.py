"""Following one reply from a character offset: its text so far, then live, then how it ended.

There is no queue per follower. A follower keeps only its position in the reply; each time it wakes it takes the text
after that position from the message itself, which holds the whole reply anyway. So a follower that lags behind (a
slow client) holds no memory of its own, however far behind it is: when it reads again it gets everything it missed
at once, cut into pieces of at most PIECE_CHARS. Nothing is dropped, so a slow follower is never told to reconnect;
one whose connection breaks resumes from the offset it had reached and gets nothing twice.

Offsets count characters of the reply's text (Python `str` indices: Unicode code points), not of its reasoning.
Reasoning is passed on live only, from when the follower starts: it is stored with the reply, not replayed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ..errors import ChatError
from .message import Message

if TYPE_CHECKING:
    from .conversation import Conversation

# Most characters handed out in one piece: a follower resuming a long reply from 0 gets it in pieces this size, so
# one line of the stream (and one copy of the text) stays small, and the client can note its offset as it goes.
PIECE_CHARS = 16_384


@dataclass(frozen=True)
class Piece:
    """Text of the reply (`content`) or of its reasoning; `offset` is where the reply's text stands after it."""

    kind: Literal['content', 'reasoning']
    text: str
    offset: int


class Follower:
    """Follows `message` of `conversation` from character `offset` of its text, as one of the conversation's views.

    Call `next()` (or iterate `batches()`) until `done`, then `close()` (also when giving up early): following never
    stops the reply.
    """

    def __init__(self, conversation: Conversation, message: Message, offset: int = 0) -> None:
        if message.streaming and not conversation.busy:
            # Stored as streaming, but no reply runs here and none is followed from Redis: another instance streams
            # it and nothing is shared (several instances on one database without REDIS_URL; with it, opening the
            # conversation followed the reply: app/chat/remote.py). It would never end for this follower.
            raise ChatError('streaming_elsewhere', 'This reply is being streamed by another instance of the server, '
                            'which shares nothing with this one (no REDIS_URL); follow it there, or read it when it '
                            'has ended.', 409)
        if not 0 <= offset <= len(message.content):
            raise ChatError('offset_out_of_range', f'The offset {offset} is outside the reply, which has '
                            f'{len(message.content)} characters so far.', 416)
        self.conversation, self.message, self.offset = conversation, message, offset
        self._reasoned = len(message.reasoning)  # reasoning is live only: start at its end
        self._changed = asyncio.Event()
        self._ended = False  # the final state has been seen and all text handed out
        self._closed = False
        conversation.attach(self)

    @property
    def done(self) -> bool:
        """True once the reply has ended and all its text from the offset was handed out; see `message.status`."""
        return self._ended

    async def next(self, within: float | None = None) -> list[Piece]:
        """The pieces produced since the last call: at once if there are any, else when some come, the reply ends,
        or `within` seconds pass (then an empty list). Empty also once `done`."""
        pieces = self._take()
        while not pieces and not self._ended:
            try:
                async with asyncio.timeout(within):  # no task per wait, unlike wait_for
                    await self._changed.wait()
            except TimeoutError:
                return []
            pieces = self._take()
        return pieces

    async def batches(self, ping_interval: float, first_wait: float | None = None) -> AsyncGenerator[list[Piece]]:
        """The pieces as they come until `done`, each `next` result that has any; an empty list when nothing came
        for `ping_interval` seconds (`first_wait` for the first wait), for a route to send its keep-alive."""
        wait = ping_interval if first_wait is None else first_wait
        while not self.done:
            pieces = await self.next(wait)
            wait = ping_interval
            if pieces or not self.done:
                yield pieces

    def close(self) -> None:
        """Stop following (the reply goes on, and is saved, whoever follows it)."""
        if not self._closed:
            self._closed = True
            self.conversation.detach(self)

    def _take(self) -> list[Piece]:
        self._changed.clear()
        message = self.message
        ended = not message.streaming  # read before the text: a message that has ended has all its text
        pieces: list[Piece] = []
        if len(message.reasoning) > self._reasoned:
            pieces.append(Piece('reasoning', message.reasoning[self._reasoned:], self.offset))
            self._reasoned = len(message.reasoning)
        end = len(message.content)
        while self.offset < end:
            cut = min(end, self.offset + PIECE_CHARS)
            pieces.append(Piece('content', message.content[self.offset:cut], cut))
            self.offset = cut
        self._ended = ended
        return pieces

    # The View protocol: every change only wakes the follower, which reads the message itself.
    def on_message(self, message: Message) -> None:
        pass

    def on_delta(self, message: Message, text: str) -> None:
        if message is self.message:
            self._changed.set()

    def on_reasoning(self, message: Message, text: str) -> None:
        if message is self.message:
            self._changed.set()

    def on_finish(self, message: Message) -> None:
        if message is self.message:
            self._changed.set()

    def on_branch(self) -> None:
        pass

    def on_details(self) -> None:
        pass

    def on_deleted(self) -> None:
        self._changed.set()  # the reply was stopped first, so it has ended: the follower sees that


def reply_of(conversation: Conversation, reply_id: str | None = None) -> Message | None:
    """The reply to follow: `reply_id` if given (any version), else the last answer on the branch shown (the one
    streaming, if any); None when there is none."""
    if reply_id is not None:
        message = conversation.tree.by_id.get(reply_id)
        return message if message is not None and message.role == 'assistant' else None
    return next((m for m in reversed(conversation.messages) if m.role == 'assistant'), None)
