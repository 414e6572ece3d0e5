"""app/upstream/sdk.py: the chat request made from templates is the one the SDK itself builds, on every retry.

The shortcuts rely on how the pinned `openai` SDK (and httpx2 beneath it) builds a request. The last test pins the
source of each function they rely on: an upgrade that changes one fails there, to be read against sdk.py (and the
hash updated) before it is trusted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx2
import openai
import pytest
from openai._base_client import AsyncAPIClient, BaseClient
from openai._models import FinalRequestOptions

from app.config import load_settings
from app.upstream.client import Upstream
from app.upstream.sdk import CHAT_PATH, SdkClient
from tests.fake_upstream import FakeUpstream, Script
from tests.pins import Pinned, changed

KEY = 'sk-sdk-test-key'
BODY = b'{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}'


@pytest.fixture
async def client() -> AsyncIterator[SdkClient]:
    sdk = SdkClient(api_key=KEY, base_url='http://127.0.0.1:9/v1', default_query={'api-version': '1'}, max_retries=2,
                    timeout=httpx2.Timeout(30.0, connect=10.0), http_client=openai.DefaultAioHttpClient())
    yield sdk
    await sdk.close()


def sdk_build(client: SdkClient, options: FinalRequestOptions, retries_taken: int) -> httpx2.Request:
    """What the SDK's own request builder makes of the same options."""
    return BaseClient._build_request(client, options, retries_taken=retries_taken)


def same(ours: httpx2.Request, theirs: httpx2.Request) -> None:
    assert (ours.method, ours.url, ours.headers.raw, ours.content, ours.extensions) == (
        theirs.method, theirs.url, theirs.headers.raw, theirs.content, theirs.extensions)


def fields(options: FinalRequestOptions) -> dict[str, Any]:
    """The options' values, NOT_GIVEN as a name (its instances do not compare equal)."""
    return {name: 'NOT_GIVEN' if isinstance(value, openai.NotGiven) else value
            for name, value in options.model_dump().items()}


async def test_the_chat_options_are_those_post_makes(client: SdkClient) -> None:
    ours = fields(client.chat_options(BODY))
    post = fields(FinalRequestOptions.construct(method='post', url=CHAT_PATH, json_data=None, content=BODY,
                                                files=None, security={'bearer_auth': True}))
    assert ours.pop('headers') == {}
    assert post.pop('headers') == 'NOT_GIVEN'  # the same to the SDK: `options.headers or {}`
    assert ours == post
    assert client._chat_options.content == b''  # each request's copy has its own body


@pytest.mark.parametrize('retries_taken', [0, 1, 2])
async def test_each_request_from_the_template_is_the_sdks_own(client: SdkClient, retries_taken: int) -> None:
    first = client._build_request(client.chat_options(b'{"first":1}'), retries_taken=retries_taken)
    options = client.chat_options(BODY)
    ours = client._build_request(options, retries_taken=retries_taken)  # from the template the first one left
    assert client._chat_requests.keys() == {retries_taken}
    same(ours, sdk_build(client, options, retries_taken))
    assert ours.headers['x-stainless-retry-count'] == str(retries_taken)
    assert ours.headers['authorization'] == f'Bearer {KEY}'
    assert ours.headers['content-length'] == str(len(BODY)) != first.headers['content-length']
    assert str(ours.url) == 'http://127.0.0.1:9/v1/chat/completions?api-version=1'


async def test_cookies_the_upstream_set_later_are_sent_as_the_sdk_sends_them(client: SdkClient) -> None:
    client._build_request(client.chat_options(BODY), retries_taken=0)
    client._client.cookies.set('sticky', 'node-7', domain='127.0.0.1', path='/')
    client._build_request(client.chat_options(BODY), retries_taken=1)  # a template made with a cookie
    client._client.cookies.set('sticky', 'node-8', domain='127.0.0.1', path='/')  # the upstream moved us
    for retries_taken in (0, 1):
        options = client.chat_options(BODY)
        ours = client._build_request(options, retries_taken=retries_taken)
        assert ours.headers.get_list('cookie') == ['sticky=node-8']
        same(ours, sdk_build(client, options, retries_taken))


async def test_other_requests_take_the_sdks_path(client: SdkClient) -> None:
    client._build_request(client.chat_options(BODY))
    # Headers of its own (what an API key provider's hook does to the options): not the template's request.
    custom = client.chat_options(BODY).model_copy(update={'headers': {'X-Extra': 'yes'}})
    assert client._build_request(custom).headers['x-extra'] == 'yes'
    listing = FinalRequestOptions.construct(method='get', url='/models')
    assert client._build_request(listing).url.path == '/v1/models'
    assert client._chat_requests.keys() == {0}


