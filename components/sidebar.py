"""The drawer of a person's conversations: newest first, grouped by day, searchable, paged, with rename and delete."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, Protocol

from nicegui import background_tasks, ui

from .conversation_entry import ConversationEntry

# Conversations fetched per page of the list: 10,000 must not reach the browser at once.
PAGE_SIZE = 50
# Milliseconds the search box waits after the last keystroke before it searches.
# (bench.chat: with 10,000 conversations the query and the list update take ~60-80 ms of server time, so 250 ms of
# debounce put a search at ~370 ms end to end; 100 ms brings it to ~200 ms.)
SEARCH_DEBOUNCE_MS = 100


class Summary(Protocol):
    """What the list shows of one conversation."""

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def updated_at(self) -> dt.datetime: ...


Load = Callable[[str | None, tuple[dt.datetime, str] | None], Awaitable[Sequence[Summary]]]


class Sidebar:
    """A `nav` labelled "Conversations": a search box and the list, each entry a link to its `/c/<id>` page."""

    def __init__(self, *, load: Load, rename: Callable[[str, str], Awaitable[Any]],
                 delete: Callable[[str], Awaitable[Any]], current_id: str | None) -> None:
        self._load, self._rename, self._delete, self.current_id = load, rename, delete, current_id
        self._items: list[Summary] = []
        self._shown: dict[tuple[str, ...], ui.element] = {}  # what the list holds, by what it shows
        with ui.element('nav').props('aria-label=Conversations').classes('w-full column gap-2'):
            self.search = ui.input(placeholder='Search conversations') \
                .props(f'aria-label="Search conversations" dense outlined clearable debounce={SEARCH_DEBOUNCE_MS}') \
                .classes('w-full').mark('search')
            self.search.on_value_change(self.refresh)
            self.list = ui.column().classes('w-full gap-0')
            self.more = ui.button('Load more', on_click=self.load_more).props('flat dense no-caps').classes('w-full')
            self.more.set_visibility(False)

    async def refresh(self) -> None:
        """Load the first page again (after a search, or a change in another tab)."""
        query = self._query()
        items = list(await self._load(query, None))
        if query == self._query():  # else the box changed meanwhile, and the refresh for its new text shows that
            self._items = items
            self._render()

    def moved_to_top(self, item: Summary) -> None:
        """`item` is now the person's newest conversation: put it first, without loading the list again.

        A new conversation made by a turn, or an older one with a new turn, both common while many people chat (a
        drawer reload is a database read and a diff of the whole list). Loaded again instead when the list is
        searched (whether `item` matches is the database's to say), or when `item` was not in a full first page
        (it may have been beyond what is loaded, and "Load more" counts on whole pages).
        """
        if self.list.is_deleted:
            return
        rest = [shown for shown in self._items if shown.id != item.id]
        if self._query() is not None or (len(rest) == len(self._items) and len(self._items) >= PAGE_SIZE):
            background_tasks.create(self.refresh(), name='refresh sidebar')
            return
        self._items = [item, *rest]
        self._render()

    async def load_more(self) -> None:
        """Append the next page of older conversations."""
        if self._items:
            last, query = self._items[-1], self._query()
            more = await self._load(query, (last.updated_at, last.id))
            if query == self._query():
                self._items += more
                self._render()

    def _query(self) -> str | None:
        return (self.search.value or '').strip() or None

    def _render(self) -> None:
        """Show `_items`, reusing the elements of entries already shown and moving them into place."""
        if self.list.is_deleted:  # the page went away while its list was loading
            return
        # Every turn of a conversation refreshes each open drawer of its person: rebuilding 50 entries sent ~57 KB
        # through the websocket and took ~70 ms of server time each time (docs/conversations.md); reusing sends ~1 KB.
        today = dt.datetime.now(dt.UTC).date()
        wanted: dict[tuple[str, ...], Callable[[], ui.element]] = {}
        if not self._items:
            empty = 'No matches.' if self._query() else 'No conversations yet.'
            wanted['note', empty] = partial(_label, empty, 'text-sm text-gray-500 p-2')
        for item in self._items:
            name = day_group(item.updated_at.date(), today)
            wanted.setdefault(('group', name), partial(_label, name, 'text-xs font-semibold text-gray-500 pt-3 px-2'))
            wanted['entry', item.id, item.title] = partial(self._entry, item)
        for key in self._shown.keys() - wanted.keys():
            if not (gone := self._shown.pop(key)).is_deleted:
                self.list.remove(gone)
        with self.list:
            for index, (key, make) in enumerate(wanted.items()):
                if key not in self._shown or self._shown[key].is_deleted:
                    self._shown[key] = make()
                element = self._shown[key]
                children = self.list.default_slot.children
                if index >= len(children) or children[index] is not element:  # anything unexpected: put it right
                    element.move(self.list, target_index=index)
        self.more.set_visibility(len(self._items) % PAGE_SIZE == 0 and bool(self._items))

    def _entry(self, item: Summary) -> ui.element:
        return ConversationEntry(item.title, f'/c/{item.id}', current=item.id == self.current_id,
                                 rename=lambda: self._ask_rename(item), delete=lambda: self._ask_delete(item))

    def _ask_rename(self, item: Summary) -> None:
        with ui.dialog() as dialog, ui.card().classes('w-80'):
            ui.label('Rename conversation').classes('font-semibold')
            title = ui.input('Title', value=item.title).props('autofocus outlined dense').classes('w-full') \
                .mark('title')

            async def save() -> None:
                try:
                    await self._rename(item.id, title.value or '')
                except Exception as error:  # ChatError: an empty title; the dialog stays open with the text
                    ui.notify(str(error), type='warning')
                    return
                dialog.close()

            title.on('keydown.enter', save)
            with ui.row().classes('w-full justify-end'):
                ui.button('Cancel', on_click=dialog.close).props('flat')
                ui.button('Save', on_click=save)
        dialog.open()

    def _ask_delete(self, item: Summary) -> None:
        with ui.dialog() as dialog, ui.card().classes('w-80'):
            ui.label(f'Delete “{item.title}”?').classes('font-semibold break-words')
            ui.label('Its messages are deleted too. This cannot be undone.').classes('text-sm text-gray-600')

            async def delete() -> None:
                dialog.close()
                await self._delete(item.id)

            with ui.row().classes('w-full justify-end'):
                ui.button('Cancel', on_click=dialog.close).props('flat')
                ui.button('Delete', on_click=delete, color='red').mark('confirm-delete')
        dialog.open()


def _label(text: str, classes: str) -> ui.element:
    return ui.label(text).classes(classes)


def day_group(day: dt.date, today: dt.date) -> str:
    """The sidebar group a conversation last active on `day` belongs to."""
    age = (today - day).days
    if age <= 0:
        return 'Today'
    if age == 1:
        return 'Yesterday'
    if age <= 7:
        return 'Previous 7 days'
    return 'Older'
