"""A message's buttons as data: the server sends the list, the browser draws them (components/message_frame.js).

They were a row of `ui.button`s, each an element with its own click listener (~150-250 µs of server time apiece;
docs/page_load.md, "Third round"), then one toolbar element; now they are a prop of the message's frame, and a press
comes back as one event naming the button (components/message_frame.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Button:
    """One button: `name` comes back when pressed; `label` is its accessible name, `text` its visible caption."""

    name: str
    icon: str = ''
    label: str = ''
    text: str = ''
    disabled: bool = False

    def to_dict(self) -> dict[str, object]:
        """The button as the browser gets it (a copy of its fields: `dataclasses.asdict` deep-copies each value,
        ~10 µs a button)."""
        return dict(self.__dict__)


def version(text: str) -> Button:
    """The "2 / 3" between the version arrows (shown as text, not a button)."""
    return Button('version', text=text)
