"""Conversations: owned by one user, unguessable ids, newest activity first, keyset pages, edits and deletes."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, timedelta

import pytest
from sqlalchemy import update

from app.store import ConversationSummary, NewMessage, Store, new_id
from app.store.tables import conversations


async def make(store: Store, owner: str, count: int, **fields: str) -> list[str]:
    """`count` conversations of `owner`, each started after the one before; their ids, oldest first."""
    return [(await store.create_conversation(owner, title=f'chat {i}', model='m', **fields)).id for i in range(count)]


async def test_ids_are_unguessable_uuid4_hex(store: Store) -> None:
    owner = await store.user_id('browser-a')
    ids = [owner, *await make(store, owner, 20), new_id()]
    assert all(re.fullmatch(r'[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}', id) for id in ids)
    assert len(set(ids)) == len(ids)
    # Not sequential: consecutive ids lie far apart, unlike counters or time-ordered ids (chance of a false alarm
    # is about 2**-57 per pair).
    assert all(abs(int(a, 16) - int(b, 16)) > 2**64 for a, b in itertools.pairwise(ids))


async def test_a_conversation_round_trips_with_aware_utc_times(store: Store) -> None:
    owner = await store.user_id('browser-a')
    made = await store.create_conversation(owner, title='  Plans ', model='gpt-x', system_prompt='Be brief.',
                                           settings={'temperature': 0.5, 'tools': ['a']})
    loaded = await store.conversation(owner, made.id)
    assert loaded == made
    assert loaded.title == '  Plans '  # stored as given
    assert loaded.created_at.tzinfo is UTC and loaded.updated_at.tzinfo is UTC
    assert abs(loaded.created_at - made.created_at) < timedelta(microseconds=1)


async def test_another_owner_gets_nothing_and_changes_nothing(store: Store) -> None:
    alice, bob = await store.user_id('alice'), await store.user_id('bob')
    (chat,) = await make(store, alice, 1)
    await store.add_messages(chat, [NewMessage('user', 'secret plans')])
    assert await store.conversation(bob, chat) is None
    assert await store.conversations(bob) == []
    assert await store.conversations(bob, query='secret') == []
    assert await store.count_conversations(bob) == 0
    assert await store.rename_conversation(bob, chat, 'mine now') is False
    assert await store.update_conversation(bob, chat, model='other') is False
    assert await store.update_conversation(bob, chat) is False
    assert await store.delete_conversation(bob, chat) is False
    assert await store.delete_all(bob) == 0
    kept = await store.conversation(alice, chat)
    assert kept is not None and kept.title == 'chat 0' and kept.model == 'm'
    assert [m.content for m in await store.messages(chat)] == ['secret plans']


@pytest.mark.parametrize('bad', ['', 'nope', '../etc/passwd', 'A' * 32, 'f' * 33, "' OR 1=1 --", '%'])
async def test_malformed_ids_are_missing_not_errors(store: Store, bad: str) -> None:
    owner = await store.user_id('alice')
    assert await store.conversation(owner, bad) is None
    assert await store.rename_conversation(owner, bad, 'x') is False
    assert await store.update_conversation(owner, bad, model='x') is False
    assert await store.delete_conversation(owner, bad) is False
    assert await store.messages(bad) == []


async def test_newest_activity_first_and_messages_count_as_activity(store: Store) -> None:
    owner = await store.user_id('alice')
    first, second, third = await make(store, owner, 3)
    assert [c.id for c in await store.conversations(owner)] == [third, second, first]
    await store.add_messages(first, [NewMessage('user', 'back to this one')])
    assert [c.id for c in await store.conversations(owner)] == [first, third, second]
    # Renaming or changing settings is not activity: the sidebar does not jump.
    assert await store.rename_conversation(owner, second, 'renamed')
    assert await store.update_conversation(owner, second, settings={'temperature': 1})
    assert [c.id for c in await store.conversations(owner)] == [first, third, second]


async def test_keyset_pages_cover_everything_once_even_with_equal_times(store: Store) -> None:
    owner = await store.user_id('alice')
    ids = await make(store, owner, 7)
    # Three conversations active at the very same instant: (updated_at, id) still orders them.
    async with store._write() as connection:  # test-only reach-in: equal timestamps cannot be made otherwise
        same = (await store.conversation(owner, ids[3])).updated_at  # type: ignore[union-attr]
        await connection.execute(update(conversations).where(conversations.c.id.in_(ids[2:5]))
                                 .values(updated_at=same))
    pages: list[list[ConversationSummary]] = []
    before = None
    while page := await store.conversations(owner, limit=2, before=before):
        pages.append(page)
        before = (page[-1].updated_at, page[-1].id)
    listed = [c for page in pages for c in page]
    assert [len(page) for page in pages] == [2, 2, 2, 1]
    assert sorted(c.id for c in listed) == sorted(ids)
    assert listed == await store.conversations(owner, limit=100)
    keys = [(c.updated_at, c.id) for c in listed]
    assert keys == sorted(keys, reverse=True)


async def test_rename_and_update(store: Store) -> None:
    owner = await store.user_id('alice')
    (chat,) = await make(store, owner, 1)
    assert await store.rename_conversation(owner, chat, 'Trip to Rome')
    assert await store.update_conversation(owner, chat, model='big', system_prompt='Speak Latin.',
                                           settings={'temperature': 0.2})
    assert await store.update_conversation(owner, chat, model='bigger')  # the rest stays
    record = await store.conversation(owner, chat)
    assert record is not None
    assert (record.title, record.model, record.system_prompt, record.settings) == (
        'Trip to Rome', 'bigger', 'Speak Latin.', {'temperature': 0.2})
    assert await store.update_conversation(owner, chat) is True  # nothing to change, but it is there


async def test_delete_one_and_all_with_counts(store: Store) -> None:
    alice, bob = await store.user_id('alice'), await store.user_id('bob')
    chats = await make(store, alice, 4)
    (bobs,) = await make(store, bob, 1)
    assert await store.count_conversations(alice) == 4
    assert await store.delete_conversation(alice, chats[0]) is True
    assert await store.delete_conversation(alice, chats[0]) is False
    assert await store.conversation(alice, chats[0]) is None
    assert await store.delete_all(alice) == 3
    assert await store.count_conversations(alice) == 0
    assert [c.id for c in await store.conversations(bob)] == [bobs]


async def test_create_with_a_chosen_id_and_bad_input(store: Store) -> None:
    owner = await store.user_id('alice')
    chosen = new_id()
    made = await store.create_conversation(owner, title='t', model='m', id=chosen)
    assert made.id == chosen and (await store.conversation(owner, chosen)) == made
    with pytest.raises(ValueError, match='taken'):
        await store.create_conversation(owner, title='t', model='m', id=chosen)
    with pytest.raises(ValueError, match='unknown owner'):
        await store.create_conversation(new_id(), title='t', model='m')
    with pytest.raises(ValueError, match='malformed id'):
        await store.create_conversation(owner, title='t', model='m', id='1')
    with pytest.raises(ValueError, match='limit'):
        await store.conversations(owner, limit=0)
