"""A password prompt shown before the chat when the server sets APP_PASSWORD."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from nicegui import ui

# Pause after a wrong password: makes guessing slow without locking anyone out.
WRONG_PASSWORD_DELAY = 1.0


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
            if check(password.value or ''):
                on_success()
                return
            button.disable()
            await asyncio.sleep(WRONG_PASSWORD_DELAY)
            button.enable()
            error.set_visibility(True)
            password.value = ''

        password.on('keydown.enter', submit)
        button = ui.button('Sign in', on_click=submit).classes('w-full')
