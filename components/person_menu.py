"""The person's menu: export this conversation, import one, their API keys, delete all of theirs."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from nicegui import events, ui

from . import api_keys
from .upload import Upload

if TYPE_CHECKING:
    from app.chat.conversation import Conversation

# Largest conversation file accepted by Import.
MAX_IMPORT_BYTES = 20_000_000


@dataclass
class Person:
    """What the person's menu does beyond this conversation (given by the page, bound to the person)."""

    import_json: Callable[[Any], Awaitable[str]]
    delete_all: Callable[[], Awaitable[int]]
    max_tokens_limit: int
    save_image: Callable[[bytes, str], Awaitable[dict[str, Any]]]
    theme: str = 'auto'
    save_theme: Callable[[str], object] = lambda _: None
    save_choices: Callable[[dict[str, Any]], object] = lambda _: None  # a new chat starts from the last settings
    load_models: Callable[[], Awaitable[list[str]]] | None = None  # ALLOWED_MODELS=*: ask the model server
    keys: api_keys.Keys | None = None  # the person's own API keys


def create(conversation: Conversation, person: Person) -> None:
    """The header's "More" button and its menu."""
    with ui.button(icon='more_vert').props('flat round dense color=white aria-label="More"').mark('more'):
        with ui.menu():
            ui.menu_item('Export as Markdown', on_click=lambda: _export_markdown(conversation)) \
                .mark('export-markdown')
            ui.menu_item('Export as JSON', on_click=lambda: _export_json(conversation)).mark('export-json')
            ui.menu_item('Import…', on_click=lambda: _ask_import(person)).mark('import')
            if person.keys is not None:
                keys = person.keys
                ui.menu_item('API keys', on_click=lambda: api_keys.open_dialog(keys)).mark('api-keys')
            ui.separator()
            ui.menu_item('Delete all my conversations', on_click=lambda: _ask_delete_all(person)).mark('delete-all')


def _export_markdown(conversation: Conversation) -> None:
    ui.download.content(conversation.export_markdown().encode(), f'{_slug(conversation.title)}.md', 'text/markdown')


def _export_json(conversation: Conversation) -> None:
    ui.download.content(orjson.dumps(conversation.export_json(), option=orjson.OPT_INDENT_2),
                        f'{_slug(conversation.title)}.json', 'application/json')


def _ask_import(person: Person) -> None:
    with ui.dialog() as dialog, ui.card().classes('w-96 max-w-full'):
        ui.label('Import a conversation').classes('font-semibold')
        ui.label('A JSON file made by "Export as JSON".').classes('text-sm text-gray-600')

        async def received(event: events.UploadEventArguments) -> None:
            try:
                conversation_id = await person.import_json(orjson.loads(await event.file.read()))
            except orjson.JSONDecodeError:
                ui.notify('That file is not JSON.', type='warning')
                return
            except Exception as error:  # ChatError: not an export, or too long
                ui.notify(str(error), type='warning')
                return
            dialog.close()
            ui.navigate.to(f'/c/{conversation_id}')

        Upload(on_upload=received, auto_upload=True, max_file_size=MAX_IMPORT_BYTES) \
            .props('accept=.json,application/json').classes('w-full').mark('import-file')
    dialog.open()


def _ask_delete_all(person: Person) -> None:
    with ui.dialog() as dialog, ui.card().classes('w-96 max-w-full'):
        ui.label('Delete all your conversations?').classes('font-semibold')
        ui.label('Every conversation and message of yours is deleted. This cannot be undone.') \
            .classes('text-sm text-gray-600')

        async def delete() -> None:
            dialog.close()
            count = await person.delete_all()
            ui.notify(f'Deleted {count} conversation{"s" if count != 1 else ""}.')
            ui.navigate.to('/')

        with ui.row().classes('w-full justify-end'):
            ui.button('Cancel', on_click=dialog.close).props('flat no-caps')
            ui.button('Delete all', on_click=delete, color='red').props('no-caps').mark('confirm-delete-all')
    dialog.open()


def _slug(title: str) -> str:
    return re.sub(r'[^A-Za-z0-9]+', '-', title).strip('-')[:60] or 'conversation'
