"""The drawer on its own: refreshes that reuse entries, and a page that goes away while its list loads."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
from nicegui import ui
from nicegui.testing import User

from components.conversation_entry import ConversationEntry
from components.sidebar import Sidebar


@dataclass(frozen=True)
class Entry:
    id: str
    title: str
    updated_at: dt.datetime


NOW = dt.datetime.now(dt.UTC)


def serve_sidebar(load: Callable[[str | None, object], Awaitable[list[Entry]]]) -> list[Sidebar]:
    """Serve `/` with a drawer that lists what `load` returns (renames and deletes do nothing); each page's drawer
    is appended to the list returned."""
    bars: list[Sidebar] = []

    async def nothing(*_: object) -> None:
        pass

    @ui.page('/')
    def page() -> None:
        bars.append(Sidebar(load=load, rename=nothing, delete=nothing, current_id=None))

    return bars


@pytest.mark.nicegui_main_file('')
async def test_a_drawer_whose_page_went_away_while_loading_does_nothing(user: User) -> None:
    release, started = asyncio.Event(), asyncio.Event()
    entries = [Entry(f'{i:032x}', f'chat {i}', NOW) for i in range(3)]

    async def load(query: str | None, before: object) -> list[Entry]:
        started.set()
        await release.wait()
        return entries

    bars = serve_sidebar(load)
    await user.open('/')
    refresh = asyncio.ensure_future(bars[0].refresh())
    await asyncio.wait_for(started.wait(), 5)
    assert user.client is not None
    user.client.delete()  # the tab is gone (NiceGUI deleted its client) while the list was loading
    release.set()
    await asyncio.wait_for(refresh, 5)  # an error here, or an ERROR log line, fails the test
    assert bars[0].list.is_deleted


@pytest.mark.nicegui_main_file('')
async def test_a_conversation_moved_to_the_top_is_put_first_without_loading_again(user: User) -> None:
    entries = [Entry(f'{i:032x}', f'chat {i}', NOW - dt.timedelta(minutes=i)) for i in range(3)]
    loads: list[str | None] = []

    async def load(query: str | None, before: object) -> list[Entry]:
        loads.append(query)
        return [entry for entry in entries if query is None or query in entry.title]

    bars = serve_sidebar(load)
    await user.open('/')
    bar = bars[0]
    await bar.refresh()
    assert loads == [None]

    def titles() -> list[str]:
        return [entry.text for entry in bar.list.descendants() if isinstance(entry, ConversationEntry)]

    bar.moved_to_top(Entry(entries[2].id, 'chat 2', NOW))  # an older one with a new turn
    bar.moved_to_top(Entry('f' * 32, 'brand new', NOW))  # a new conversation
    assert titles() == ['brand new', 'chat 2', 'chat 0', 'chat 1'] and loads == [None]
    await user.should_see('brand new')

    bar.search.value = 'chat'  # searched: whether it matches is the database's to say
    for _ in range(50):
        if len(loads) == 2:
            break
        await asyncio.sleep(0.05)  # the search box's change handler runs in the background
    bar.moved_to_top(Entry('e' * 32, 'another', NOW))
    for _ in range(50):
        if len(loads) == 3:
            break
        await asyncio.sleep(0.05)  # the reload it asks for runs in the background too
    assert loads == [None, 'chat', 'chat']
    assert 'another' not in titles()
