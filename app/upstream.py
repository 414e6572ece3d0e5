"""The upstream model server: the only module that talks to the `openai` SDK.

The request goes through the SDK's client (auth, headers, retries before the first byte, error types); the
reply is read as raw SSE bytes from the HTTP response it returns and parsed with orjson, skipping the typed object
the SDK would build per chunk.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx2
import openai
import orjson

from .config import Settings
from .errors import ChatError, redact

# Seconds allowed to open the TCP/TLS connection to the upstream.
CONNECT_TIMEOUT = 10.0
# Longest wait, after `[DONE]`, for the rest of the HTTP body (the chunked terminator): read to its end, the
# connection goes back to the pool for the next request instead of being closed. The SDK's own stream does the same.
DRAIN_TIMEOUT = 0.1

# Longest SSE line accepted from the upstream: chunks are small; a server that never ends a line must not fill memory.
MAX_LINE_BYTES = 4 * 1024 * 1024

DeltaKind = Literal['content', 'reasoning']
# What `chat.completions.create` asks of the SDK for this endpoint: bearer auth with the client's key.
_REQUEST_OPTIONS: openai.RequestOptions = {'security': {'bearer_auth': True}}


@dataclass(slots=True)
class Reply:
    """One streamed completion: iterate it for (kind, text) deltas; the metadata fills in as chunks arrive."""

    _chunks: AsyncIterator[bytes] = field(repr=False)
    _secrets: Sequence[str] = field(repr=False, default=())
    id: str | None = None
    model: str | None = None
    finish_reason: str | None = None
    usage: dict[str, int] | None = None
    started: float = field(default_factory=time.perf_counter)
    first_delta_at: float | None = None
    complete: bool = False  # `[DONE]` arrived

    async def deltas(self) -> AsyncGenerator[tuple[DeltaKind, str]]:
        """Yield each content or reasoning delta as it arrives; raise ChatError on a failure mid-stream."""
        async for batch in self.batches():
            for delta in batch:
                yield delta

    async def batches(self) -> AsyncGenerator[list[tuple[DeltaKind, str]]]:
        """Yield the deltas that arrived together, one non-empty list per network read; ChatError on a failure.

        A relay can write each list at once: one write per read instead of one per token when the upstream is fast.
        """
        buffer = b''
        data: list[bytes] = []
        try:
            async for chunk in self._chunks:
                buffer += chunk
                *lines, buffer = buffer.split(b'\n')
                if len(buffer) > MAX_LINE_BYTES:
                    raise ChatError('bad_upstream_response', 'The model server sent a line too long to be an event.',
                                    502)
                batch: list[tuple[DeltaKind, str]] = []
                for raw in lines:
                    line = raw.rstrip(b'\r')
                    if line.startswith(b'data:'):
                        data.append(_data_value(line))
                        continue
                    if line or not data:
                        continue  # comments, `event:`/`id:` fields, or blank lines between events
                    payload = b'\n'.join(data)
                    data.clear()
                    if payload == b'[DONE]':
                        self.complete = True
                        if batch:
                            yield batch
                        return
                    try:
                        batch += self._parse(payload)
                    except ChatError:
                        if batch:  # what arrived before the failure is still part of the reply
                            yield batch
                        raise
                if batch:
                    yield batch
        except httpx2.TimeoutException:
            raise ChatError('upstream_timeout', 'The model server stopped sending data (timed out).', 504) from None
        except httpx2.TransportError:
            raise ChatError('upstream_disconnected', 'The connection to the model server broke mid-reply.',
                            502) from None
        if (line := buffer.rstrip(b'\r')).startswith(b'data:'):  # a last line with no newline after it
            data.append(_data_value(line))
        if data and (payload := b'\n'.join(data)) != b'[DONE]':  # a final event not followed by a blank line
            if batch := self._parse(payload):
                yield batch
        if self.finish_reason is None:  # neither [DONE] nor a finish reason: the body ended mid-reply
            raise ChatError('upstream_disconnected', 'The model server ended the reply before finishing it.', 502)

    def _parse(self, payload: bytes) -> list[tuple[DeltaKind, str]]:
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise ChatError('bad_upstream_response', 'The model server sent data that is not JSON.', 502) from None
        if not isinstance(event, dict):
            raise ChatError('bad_upstream_response', 'The model server sent an unexpected event.', 502)
        if error := event.get('error'):
            message = error.get('message') if isinstance(error, dict) else str(error)
            text = redact(str(message or 'unknown error'), self._secrets)[:500]
            raise ChatError('upstream_error', f'The model server reported an error mid-reply: {text}', 502)
        try:
            out = self._read_event(event)
        except (AttributeError, TypeError):  # a field of the wrong shape (a list for `choices[0]`, a number for text)
            raise ChatError('bad_upstream_response', 'The model server sent an event of an unexpected shape.',
                            502) from None
        if out and self.first_delta_at is None:
            self.first_delta_at = time.perf_counter()
        return out

    def _read_event(self, event: dict[str, Any]) -> list[tuple[DeltaKind, str]]:
        self.id = self.id or event.get('id')
        self.model = self.model or event.get('model')
        if usage := event.get('usage'):
            self.usage = {k: int(v) for k, v in usage.items() if k in {'prompt_tokens', 'completion_tokens',
                                                                       'total_tokens'}}
        out: list[tuple[DeltaKind, str]] = []
        for choice in event.get('choices') or ():
            if choice.get('index', 0) != 0:
                continue
            if reason := choice.get('finish_reason'):
                self.finish_reason = str(reason)
            delta = choice.get('delta') or {}
            if reasoning := delta.get('reasoning_content') or delta.get('reasoning'):
                out.append(('reasoning', _text(reasoning)))
            if content := delta.get('content'):
                out.append(('content', _text(content)))
        return out


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError('delta text must be a string')
    return value


class Upstream:
    """Owns the SDK client; `stream()` opens one streamed chat completion and always closes it."""

    def __init__(self, settings: Settings, *, api_key: str | None = None) -> None:
        self._settings = settings
        self._api_key = api_key or settings.api_key or 'no-key-needed'
        self._client: openai.AsyncOpenAI | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def client(self) -> openai.AsyncOpenAI:
        """The SDK client, made on first use inside the running loop (its aiohttp session binds to that loop)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            timeout = httpx2.Timeout(self._settings.upstream_timeout, connect=CONNECT_TIMEOUT)
            self._client = openai.AsyncOpenAI(
                api_key=self._api_key,
                base_url=self._settings.upstream_url,
                timeout=timeout,
                max_retries=self._settings.upstream_retries,
                http_client=openai.DefaultAioHttpClient(timeout=timeout),
            )
            self._loop = loop
        return self._client

    async def aclose(self) -> None:
        """Release the HTTP connection pool."""
        if self._client is not None:
            await self._client.close()
            self._client = None

    @asynccontextmanager
    async def stream(self, messages: Sequence[dict[str, Any]], *, model: str | None = None,
                     **params: Any) -> AsyncIterator[Reply]:
        """Start a streamed completion; the HTTP response is closed on every exit: done, error or cancelled."""
        secrets = (self._api_key, *self._settings.secrets)
        # The body is serialized here and posted through the SDK's generic `post`: `chat.completions.create` would
        # run its TypedDict transform over every parameter and serialize with the stdlib json module, about a
        # third of the SDK's CPU per request, for values that validation has already checked. The SDK still does
        # auth, headers, retries before the first byte and error mapping; it returns the unread HTTP response.
        body = orjson.dumps({'model': model or self._settings.model, 'messages': messages, 'stream': True,
                             'stream_options': {'include_usage': True},
                             **{k: v for k, v in params.items() if v is not None}})
        started = time.perf_counter()
        try:
            response: httpx2.Response = await self.client.post(
                '/chat/completions', cast_to=httpx2.Response, content=body, options=_REQUEST_OPTIONS, stream=True,
                stream_cls=None)
        except openai.APIError as error:
            raise _map_error(error, secrets) from None
        reply = Reply(response.aiter_bytes(), secrets, started=started)
        try:
            yield reply
        finally:
            # Shielded so a second cancellation cannot skip closing the connection (the upstream would keep going).
            await asyncio.shield(_close(response, reply))


