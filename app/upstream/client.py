"""The upstream model server: the only module that talks to the `openai` SDK.

The request goes through the SDK's client (auth, headers, retries before the first byte, error types); the
reply is read as raw SSE bytes from the HTTP response it returns and parsed with orjson, skipping the typed object
the SDK would build per chunk. Those bytes come straight from the SDK's aiohttp transport beneath the httpx2
response when it is the one in use (raw_body.py).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import httpx2
import openai
import orjson

from ..config import Settings
from ..errors import ChatError, redact
from ..ops.metrics import ReplyWatch
from .raw_body import open_reply
from .reply import Reply
from .sdk import SdkClient

# Seconds allowed to open the TCP/TLS connection to the upstream.
CONNECT_TIMEOUT = 10.0
# Longest wait, after `[DONE]`, for the rest of the HTTP body (the chunked terminator): read to its end, the
# connection goes back to the pool for the next request instead of being closed. The SDK's own stream does the same.
DRAIN_TIMEOUT = 0.1


class Upstream:
    """Owns the SDK client; `stream()` opens one streamed chat completion and always closes it."""

    def __init__(self, settings: Settings, *, api_key: str | None = None) -> None:
        self._settings = settings
        self._api_key = api_key or settings.api_key or 'no-key-needed'
        self._secrets = (self._api_key, *settings.secrets)  # what error texts are redacted of
        self._client: SdkClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def client(self) -> SdkClient:
        """The SDK client, made on first use inside the running loop, the only loop it serves until `aclose()`.

        Its aiohttp session binds to that loop: another loop would need another client, and the first would stay open.
        """
        loop = asyncio.get_running_loop()
        if self._client is None:
            timeout = httpx2.Timeout(self._settings.upstream_timeout, connect=CONNECT_TIMEOUT)
            self._client = SdkClient(
                api_key=self._api_key,
                base_url=self._settings.upstream_url,
                default_query=self._settings.upstream_query,  # e.g. Azure's api-version, on every request
                timeout=timeout,
                max_retries=self._settings.upstream_retries,
                http_client=openai.DefaultAioHttpClient(timeout=timeout),
            )
            self._loop = loop
        elif self._loop is not loop:
            raise RuntimeError('This Upstream is in use by another event loop: aclose() it there before using it here.')
        return self._client

    async def models(self) -> list[str]:
        """The ids of the models the upstream serves (its GET /models); ChatError when it cannot say."""
        try:
            page = await self.client.models.list()
        except openai.APIError as error:
            raise _map_error(error, self._secrets) from None
        return sorted({model.id for model in page.data})

    async def aclose(self) -> None:
        """Release the HTTP connection pool (in the loop that used it); the next use, in any loop, opens a new one."""
        if self._client is not None:
            await self._client.close()
            self._client = None
            self._loop = None

    @asynccontextmanager
    async def stream(self, messages: Sequence[dict[str, Any]], *, model: str | None = None,
                     **params: Any) -> AsyncIterator[Reply]:
        """Start a streamed completion; the HTTP response is closed on every exit: done, error or cancelled."""
        with ReplyWatch() as watch:  # the metrics' one hook: every reply, page or API, starts and ends here
            async with self._open(messages, model=model, **params) as reply:
                watch.reply = reply
                yield reply

    @asynccontextmanager
    async def _open(self, messages: Sequence[dict[str, Any]], *, model: str | None = None,
                    **params: Any) -> AsyncIterator[Reply]:
        # The body is serialized here and posted through the SDK's generic `request`: `chat.completions.create`
        # would run its TypedDict transform over every parameter and serialize with the stdlib json module, about a
        # third of the SDK's CPU per request, for values that validation has already checked. The SDK still does
        # auth, headers, retries before the first byte and error mapping; it returns the unread HTTP response.
        # (sdk.py: the options and the HTTP request are made from templates.)
        body = orjson.dumps({'model': model or self._settings.model, 'messages': messages, 'stream': True,
                             'stream_options': {'include_usage': True},
                             **{k: v for k, v in params.items() if v is not None}})
        started = time.perf_counter()
        client = self.client
        try:
            response: httpx2.Response = await client.request(httpx2.Response, client.chat_options(body), stream=True)
        except openai.APIError as error:
            raise _map_error(error, self._secrets) from None
        reply, stop_watching = open_reply(response, self._secrets, started, self._settings.upstream_timeout)
        try:
            yield reply
        finally:
            stop_watching()
            try:
                await _close(response, reply)  # as a rule without waiting: the end of the body has arrived
            except asyncio.CancelledError:
                # Cancelled (again) while waiting for the rest of the body: the connection is closed all the same, in
                # a task of its own, or the upstream would keep going. (A shield for every close cost a task and a
                # loop turn per request, ~20 us, for this rare case.)
                _closing.add(task := asyncio.ensure_future(response.aclose()))
                task.add_done_callback(_closed)
                raise


# Closes that outlived a cancelled close (referenced until done, as the loop keeps only weak references to tasks).
_closing: set[asyncio.Future[None]] = set()


def _closed(task: asyncio.Future[None]) -> None:
    _closing.discard(task)
    if not task.cancelled():
        task.exception()  # a connection that fails as it closes is closed: retrieved, so not logged as lost


async def _close(response: httpx2.Response, reply: Reply) -> None:
    """Close the response; after a complete reply, first read what is left of the body so the connection is reused."""
    if reply.complete:
        try:
            async with asyncio.timeout(DRAIN_TIMEOUT):
                await reply.drain()
        except (TimeoutError, httpx2.TransportError, aiohttp.ClientError):
            pass  # the reply is complete either way; the connection is just not reused
    await response.aclose()


def _map_error(error: openai.APIError, secrets: Sequence[str]) -> ChatError:
    """Turn an SDK error into a message a person can act on, with no credentials in it."""
    if isinstance(error, openai.APIConnectionError):
        # The aiohttp transport reports every failure to connect as a connect *timeout*: look at the real cause.
        causes = _causes(error)
        if any(isinstance(c, socket.gaierror) for c in causes):
            return ChatError('upstream_unreachable', 'Could not connect to the model server: its host name does not '
                             'resolve.', 502)
        timed_out = any(isinstance(c, TimeoutError) for c in causes) or not any(isinstance(c, OSError) for c in causes)
        if isinstance(error, openai.APITimeoutError) and timed_out:
            if any(isinstance(c, httpx2.ConnectTimeout) for c in causes) and not any(
                    isinstance(c, httpx2.ReadTimeout) for c in causes):
                # Nothing accepted the connection (a host that drops packets): where it is, not how slow it is.
                return ChatError('upstream_unreachable', 'Could not connect to the model server: the connection '
                                 'timed out.', 504)
            return ChatError('upstream_timeout', 'The model server did not answer in time.', 504)
        return ChatError('upstream_unreachable', 'Could not connect to the model server.', 502)
    if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
        return ChatError('upstream_auth', "The model server refused this server's credentials "
                         '(check OPENAI_API_KEY on the server).', 502)
    if isinstance(error, openai.RateLimitError):
        retry_after = error.response.headers.get('retry-after')  # passed on to the client, so redacted too
        retry_after = retry_after and redact(retry_after, secrets)
        when = f'in {retry_after} s' if retry_after and retry_after.isdigit() else 'shortly'
        return ChatError('rate_limited', f'The model server is rate limiting requests; try again {when}.', 429,
                         retry_after=retry_after)
    if isinstance(error, openai.APIStatusError):
        detail = redact(_upstream_message(error), secrets)[:300]
        if error.status_code >= 500:
            return ChatError('upstream_unavailable', f'The model server failed ({error.status_code}).', 502)
        return ChatError('upstream_rejected', f'The model server rejected the request ({error.status_code}): {detail}',
                         502)
    return ChatError('upstream_error', 'The model server returned an unexpected error.', 502)


def _causes(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    cause = error.__cause__ or error.__context__
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    return chain


def _upstream_message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        inner = body.get('error', body)
        if isinstance(inner, dict) and isinstance(inner.get('message'), str):
            return str(inner['message'])
    return 'no details'
