"""A chat conversation held on the server: its messages, and the reply being streamed into it.

The server's copy is the source of truth: views (one per open page of the same browser tab) render from it
and are told of every change, so a reload or a reconnect rebuilds the whole conversation so far.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from nicegui import background_tasks

from ..errors import ChatError
from ..upstream import Upstream

log = logging.getLogger(__name__)

# Conversations kept in memory at once; the least recently used beyond this are forgotten.
MAX_CONVERSATIONS = 1000
# Longest prompt accepted from the chat box, in characters.
MAX_PROMPT_CHARS = 100_000
# Longest conversation kept, in characters of all its messages: bounds memory per browser tab.
MAX_CONVERSATION_CHARS = 2_000_000


@dataclass
class Message:
    """One turn: who said it, the text so far, and how its streaming ended."""

    role: str
    content: str = ''
    reasoning: str = ''  # a thinking model's reasoning: shown apart, never sent back upstream
    streaming: bool = False
    stopped: bool = False
    error: str | None = None


class View(Protocol):
    """Something that shows a conversation and follows its changes."""

    def on_message(self, message: Message) -> None:
        """A message was added."""

    def on_delta(self, message: Message, text: str) -> None:
        """Text was appended to a streaming message."""

    def on_reasoning(self, message: Message, text: str) -> None:
        """Reasoning text was appended to a streaming message."""

    def on_finish(self, message: Message) -> None:
        """A message stopped streaming (done, stopped or failed)."""

    def on_clear(self) -> None:
        """All messages were removed."""


class Conversation:
    """Messages plus at most one running reply; the reply is cancelled when its last view goes away."""

    def __init__(self, upstream: Upstream, model: str) -> None:
        self.upstream = upstream
        self.model = model
        self.messages: list[Message] = []
        self.views: list[View] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def busy(self) -> bool:
        """True while a reply is streaming."""
        return self._task is not None and not self._task.done()

    def attach(self, view: View) -> None:
        """Start telling `view` about changes."""
        self.views.append(view)

    def detach(self, view: View) -> None:
        """Stop telling `view`; with no view left, cancel the running reply (nobody would see it)."""
        if view in self.views:
            self.views.remove(view)
        if not self.views:
            self.stop()

    def send(self, prompt: str) -> Message:
        """Add the user's prompt and start streaming the reply; returns the reply message."""
        if self.busy:
            raise ChatError('busy', 'A reply is still streaming; stop it or wait for it to finish.', 409)
        if len(prompt) > MAX_PROMPT_CHARS:
            raise ChatError('prompt_too_long', f'The message is too long ({len(prompt):,} characters; '
                            f'the limit is {MAX_PROMPT_CHARS:,}).', 413)
        if sum(len(m.content) for m in self.messages) + len(prompt) > MAX_CONVERSATION_CHARS:
            raise ChatError('conversation_too_long', 'This conversation has grown too long to continue; '
                            'start a New chat.', 413)
        history = [*self.history(), {'role': 'user', 'content': prompt}]
        self._add(Message('user', prompt))
        reply = Message('assistant', streaming=True)
        self._add(reply)
        self._task = background_tasks.create(self._stream(reply, history), name='chat reply')
        # The end is marked from the task's done callback: it runs even for a task cancelled before its first step
        # (Stop or New chat in the same loop turn as Send), where the coroutine's own code never runs.
        self._task.add_done_callback(lambda task: self._finish(reply, task))
        return reply

    def stop(self) -> None:
        """Cancel the running reply, if any; the upstream HTTP stream is closed."""
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def clear(self) -> None:
        """Stop any reply and forget the messages."""
        self.stop()
        self.messages.clear()
        self._notify(lambda view: view.on_clear())

    def history(self) -> list[dict[str, str]]:
        """What goes upstream: every finished turn with text (failed replies without text are left out)."""
        return [{'role': m.role, 'content': m.content} for m in self.messages if m.content]

    def _add(self, message: Message) -> None:
        self.messages.append(message)
        self._notify(lambda view: view.on_message(message))

    async def _stream(self, reply: Message, history: list[dict[str, str]]) -> None:
        try:
            async with self.upstream.stream(history, model=self.model) as stream:
                async for kind, text in stream.deltas():
                    if kind == 'content':
                        reply.content += text
                        self._notify(lambda view, text=text: view.on_delta(reply, text))  # type: ignore[misc]
                    else:
                        reply.reasoning += text
                        self._notify(lambda view, text=text: view.on_reasoning(reply, text))  # type: ignore[misc]
        except ChatError as error:
            reply.error = error.message
        except Exception as exc:  # a bug: show a generic message, log the type (the text may hold request data)
            log.error('reply failed: %s', type(exc).__name__)
            reply.error = 'The server failed while streaming the reply.'

    def _finish(self, reply: Message, task: asyncio.Task[None]) -> None:
        reply.stopped = task.cancelled()
        reply.streaming = False
        self._notify(lambda view: view.on_finish(reply))

    def _notify(self, call: Callable[[View], None]) -> None:
        for view in list(self.views):
            try:
                call(view)
            except Exception:  # one broken page must not end the reply for the others
                log.exception('a conversation view failed; detaching it')
                self.views.remove(view)


class Conversations:
    """Conversations by key (one per browser tab), least recently used forgotten beyond MAX_CONVERSATIONS."""

    def __init__(self, factory: Callable[[], Conversation], limit: int = MAX_CONVERSATIONS) -> None:
        self._factory = factory
        self._limit = limit
        self._items: OrderedDict[str, Conversation] = OrderedDict()

    def get(self, key: str) -> Conversation:
        """The conversation for `key`, made on first use."""
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        conversation = self._items[key] = self._factory()
        # Forget the least recently used conversations nobody is looking at; one still on a page is kept (pages are
        # bounded by the connected clients), so opening many tabs cannot cancel someone else's reply.
        idle = [k for k, c in self._items.items() if not c.views and k != key]
        for old in idle[:max(0, len(self._items) - self._limit)]:
            self._items.pop(old).stop()
        return conversation
