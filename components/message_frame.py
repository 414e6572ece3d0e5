"""One message's frame as one element: the browser draws the role line, the bubble, the notice, stats and buttons.

A turn's two messages are built while other replies stream, and each NiceGUI element costs ~80-90 µs of server time
to make (more under load) plus its share of the update sent. As separate elements a prompt was five (column, role
label, card, text label, toolbar) and a reply four, then three more at its end (stats label, toolbar, the page's
announcement); as one element a prompt is one, a reply two (this and its markdown), and its end changes props only
(bench/turn_cost, docs/page_load.md). What only some messages show (a notice, the stats, the buttons) is a prop left
out until needed. The bubble's children (the reply's markdown, a prompt's thumbnails, the reasoning) are the
element's own children; an editor goes in its "editor" slot, drawn where the bubble and buttons were.

The buttons keep their labels (`aria-label`) and are Quasar buttons, so keyboard use is as before; a press comes
back as one `act` event naming the button, and only a button shown and enabled counts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nicegui import events, ui

from .message_toolbar import Button

# How the outcome notice looks (its colour class) and is announced (its ARIA role): a failure is an alert, an
# interrupted reply a status.
NOTICE_ERROR = ('text-red-700', 'alert')
NOTICE_STOPPED = ('text-gray-500', '')
NOTICE_INTERRUPTED = ('text-amber-800', 'status')


class MessageFrame(ui.element, component='message_frame.js'):
    """The frame; `show(...)` and `set_editing` change what it shows, `on_press(name)` runs for a press of a button
    it shows, enabled.

    Its markers are the names of the buttons it shows, plus `stats` while it shows stats (so `user.find(marker=
    'regenerate')` finds it), and its displayed contents a prompt's text, the notice, the stats and the buttons'
    captions and version text (what `user.should_see` matches).
    """

    def __init__(self, role: str, text: str, *, waiting: bool, on_press: Callable[[str], Any]) -> None:
        super().__init__()
        self._on_press = on_press
        self._buttons: tuple[Button, ...] = ()
        # Props change in batches (each change of NiceGUI's props runs its change handlers, ~5 µs), and the values
        # are strings, booleans and tuples: a list or dict would be wrapped in observables (~10-15 µs more), and
        # these are only ever replaced whole.
        self._props.update(role=role, text=text, waiting=waiting)
        self.on('act', self._act)

    @property
    def text(self) -> str:
        """A prompt's text ('' for a reply: its text is its markdown child's)."""
        return str(self._props.get('text', ''))

    @property
    def names(self) -> list[str]:
        """The names of the buttons shown, in order."""
        return [button.name for button in self._buttons]

    def show(self, buttons: list[Button], *, notice: str = '', look: tuple[str, str] = NOTICE_STOPPED,
             stats: str = '') -> None:
        """Show `buttons`, in order (none: no toolbar), the notice `notice` in the bubble under the text (a failure,
        a stop, an interruption; `look` is a NOTICE_*) and the line `stats` under the bubble; the dots go."""
        self._buttons = tuple(buttons)
        self._props.update(buttons=tuple(button.to_dict() for button in buttons), notice=notice, tone=look[0],
                           alert=look[1], stats=stats, waiting=False)
        self._markers = [button.name for button in self._buttons] + (['stats'] if stats else [])

    def stop_waiting(self) -> None:
        """Take the waiting dots away (the first text has come)."""
        if self._props.get('waiting'):
            self._props['waiting'] = False

    def set_editing(self, editing: bool) -> None:
        """Hide the bubble and the buttons while the "editor" slot holds an editor."""
        self._props['editing'] = editing

    def _displayed_contents(self, *, only_visible: bool) -> list[Any]:
        props = self._props
        if only_visible and props.get('editing'):  # the bubble and the buttons are hidden
            return [props.get('stats')]
        return [props.get('text'), props.get('notice'), props.get('stats'), *(button.text for button in self._buttons)]

    def _handle_delete(self) -> None:
        # `on_press` is the message view's method, and the view holds this frame: a cycle that would wait for the
        # garbage collector (app/web/teardown.py); a removed frame takes no presses.
        self._on_press = _ignore
        super()._handle_delete()

    def _act(self, event: events.GenericEventArguments) -> Any:
        """A press from the browser: only a button shown and enabled counts (anything else is ignored)."""
        name = event.args
        if any(button.name == name and not button.disabled and name != 'version' for button in self._buttons):
            return self._on_press(name)
        return None


def _ignore(name: str) -> None:
    """A removed frame's `on_press`."""
