"""One conversation in the drawer as one element: a link to its page, and its Rename and Delete buttons.

A turn that starts a conversation adds its entry to each open drawer of the person while other replies stream: as
a row, a link and two `ui.button`s it was four elements and three listeners (~1 ms of server time under load,
docs/page_load.md); as one element drawn in the browser it is one, with the buttons' events on it
(bench/turn_cost). The buttons keep their labels (`aria-label`), the link its `aria-current` on the page shown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nicegui import ui


class ConversationEntry(ui.element, component='conversation_entry.js'):
    """The entry; its displayed content is the title, its markers `rename delete` (the events it answers)."""

    def __init__(self, title: str, href: str, *, current: bool, rename: Callable[[], Any],
                 delete: Callable[[], Any]) -> None:
        super().__init__()
        self._props.update(text=title, href=href, current=current)  # one change (.props() would parse a string)
        self._markers = ['rename', 'delete']
        self.on('rename', rename)
        self.on('delete', delete)

    @property
    def text(self) -> str:
        """The title shown."""
        return str(self._props['text'])
