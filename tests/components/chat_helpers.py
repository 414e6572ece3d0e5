"""Helpers for driving the chat page with NiceGUI's simulated user."""

from __future__ import annotations

import asyncio
from typing import Any

from nicegui import ElementFilter
from nicegui.testing import User

from components.conversation_entry import ConversationEntry
from tests.fake_upstream import Record

# should_see polls every 0.1 s by default; a streamed reply may need a few seconds on a loaded CI machine.
STREAM_RETRIES = 50


async def open_chat(user: User) -> None:
    """Open the page and wait for it: it is built once the browser's socket has connected."""
    await user.open('/')
    await user.should_see(marker='send')


async def send(user: User, text: str) -> None:
    """Type `text` and click Send, then wait until the page took it: the box emptied, or a notification said why not.

    Send is async (the turn is saved before its reply starts), so the click only schedules it.
    """
    box = user.find(marker='prompt')
    box.type(text)
    notified_before = len(user.notify.messages)
    user.find(marker='send').click()
    for _ in range(STREAM_RETRIES):
        if not next(iter(box.elements)).value or len(user.notify.messages) > notified_before:
            return
        await asyncio.sleep(0.1)  # polled like should_see: the simulated user offers no event for a handler's end
    raise AssertionError('the page never took the prompt')


async def finished(record: Record) -> None:
    """Wait until the fake upstream is done with a request (completed or abandoned by the client)."""
    assert await asyncio.to_thread(record.finished.wait, 10), 'upstream request never finished'


async def conversation_link(user: User) -> str:
    """The address of the conversation the page shows, as its entry in the sidebar links to it."""
    assert user.client is not None
    for _ in range(STREAM_RETRIES):
        with user.client:
            current = [entry for entry in ElementFilter(kind=ConversationEntry) if entry.props.get('current')]
        if current:
            return str(current[0].props['href'])
        await asyncio.sleep(0.1)  # the sidebar refreshes in a background task after the first message is saved
    raise AssertionError('the sidebar never showed the current conversation')


async def notified(user: User, text: str) -> None:
    """Wait for a notification containing `text` (handlers that await run after the click returns)."""
    for _ in range(STREAM_RETRIES):
        if user.notify.contains(text):
            return
        await asyncio.sleep(0.1)  # polled like should_see: the simulated user offers no event for notifications
    raise AssertionError(f'no notification with {text!r}')


def press(user: User, name: str) -> None:
    """Press the button `name` on a message's toolbar (the first message's that has one, as `click` picks the first).

    The buttons are drawn by the message's frame (components/message_frame.py): a press is its `act` event with the
    button's name.
    """
    found = user.find(marker=name)
    found.elements = {min(found.elements, key=lambda element: element.id)}
    found.trigger('act', name)


def record_websocket(user: User) -> list[Any]:
    """Every message the page sends to the browser from now on."""
    assert user.client is not None
    sent: list[Any] = []
    emit = user.client.outbox._emit

    async def record(message: Any) -> None:
        sent.append(message)
        await emit(message)

    user.client.outbox._emit = record  # type: ignore[method-assign]
    return sent
