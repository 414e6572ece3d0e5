"""A turn sent over the API (conversation_id) shows live in a tab open on that conversation, and in its drawer.

The API route's own call (`app.api.conversations.turns.append`) runs in the app the simulated user drives; the tab
is attached to the same runtime conversation, as it would be in the live server.
"""

from __future__ import annotations

import asyncio
import threading

from nicegui import ElementFilter, app
from nicegui.testing import User

from app.api.access import Caller
from app.api.conversations.turns import append
from app.chat.chats import Chats
from components.conversation_entry import ConversationEntry
from tests.components.chat_helpers import STREAM_RETRIES, conversation_link, send
from tests.fake_upstream import FakeUpstream, Script


def runtime() -> Chats:
    """main.py's chat runtime (its start-up handler is bound to it)."""
    handler = next(h for h in app._startup_handlers if getattr(h, '__name__', '') == 'start_chats')
    return handler.__globals__['chats']  # type: ignore[no-any-return]


async def test_an_api_turn_streams_into_an_open_tab_and_moves_up_its_drawer(configured: FakeUpstream,
                                                                          user: User) -> None:
    await user.open('/')
    await send(user, 'first, on the page')
    await user.should_see('Hello, world!', retries=STREAM_RETRIES)
    address = await conversation_link(user)
    await user.open('/')
    await send(user, 'a newer chat')
    await user.should_see(marker='send', retries=STREAM_RETRIES)
    await in_order(user, ['a newer chat', 'first, on the page'])
    await user.open(address)
    chats = runtime()
    conversation = chats.live[address.removeprefix('/c/')]
    gate = threading.Semaphore(0)
    configured.queue(Script(tokens=['From', ' the', ' API', ' key'], gate=gate))
    follower = await append(chats, Caller('key:test', owner_id=conversation.owner_id), conversation.id,
                            [{'role': 'user', 'content': 'sent by an integration'}], model=None, params={})
    await user.should_see('sent by an integration')
    await user.should_see('From', retries=STREAM_RETRIES)  # the first token, while the rest waits on the gate
    assert follower.message.streaming
    for _ in range(3):
        gate.release()
    await user.should_see('From the API key', retries=STREAM_RETRIES)
    while not follower.done:
        await asyncio.wait_for(follower.next(), 10)
    follower.close()
    assert follower.message.content == 'From the API key'
    # The drawer follows the API's turn: that conversation is the newest again.
    await in_order(user, ['first, on the page', 'a newer chat'])


async def in_order(user: User, expected: list[str]) -> None:
    """Wait until the drawer lists exactly `expected`, top to bottom (it refreshes in a background task)."""
    assert user.client is not None
    for _ in range(STREAM_RETRIES):
        with user.client:
            shown = [entry.text for entry in ElementFilter(kind=ConversationEntry)]
        if shown == expected:
            return
        await asyncio.sleep(0.1)  # polled like should_see: the drawer's refresh is a background task
    assert shown == expected
