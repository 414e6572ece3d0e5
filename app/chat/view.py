"""What follows a conversation: the View protocol, and the list of views a conversation tells of each change."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
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


# Where a view takes a streaming message's text: a function of the text alone.
Sink = Callable[[str], None]


class Views:
    """The views of one conversation; a view that raises is detached so it cannot end the reply for the others.

    A streaming reply's deltas are the hot path (one call per delta per view, hundreds of views streaming at once):
    after the first delta of a message has gone through `on_delta`, a view may name its sink for the next ones (a
    method `sink(message)`, see components/chat.py), and they go straight there until anything else happens to the
    views (a view added or removed, any other change told), which goes back to `on_delta` for the next delta.
    """

    def __init__(self) -> None:
        self._views: list[View] = []
        self._sinks: tuple[Message, list[tuple[View, Sink]]] | None = None  # a message's sinks, while they hold

    def __len__(self) -> int:
        return len(self._views)

    def add(self, view: View) -> None:
        """Start telling `view` about changes."""
        self._sinks = None
        self._views.append(view)

    def remove(self, view: View) -> None:
        """Stop telling `view`."""
        self._sinks = None
        if view in self._views:
            self._views.remove(view)

    def notify(self, call: Callable[[View], None]) -> None:
        """Call `call` on every view."""
        self._sinks = None  # whatever changed may have moved where a view shows a streaming message
        for view in list(self._views):
            try:
                call(view)
            except Exception:
                self._failed(view)

    def delta(self, message: Message, text: str) -> None:
        """`on_delta` on every view, or its sink for `message` once it has one."""
        held = self._sinks
        if held is not None and held[0] is message:
            for view, sink in held[1]:
                try:
                    sink(text)
                except Exception:
                    self._failed(view)
            return
        sinks: list[tuple[View, Sink]] = []
        for view in tuple(self._views):
            try:
                view.on_delta(message, text)
                sinks.append((view, _sink(view, message)))
            except Exception:
                self._failed(view)
        self._sinks = message, sinks

    def _failed(self, view: View) -> None:
        """`view` raised (called in the handler of what it raised): log it and detach it."""
        log.exception('a conversation view failed; detaching it')
        self.remove(view)


def _sink(view: View, message: Message) -> Sink:
    """Where `view` takes `message`'s next deltas: its own sink, if it names one, else its `on_delta`."""
    named: Callable[[Message], Sink | None] | None = getattr(view, 'sink', None)
    return (named(message) if named is not None else None) or partial(view.on_delta, message)
