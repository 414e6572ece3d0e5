"""Helpers for driving the chat page with NiceGUI's simulated user."""

from __future__ import annotations

import asyncio

from nicegui import ui
from nicegui.testing import User

from tests.fake_upstream import Record

# should_see polls every 0.1 s by default; a streamed reply may need a few seconds on a loaded CI machine.
STREAM_RETRIES = 50


async def open_chat(user: User) -> None:
    """Open the page and wait for it: it is built once the browser's socket has connected."""
    await user.open('/')
    await user.should_see(marker='send')


async def send(user: User, text: str) -> None:
    user.find(ui.textarea).type(text)
    user.find(marker='send').click()


async def finished(record: Record) -> None:
    """Wait until the fake upstream is done with a request (completed or abandoned by the client)."""
    assert await asyncio.to_thread(record.finished.wait, 10), 'upstream request never finished'
