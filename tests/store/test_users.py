"""Users: one per external key, made on first use, also when many requests race for it."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from app.store import Store, open_store
from app.store.tables import KEY_LENGTH, users


async def test_the_same_key_is_the_same_user(store: Store) -> None:
    alice = await store.user_id('browser-1')
    assert await store.user_id('browser-1') == alice
    assert await store.user_id('BROWSER-1') != alice  # keys are exact (browser ids, header values)
    assert await store.user_id('x' * KEY_LENGTH) not in (alice,)


async def test_a_known_user_costs_no_write(store: Store) -> None:
    await store.user_id('browser-1')
    writes = store.writes
    await store.user_id('browser-1')
    assert store.writes == writes


@pytest.mark.parametrize('bad', ['', 'x' * (KEY_LENGTH + 1)])
async def test_bad_keys_are_refused(store: Store, bad: str) -> None:
    with pytest.raises(ValueError, match='user key'):
        await store.user_id(bad)


async def test_racing_first_visits_make_one_user(database_url: str) -> None:
    # Two stores on one database, as two processes would be, each with many requests at once.
    first, second = await open_store(database_url), await open_store(database_url)
    try:
        for key in ('k1', 'k2', 'k3'):
            ids = await asyncio.gather(*(store.user_id(key) for _ in range(10) for store in (first, second)))
            assert len(set(ids)) == 1
        assert (await first._read(select(func.count()).select_from(users)))[0][0] == 3
    finally:
        await first.close()
        await second.close()
