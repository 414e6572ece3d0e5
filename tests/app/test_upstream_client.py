"""The upstream client against the fake upstream: the base URL's query on every request, and one SDK client per loop."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.config import load_settings
from app.errors import ChatError
from app.upstream.client import Upstream
from tests.conftest import API_TOKEN, app_env, start_app, stop_app
from tests.fake_upstream import FakeUpstream, Script

USER = [{'role': 'user', 'content': 'hi'}]
# An Azure-style query, with a credential in it.
QUERY = 'api-version=2024-06-01&api-key=SECRET123'


def make_upstream(fake: FakeUpstream, base_url: str | None = None, retries: int = 0) -> Upstream:
    settings = load_settings({'OPENAI_API_KEY': 'sk-test', 'OPENAI_BASE_URL': base_url or f'{fake.url}?{QUERY}',
                              'OPENAI_MODEL': 'm', 'UPSTREAM_RETRIES': str(retries)}, env_file=None)
    return Upstream(settings)


async def reply_text(upstream: Upstream) -> str:
    async with upstream.stream(USER) as reply:
        return ''.join([text async for _, text in reply.deltas()])


async def test_the_base_url_query_goes_with_every_request(upstream: FakeUpstream) -> None:
    client = make_upstream(upstream, retries=1)
    upstream.queue(Script(status=500), Script(tokens=['a', 'b']), Script(tokens=['c']))
    try:
        assert await reply_text(client) == 'ab'  # after one retry of the 500
        assert await reply_text(client) == 'c'
    finally:
        await client.aclose()
    assert [record.path for record in upstream.records] == [f'/v1/chat/completions?{QUERY}'] * 3


def test_the_live_app_sends_the_query_and_never_shows_it(upstream: FakeUpstream, tmp_path: Path) -> None:
    app = start_app(app_env(upstream, OPENAI_BASE_URL=f'{upstream.url}?{QUERY}'), tmp_path / 'app.log')
    ask = {'json': {'messages': USER}, 'headers': {'Authorization': f'Bearer {API_TOKEN}'}, 'timeout': 10}
    try:
        upstream.queue(Script(status=400, error_message='api-key SECRET123 is not valid'), Script(tokens=['ok']))
        refused = httpx.post(app.url + '/api/chat', **ask)  # type: ignore[arg-type]
        answered = httpx.post(app.url + '/api/chat', **ask)  # type: ignore[arg-type]
    finally:
        stop_app(app)
    assert f'at http://127.0.0.1:{upstream.port}/v1)' in app.log()  # the start-up line names the upstream
    assert (refused.status_code, refused.json()['error']['code']) == (502, 'upstream_rejected')
    assert answered.status_code == 200
    assert '"full_content":"ok"' in answered.text
    assert [record.path for record in upstream.records] == [f'/v1/chat/completions?{QUERY}'] * 2
    assert 'SECRET123' not in app.log() + refused.text + answered.text


@pytest.mark.parametrize('script', [
    Script(status=400, error_message='api-key SECRET123 is not valid for api-version 2024-06-01'),
    Script(error_after=1, error_message='api-key SECRET123 expired'),
], ids=['HTTP error', 'error event mid-reply'])
async def test_a_query_credential_echoed_by_the_upstream_is_redacted(upstream: FakeUpstream, script: Script) -> None:
    client = make_upstream(upstream)
    upstream.queue(script)
    try:
        with pytest.raises(ChatError) as caught:
            await reply_text(client)
    finally:
        await client.aclose()
    assert caught.value.code in {'upstream_rejected', 'upstream_error'}
    assert 'SECRET123' not in caught.value.message
    assert '[redacted]' in caught.value.message


@pytest.fixture
def two_loops() -> Iterator[tuple[asyncio.AbstractEventLoop, asyncio.AbstractEventLoop]]:
    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
    yield first, second
    first.close()
    second.close()


def test_one_sdk_client_per_upstream_until_it_is_closed(
        upstream: FakeUpstream, two_loops: tuple[asyncio.AbstractEventLoop, asyncio.AbstractEventLoop]) -> None:
    first, second = two_loops
    client = make_upstream(upstream, base_url=upstream.url)
    assert first.run_until_complete(reply_text(client)) == 'Hello, world!'
    # Another loop would need another SDK client, and the first one would be left open: refused instead.
    with pytest.raises(RuntimeError, match='aclose'):
        second.run_until_complete(reply_text(client))
    first.run_until_complete(client.aclose())
    assert second.run_until_complete(reply_text(client)) == 'Hello, world!'  # closed, it may move to another loop
    second.run_until_complete(client.aclose())
    assert len(upstream.records) == 2
