"""One streamed reply, parsed from the upstream's raw SSE bytes with orjson (no typed SDK object per chunk)."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from time import monotonic
from typing import Any, Literal, Protocol

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
Batch = list[tuple[DeltaKind, str]]
_CR, _LF = 13, 10  # line-end bytes, as indexing bytes gives them
LESSONS = 8  # tries a reply has to learn its events' template (Reply._learn)
_PROBE = 'probe "\\ \u00e9'  # another text, escapes and all, to check a template with


class Tap(Protocol):
    """Hands a reply's batches over in the network callback that brought their bytes (raw_body.py has one)."""

    async def run(self, deliver: Callable[[Batch], bool]) -> Batch | None:
        """Deliver each batch as it is parsed until one is refused (returned) or the reply needs its reader (None:
        its end, a failure, a silence); a failure in the reply's own events is raised."""
        ...


@dataclass(slots=True, weakref_slot=True)  # its tap refers back to it weakly (raw_body.py)
class Reply:
    """One streamed completion: iterate it for (kind, text) deltas; the metadata fills in as chunks arrive.

    The body comes from `_chunks` (any async iterator of bytes) or, when given, from `read`: a coroutine function
    that returns the next piece of the body and b'' at its end (aiohttp's `readany`, one await per network read).
    """

    _chunks: AsyncIterator[bytes] | None = field(repr=False)
    _secrets: Sequence[str] = field(repr=False, default=())
    id: str | None = None
    model: str | None = None
    finish_reason: str | None = None
    usage: dict[str, int] | None = None
    started: float = field(default_factory=time.perf_counter)
    first_delta_at: float | None = None
    last_read_at: float = field(default_factory=time.monotonic)  # when the last piece of the body arrived
    delta_count: int = 0  # deltas parsed so far (the metrics count them once, when the reply ends)
    complete: bool = False  # `[DONE]` arrived
    with_tool_calls: bool = False  # also yield ('tool_calls', JSON of the delta's list); set before iterating
    read: Callable[[], Awaitable[bytes]] | None = field(repr=False, default=None)
    # Set when the body's transport can hand the bytes over as they arrive (see `relay`).
    tap: Tap | None = field(repr=False, default=None)
    # What reading the body raises when the upstream goes silent or the connection breaks: httpx2's errors for the
    # SDK's response stream, the transport's own when the client reads the body beneath it (see client.py).
    timeout_errors: tuple[type[BaseException], ...] = field(repr=False, default=(httpx2.TimeoutException,))
    transport_errors: tuple[type[BaseException], ...] = field(repr=False, default=(httpx2.TransportError,))
    # The parser's state between reads (see _feed).
    _data: bytes | bytearray | None = field(init=False, repr=False, default=None)  # the event's `data:` lines
    _partial: list[bytes] = field(init=False, repr=False, default_factory=list)  # a line not ended yet, in pieces
    _partial_size: int = field(init=False, repr=False, default=0)
    _after_cr: bool = field(init=False, repr=False, default=False)  # the last read ended in CR
    _ended: bool = field(init=False, repr=False, default=False)  # no more batches: [DONE] or the body's end
    _failure: ChatError | None = field(init=False, repr=False, default=None)  # raised after the batch before it
    # The bytes of this upstream's events around their text, once learned, and the kind of that text (see `_learn`).
    _head: bytes = field(init=False, repr=False, default=b'')
    _tail: bytes = field(init=False, repr=False, default=b'')
    _kind: DeltaKind = field(init=False, repr=False, default='content')
    _lessons: int = field(init=False, repr=False, default=LESSONS)  # tries left

    def __post_init__(self) -> None:
        if self.read is None:
            self.read = self._next_chunk

    async def _next_chunk(self) -> bytes:
        if self._chunks is None:
            raise TypeError('a Reply needs chunks or a read function')
        try:
            while not (chunk := await self._chunks.__anext__()):
                pass
        except StopAsyncIteration:
            return b''
        return chunk

    async def drain(self) -> None:
        """Read and drop what is left of the body (after `[DONE]`, the chunked terminator)."""
        read = self.read
        assert read is not None
        while await read():
            pass

    async def deltas(self) -> AsyncGenerator[tuple[DeltaKind, str]]:
        """Yield each content or reasoning delta as it arrives; raise ChatError on a failure mid-stream."""
        while (batch := await self.next_batch()) is not None:
            for delta in batch:
                yield delta

    async def batches(self) -> AsyncGenerator[list[tuple[DeltaKind, str]]]:
        """Yield the deltas that arrived together, one non-empty list per network read; ChatError on a failure."""
        while (batch := await self.next_batch()) is not None:
            yield batch

    async def next_batch(self) -> list[tuple[DeltaKind, str]] | None:
        """The deltas of the next network read that carried any; None after the last; ChatError on a failure.

        A relay can write each list at once: one write per read instead of one per token when the upstream is fast.
        What arrived before a failure comes first, the failure at the next call. A coroutine rather than an async
        generator: a relay awaits it once per read, one frame instead of a generator step per layer.
        """
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure
        if self._ended:
            return None
        read = self.read
        assert read is not None
        try:
            while chunk := await read():
                batch = self.feed(chunk)
                if batch:
                    return batch
                if self._ended:
                    return None
        except self.timeout_errors:
            raise ChatError('upstream_timeout', 'The model server stopped sending data (timed out).', 504) from None
        except self.transport_errors:
            raise ChatError('upstream_disconnected', 'The connection to the model server broke mid-reply.',
                            502) from None
        self._ended = True
        return self._finish()

    async def relay(self, deliver: Callable[[Batch], bool]) -> Batch | None:
        """Like `next_batch`, but first hands batches to `deliver` as they are parsed, for as long as it takes them.

        With a tap, parsing and `deliver` run in the network callback that brought the bytes: no task wakes up per
        read, which at a paced token per read is most of what relaying a token costs. `deliver` returns False for a
        batch it cannot take now (the client's socket is full): that batch is returned, to be sent the slow way.
        Returns None after the last batch and raises failures, as `next_batch` does; without a tap it is
        `next_batch`.
        """
        if self.tap is not None and self._failure is None and not self._ended:
            refused = await self.tap.run(deliver)
            if refused is not None:
                return refused
        return await self.next_batch()

    def feed(self, chunk: bytes) -> Batch:
        """Parse one piece of the body that arrived just now; ChatError as `next_batch` raises it.

        A paced upstream sends one token per network read: one whole event, nothing pending before or after it. Two
        shortcuts give the result `_feed` would, for that read only: the event's bytes around its text are the same
        as in an earlier event (`_learn`: this upstream's chunks differ in their text alone), so only the text is
        decoded (about a sixth of the cost of the whole event's JSON and the walk through it); or the read is one
        event of one `data: ` line, which skips `_feed`'s splitlines and line loop.
        """
        self.last_read_at = monotonic()
        if self._data is None and not self._partial and not self._after_cr:
            head, tail = self._head, self._tail
            if head and chunk.startswith(head) and chunk.endswith(tail):
                text = chunk[len(head):len(chunk) - len(tail)]
                # A JSON string and nothing else (orjson refuses raw CR and LF in a string, so the read is still
                # one `data:` line and a blank line): the learned event with this text. An empty text goes the
                # general way (an empty `reasoning_content` gives way to a `reasoning` field among the fixed bytes).
                if text[:1] == b'"' and text[-1:] == b'"' and len(text) > 2:
                    try:
                        value = orjson.loads(text)
                    except orjson.JSONDecodeError:
                        value = None
                    if type(value) is str and value:
                        self.delta_count += 1
                        return [(self._kind, value)]
            if (chunk[:6] == b'data: ' and chunk.find(_LF) == len(chunk) - 2 and chunk[-1] == _LF
                    and _CR not in chunk):  # `_CR in` (an int) is a memchr; b'\r' in would be a general search
                payload = chunk[6:-2]
                if payload == b'[DONE]':
                    self.complete = self._ended = True
                    return []
                batch = self._parse(payload)
                if self._lessons and len(batch) == 1 and batch[0][0] != 'tool_calls':
                    self._learn(chunk, *batch[0])
                return batch
        return self._feed(chunk)

    def _learn(self, chunk: bytes, kind: DeltaKind, text: str) -> None:
        """Learn the bytes around the text of a whole-event read that gave one delta, if they can be.

        The text, as orjson encodes it, must occur once in the read (an upstream that escapes it otherwise, or a
        short text that also occurs elsewhere, teaches nothing). Then a probe, the same bytes around another text,
        must parse to exactly that other text as the only delta, of the same kind: any JSON string there gives the
        same event with that text, so the bytes around it are a template of it. Called for reads the template does
        not fit (the first events, or the switch from reasoning to content), at most LESSONS times per reply: an
        upstream whose events differ in more than their text (a counter, a timestamp) never pays a probe per event.
        """
        self._lessons -= 1
        encoded = orjson.dumps(text)
        at = chunk.find(encoded)
        if at < 0 or chunk.find(encoded, at + 1) >= 0:
            return
        head, tail = chunk[:at], chunk[at + len(encoded):]
        try:  # the probe changes nothing else: the same id, model, usage and finish reason as the event just read
            learned = self._read_event(orjson.loads(head[6:] + orjson.dumps(_PROBE) + tail[:-2]))
        except (orjson.JSONDecodeError, AttributeError, TypeError):
            return
        if learned == [(kind, _PROBE)]:
            self._head, self._tail, self._kind = head, tail, kind

    @property
    def stopped(self) -> bool:
        """No batch is left to parse: the reply ended, or a failure waits to be raised by `next_batch`."""
        return self._ended or self._failure is not None

    def _feed(self, chunk: bytes) -> list[tuple[DeltaKind, str]]:
        """Parse one read; return its deltas. Lines may end in LF, CRLF or CR (the SSE spec allows all three);
        each read is scanned once, so a long line arriving in small pieces costs linear time, and an event larger
        than MAX_EVENT_BYTES is refused."""
        if self._after_cr and chunk[:1] == b'\n':
            chunk = chunk[1:]  # the LF of a CRLF split between two reads: that line has ended already
            self._after_cr = False
        if not chunk:
            return []
        lines = chunk.splitlines()  # at LF, CRLF and CR, in one pass
        end = chunk[-1]
        self._after_cr = after_cr = end == _CR
        rest = lines.pop() if end != _LF and not after_cr else b''  # the start of a line not ended yet
        partial = self._partial
        if lines and partial:
            partial.append(lines[0])
            lines[0] = b''.join(partial)
            partial.clear()
            self._partial_size = 0
        if rest:
            partial.append(rest)
            self._partial_size += len(rest)
        batch: list[tuple[DeltaKind, str]] = []
        data = self._data
        for line in lines:
            if line.startswith(b'data:'):
                value = line[6:] if line[5:6] == b' ' else line[5:]  # _data_value, inlined on the hot path
                data = value if data is None else _joined(data, value)
                continue
            if line or data is None:
                continue  # comments, `event:`/`id:` fields, or blank lines between events
            payload, data = data, None
            if payload == b'[DONE]':
                self.complete = self._ended = True
                self._data = None
                return batch
            try:
                batch += self._parse(payload)
            except ChatError as failure:
                if not batch:
                    raise
                self._failure = failure  # what arrived before the failure is still part of the reply
                self._ended = True
                return batch
        self._data = data
        if self._partial_size + (0 if data is None else len(data)) > MAX_EVENT_BYTES:
            too_large = ChatError('bad_upstream_response', 'The model server sent an event too large to be a reply '
                                  'chunk.', 502)
            if not batch:
                raise too_large
            self._failure, self._ended = too_large, True
        return batch

    def _finish(self) -> list[tuple[DeltaKind, str]] | None:
        """The end of the body: a last line or event not ended by a blank line, then whether the reply finished."""
        data = self._data
        if (line := b''.join(self._partial)).startswith(b'data:'):  # a last line with no line end after it
            value = _data_value(line)
            data = value if data is None else _joined(data, value)
        batch = self._parse(data) if data is not None and data != b'[DONE]' else []  # an event with no blank line
        if self.finish_reason is None and self.id is None and self.model is None and self.first_delta_at is None:
            # Not one chat chunk in the whole body: an HTML page from a proxy, or a JSON answer that is not a stream.
            raise ChatError('bad_upstream_response', 'The model server answered with something that is not an event '
                            'stream of chat chunks.', 502)
        if self.finish_reason is None:  # neither [DONE] nor a finish reason: the body ended mid-reply
            error = ChatError('upstream_disconnected', 'The model server ended the reply before finishing it.', 502)
            if not batch:
                raise error
            self._failure = error
        return batch or None

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
        # Run once per token: membership tests before lookups, the text check inline (a third of the parse's time).
        if not self.id:
            self.id = event.get('id')
        if not self.model:
            self.model = event.get('model')
        if 'usage' in event and (usage := event['usage']):
            self.usage = {k: int(v) for k, v in usage.items() if k in {'prompt_tokens', 'completion_tokens',
                                                                       'total_tokens'}}
        out: list[tuple[DeltaKind, str]] = []
        for choice in event.get('choices') or ():
            if choice.get('index', 0) != 0:
                continue
            if reason := choice.get('finish_reason'):
                self.finish_reason = str(reason)
            delta = choice.get('delta') or {}
            if type(delta) is not dict:
                raise TypeError('delta must be an object')
            if ('reasoning_content' in delta or 'reasoning' in delta) and (
                    reasoning := delta.get('reasoning_content') or delta.get('reasoning')):
                out.append(('reasoning', _text(reasoning)))
            if content := delta.get('content'):
                if type(content) is not str:
                    raise TypeError('delta text must be a string')
                out.append(('content', content))
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
