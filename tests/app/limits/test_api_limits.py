"""API_RATE_LIMIT, API_TOKEN_QUOTA, API_MAX_STREAMS and MAX_STREAMS on the three API routes: a refusal never reaches
the model server, carries Retry-After in each route's error shape (the openai SDK raises its usual types), and the
window frees again when the limiter said it would."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import openai
import pytest

from tests.app.limits.conftest import TOKENS, ServedApi, auth
from tests.fake_upstream import FakeUpstream, Script

CHAT = {'messages': [{'role': 'user', 'content': 'hi'}]}
UI_CHAT = {'messages': [{'id': 'm1', 'role': 'user', 'parts': [{'type': 'text', 'text': 'hi'}]}]}
MESSAGES: list[Any] = [{'role': 'user', 'content': 'hi'}]
Serve = Callable[..., Awaitable[ServedApi]]


def sdk(served: ServedApi, token: str = TOKENS[0]) -> openai.AsyncOpenAI:
    """The official client pointed at the app, without its own retries (a test sees each answer)."""
    return openai.AsyncOpenAI(base_url=served.url + '/v1', api_key=token, max_retries=0)


def refusal(response: httpx.Response) -> tuple[int, str, int]:
    """(status, error code, Retry-After seconds) of a refused request in the /api routes' shape."""
    return response.status_code, response.json()['error']['code'], int(response.headers['retry-after'])


async def test_rate_limit_refuses_on_every_route_before_the_upstream_and_frees_when_the_window_does(
        serve_api: Serve, upstream: FakeUpstream) -> None:
    served = await serve_api(API_RATE_LIMIT='2/2 seconds')
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client, sdk(served) as model:
        assert (await client.post('/api/chat', json=CHAT, headers=auth())).status_code == 200
        assert (await client.post('/api/ui-chat', json=UI_CHAT, headers=auth())).status_code == 200
        refused = await client.post('/api/chat', json=CHAT, headers=auth())
        ui_refused = await client.post('/api/ui-chat', json=UI_CHAT, headers=auth())
        with pytest.raises(openai.RateLimitError) as sdk_refused:
            await model.chat.completions.create(model='fake-model', messages=MESSAGES)
        another_caller = await client.post('/api/chat', json=CHAT, headers=auth(TOKENS[1]))
        assert len(upstream.records) == 3  # the first caller's two, the other caller's one: no refused request
        status, code, wait = refusal(refused)
        assert (status, code) == (429, 'rate_limited') and 1 <= wait <= 2
        assert 'may make 2 per 2 seconds requests' in refused.json()['error']['message']
        assert refusal(ui_refused)[:2] == (429, 'rate_limited')
        assert sdk_refused.value.code == 'rate_limit_exceeded'
        assert 1 <= int(sdk_refused.value.response.headers['retry-after']) <= 2
        assert another_caller.status_code == 200
        await asyncio.sleep(wait)  # the window the limiter reported: its oldest request has left it
        completion = await model.chat.completions.create(model='fake-model', messages=MESSAGES)
    assert completion.choices[0].message.content == 'Hello, world!'
    assert len(upstream.records) == 4


async def test_token_quota_counts_the_upstreams_usage_refuses_on_every_route_and_frees_with_its_window(
        serve_api: Serve, upstream: FakeUpstream) -> None:
    served = await serve_api(API_TOKEN_QUOTA='6/3 seconds')  # the fake reports 4 completion tokens a reply
    caller = served.caller_id()
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client, sdk(served) as model:
        assert (await client.post('/api/chat', json=CHAT, headers=auth())).status_code == 200
        assert await served.next_record() == (caller, 4)
        await model.chat.completions.create(model='fake-model', messages=MESSAGES)  # 4 of 6 used: still allowed
        assert await served.next_record() == (caller, 4)
        assert await served.limits.tokens_used(caller) == 8  # the reply that crossed the quota counts in full
        refused = await client.post('/api/chat', json=CHAT, headers=auth())
        ui_refused = await client.post('/api/ui-chat', json=UI_CHAT, headers=auth())
        with pytest.raises(openai.RateLimitError) as sdk_refused:
            await model.chat.completions.create(model='fake-model', messages=MESSAGES, stream=True)
        assert (await client.post('/api/chat', json=CHAT, headers=auth(TOKENS[1]))).status_code == 200
        assert len(upstream.records) == 3
        status, code, wait = refusal(refused)
        assert (status, code) == (429, 'quota_exceeded') and 1 <= wait <= 3
        assert 'quota of 6 per 3 seconds completion tokens' in refused.json()['error']['message']
        assert refusal(ui_refused)[:2] == (429, 'quota_exceeded')
        assert sdk_refused.value.code == 'insufficient_quota'
        await asyncio.sleep(wait)  # the quota's window, as the limiter reported it
        assert (await client.post('/api/ui-chat', json=UI_CHAT, headers=auth())).status_code == 200
    assert served.recorded.qsize() == 2  # the other caller's reply and the last one: refusals record nothing


async def test_stream_caps_per_caller_and_for_the_process(serve_api: Serve, upstream: FakeUpstream) -> None:
    served = await serve_api(API_MAX_STREAMS='1', MAX_STREAMS='2')
    first, second = Script(tokens=['a', 'b'], hold_at=1), Script(tokens=['c', 'd'], hold_at=1)
    upstream.queue(first, second)
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client, \
            client.stream('POST', '/api/chat', json=CHAT, headers=auth()) as held, \
            sdk(served, TOKENS[1]) as other_model:
        assert held.status_code == 200
        streaming = await other_model.chat.completions.create(model='fake-model', messages=MESSAGES, stream=True)
        assert (await anext(aiter(streaming))).choices[0].delta.role == 'assistant'
        upstream.wait_for_request(2)
        # The first caller has its one stream: its next request is refused on every route.
        same_caller = await client.post('/api/chat', json=CHAT, headers=auth())
        same_caller_ui = await client.post('/api/ui-chat', json=UI_CHAT, headers=auth())
        async with sdk(served) as model:
            with pytest.raises(openai.RateLimitError) as too_many:
                await model.chat.completions.create(model='fake-model', messages=MESSAGES)
            # Two streams in the process: a third caller gets 503, which the SDK raises as a server error.
            with pytest.raises(openai.InternalServerError) as busy:
                await sdk(served, TOKENS[2]).chat.completions.create(model='fake-model', messages=MESSAGES)
        busy_chat = await client.post('/api/chat', json=CHAT, headers=auth(TOKENS[2]))
        busy_ui = await client.post('/api/ui-chat', json=UI_CHAT, headers=auth(TOKENS[2]))
        assert len(upstream.records) == 2
        assert refusal(same_caller) == (429, 'too_many_streams', 1)
        assert refusal(same_caller_ui) == (429, 'too_many_streams', 1)
        assert (too_many.value.code, too_many.value.response.headers['retry-after']) == ('too_many_streams', '1')
        assert (busy.value.status_code, busy.value.code) == (503, 'server_busy')
        assert refusal(busy_chat) == (503, 'server_busy', 1)
        assert refusal(busy_ui) == (503, 'server_busy', 1)
        assert served.limits.streams.used() == 2
        first.release.set()
        second.release.set()
        assert '"type":"done"' in (await held.aread()).decode()
        rest = [chunk async for chunk in streaming]
        assert ''.join(chunk.choices[0].delta.content or '' for chunk in rest if chunk.choices) == 'cd'
    await served.next_record()
    await served.next_record()
    assert served.limits.streams.used() == 0
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
        assert (await client.post('/api/chat', json=CHAT, headers=auth(TOKENS[2]))).status_code == 200
