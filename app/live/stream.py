"""A reply's text in a Redis Stream: the writer on the instance holding the upstream, readers on any instance.

Entries: `k=c|r, o=<offset>, t=<text>` (content or reasoning, `o` = characters of that kind before `t`), and last
`k=end, s=<status>, e=<error>`. Offsets make entries idempotent: a reader keeps how much of each kind it has and
skips what it has already, so a writer may publish the same text again (after Redis restarted empty it publishes
everything from 0) and nothing is shown twice, and a reader can start at any character offset.

The writer buffers deltas (`add`) and `flush()` sends every buffered kind as one entry each in one round trip: one
per batch, whatever the number of deltas in it (a lone XADD, the usual batch, or a pipeline when reasoning and
content both grew). The stream's TTL goes with the first batch; after that the lease's heartbeats renew it (RENEW in
lease.py), not every batch. The runtime flushes before it hands the batch to any browser, so what a browser saw is
in Redis first.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Literal

from . import keys
from .lease import Reaper, append_entry, renew
from .link import DOWN_ERRORS, Link

log = logging.getLogger(__name__)

# Entries asked for per XRANGE/XREAD call: a late joiner of a long reply catches up in pages of this many.
READ_COUNT = 500
# Milliseconds a reader blocks in one XREAD before it checks the writer's lease (and its own deadline).
BLOCK_MS = 1_000


@dataclass(frozen=True)
class Piece:
    """Text of the reply (`content`) or of its reasoning; `offset` is where the reply's text stands after it (the
    shape of app/chat's local follower, so one consumer can take either)."""

    kind: Literal['content', 'reasoning']
    text: str
    offset: int


class LiveError(Exception):
    """The reply cannot be published: another instance holds its lease."""


