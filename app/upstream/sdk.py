"""The SDK's client, made cheaper for the one request this app repeats: a streamed chat completion.

Every upstream stream (a turn on the page, an API request) goes through `openai.AsyncOpenAI.request`: its retries
before the first byte, its timeouts, its status errors (`openai.APIStatusError` and kin, which client.py maps) and
its transport. What it rebuilds on every call although nothing in it changes between two chat requests of this app
is skipped here: the HTTP request (URL, headers, timeout) is built by the SDK once per retry count and reused with
the new body, and the request options are copied from a template instead of validated afresh. With the close of
client.py, that took about 40% off the CPU of opening, reading and closing a short reply (docs/api.md,
`python -m bench.upstream_open`).

What this depends on in the SDK (the order of its request loop, which fields of the options and of the client the
built request depends on) is pinned by tests/app/test_upstream_sdk.py: a version of the SDK that changes it fails
there, and anything this module does not recognise takes the SDK's own path.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import httpx2
import openai
from openai._models import FinalRequestOptions

# Longest wait a model server may ask for (`Retry-After`) that the SDK's retries spend for the caller. A longer one
# goes back at once ("try again in N s" on the page, `Retry-After` to an API client): the SDK would wait up to two
# minutes per retry, with the person looking at an empty reply.
MAX_RETRY_WAIT = 5.0

CHAT_PATH = '/chat/completions'
# The custom headers of a chat request made by `chat_options`: none, in a mapping of its own, so that the request
# builder knows the options for what they are by identity (the SDK's copies of the options keep it; a hook of the
# SDK that sets headers, such as an API key provider's, replaces it and gets the SDK's own build).
_CHAT_HEADERS: MappingProxyType[str, str] = MappingProxyType({})
# Headers that differ between two requests with the same template: the body's length, and cookies the upstream set
# since (the client's cookie jar is applied to each request again, as httpx2 does).
_PER_REQUEST_HEADERS = ('content-length', 'cookie')


class SdkClient(openai.AsyncOpenAI):
    """The SDK's client, retrying only what is worth waiting for, and building the chat request once."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # What the SDK built for a chat request, per retry count: URL, headers (without the per-request ones) and
        # extensions (the timeouts). This client's key, base URL, headers and timeouts never change after it is
        # made (Upstream owns it), so neither do these.
        self._chat_requests: dict[int, tuple[httpx2.URL, httpx2.Headers, dict[str, Any]]] = {}
        # `construct` copies a mapping it is given: the marker goes in afterwards.
        self._chat_options = FinalRequestOptions.construct(
            method='post', url=CHAT_PATH, content=b'', security={'bearer_auth': True},
        ).model_copy(update={'headers': _CHAT_HEADERS})

    def chat_options(self, body: bytes) -> FinalRequestOptions:
        """The SDK's options for POSTing `body` (serialized JSON) to the chat endpoint, as `post()` would make them."""
        return self._chat_options.model_copy(update={'content': body})

    def _build_request(self, options: FinalRequestOptions, *, retries_taken: int = 0) -> httpx2.Request:
        content = options.content
        if options.headers is not _CHAT_HEADERS or type(content) is not bytes or self._idempotency_header:
            return super()._build_request(options, retries_taken=retries_taken)
        made = self._chat_requests.get(retries_taken)
        if made is None:
            request = super()._build_request(options, retries_taken=retries_taken)
            headers = httpx2.Headers(request.headers)
            for name in _PER_REQUEST_HEADERS:
                headers.pop(name, None)
            self._chat_requests[retries_taken] = (request.url, headers, request.extensions)
            return request
        url, template, extensions = made
        # What httpx2's build_request makes of the same parts: the template's headers, its cookie jar applied, then
        # Content-Length, the body already read. Given as a stream, the body is not looked at again (httpx2 would
        # encode it and add the headers it already has one by one, with a scan of all of them each).
        headers = httpx2.Headers(template)
        request = httpx2.Request('POST', url, headers=headers, cookies=self._client.cookies,
                                 stream=httpx2.ByteStream(content), extensions=extensions)
        request.headers['Content-Length'] = str(len(content))
        request.read()
        return request

    def _idempotency_key(self) -> str:
        # The SDK makes a fresh key (a uuid4) for every request and sends it only when the client names a header
        # for it; OpenAI's client names none.
        return super()._idempotency_key() if self._idempotency_header else ''

    @property
    def user_agent(self) -> str:
        # The SDK names the client's class here; a model server sees the stock client's name, as before subclassing.
        return f'{openai.AsyncOpenAI.__name__}/Python {self._version}'

    def _should_retry(self, response: httpx2.Response) -> bool:
        wait = self._parse_retry_after_header(response.headers)
        if wait is not None and wait > MAX_RETRY_WAIT:
            return False
        return super()._should_retry(response)
