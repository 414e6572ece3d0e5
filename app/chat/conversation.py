"""A conversation held in memory while it is open on a page or streaming a reply.

The database is the source of truth: the first message creates the conversation there, each turn is inserted before
its reply starts, and the reply is checkpointed while it streams (see `Chats`). Views (open pages, in any tab) render
from this copy and are told of every change, so a reload or a second tab shows the reply so far and follows it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from ..errors import ChatError
from ..store import new_id
from .message import COMPLETE, FAILED, INTERRUPTED, STOPPED, STREAMING, Message
from .view import View, Views

if TYPE_CHECKING:
    from .chats import Chats

log = logging.getLogger(__name__)

# Longest prompt accepted from the chat box, in characters.
MAX_PROMPT_CHARS = 100_000
# Longest conversation continued, in characters of all its messages and reasoning: bounds memory per conversation.
MAX_CONVERSATION_CHARS = 2_000_000
# Longest title taken from the first prompt.
TITLE_CHARS = 80


class Conversation:
    """Messages of the visible branch, the views that follow them, and at most one reply being streamed."""

    def __init__(self, chats: Chats, *, id: str, owner_id: str, model: str, title: str = '',
                 system_prompt: str | None = None, messages: list[Message] | None = None, stored: bool = False) -> None:
        self.chats = chats
        self.id = id
        self.owner_id = owner_id
        self.model = model
        self.title = title
        self.system_prompt = system_prompt
        self.messages: list[Message] = messages or []
        self.stored = stored  # False for a new chat until its first message is saved
        self.views = Views()
        self._task: asyncio.Task[None] | None = None
        self._starting = False  # the turn is being saved; its reply task does not exist yet
        self._stop_requested = False

    @property
    def busy(self) -> bool:
        """True while a turn is being saved or its reply is streaming."""
        return self._starting or (self._task is not None and not self._task.done())

    @property
    def size(self) -> int:
        """Characters held in memory for this conversation."""
        return sum(message.size for message in self.messages)

    def attach(self, view: View) -> None:
        """Start telling `view` about changes."""
        self.views.add(view)

    def detach(self, view: View) -> None:
        """Stop telling `view`; the reply keeps streaming (and is saved) with nobody watching."""
        self.views.remove(view)
        self.chats.release(self)

    async def send(self, prompt: str) -> Message:
        """Save the prompt and an empty reply, then stream the reply; returns the reply message."""
        if self.busy:
            raise ChatError('busy', 'A reply is still streaming; stop it or wait for it to finish.', 409)
        if len(prompt) > MAX_PROMPT_CHARS:
            raise ChatError('prompt_too_long', f'The message is too long ({len(prompt):,} characters; '
                            f'the limit is {MAX_PROMPT_CHARS:,}).', 413)
        if self.size + len(prompt) > MAX_CONVERSATION_CHARS:
            raise ChatError('conversation_too_long', 'This conversation has grown too long to continue; '
                            'start a New chat.', 413)
        parent = self.messages[-1].id if self.messages else None
        user = Message(new_id(), 'user', prompt, parent_id=parent)
        reply = Message(new_id(), 'assistant', status=STREAMING, parent_id=user.id, model=self.model)
        history = [*self.history(), user.upstream()]
        self._starting, self._stop_requested = True, False
        try:
            await self.chats.save_turn(self, user, reply, title=_title(prompt))
        finally:
            self._starting = False
        self._add(user)
        self._add(reply)
        if self._stop_requested:  # Stop came while the turn was being saved: end it before it starts
            self._finish(reply)
            return reply
        self._task = self.chats.spawn(self._stream(reply, history), name='chat reply')
        # The end is marked from the task's done callback: it runs even for a task cancelled before its first step.
        self._task.add_done_callback(lambda _: self._finish(reply))
        return reply

    def stop(self) -> None:
        """Cancel the running reply, if any; the upstream HTTP stream is closed."""
        if self._starting:
            self._stop_requested = True
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def wait(self) -> None:
        """Wait until the running reply, if any, has ended."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    def history(self) -> list[dict[str, Any]]:
        """What goes upstream: the system prompt, then every turn with text (failed replies without text left out)."""
        system = [{'role': 'system', 'content': self.system_prompt}] if self.system_prompt else []
        return system + [m.upstream() for m in self.messages if m.content and not m.streaming]

    def _add(self, message: Message) -> None:
        self.messages.append(message)
        self.views.notify(lambda view: view.on_message(message))

    async def _stream(self, reply: Message, history: list[dict[str, Any]]) -> None:
        dirty, notify = self.chats.dirty, self.views.notify
        started = time.perf_counter()
        try:
            async with self.chats.upstream.stream(history, model=self.model) as stream:
                async for kind, text in stream.deltas():
                    if kind == 'content':
                        reply.content += text
                        notify(lambda view, text=text: view.on_delta(reply, text))  # type: ignore[misc]
                    else:
                        reply.reasoning += text
                        notify(lambda view, text=text: view.on_reasoning(reply, text))  # type: ignore[misc]
                    dirty.add(reply)
                reply.finish_reason, reply.usage, reply.status = stream.finish_reason, stream.usage, COMPLETE
                first = stream.first_delta_at
                reply.timing = {'ttft_s': None if first is None else round(first - started, 4),
                                'total_s': round(time.perf_counter() - started, 4)}
        except ChatError as error:
            reply.error, reply.status = error.message, FAILED
        except Exception as exc:  # a bug: show a generic message, log the type (the text may hold request data)
            log.error('reply failed: %s', type(exc).__name__)
            reply.error, reply.status = 'The server failed while streaming the reply.', FAILED

    def _finish(self, reply: Message) -> None:
        if reply.status == STREAMING:  # cancelled: by a person (Stop), or by a server shutting down
            reply.status = INTERRUPTED if self.chats.closing else STOPPED
        self.chats.save_final(reply)
        self.views.notify(lambda view: view.on_finish(reply))
        self.chats.release(self)


def _title(prompt: str) -> str:
    """A conversation's title from its first prompt: the first line, trimmed."""
    line = next((line.strip() for line in prompt.splitlines() if line.strip()), 'New chat')
    return line if len(line) <= TITLE_CHARS else line[:TITLE_CHARS - 1].rstrip() + '…'
