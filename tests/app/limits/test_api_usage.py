"""Each API route records a finished reply's completion tokens in Usage (the quotas and per-key counters subscribe):
the model server's count when it sends one, else an estimate from the text received, also for a reply that failed or
whose client left; and every way a reply ends gives its stream slots back."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.app.limits.conftest import TOKENS, ServedApi, auth
from tests.fake_upstream import FakeUpstream, Script

Serve = Callable[..., Awaitable[ServedApi]]
MESSAGES = [{'role': 'user', 'content': 'hi'}]
# Each streaming route's body.
ROUTES: dict[str, dict[str, Any]] = {
    '/api/chat': {'messages': MESSAGES},
    '/v1/chat/completions': {'model': 'fake-model', 'messages': MESSAGES, 'stream': True},
    '/api/ui-chat': {'messages': [{'id': 'm1', 'role': 'user', 'parts': [{'type': 'text', 'text': 'hi'}]}]},
}
WHOLE = ('/v1/chat/completions', {'model': 'fake-model', 'messages': MESSAGES})  # not streamed


@pytest.mark.parametrize(('path', 'body'), [*ROUTES.items(), WHOLE],
                         ids=[*ROUTES, 'v1-whole'])
async def test_each_reply_records_the_upstreams_count_or_an_estimate_of_its_text(
        serve_api: Serve, upstream: FakeUpstream, path: str, body: dict[str, Any]) -> None:
    served = await serve_api(API_MAX_STREAMS='1')
    caller = served.caller_id()
    upstream.queue(Script(usage={'prompt_tokens': 3, 'completion_tokens': 17, 'total_tokens': 20}),
                   Script(tokens=['abcd'] * 5, usage=None),  # 20 characters: 5 tokens at four characters a token
                   Script(tokens=['abcd', 'efgh', 'ijkl'], error_after=2, usage=None),  # failed after 8 characters
                   Script(status=500))  # failed before any text
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
        answers = [await client.post(path, json=body, headers=auth()) for _ in range(4)]
        recorded = [await served.next_record() for _ in range(4)]
    assert [answer.status_code for answer in answers][::3] == [200, 502]
    assert recorded == [(caller, 17), (caller, 5), (caller, 2), (caller, 0)]
    assert (served.limits.api_streams.used(caller), served.limits.streams.used()) == (0, 0)


@pytest.mark.parametrize(('path', 'body'), [*ROUTES.items(), WHOLE],
                         ids=[*ROUTES, 'v1-whole'])
async def test_a_reply_is_counted_before_its_client_has_the_end_of_it(
        serve_api: Serve, upstream: FakeUpstream, path: str, body: dict[str, Any]) -> None:
    """A client that sends its next request as soon as a reply ends must find that reply counted (a quota's next
    request refused): failed in a loaded test run, where the count came after the body's end."""
    served = await serve_api()
    upstream.queue(Script(usage={'prompt_tokens': 3, 'completion_tokens': 17, 'total_tokens': 20}))
    served.release.clear()  # the count is held
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
        posting = asyncio.ensure_future(client.post(path, json=body, headers=auth()))
        await asyncio.wait_for(served.recording.wait(), 10)
        # Nothing marks a body that has not ended: give it a moment to end wrongly (it never does while held).
        done, _ = await asyncio.wait({posting}, timeout=0.3)
        assert not done, 'the client had the whole reply before it was counted'
        served.release.set()
        answer = await asyncio.wait_for(posting, 10)
    assert answer.status_code == 200
    assert await served.next_record() == (served.caller_id(), 17)


@pytest.mark.parametrize('path', ROUTES)
async def test_a_client_that_leaves_mid_reply_frees_its_slot_and_its_text_so_far_is_counted(
        serve_api: Serve, upstream: FakeUpstream, path: str) -> None:
    served = await serve_api(API_MAX_STREAMS='1', MAX_STREAMS='1')
    caller = served.caller_id()
    gate = threading.Semaphore(0)  # the fake sends each token after the first when the test lets it
    upstream.queue(Script(tokens=['abcd', 'efgh', 'ijkl'], gate=gate, usage=None))
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
        async with client.stream('POST', path, json=ROUTES[path], headers=auth()) as response:
            received = ''
            async for text in response.aiter_text():
                received += text
                if 'efgh' in received:
                    break
                if 'abcd' in received:
                    gate.release()  # the second token comes in a read of its own, after the first was relayed
            assert served.limits.streams.used() == 1
        # The connection is closed: the relay ends, closes the upstream request, and records the reply.
        assert await served.next_record() == (caller, 2)  # 'abcd' and 'efgh' were received: 8 characters
        assert await asyncio.to_thread(upstream.records[0].disconnected.wait, 10)
        assert (served.limits.api_streams.used(caller), served.limits.streams.used()) == (0, 0)
        gate.release()  # let the fake's handler end
        again = await client.post(path, json=ROUTES[path], headers=auth(TOKENS[0]))  # the freed slot is usable
    assert again.status_code == 200
