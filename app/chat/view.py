"""What follows a conversation: the View protocol, and the list of views a conversation tells of each change."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from .message import Message

log = logging.getLogger(__name__)


class View(Protocol):
    """Something that shows a conversation and follows its changes."""

    def on_message(self, message: Message) -> None:
        """A message was added, or one that had ended streams again (Continue): show it, in its place, streaming."""

    def on_delta(self, message: Message, text: str) -> None:
        """Text was appended to a streaming message."""

    def on_reasoning(self, message: Message, text: str) -> None:
        """Reasoning text was appended to a streaming message."""

    def on_finish(self, message: Message) -> None:
        """A message stopped streaming (complete, stopped, failed or interrupted)."""

    def on_branch(self) -> None:
        """The branch shown changed (a new version, or another version chosen): show `messages` again."""

    def on_details(self) -> None:
        """The conversation's title, model, system prompt or settings changed (in another tab, or on another
        instance)."""

    def on_deleted(self) -> None:
        """The conversation was deleted (here, or on another instance)."""


class Views:
    """The views of one conversation; a view that raises is detached so it cannot end the reply for the others."""

    def __init__(self) -> None:
        self._views: list[View] = []

    def __len__(self) -> int:
        return len(self._views)

    def add(self, view: View) -> None:
        """Start telling `view` about changes."""
        self._views.append(view)

    def remove(self, view: View) -> None:
        """Stop telling `view`."""
        if view in self._views:
            self._views.remove(view)

    def notify(self, call: Callable[[View], None]) -> None:
        """Call `call` on every view."""
        for view in list(self._views):
            try:
                call(view)
            except Exception:
                log.exception('a conversation view failed; detaching it')
                self.remove(view)

    def delta(self, message: Message, text: str) -> None:
        """`on_delta` on every view: `notify` without a function made per delta, the hottest call of a stream."""
        for view in tuple(self._views):
            try:
                view.on_delta(message, text)
            except Exception:
                log.exception('a conversation view failed; detaching it')
                self.remove(view)
