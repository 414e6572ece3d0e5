"""Search: a case-insensitive substring of the title or of any message, wildcards literal, one owner only."""

from __future__ import annotations

import pytest

from app.store import MessageUpdate, NewMessage, Store


async def conversation(store: Store, owner: str, title: str, *texts: str) -> str:
    """A conversation with this title and these messages; its id."""
    made = await store.create_conversation(owner, title=title, model='m')
    if texts:
        await store.add_messages(made.id, [NewMessage('user', text) for text in texts])
    return made.id


async def found(store: Store, owner: str, query: str, **paging: object) -> list[str]:
    return [c.id for c in await store.conversations(owner, query=query, **paging)]  # type: ignore[arg-type]


async def test_search_matches_titles_and_message_text_ignoring_case(store: Store) -> None:
    owner = await store.user_id('alice')
    trip = await conversation(store, owner, 'Trip to ROME', 'What should I pack?')
    soup = await conversation(store, owner, 'Dinner', 'A recipe for tomato soup', 'with basil please')
    await conversation(store, owner, 'Empty chat')
    assert await found(store, owner, 'rome') == [trip]
    assert await found(store, owner, 'PACK') == [trip]
    assert await found(store, owner, 'Basil') == [soup]
    assert await found(store, owner, 'o') == [soup, trip]  # newest first, each once though many messages match
    assert await found(store, owner, 'tomato soup with') == []  # within one message, not across them
    assert await found(store, owner, 'zebra') == []
    assert len(await found(store, owner, '')) == 3  # no query, no filter


@pytest.mark.parametrize(('query', 'expected'), [
    ('100%', ['percent']), ('%', ['percent']), ('a_b', ['underscore']), ('_', ['underscore']),
    ('C:\\temp', ['backslash']), ('\\', ['backslash']), ('/', ['slash']), ("it's", ['quote']),
])
async def test_like_wildcards_and_escapes_are_taken_literally(store: Store, query: str,
                                                              expected: list[str]) -> None:
    owner = await store.user_id('alice')
    ids = {name: await conversation(store, owner, name, text) for name, text in [
        ('percent', 'Done 100% of it'), ('underscore', 'snake a_b case'), ('backslash', r'saved in C:\temp'),
        ('slash', 'either/or'), ('quote', "it's fine"), ('plain', 'a1000b axb C:temp'),
    ]}
    assert await found(store, owner, query) == [ids[name] for name in expected]


async def test_search_never_crosses_owners(store: Store) -> None:
    alice, bob = await store.user_id('alice'), await store.user_id('bob')
    await conversation(store, bob, 'bob has the word', 'needle in bob')
    mine = await conversation(store, alice, 'mine', 'needle in alice')
    assert await found(store, alice, 'needle') == [mine]
    assert await found(store, alice, 'bob') == []


async def test_search_results_page_like_the_list(store: Store) -> None:
    owner = await store.user_id('alice')
    hits = [await conversation(store, owner, f'hit {i}') for i in range(5)]
    await conversation(store, owner, 'other')
    first = await store.conversations(owner, query='HIT', limit=2)
    second = await store.conversations(owner, query='HIT', limit=2, before=(first[-1].updated_at, first[-1].id))
    third = await store.conversations(owner, query='HIT', limit=2, before=(second[-1].updated_at, second[-1].id))
    assert [c.id for c in first + second + third] == hits[::-1]


async def test_non_ascii_text_is_found(store: Store) -> None:
    owner = await store.user_id('alice')
    greek = await conversation(store, owner, 'Ωμέγα', 'Grüße aus Köln 🌍')
    assert await found(store, owner, 'Köln') == [greek]
    assert await found(store, owner, '🌍') == [greek]
    assert await found(store, owner, 'Ωμέγα') == [greek]
    assert await found(store, owner, 'KÖLN') == ([greek] if store.dialect == 'postgresql' else [])


QUERIES = ['needle', 'NEEDLE', 'eed', 'ne', 'n', 'needle in', 'in a hay', 'hay%', '100%', '_stack', 'a_b', 'zz-top',
           'Köln', 'new text', 'old text', 'gone', 'still going', 'cut short', 'x' * 40]


async def same_as_a_scan(store: Store, owner: str) -> dict[str, list[str]]:
    """What each of QUERIES finds, checked to be what scanning the owner's messages (no index) finds."""
    indexed = {query: await found(store, owner, query) for query in QUERIES}
    store.search_index = False
    try:
        assert {query: await found(store, owner, query) for query in QUERIES} == indexed
    finally:
        store.search_index = True
    return indexed


async def test_the_trigram_index_finds_what_a_scan_finds_through_edits_and_deletes(store: Store) -> None:
    assert store.search_index  # FTS5 trigram (SQLite) / pg_trgm (PostgreSQL) are on this machine and in CI
    owner, other = await store.user_id('alice'), await store.user_id('bob')
    await conversation(store, owner, 'needle title', 'plain text')
    haystack = await conversation(store, owner, 'hay', 'a needle in a haystack', '100% of a_b', 'Grüße aus Köln')
    streaming = await store.create_conversation(owner, title='stream', model='m')
    reply, _ = await store.add_messages(streaming.id, [NewMessage('assistant', 'old text', status='streaming'),
                                                       NewMessage('assistant', 'cut short', status='streaming')])
    await store.save_messages([MessageUpdate(reply.id, 'new text _stack, still going')])  # checkpoint
    found_while_streaming = await same_as_a_scan(store, owner)
    assert found_while_streaming['still going'] == [streaming.id] and found_while_streaming['old text'] == []
    await store.save_messages([MessageUpdate(reply.id, 'new text _stack', status='complete')])  # it ended
    doomed = await conversation(store, owner, 'doomed', 'gone for good zz-top')
    await store.add_messages(doomed, [NewMessage('assistant', 'gone while streaming', status='streaming')])
    await conversation(store, other, 'needle of bob', 'needle in a haystack', 'gone')
    assert await store.delete_conversation(owner, doomed)  # cascades to messages, indexed or not
    assert await store.delete_all(other) == 1
    await store.add_messages(haystack, [NewMessage('user', 'after the deletes: NeEdLe again')])
    assert await store.recover_interrupted() == 1  # 'cut short' leaves streaming, so it enters the index

    final = await same_as_a_scan(store, owner)
    assert final['new text'] == [streaming.id] and final['still going'] == [] and final['gone'] == []
    assert final['cut short'] == [streaming.id]
    if store.dialect == 'sqlite':  # the FTS5 index matches the messages table row for row
        async with store._write() as connection:
            await connection.exec_driver_sql(
                "INSERT INTO messages_search (messages_search, rank) VALUES ('integrity-check', 1)")
