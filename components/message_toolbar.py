"""A message's buttons as one element: the browser draws them, a press comes back as one event naming the button.

Made per message while other replies stream (a turn's prompt gets its toolbar at once, its reply at the end), so it
is one element with one listener rather than a row of `ui.button`s, each an element with its own click listener
(~150-250 µs of server time apiece; docs/page_load.md, "Third round"). The buttons keep their labels (`aria-label`)
and are Quasar buttons in the page, so keyboard use is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from nicegui import events, ui


@dataclass(frozen=True)
class Button:
    """One button: `name` comes back when pressed; `label` is its accessible name, `text` its visible caption."""

    name: str
    icon: str = ''
    label: str = ''
    text: str = ''
    disabled: bool = False


def version(text: str) -> Button:
    """The "2 / 3" between the version arrows (shown as text, not a button)."""
    return Button('version', text=text)


class MessageToolbar(ui.element, component='message_toolbar.js'):
    """The toolbar; `show(buttons)` replaces what it shows, `on_press(name)` runs for a press of an enabled button.

    Its markers are the names of the buttons it shows (so `user.find(marker='regenerate')` finds it), and its displayed
    contents their captions and the version text.
    """

    def __init__(self, on_press: Callable[[str], Any]) -> None:
        super().__init__()
        self._on_press = on_press
        self._buttons: tuple[Button, ...] = ()
        self._props['buttons'] = []
        self.on('act', self._act)

    def show(self, buttons: list[Button]) -> None:
        """Show `buttons`, in order (none: an empty toolbar)."""
        self._buttons = tuple(buttons)
        self._props['buttons'] = [asdict(button) for button in buttons]
        self.mark(' '.join(button.name for button in buttons))
        self.update()

    @property
    def names(self) -> list[str]:
        """The names of the buttons shown, in order."""
        return [button.name for button in self._buttons]

    def _displayed_contents(self, *, only_visible: bool) -> list[Any]:
        return [button.text for button in self._buttons]

    def _act(self, event: events.GenericEventArguments) -> Any:
        """A press from the browser: only a button shown and enabled counts (anything else is ignored)."""
        name = event.args
        if any(button.name == name and not button.disabled and name != 'version' for button in self._buttons):
            return self._on_press(name)
        return None