async def test_no_idempotency_key_is_made_for_a_header_the_client_never_sends(client: SdkClient) -> None:
    assert client._idempotency_header is None  # OpenAI's client names none: a uuid4 per request went unused
    assert client._idempotency_key() == ''
    client._idempotency_header = 'Idempotency-Key'
    assert client._idempotency_key().startswith('stainless-python-retry-')
    # and with a header to send, each request gets the SDK's own build, its fresh key in it
    options = client.chat_options(BODY).model_copy(update={'idempotency_key': 'key-1'})
    assert client._build_request(options).headers['idempotency-key'] == 'key-1'
    assert not client._chat_requests


async def test_retries_over_http_send_what_the_stock_client_sends(upstream: FakeUpstream) -> None:
    """The same request through Upstream (templates) and through `openai.AsyncOpenAI.post`: the same bytes arrive,
    on the first try and on each retry (the 500 and 503 are retried, the counter in the header goes up)."""
    settings = load_settings({'OPENAI_API_KEY': KEY, 'OPENAI_BASE_URL': upstream.url, 'OPENAI_MODEL': 'm',
                              'UPSTREAM_RETRIES': '2'}, env_file=None)
    ours = Upstream(settings)
    stock = openai.AsyncOpenAI(api_key=KEY, base_url=upstream.url, max_retries=2,
                               timeout=httpx2.Timeout(settings.upstream_timeout, connect=10.0),
                               http_client=openai.DefaultAioHttpClient())
    messages = [{'role': 'user', 'content': 'hi'}]

    def retried() -> list[Script]:
        """Two failures the SDK retries (after 10 ms, as they ask), then the reply."""
        return [Script(status=500, retry_after='0.01'), Script(status=503, retry_after='0.01'),
                Script(tokens=['o', 'k'])]

    try:
        for _ in range(2):  # the second time from the templates
            upstream.queue(*retried())
            async with ours.stream(messages) as reply:
                assert ''.join([text async for _, text in reply.deltas()]) == 'ok'
        upstream.queue(*retried())
        body = ours_body = upstream.records[0].body
        response = await stock.post(CHAT_PATH, cast_to=httpx2.Response, body=body, stream=True, stream_cls=None)
        await response.aread()
        await response.aclose()
    finally:
        await ours.aclose()
        await stock.close()
    records = upstream.records
    assert [r.headers['x-stainless-retry-count'] for r in records] == ['0', '1', '2'] * 3
    assert all(r.body == ours_body for r in records)

    def comparable(headers: dict[str, str]) -> dict[str, str]:
        # the stock client's JSON encoder spaces the same body differently
        return {k: v for k, v in headers.items() if k != 'content-length'}

    for number in range(3):
        stock_headers = comparable(records[6 + number].headers)
        assert comparable(records[number].headers) == comparable(records[3 + number].headers) == stock_headers
    assert records[0].headers['authorization'] == f'Bearer {KEY}'
    assert records[0].headers['user-agent'].startswith('AsyncOpenAI/Python ')


# The SDK and httpx2 functions sdk.py relies on, by the SHA-256 (first 16 hex digits) of their source in the pinned
# versions (requirements.lock). A new version that changes one of them fails here: read sdk.py against it (does the
# request loop still build each attempt with `_build_request(options, retries_taken=...)` from a shallow copy of the
# options? does the built request still depend only on what the template holds?), then update the hash.
PINNED: Pinned = {
    'AsyncAPIClient.request': (AsyncAPIClient.request, '52506e6c8ba17cff'),
    'BaseClient._build_request': (BaseClient._build_request, '23cad049a0154f76'),
    'BaseClient._build_headers': (BaseClient._build_headers, 'c5876332cda1627e'),
    'BaseClient._idempotency_key': (BaseClient._idempotency_key, '20e9e09656d97626'),
    'FinalRequestOptions': (FinalRequestOptions, '4524d7fc53d12d3c'),
    'httpx2.AsyncClient.build_request': (httpx2.AsyncClient.build_request, '3b5079943b9776a0'),
    'httpx2.Request.__init__': (httpx2.Request.__init__, '1bccd583f10d7bb8'),
}


def test_the_sdk_internals_sdk_py_relies_on_are_unchanged() -> None:
    now = changed(PINNED)
    assert not now, f'openai {openai.__version__}: changed since sdk.py was written against them: {now}'
