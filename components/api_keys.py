"""The person's API keys: create one (its secret shown once), list them with last use and usage, rename, revoke."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from nicegui import ui

if TYPE_CHECKING:
    from app.store import ApiKeyRecord, CreatedKey


@dataclass
class Keys:
    """What the page may do with the person's own keys (bound to the person by the page)."""

    load: Callable[[], Awaitable[list[ApiKeyRecord]]]
    create: Callable[[str], Awaitable[CreatedKey]]  # ValueError: a bad name, or too many keys
    rename: Callable[[str, str], Awaitable[bool]]  # False: not theirs (or gone)
    revoke: Callable[[str], Awaitable[bool]]  # False: not theirs, or already revoked


async def open_dialog(keys: Keys) -> None:
    """Open the API keys dialog; it is deleted on closing, so a new key's secret leaves the page with it."""
    await KeysDialog(keys).show()


def describe(key: ApiKeyRecord) -> str:
    """One line about a key: its prefix, when it was made and last used, its usage, and whether it is revoked."""
    used = _when(key.last_used_at) if key.last_used_at else 'never'
    parts = [f'{key.prefix}…', f'created {_when(key.created_at)}', f'last used {used}',
             f'{_count(key.requests, "request")}, {_count(key.completion_tokens, "token")}']
    if key.revoked_at is not None:
        parts.append(f'revoked {_when(key.revoked_at)}')
    return ' · '.join(parts)


class KeysDialog:
    """The dialog: a name box and Create, the new secret (once), and the list of the person's keys."""

    def __init__(self, keys: Keys) -> None:
        self.keys = keys
        with ui.dialog() as self.dialog, ui.card().classes('w-[40rem] max-w-full'):
            ui.label('API keys').classes('text-lg font-semibold')
            ui.label('A key lets a program use this app as you: as the API key of an OpenAI client pointed at '
                     '/v1 on this server, or as a bearer token for /api/chat. Revoke a key you no longer use.') \
                .classes('text-sm text-gray-600')
            with ui.row().classes('w-full items-end no-wrap'):
                self.name = ui.input('Name', placeholder='What will use it, e.g. "laptop script"') \
                    .props('dense maxlength=100').classes('grow').mark('key-name')
                self.name.on('keydown.enter', self.create)
                ui.button('Create key', on_click=self.create).props('no-caps').mark('create-key')
            self.fresh = ui.column().classes('w-full')  # the new key's secret, until Done or closing
            self.rows = ui.column().classes('w-full gap-2')
            with ui.row().classes('w-full justify-end'):
                ui.button('Close', on_click=self.dialog.close).props('flat no-caps').mark('close-keys')
        self.dialog.on_value_change(lambda event: None if event.value else self.dialog.delete())

    async def show(self) -> None:
        """Open the dialog with the current list."""
        self.dialog.open()
        await self.refresh()

    async def refresh(self) -> None:
        """List the person's keys again, newest first."""
        listed = await self.keys.load()
        self.rows.clear()
        with self.rows:
            if not listed:
                ui.label('You have no API keys yet.').classes('text-sm text-gray-600')
            for key in listed:
                self._row(key)

    async def create(self) -> None:
        """Make a key with the typed name and show its secret, this once."""
        try:
            created = await self.keys.create(self.name.value or '')
        except ValueError as error:  # the message says what to change; it holds no secret
            ui.notify(str(error), type='warning')
            return
        self.name.value = ''
        secret = created.secret
        self.fresh.clear()
        with self.fresh, ui.card().classes('w-full bg-green-50').mark('new-key'):
            ui.label(f'Your new key “{created.record.name}”. Copy it now: you will not see it again.') \
                .classes('text-sm font-medium')
            with ui.row().classes('w-full items-center no-wrap'):
                ui.input(value=secret).props('readonly dense outlined').classes('grow font-mono').mark('new-secret')
                ui.button('Copy', icon='content_copy', on_click=lambda: ui.clipboard.write(secret)) \
                    .props('no-caps').mark('copy-secret')
                ui.button('Done', on_click=self.fresh.clear).props('flat no-caps').mark('secret-done')
        await self.refresh()

    def _row(self, key: ApiKeyRecord) -> None:
        revoked = key.revoked_at is not None
        with ui.row().classes('w-full items-center no-wrap gap-2').mark('key-row'):
            with ui.column().classes('grow gap-0 min-w-0'):
                ui.label(key.name).classes('font-medium break-all' + (' line-through text-gray-500' if revoked else ''))
                ui.label(describe(key)).classes('text-xs text-gray-600')
            if not revoked:
                ui.button(icon='edit', on_click=lambda: self._ask_rename(key)) \
                    .props('flat round dense aria-label="Rename"').mark('rename-key')
                ui.button('Revoke', on_click=lambda: self._ask_revoke(key)) \
                    .props('flat dense no-caps color=red').mark('revoke-key')

    def _ask_rename(self, key: ApiKeyRecord) -> None:
        with ui.dialog() as dialog, ui.card().classes('w-96 max-w-full'):
            ui.label('Rename the key').classes('font-semibold')
            box = ui.input('Name', value=key.name).props('dense maxlength=100 autofocus').classes('w-full') \
                .mark('rename-input')

            async def save() -> None:
                try:
                    done = await self.keys.rename(key.id, box.value or '')
                except ValueError as error:
                    ui.notify(str(error), type='warning')
                    return
                dialog.close()
                if not done:
                    ui.notify('That key no longer exists.', type='warning')
                await self.refresh()

            box.on('keydown.enter', save)
            with ui.row().classes('w-full justify-end'):
                ui.button('Cancel', on_click=dialog.close).props('flat no-caps')
                ui.button('Save', on_click=save).props('no-caps').mark('save-rename')
        dialog.open()

    def _ask_revoke(self, key: ApiKeyRecord) -> None:
        with ui.dialog() as dialog, ui.card().classes('w-96 max-w-full'):
            ui.label(f'Revoke “{key.name}”?').classes('font-semibold break-all')
            ui.label('Programs using this key are refused from now on. This cannot be undone.') \
                .classes('text-sm text-gray-600')

            async def revoke() -> None:
                dialog.close()
                if await self.keys.revoke(key.id):
                    ui.notify(f'Revoked “{key.name}”.')
                else:
                    ui.notify('That key was already revoked.', type='warning')
                await self.refresh()

            with ui.row().classes('w-full justify-end'):
                ui.button('Cancel', on_click=dialog.close).props('flat no-caps')
                ui.button('Revoke', on_click=revoke, color='red').props('no-caps').mark('confirm-revoke')
        dialog.open()


def _when(moment: datetime) -> str:
    return moment.strftime('%Y-%m-%d %H:%M UTC')


def _count(number: int, noun: str) -> str:
    return f'{number:,} {noun}{"" if number == 1 else "s"}'