class ReplyWriter:
    """Publishes one reply: `start()`, then `add()` and `flush()` per batch, then `end(status)`. Redis failures are
    noted on the link (the reply goes on locally) and made good when it is back: everything is published again."""

    def __init__(self, link: Link, reply_id: str, *, lease_ttl_ms: int = keys.LEASE_TTL_MS,
                 heartbeat: float | None = None, content: str = '', reasoning: str = '') -> None:
        self.link, self.reply_id = link, reply_id
        self.lease_ttl_ms = lease_ttl_ms
        self.heartbeat = heartbeat if heartbeat is not None else lease_ttl_ms / 3000
        self.stream = keys.stream(reply_id)
        # All of it (republished after an outage), from the text the reply had already (a Continue's partial text).
        self.text = {'c': content, 'r': reasoning}
        self.sent = {'c': 0, 'r': 0}  # how much Redis has acknowledged
        self.ttl_due = True  # the stream has no TTL yet (new, or Redis came back): the next flush sets it
        self.ended: tuple[str, str, str] | None = None
        self.end_sent = False
        self.reaped = False  # another instance declared this reply interrupted (this one froze past its lease)
        self._beats: asyncio.Task[None] | None = None
        self._unhook = link.on_back(self._republish)

    async def start(self) -> None:
        """Take the lease, start the stream afresh (a continued reply's earlier stream, ended, goes) and list the
        reply in flight; LiveError if another instance holds it."""
        lease = keys.lease(self.reply_id)
        try:
            taken = await self.link.redis.set(lease, self.link.instance_id, nx=True, px=self.lease_ttl_ms)
            if not taken:
                raise LiveError(f'reply {self.reply_id} is being streamed by another instance')
            async with self.link.redis.pipeline(transaction=True) as pipe:
                pipe.delete(self.stream)
                pipe.zadd(keys.INFLIGHT, {self.reply_id: int(time.time() * 1000)})
                await pipe.execute()
            self.ttl_due = True
        except DOWN_ERRORS as error:
            self.link.failed(error)  # streams on locally; taken when Redis is back (see _republish)
        self._beats = asyncio.get_running_loop().create_task(self._beating(), name='live heartbeat')

    def add(self, kind: Literal['content', 'reasoning'], text: str) -> None:
        """Buffer a delta (it goes out with the next flush)."""
        self.text[kind[0]] += text

    async def flush(self) -> bool:
        """Send what was added since the last flush in one round trip; False if Redis is down (kept for later)."""
        if not self.link.up or self.reaped:
            return False
        pending = [(k, self.sent[k], self.text[k]) for k in ('r', 'c') if len(self.text[k]) > self.sent[k]]
        if not pending:
            return True
        try:
            if len(pending) == 1 and not self.ttl_due:  # the usual batch: one command, no pipeline to build
                kind, offset, text = pending[0]
                await self.link.redis.xadd(self.stream, _text_fields(kind, offset, text[offset:]),
                                           maxlen=keys.MAX_ENTRIES, approximate=True)
            else:
                async with self.link.redis.pipeline(transaction=False) as pipe:
                    for kind, offset, text in pending:
                        pipe.xadd(self.stream, _text_fields(kind, offset, text[offset:]), maxlen=keys.MAX_ENTRIES,
                                  approximate=True)
                    if self.ttl_due:
                        pipe.pexpire(self.stream, keys.STREAM_TTL_MS)
                    await pipe.execute()
        except DOWN_ERRORS as error:
            self.link.failed(error)
            return False
        self.ttl_due = False
        for kind, _offset, text in pending:
            self.sent[kind] = len(text)
        return True

    async def end(self, status: str, error: str | None = None, meta: dict[str, Any] | None = None) -> None:
        """Publish the rest and the end entry (with `meta`: finish reason, usage, timing), give up the lease, and let
        the stream expire (ENDED_TTL_MS)."""
        if self._beats is not None:
            self._beats.cancel()
        self.ended = (status, error or '', json.dumps(meta or {}))
        await self._send_end()

    async def _send_end(self) -> None:
        if self.ended is None or self.end_sent or self.reaped or not await self.flush():
            return
        status, error, meta = self.ended
        try:
            async with self.link.redis.pipeline(transaction=True) as pipe:
                fields = {'k': 'end', 's': status, 'e': error.encode('utf-8', 'surrogatepass'), 'm': meta}
                pipe.xadd(self.stream, fields, maxlen=keys.MAX_ENTRIES, approximate=True)  # type: ignore[arg-type]
                pipe.pexpire(self.stream, keys.ENDED_TTL_MS)
                pipe.delete(keys.lease(self.reply_id))
                pipe.zrem(keys.INFLIGHT, self.reply_id)
                await pipe.execute()
        except DOWN_ERRORS as failure:
            self.link.failed(failure)
            return
        self.end_sent = True
        self._unhook()

    async def _republish(self) -> None:
        """Redis is back, perhaps empty: take the lease again and publish everything from the start (readers skip
        what they have), then the end if the reply ended meanwhile."""
        if self.reaped or self.end_sent:
            return
        await self._renew()
        self.sent = {'c': 0, 'r': 0}
        self.ttl_due = True
        if await self.flush():
            await self._send_end()

    async def _renew(self) -> None:
        answer = await renew(self.link, self.reply_id, self.lease_ttl_ms)
        if answer < 0 and not self.reaped:
            self.reaped = True
            self._unhook()
            log.warning('reply %s was taken as interrupted while still streaming here (this instance missed its '
                        'heartbeats for %d ms); it is no longer shared', self.reply_id, self.lease_ttl_ms)

    async def _beating(self) -> None:
        while not self.reaped:
            await asyncio.sleep(self.heartbeat)
            if not self.link.up:
                continue
            try:
                await self._renew()
            except DOWN_ERRORS as error:
                self.link.failed(error)


