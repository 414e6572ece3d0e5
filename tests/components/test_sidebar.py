"""The drawer on its own: refreshes that reuse entries, and a page that goes away while its list loads."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

import pytest
from nicegui import ui
from nicegui.testing import User

from components.sidebar import Sidebar


@dataclass(frozen=True)
class Entry:
    id: str
    title: str
    updated_at: dt.datetime


NOW = dt.datetime.now(dt.UTC)


@pytest.mark.nicegui_main_file('')
async def test_a_drawer_whose_page_went_away_while_loading_does_nothing(user: User) -> None:
    release, started = asyncio.Event(), asyncio.Event()
    entries = [Entry(f'{i:032x}', f'chat {i}', NOW) for i in range(3)]
    bars: list[Sidebar] = []

    async def load(query: str | None, before: object) -> list[Entry]:
        started.set()
        await release.wait()
        return entries

    async def nothing(*_: object) -> None:
        pass

    @ui.page('/')
    def page() -> None:
        bars.append(Sidebar(load=load, rename=nothing, delete=nothing, current_id=None))

    await user.open('/')
    refresh = asyncio.ensure_future(bars[0].refresh())
    await asyncio.wait_for(started.wait(), 5)
    assert user.client is not None
    user.client.delete()  # the tab is gone (NiceGUI deleted its client) while the list was loading
    release.set()
    await asyncio.wait_for(refresh, 5)  # an error here, or an ERROR log line, fails the test
    assert bars[0].list.is_deleted
