"""Who an API request is from, now that people have their own keys: the rules of Access.caller, and the store-backed
lookup and usage counting of personal keys (app/api/keys.py) on a real database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from starlette.requests import Request

from app.api.access import DEMO, Access, Caller
from app.api.keys import PersonalKeys
from app.api.usage import Usage
from app.config import Settings
from app.errors import ChatError
from app.store import Store, open_store

ADMIN = 'tok-admin-secret'
PERSONAL = 'nck_' + 'p' * 43
OWNER = Caller('key:' + 'k' * 32, owner_id='o' * 32, key_id='k' * 32)
REAL = {'api_key': 'sk-unused', 'base_url': 'http://127.0.0.1:9/v1'}


def request(authorization: str | None = None) -> Request:
    headers = [(b'authorization', authorization.encode())] if authorization is not None else []
    return Request({'type': 'http', 'method': 'POST', 'path': '/api/chat', 'headers': headers})


async def lookup(secret: str) -> Caller | None:
    return OWNER if secret == PERSONAL else None


async def refusal(access: Access, authorization: str | None) -> ChatError:
    with pytest.raises(ChatError) as raised:
        await access.caller(request(authorization))
    return raised.value


async def test_admin_tokens_and_personal_keys_are_both_recognised() -> None:
    access = Access(Settings(**REAL, api_tokens=frozenset({ADMIN})), lookup=lookup)
    admin = await access.caller(request(f'Bearer {ADMIN}'))
    assert admin.id.startswith('admin:') and ADMIN not in admin.id and admin.owner_id is None
    assert await access.caller(request(f'bearer  {PERSONAL} ')) == OWNER


@pytest.mark.parametrize('sent', [None, '', 'Bearer', f'Bearer {PERSONAL}x', PERSONAL, f'Basic {PERSONAL}',
                                  'Bearer nck_revoked-or-unknown'])
async def test_a_real_model_with_no_api_tokens_is_open_to_personal_keys_only(sent: str | None) -> None:
    access = Access(Settings(**REAL), lookup=lookup)
    assert await access.caller(request(f'Bearer {PERSONAL}')) == OWNER
    error = await refusal(access, sent)
    assert (error.status, error.code) == (401, 'unauthorized')
    assert 'personal API key' in error.message and 'API_TOKENS' in error.message
    assert 'nck_' not in error.message and 'ppp' not in error.message  # nothing of what was sent comes back


async def test_without_personal_keys_a_real_model_and_no_tokens_disable_the_api() -> None:
    error = await refusal(Access(Settings(**REAL)), f'Bearer {PERSONAL}')
    assert (error.status, error.code) == (403, 'api_disabled')


async def test_open_demo_mode_still_knows_a_key_owner() -> None:
    access = Access(Settings(), lookup=lookup)
    assert await access.caller(request(f'Bearer {PERSONAL}')) == OWNER
    assert await access.caller(request()) == DEMO
    assert await access.caller(request('Bearer something-else')) == DEMO


async def test_demo_mode_with_api_tokens_wants_a_key() -> None:
    access = Access(Settings(api_tokens=frozenset({ADMIN})), lookup=lookup)
    assert await access.caller(request(f'Bearer {PERSONAL}')) == OWNER
    assert (await refusal(access, None)).status == 401


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await open_store(f'sqlite:///{tmp_path / "keys.db"}')
    yield opened
    await opened.close()


async def test_a_live_key_is_its_owners_caller_and_a_revoked_one_is_nobody(store: Store) -> None:
    async def opened() -> Store:
        return store

    keys = PersonalKeys(opened)
    owner = await store.user_id('alice')
    created = await store.create_api_key(owner, 'script')
    key_id = created.record.id
    assert await keys.caller(created.secret) == Caller(f'key:{key_id}', owner_id=owner, key_id=key_id)
    assert (await store.api_keys(owner))[0].last_used_at is not None
    assert await keys.caller(ADMIN) is None and await keys.caller(created.secret[:-1]) is None
    await store.revoke_api_key(owner, key_id)
    assert await keys.caller(created.secret) is None


async def test_recorded_replies_add_to_the_personal_keys_counters_only(store: Store) -> None:
    async def opened() -> Store:
        return store

    keys = PersonalKeys(opened)
    usage = Usage()
    usage.subscribe(keys.count)
    owner = await store.user_id('alice')
    created = await store.create_api_key(owner, 'counted')
    caller = await keys.caller(created.secret)
    assert caller is not None
    writes = store.writes
    await usage.record(caller, 30)
    await usage.record(caller, 12)
    await usage.record(DEMO, 100)
    await usage.record(Caller('admin:0123456789ab'), 100)
    assert store.writes == writes + 2  # one write per reply of a personal key, none for the others
    listed = (await store.api_keys(owner))[0]
    assert (listed.requests, listed.completion_tokens) == (2, 42)