class ReplyReader:
    """Follows one reply from character `offset` of its text: `next()` until `done`, then `status` and `error`.

    It reads the stream from its start (skipping text before `offset`), then follows with XREAD BLOCK. While the
    stream is silent it checks the writer's lease, and if that expired with no end, asks `reaper` to claim the reply
    (its end entry `interrupted` then arrives like any other).
    """

    def __init__(self, link: Link, reply_id: str, offset: int = 0, *, reasoning_offset: int = 0,
                 reaper: Reaper | None = None, block_ms: int = BLOCK_MS) -> None:
        self.link, self.reply_id, self.reaper, self.block_ms = link, reply_id, reaper, block_ms
        self.stream = keys.stream(reply_id)
        self.have = {'c': offset, 'r': reasoning_offset}
        self.last_id = '0-0'
        self.status: str | None = None
        self.error: str | None = None
        self.meta: dict[str, Any] = {}  # the writer's finish reason, usage and timing, once done
        self.done = False
        self._checked = False

    @property
    def offset(self) -> int:
        """Characters of the reply's text handed out (or skipped) so far."""
        return self.have['c']

    def close(self) -> None:
        """Stop following: nothing to release (a reader holds only its position), as app/chat's local follower."""
        self.done = True

    async def next(self, within: float | None = None) -> list[Piece]:
        """The pieces since the last call: at once if the stream has some, else when some come, the reply ends, or
        `within` seconds pass (then an empty list). LiveGap if the stream lacks the text at this offset; ReplyGone
        if Redis knows nothing of the reply (ended long ago, or never streamed: the database has it)."""
        deadline = None if within is None else asyncio.get_running_loop().time() + within
        if not self._checked:
            await self._check_writer()
        while not self.done:
            left = None if deadline is None else deadline - asyncio.get_running_loop().time()
            if left is not None and left <= 0:
                return []
            if not self.link.up:
                if not await self.link.wait_up(left):
                    return []
                continue
            block = self.block_ms if left is None else max(1, min(self.block_ms, int(left * 1000)))
            try:
                answer: Any = await self.link.blocking.xread({self.stream: self.last_id}, count=READ_COUNT,
                                                             block=block)
            except DOWN_ERRORS as error:
                self.link.failed(error)
                continue
            entries = answer[0][1] if answer else []
            if entries:
                pieces = self._take(entries)
                if pieces or self.done:
                    return pieces
            else:
                await self._check_writer()
        return []

    async def available(self) -> list[Piece]:
        """The pieces the stream has now, without waiting (none if Redis is down); ReplyGone and LiveGap as next().
        A page built after this starts where Redis is, not at the last checkpoint (up to CHECKPOINT_INTERVAL
        behind), so a tab that moved here after its instance died never shows less than it did."""
        if not self._checked:
            await self._check_writer()
        pieces: list[Piece] = []
        while not self.done and self.link.up:
            try:
                answer: Any = await self.link.redis.xread({self.stream: self.last_id}, count=READ_COUNT)
            except DOWN_ERRORS as error:
                self.link.failed(error)
                break
            entries = answer[0][1] if answer else []
            if not entries:
                break
            pieces += self._take(entries)
        return pieces

    def _take(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> list[Piece]:
        pieces: list[Piece] = []
        texts: dict[str, list[str]] = {'c': [], 'r': []}
        for entry_id, fields in entries:
            self.last_id = entry_id.decode()
            if fields[b'k'] == b'end':
                self.status = fields[b's'].decode()
                self.error = fields[b'e'].decode('utf-8', 'surrogatepass') or None
                self.meta = json.loads(fields[b'm']) if b'm' in fields else {}
                self.done = True
                break
            if (new := append_entry(fields, texts, self.have)) is not None:
                kind: Literal['content', 'reasoning'] = 'content' if fields[b'k'] == b'c' else 'reasoning'
                pieces.append(Piece(kind, new, self.have['c']))
            texts = {'c': [], 'r': []}
        return pieces

    async def _check_writer(self) -> None:
        """Before the first read, and each time the stream was silent for a whole block: is its writer there?"""
        try:
            lease, exists = await self._lease_and_stream()
        except DOWN_ERRORS as error:
            self.link.failed(error)
            return
        if not lease and not exists and not self._checked:
            raise ReplyGone(f'reply {self.reply_id} is not streaming on any instance')
        self._checked = True
        if not lease and self.reaper is not None:
            try:
                await self.reaper.reap(self.reply_id)
            except DOWN_ERRORS as error:
                self.link.failed(error)

    async def _lease_and_stream(self) -> tuple[bool, bool]:
        async with self.link.redis.pipeline(transaction=False) as pipe:
            pipe.exists(keys.lease(self.reply_id))
            pipe.exists(self.stream)
            lease, exists = await pipe.execute()
        return bool(lease), bool(exists)


class ReplyGone(Exception):
    """Redis holds neither a stream nor a lease for the reply: it is not streaming anywhere."""


def _text_fields(kind: str, offset: int, text: str) -> Any:
    return {'k': kind, 'o': offset, 't': text.encode('utf-8', 'surrogatepass')}

