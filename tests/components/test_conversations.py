"""The person's conversations in the drawer: listed, searched, renamed, deleted; and nobody else's, ever."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from nicegui import ElementFilter
from nicegui.client import Client
from nicegui.testing import User

from app.store import Store
from components.conversation_entry import ConversationEntry
from tests.components.chat_helpers import STREAM_RETRIES, conversation_link, send
from tests.fake_upstream import FakeUpstream


async def chat_once(user: User, prompt: str) -> str:
    """Send `prompt` in a new chat, wait for the reply to end, and return the conversation's address."""
    await user.open('/')
    await send(user, prompt)
    await user.should_see(marker='send', retries=STREAM_RETRIES)
    await user.should_see('Hello, world!', retries=STREAM_RETRIES)
    return await conversation_link(user)


def titles(user: User) -> list[str]:
    """The titles the drawer lists now (none is not an error here, unlike with `user.find`)."""
    assert user.client is not None
    with user.client:
        return sorted(entry.text for entry in ElementFilter(kind=ConversationEntry))


async def listed(user: User, expected: list[str]) -> None:
    """Wait until the drawer lists exactly `expected` (it refreshes in a background task)."""
    for _ in range(STREAM_RETRIES):
        if titles(user) == expected:
            return
        await asyncio.sleep(0.1)
    assert titles(user) == expected


async def test_the_drawer_lists_and_searches_by_title_and_text(configured: FakeUpstream, user: User) -> None:
    first = await chat_once(user, 'Plan the garden party\nwith details')
    await chat_once(user, 'Fix the bicycle brakes')
    await user.open(first)
    await user.should_see('Plan the garden party')
    await listed(user, ['Fix the bicycle brakes', 'Plan the garden party'])
    await user.should_see('Today')
    user.find(marker='search').type('BICYCLE')  # a title match, in any case
    await listed(user, ['Fix the bicycle brakes'])
    user.find(marker='search').clear().type('with details')  # a match in a message's text
    await listed(user, ['Plan the garden party'])
    user.find(marker='search').clear().type('nothing like this')
    await listed(user, [])
    await user.should_see('No matches.')


def entries(user: User) -> list[tuple[str, int]]:
    """The drawer's entries in the order shown: (title, id of the entry's element)."""
    assert user.client is not None
    with user.client:
        shown = list(ElementFilter(kind=ConversationEntry))
    if not shown:
        return []
    rows = shown[0].parent_slot.children  # type: ignore[union-attr]
    return [(row.text, row.id) for row in rows if isinstance(row, ConversationEntry)]


async def test_a_refresh_moves_the_entries_already_listed_instead_of_building_them_again(
        configured: FakeUpstream, user: User) -> None:
    """Every turn refreshes the person's drawers; rebuilding each entry sent the whole list through the websocket."""
    first = await chat_once(user, 'First topic')
    await chat_once(user, 'Second topic')
    await user.open(first)
    await listed(user, ['First topic', 'Second topic'])
    before = dict(entries(user))
    assert list(before) == ['Second topic', 'First topic']
    await send(user, 'More on the first topic')  # the first conversation becomes the newest: the drawer refreshes
    for _ in range(STREAM_RETRIES):
        if [title for title, _ in entries(user)] == ['First topic', 'Second topic']:
            break
        await asyncio.sleep(0.1)  # the refresh runs in a background task after the turn is saved
    assert entries(user) == [('First topic', before['First topic']), ('Second topic', before['Second topic'])]


# Longest wait after the last keystroke that keeps typing-to-results under 200 ms (docs/conversations.md: a search of
# 10,000 conversations answers in 60-90 ms after the wait; 250 ms of waiting made it 310-340 ms).
SEARCH_WAIT_MS = 100


async def test_the_search_box_waits_briefly_after_the_last_keystroke(configured: FakeUpstream, user: User) -> None:
    await user.open('/')
    box = next(iter(user.find(marker='search').elements))
    assert int(box.props['debounce']) <= SEARCH_WAIT_MS


async def test_a_search_answered_late_does_not_replace_the_list_of_a_later_one(
        configured: FakeUpstream, user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a short debounce searches can overlap; the list must show the box's text, whichever answers last."""
    await chat_once(user, 'Fix the bicycle brakes')
    await chat_once(user, 'Plan the garden party')
    asked, release, answered = asyncio.Event(), asyncio.Event(), asyncio.Event()
    query_store = Store.conversations

    async def slow_garden(self: Store, owner_id: str, **kwargs: Any) -> Any:
        if kwargs.get('query') != 'garden':
            return await query_store(self, owner_id, **kwargs)
        asked.set()
        await release.wait()
        try:
            return await query_store(self, owner_id, **kwargs)
        finally:
            answered.set()  # the refresh that asked goes on in this same step, before the test runs again

    monkeypatch.setattr(Store, 'conversations', slow_garden)
    user.find(marker='search').type('garden')  # its answer is held back
    await asked.wait()
    user.find(marker='search').clear().type('bicycle')
    await listed(user, ['Fix the bicycle brakes'])
    release.set()
    await answered.wait()
    assert titles(user) == ['Fix the bicycle brakes']


async def test_rename_and_delete_from_the_drawer(configured: FakeUpstream, user: User) -> None:
    address = await chat_once(user, 'Old title')
    user.find(kind=ConversationEntry, content='Old title').trigger('rename')
    user.find(marker='title').clear().type('  New   title ')
    user.find('Save').click()
    await listed(user, ['New title'])
    await user.open(address)  # stored: a reload shows it too
    await listed(user, ['New title'])
    user.find(kind=ConversationEntry, content='New title').trigger('delete')
    await user.should_see('Delete “New title”?')
    user.find(marker='confirm-delete').click()
    await user.should_see('No conversations yet.', retries=STREAM_RETRIES)
    assert (await user.http_client.get(address)).status_code == 404


async def test_two_browsers_see_disjoint_lists_and_a_foreign_address_is_not_found(
        configured: FakeUpstream, create_user: Any) -> None:
    alice, bob = create_user(), create_user()
    secret = await chat_once(alice, 'Alice private plans')
    await chat_once(bob, 'Bob shopping list')
    assert titles(alice) == ['Alice private plans']
    assert titles(bob) == ['Bob shopping list']
    foreign = await bob.http_client.get(secret)
    missing = await bob.http_client.get('/c/0123456789abcdef0123456789abcdef')
    assert foreign.status_code == missing.status_code == 404
    assert 'Alice private plans' not in foreign.text
    assert "This page doesn't exist." in foreign.text and "This page doesn't exist." in missing.text
    unknown = await bob.http_client.get('/nope')
    assert unknown.status_code == 404 and "This page doesn't exist." in unknown.text
    assert (await alice.http_client.get(secret)).status_code == 200


async def test_a_page_that_never_connects_leaves_no_error(configured: FakeUpstream, user: User) -> None:
    """What curl, link previews and health checkers do: fetch the page, never open its websocket."""
    address = await chat_once(user, 'hello')
    before = set(Client.instances)
    for path in ('/', address):
        response = await user.http_client.get(path)
        assert response.status_code == 200
    for client_id in set(Client.instances) - before:
        Client.instances[client_id].delete()  # what NiceGUI's pruning does about 60 s later
    await user.open(address)  # and the app still works; an ERROR log line would fail this test
    await user.should_see('Hello, world!')

