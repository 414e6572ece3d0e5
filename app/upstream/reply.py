"""One streamed reply, parsed from the upstream's raw SSE bytes with orjson (no typed SDK object per chunk)."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx2
import orjson

from ..errors import ChatError, redact

# Largest SSE event accepted from the upstream (its data lines, or a line not ended yet). A chunk event is well under
# 1 KB; this leaves room for a server that sends a whole long reply as one event, while a server that never ends a
# line or an event cannot fill memory.
MAX_EVENT_BYTES = 4 * 1024 * 1024

# 'tool_calls' deltas come only from a reply whose `with_tool_calls` is set: their text is the JSON of the upstream's
# `delta.tool_calls` list, as a relay can pass it on verbatim (consumers that know only the other two never see it).
DeltaKind = Literal['content', 'reasoning', 'tool_calls']
_CR, _LF = 13, 10  # line-end bytes, as indexing bytes gives them


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
    delta_count: int = 0  # deltas parsed so far (the metrics count them once, when the reply ends)
    complete: bool = False  # `[DONE]` arrived
    with_tool_calls: bool = False  # also yield ('tool_calls', JSON of the delta's list); set before iterating

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
        Lines may end in LF, CRLF or CR (the SSE spec allows all three); each read is scanned once, so a long line
        arriving in small pieces costs linear time, and an event larger than MAX_EVENT_BYTES is refused.
        """
        data: bytes | bytearray | None = None  # the data of the event being read (its `data:` lines, joined by LF)
        partial: list[bytes] = []  # the pieces of a line not ended yet, joined once when its end arrives
        partial_size = 0
        after_cr = False  # the last read ended in CR: an LF starting the next one belongs to that line end
        try:
            async for chunk in self._chunks:
                if after_cr and chunk[:1] == b'\n':
                    chunk = chunk[1:]  # the LF of a CRLF split between two reads: that line has ended already
                    after_cr = False
                if not chunk:
                    continue
                lines = chunk.splitlines()  # at LF, CRLF and CR, in one pass
                end = chunk[-1]
                after_cr = end == _CR
                rest = lines.pop() if end != _LF and not after_cr else b''  # the start of a line not ended yet
                if lines and partial:
                    partial.append(lines[0])
                    lines[0] = b''.join(partial)
                    partial.clear()
                    partial_size = 0
                if rest:
                    partial.append(rest)
                    partial_size += len(rest)
                batch: list[tuple[DeltaKind, str]] = []
                for line in lines:
                    if line.startswith(b'data:'):
                        value = line[6:] if line[5:6] == b' ' else line[5:]  # _data_value, inlined on the hot path
                        data = value if data is None else _joined(data, value)
                        continue
                    if line or data is None:
                        continue  # comments, `event:`/`id:` fields, or blank lines between events
                    payload, data = data, None
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
                if partial_size + (0 if data is None else len(data)) > MAX_EVENT_BYTES:
                    raise ChatError('bad_upstream_response', 'The model server sent an event too large to be a '
                                    'reply chunk.', 502)
        except httpx2.TimeoutException:
            raise ChatError('upstream_timeout', 'The model server stopped sending data (timed out).', 504) from None
        except httpx2.TransportError:
            raise ChatError('upstream_disconnected', 'The connection to the model server broke mid-reply.',
                            502) from None
        if (line := b''.join(partial)).startswith(b'data:'):  # a last line with no line end after it
            value = _data_value(line)
            data = value if data is None else _joined(data, value)
        if data is not None and data != b'[DONE]':  # a final event not followed by a blank line
            if batch := self._parse(data):
                yield batch
        if self.finish_reason is None:  # neither [DONE] nor a finish reason: the body ended mid-reply
            raise ChatError('upstream_disconnected', 'The model server ended the reply before finishing it.', 502)

    def _parse(self, payload: bytes | bytearray) -> list[tuple[DeltaKind, str]]:
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
        if out:
            self.delta_count += len(out)
            if self.first_delta_at is None:
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
            if self.with_tool_calls and (calls := delta.get('tool_calls')):
                out.append(('tool_calls', _tool_calls(calls)))
        return out


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError('delta text must be a string')
    return value


def _tool_calls(value: Any) -> str:
    if not isinstance(value, list):
        raise TypeError('delta.tool_calls must be a list')
    return orjson.dumps(value).decode()


def _data_value(line: bytes) -> bytes:
    """The value of an SSE `data:` line (one optional space after the colon belongs to the syntax)."""
    return line[6:] if line[5:6] == b' ' else line[5:]


def _joined(data: bytes | bytearray, value: bytes) -> bytearray:
    """An event's data with one more `data:` line: a bytearray grows in place, so many lines cost linear time."""
    joined = data if isinstance(data, bytearray) else bytearray(data)
    joined += b'\n'
    joined += value
    return joined
