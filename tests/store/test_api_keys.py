"""Personal API keys in the store: the secret once and only hashed, owner checks, revoking, last use, usage."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.store import Store, open_store
from app.store import keys as keys_module
from app.store.keys import TOUCH_INTERVAL
from app.store.tables import KEY_NAME_LENGTH, api_keys, users


async def stored_row(store: Store, key_id: str) -> dict[str, object]:
    return dict((await store._read(select(api_keys).where(api_keys.c.id == key_id)))[0]._mapping)


async def test_a_key_is_made_with_its_secret_once_and_stored_only_hashed(store: Store) -> None:
    alice = await store.user_id('alice')
    created = await store.create_api_key(alice, '  laptop   script ')
    secret, record = created.secret, created.record
    assert secret.startswith('nck_') and len(secret) == 47
    assert (record.name, record.owner_id, record.prefix) == ('laptop script', alice, secret[:12])
    assert (record.requests, record.completion_tokens, record.last_used_at, record.revoked_at) == (0, 0, None, None)
    assert secret not in repr(created) and secret not in repr(record)
    row = await stored_row(store, record.id)
    assert row['secret_hash'] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in [str(value) for value in row.values()]
    assert await store.api_key_by_secret(secret) == record
    assert await store.api_keys(alice) == [record]  # listed with the same fields, no secret anywhere


async def test_only_the_exact_live_secret_finds_its_key(store: Store) -> None:
    alice = await store.user_id('alice')
    secret = (await store.create_api_key(alice, 'k')).secret
    for wrong in (secret[:-1], secret + 'x', secret.upper(), secret[4:], '', 'nck_', 'tok-admin', 'nck_' + 'a' * 500):
        assert await store.api_key_by_secret(wrong) is None


async def test_someone_elses_key_behaves_like_a_missing_one(store: Store) -> None:
    alice, bob = await store.user_id('alice'), await store.user_id('bob')
    key = (await store.create_api_key(alice, 'alice key')).record
    assert await store.api_keys(bob) == []
    assert not await store.rename_api_key(bob, key.id, 'mine now')
    assert not await store.revoke_api_key(bob, key.id)
    assert not await store.revoke_api_key(alice, 'f' * 32) and not await store.revoke_api_key(alice, 'not-an-id')
    assert [(k.name, k.revoked_at) for k in await store.api_keys(alice)] == [('alice key', None)]


async def test_revoking_stops_the_key_at_once_and_keeps_it_listed(store: Store) -> None:
    alice = await store.user_id('alice')
    first = await store.create_api_key(alice, 'first')
    second = await store.create_api_key(alice, 'second')
    assert await store.revoke_api_key(alice, first.record.id)
    assert not await store.revoke_api_key(alice, first.record.id)  # already revoked: nothing changes
    assert await store.api_key_by_secret(first.secret) is None
    assert await store.api_key_by_secret(second.secret) == second.record
    listed = await store.api_keys(alice)
    assert [key.name for key in listed] == ['second', 'first']  # newest first
    assert listed[1].revoked_at is not None and listed[0].revoked_at is None


async def test_renaming_checks_the_name(store: Store) -> None:
    alice = await store.user_id('alice')
    key = (await store.create_api_key(alice, 'old')).record
    assert await store.rename_api_key(alice, key.id, ' new name ')
    assert (await store.api_keys(alice))[0].name == 'new name'
    for bad in ('', '   ', 'x' * (KEY_NAME_LENGTH + 1)):
        with pytest.raises(ValueError, match='name'):
            await store.rename_api_key(alice, key.id, bad)
        with pytest.raises(ValueError, match='name'):
            await store.create_api_key(alice, bad)


async def test_a_person_has_at_most_so_many_live_keys(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys_module, 'MAX_LIVE_KEYS', 2)  # by object: a string path breaks after a `user` test
    alice = await store.user_id('alice')
    first = await store.create_api_key(alice, 'one')
    await store.create_api_key(alice, 'two')
    with pytest.raises(ValueError, match='revoke one'):
        await store.create_api_key(alice, 'three')
    await store.revoke_api_key(alice, first.record.id)
    await store.create_api_key(alice, 'three')  # a revoked key makes room


async def test_last_use_is_written_at_most_once_a_minute(store: Store) -> None:
    alice = await store.user_id('alice')
    key = (await store.create_api_key(alice, 'busy')).record
    writes = store.writes
    assert await store.touch_api_key(key.id)
    for _ in range(20):
        assert not await store.touch_api_key(key.id)
    assert store.writes == writes + 1
    used = (await store.api_keys(alice))[0].last_used_at
    assert used is not None
    # A minute later (the row's time moved back, and this process's memory of it) it is written again.
    async with store._write() as connection:
        await connection.execute(update(api_keys).values(last_used_at=used - TOUCH_INTERVAL))
    store._touched[key.id] -= TOUCH_INTERVAL
    assert await store.touch_api_key(key.id)
    assert (await store.api_keys(alice))[0].last_used_at > used - timedelta(seconds=1)


async def test_another_process_wrote_last_use_a_moment_ago(database_url: str, store: Store) -> None:
    other = await open_store(database_url)
    try:
        alice = await store.user_id('alice')
        key = (await store.create_api_key(alice, 'shared')).record
        assert await store.touch_api_key(key.id)
        assert not await other.touch_api_key(key.id)  # its condition sees the recent write
    finally:
        await other.close()


async def test_usage_adds_up_and_a_deleted_owner_takes_their_keys(store: Store) -> None:
    alice = await store.user_id('alice')
    key = (await store.create_api_key(alice, 'counted')).record
    await store.add_api_key_usage(key.id, 40)
    await store.add_api_key_usage(key.id, 2)
    await store.add_api_key_usage(key.id, 0, requests=0)
    with pytest.raises(ValueError, match='negative'):
        await store.add_api_key_usage(key.id, -1)
    listed = (await store.api_keys(alice))[0]
    assert (listed.requests, listed.completion_tokens) == (2, 42)
    async with store._write() as connection:
        await connection.execute(users.delete().where(users.c.id == alice))
    assert await store._read(select(api_keys)) == []
