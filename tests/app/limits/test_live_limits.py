"""The limits as main.py wires them, on a live server with its counters in a real redis-server: the official openai
SDK gets RateLimitError (and, with its default retries, waits the Retry-After and gets through), the NDJSON route its
JSON error, and the Redis password shows up nowhere."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.conftest import API_TOKEN, LiveApp, app_env, start_app, stop_app
from tests.fake_upstream import FakeUpstream, Script
from tests.services.fixtures import REDIS_PASSWORD
from tests.services.redis import RedisServer

QUOTA_TOKEN = 'tok-live-quota-caller'
REDIS_DB = 14  # a database of its own on the session's server
MESSAGES: list[openai.types.chat.ChatCompletionMessageParam] = [{'role': 'user', 'content': 'hi'}]


@pytest.fixture(scope='session')
def limited_app(fake_upstream_server: FakeUpstream, redis_server: RedisServer,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """The app with a rate limit and a token quota (the fake reports 4 tokens a reply unless told), in Redis."""
    with redis_server.client(REDIS_DB) as client:
        client.flushdb()
    env = app_env(fake_upstream_server, API_TOKENS=f'{API_TOKEN},{QUOTA_TOKEN}', API_RATE_LIMIT='3/2 seconds',
                  API_TOKEN_QUOTA='20', REDIS_URL=redis_server.url(REDIS_DB))
    app = start_app(env, tmp_path_factory.mktemp('limited') / 'app.log')
    yield app
    stop_app(app)
    assert REDIS_PASSWORD not in app.log()


def test_rate_limit_on_a_live_server_with_the_sdk_and_redis(limited_app: LiveApp, upstream: FakeUpstream,
                                                            redis_server: RedisServer) -> None:
    model = openai.OpenAI(base_url=limited_app.url + '/v1', api_key=API_TOKEN, max_retries=0)
    assert model.chat.completions.create(model='fake-model', messages=MESSAGES).choices[0].message.content
    assert ''.join(chunk.choices[0].delta.content or '' for chunk in model.chat.completions.create(
        model='fake-model', messages=MESSAGES, stream=True) if chunk.choices) == 'Hello, world!'
    third = httpx.post(limited_app.url + '/api/chat', json={'messages': MESSAGES},
                       headers={'Authorization': f'Bearer {API_TOKEN}'})
    assert third.status_code == 200, third.text
    with pytest.raises(openai.RateLimitError) as refused:
        model.chat.completions.create(model='fake-model', messages=MESSAGES)
    ndjson = httpx.post(limited_app.url + '/api/chat', json={'messages': MESSAGES},
                        headers={'Authorization': f'Bearer {API_TOKEN}'})
    assert len(upstream.records) == 3
    assert refused.value.code == 'rate_limit_exceeded' and refused.value.type == 'rate_limit_error'
    assert 1 <= int(refused.value.response.headers['retry-after']) <= 2
    assert (ndjson.status_code, ndjson.json()['error']['code']) == (429, 'rate_limited')
    assert REDIS_PASSWORD not in refused.value.response.text + ndjson.text
    with redis_server.client(REDIS_DB) as client:
        assert any(key.startswith(b'nicechat-limits:') for key in client.keys())
    # The SDK's own retries honour Retry-After: it waits for the window the server named, then gets through.
    patient = openai.OpenAI(base_url=limited_app.url + '/v1', api_key=API_TOKEN, max_retries=2)
    assert patient.chat.completions.create(model='fake-model', messages=MESSAGES).choices[0].message.content
    assert len(upstream.records) == 4


def test_token_quota_on_a_live_server_with_the_sdk(limited_app: LiveApp, upstream: FakeUpstream) -> None:
    model = openai.OpenAI(base_url=limited_app.url + '/v1', api_key=QUOTA_TOKEN, max_retries=0)
    usage = {'prompt_tokens': 2, 'completion_tokens': 15, 'total_tokens': 17}
    upstream.queue(Script(usage=usage), Script(usage=usage))
    for _ in range(2):  # 15 tokens, then 30: the second reply crosses the quota of 20 and is counted in full
        model.chat.completions.create(model='fake-model', messages=MESSAGES)
    with pytest.raises(openai.RateLimitError) as refused:
        model.chat.completions.create(model='fake-model', messages=MESSAGES, stream=True)
    assert refused.value.code == 'insufficient_quota'
    assert 'quota of 20 per day completion tokens' in refused.value.message
    assert int(refused.value.response.headers['retry-after']) > 86_000  # the day that started with the first reply
    assert len(upstream.records) == 2