async def _close(response: httpx2.Response, reply: Reply) -> None:
    """Close the response; after a complete reply, first read what is left of the body so the connection is reused."""
    if reply.complete:
        try:
            async with asyncio.timeout(DRAIN_TIMEOUT):
                async for _ in reply._chunks:
                    pass
        except (TimeoutError, httpx2.TransportError):
            pass  # the reply is complete either way; the connection is just not reused
    await response.aclose()


def _data_value(line: bytes) -> bytes:
    """The value of an SSE `data:` line (one optional space after the colon belongs to the syntax)."""
    return line[6:] if line[5:6] == b' ' else line[5:]


def _map_error(error: openai.APIError, secrets: Sequence[str]) -> ChatError:
    """Turn an SDK error into a message a person can act on, with no credentials in it."""
    if isinstance(error, openai.APIConnectionError):
        # The aiohttp transport reports a refused connection as a connect *timeout*: look at the real cause.
        causes = _causes(error)
        timed_out = any(isinstance(c, TimeoutError) for c in causes) or not any(isinstance(c, OSError) for c in causes)
        if isinstance(error, openai.APITimeoutError) and timed_out:
            return ChatError('upstream_timeout', 'The model server did not answer in time.', 504)
        return ChatError('upstream_unreachable', 'Could not connect to the model server.', 502)
    if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
        return ChatError('upstream_auth', "The model server refused this server's credentials "
                         '(check OPENAI_API_KEY on the server).', 502)
    if isinstance(error, openai.RateLimitError):
        retry_after = error.response.headers.get('retry-after')
        return ChatError('rate_limited', 'The model server is rate limiting requests; try again shortly.', 429,
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
