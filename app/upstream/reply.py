"""One streamed reply, parsed from the upstream's raw SSE bytes with orjson (no typed SDK object per chunk)."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx2
import orjson

from ..errors import ChatError, redact

# Longest SSE line accepted from the upstream: chunks are small; a server that never ends a line must not fill memory.
MAX_LINE_BYTES = 4 * 1024 * 1024

DeltaKind = Literal['content', 'reasoning']


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

    async def drain(self) -> None:
        """Read and drop what is left of the body (after `[DONE]`, the chunked terminator)."""
        async for _ in self._chunks:
            pass

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


def _data_value(line: bytes) -> bytes:
    """The value of an SSE `data:` line (one optional space after the colon belongs to the syntax)."""
    return line[6:] if line[5:6] == b' ' else line[5:]
