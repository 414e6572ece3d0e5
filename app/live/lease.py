"""Leases: who streams a reply, and marking a reply interrupted exactly once when its instance died.

A writer holds `lease(reply)` (its instance id, SET NX with a TTL) and renews it every HEARTBEAT_S; the reply is also
in the INFLIGHT set. Its end (an end entry, lease deleted, removed from INFLIGHT) is one MULTI. So a reply in
INFLIGHT without a lease had a writer that stopped renewing without ending: killed, or frozen longer than the TTL.

Every instance's Reaper looks for those (a sweep every half TTL, and readers that wait on a silent stream ask it
too). Claiming one is a Lua script, atomic in Redis: it removes the reply from INFLIGHT (only one caller can) and
appends the end entry `interrupted` to its stream, so followers everywhere see the outcome at once. The winner, and
only it, then reads the text from the stream and calls `on_interrupted(reply_id, content, reasoning)`, which saves
the reply as interrupted with every character that was shown (it was in Redis before any browser had it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from . import keys
from .link import DOWN_ERRORS, Link, end_task

log = logging.getLogger(__name__)

Interrupted = Callable[[str, str, str], Awaitable[None]]  # (reply id, content, reasoning)

# KEYS: lease, inflight, stream. ARGV: instance id, ttl ms, reply id, now ms, stream ttl ms.
# 1 renewed (the lease, and the stream's TTL: batches do not set it each time); 0 taken again (Redis lost it: a
# restart); -1 another instance holds it; -2 reaped (ended as interrupted).
RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[3], ARGV[5])
  return 1
end
if holder then return -1 end
local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
if #last > 0 and last[1][2][2] == 'end' then return -2 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
return 0
"""

# KEYS: lease, inflight, stream. ARGV: reply id, ttl ms of the ended stream. 1 when this caller claimed it.
REAP = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('ZREM', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('XADD', KEYS[3], '*', 'k', 'end', 's', 'interrupted', 'e', '')
redis.call('PEXPIRE', KEYS[3], ARGV[2])
return 1
"""


async def renew(link: Link, reply_id: str, ttl_ms: int = keys.LEASE_TTL_MS) -> int:
    """Renew (or take again) the lease of a reply this instance streams; see RENEW for the answers."""
    return int(await link.redis.eval(RENEW, 3, keys.lease(reply_id), keys.INFLIGHT, keys.stream(reply_id),
                                     link.instance_id, ttl_ms, reply_id, int(time.time() * 1000),
                                     keys.STREAM_TTL_MS))


class Reaper:
    """Finds replies whose writer died and marks each interrupted once, across all instances."""

    def __init__(self, link: Link, on_interrupted: Interrupted, *, interval: float = keys.LEASE_TTL_MS / 2000) -> None:
        self.link, self.on_interrupted, self.interval = link, on_interrupted, interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Sweep every `interval` seconds until `aclose()`."""
        self._task = asyncio.get_running_loop().create_task(self._sweeping(), name='live reaper')

    async def aclose(self) -> None:
        """Stop sweeping."""
        await end_task(self._task, 'the lease reaper')

    async def sweep(self) -> int:
        """Claim every reply in flight whose lease has expired; how many this instance claimed."""
        members: list[bytes] = await self.link.redis.zrange(keys.INFLIGHT, 0, -1)  # type: ignore[assignment]
        ids = [member.decode() for member in members]
        if not ids:
            return 0
        async with self.link.redis.pipeline(transaction=False) as pipe:
            for reply_id in ids:
                pipe.exists(keys.lease(reply_id))
            held = await pipe.execute()
        claimed = 0
        for reply_id, exists in zip(ids, held, strict=True):
            if not exists and await self.reap(reply_id):
                claimed += 1
        return claimed

    async def reap(self, reply_id: str) -> bool:
        """Claim `reply_id` if its lease expired without an end; True only for the one caller that did (it then
        saved the reply through `on_interrupted`)."""
        won = await self.link.redis.eval(REAP, 3, keys.lease(reply_id), keys.INFLIGHT, keys.stream(reply_id),
                                         reply_id, keys.ENDED_TTL_MS)
        if not won:
            return False
        content, reasoning = await read_text(self.link, reply_id)
        log.warning('reply %s lost its instance (lease expired): saved as interrupted with %d characters',
                    reply_id, len(content))
        await self.on_interrupted(reply_id, content, reasoning)
        return True

    async def _sweeping(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if not self.link.up:
                continue
            try:
                await self.sweep()
            except DOWN_ERRORS as error:
                self.link.failed(error)
            except Exception:  # a failed save must not end the sweeps of the whole instance
                log.exception('sweeping replies in flight failed')


async def read_text(link: Link, reply_id: str) -> tuple[str, str]:
    """A reply's content and reasoning as its stream holds them (entries carry offsets: repeats are skipped)."""
    text: dict[str, list[str]] = {'c': [], 'r': []}
    have = {'c': 0, 'r': 0}
    start = '-'
    while True:
        entries: list[tuple[bytes, dict[bytes, bytes]]] = await link.redis.xrange(  # type: ignore[assignment]
            keys.stream(reply_id), start, '+', count=1000)
        for _entry_id, fields in entries:
            append_entry(fields, text, have)
        if len(entries) < 1000:
            return ''.join(text['c']), ''.join(text['r'])
        start = '(' + entries[-1][0].decode()


def append_entry(fields: dict[bytes, Any], text: dict[str, list[str]], have: dict[str, int]) -> str | None:
    """Add the new part of a text entry to `text` (skipping what `have` counts already); the piece added, if any."""
    kind = fields[b'k'].decode()
    if kind not in have:
        return None
    offset, piece = int(fields[b'o']), fields[b't'].decode('utf-8', 'surrogatepass')
    if offset > have[kind]:
        raise LiveGap(have[kind], offset)
    new = piece[have[kind] - offset:]
    if new:
        text[kind].append(new)
        have[kind] += len(new)
    return new or None


class LiveGap(Exception):
    """The stream no longer holds text from the offset asked for (trimmed, or Redis restarted and the writer has not
    published again yet): the text before `available` has to come from the database."""

    def __init__(self, wanted: int, available: int) -> None:
        super().__init__(f'the live stream starts at character {available}, not {wanted}')
        self.wanted, self.available = wanted, available
