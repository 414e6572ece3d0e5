"""The page's polite live region: a finished reply is announced once to screen readers (the stream itself is not).

One element whose props change per reply, where it was a `div` emptied and given a new label each time (two element
operations per finished reply, while other replies stream; bench/turn_cost). The browser keys the text by the reply,
so the same text twice is still announced twice.
"""

from __future__ import annotations

from nicegui import ui


class Announcer(ui.element, component='announcer.js'):
    """`say(reply_id, text)` replaces what the region holds; its displayed content is that text."""

    def say(self, reply_id: str, text: str) -> None:
        """Announce `text`, about the reply `reply_id` (its `data-reply` in the page)."""
        self._props.update(reply=reply_id, text=text)  # one change, one update
