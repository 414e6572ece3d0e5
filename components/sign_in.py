"""A password prompt shown before the chat when the server sets APP_PASSWORD."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable

from nicegui import ui

# Pause after a wrong password, during which no other attempt is checked (see _attempts): guessing runs at one try
# a second for the whole server, however many pages or clients an attacker opens.
WRONG_PASSWORD_DELAY = 1.0
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def _attempts() -> asyncio.Lock:
    """The one lock all sign-in attempts take (per event loop: a lock cannot be shared across loops)."""
    return _locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())


def create(check: Callable[[str], bool], on_success: Callable[[], None]) -> None:
    """Ask for the password; call `on_success` once `check` accepts one."""
    with ui.card().classes('absolute-center w-80 gap-3'):
        ui.label('NiceChat').classes('text-lg font-semibold')
        ui.label('This chat is protected. Enter the password to continue.').classes('text-sm text-gray-600')
        password = ui.input('Password', password=True, password_toggle_button=True).props('autofocus outlined dense') \
            .classes('w-full')
        error = ui.label('Wrong password.').classes('text-red-700 text-sm').props('role=alert')
        error.set_visibility(False)

        async def submit() -> None:
            attempt = password.value or ''  # taken now: a wrong attempt ahead in the queue clears the field
            button.disable()
            try:
                async with _attempts():
                    if check(attempt):
                        on_success()
                        return
                    await asyncio.sleep(WRONG_PASSWORD_DELAY)
            finally:
                button.enable()
            error.set_visibility(True)
            password.value = ''

        password.on('keydown.enter', submit)
        button = ui.button('Sign in', on_click=submit).classes('w-full')
