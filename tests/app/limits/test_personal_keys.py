"""Limits apply per personal API key (issue "Interop": rate limits and quotas apply per key): two keys of one person
have separate windows and quotas, and a key's usage counters get only the replies that ran."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from app.store import Store, open_store
from tests.app.limits.conftest import ServedApi
from tests.fake_upstream import FakeUpstream

CHAT = {'messages': [{'role': 'user', 'content': 'hi'}]}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await open_store(f'sqlite:///{tmp_path / "keys.db"}')
    yield opened
    await opened.close()


async def test_each_personal_key_has_its_own_rate_and_quota_and_counts_only_what_ran(
        serve_api: Callable[..., Awaitable[ServedApi]], upstream: FakeUpstream, store: Store) -> None:
    owner = await store.user_id('alice')
    first, second = await store.create_api_key(owner, 'laptop'), await store.create_api_key(owner, 'server')
    served = await serve_api(store=store, API_RATE_LIMIT='2/minute', API_TOKEN_QUOTA='4')  # 4 tokens a reply

    async def ask(secret: str) -> tuple[int, str]:
        async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
            answer = await client.post('/api/chat', json=CHAT, headers={'Authorization': f'Bearer {secret}'})
        return answer.status_code, answer.json()['error']['code'] if answer.status_code != 200 else ''
    assert await ask(first.secret) == (200, '')
    await served.next_record()  # its 4 tokens are counted when it ends
    assert await ask(first.secret) == (429, 'quota_exceeded')
    assert await ask(first.secret) == (429, 'rate_limited')  # two requests in the minute, the refused one too
    assert await ask(second.secret) == (200, '')  # the same person's other key: a quota and a window of its own
    await served.next_record()
    assert await served.limits.tokens_used(f'key:{first.record.id}') == 4
    assert await served.limits.tokens_used(f'key:{second.record.id}') == 4
    listed = {key.id: (key.requests, key.completion_tokens) for key in await store.api_keys(owner)}
    assert listed == {first.record.id: (1, 4), second.record.id: (1, 4)}  # the refused request is not counted
    assert len(upstream.records) == 2
