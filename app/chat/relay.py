"""Between the upstream and a reply when replies are shared (REDIS_URL): Redis first, then the reply and its views.

Deltas are buffered; a flush sends the buffer to Redis in one round trip, and only then appends it to the reply and
tells the views. So whatever any browser (or checkpoint) has, Redis had first, and an instance taking over after a
crash shows exactly what was shown.

A flush costs the server about as much as a send to a browser (on this machine ~0.5 ms of CPU, most of it the loop
waking for Redis's answer, whatever the client library does), so there is one per batch a browser gets, not more.
The page sends a streaming message at most every ~80 ms (components/coalescer.py, MAX_AGE), and sends a batch that
arrives SLOW_GAP or more after the one before it on its own, as it comes (both widen while the event loop lags).
So a flush goes out at least that gap (`gap()`, PAGE_GAP by default) after the previous batch reached the views:
each batch then reaches the browser as one send of its own, with no wait added, not held back another 80 ms for
company (on this instance's pages, and on another instance's, which read it from Redis in one piece). The first
delta of a reply (or after a pause) goes at once. A flush rides on the wake-up of the delta that makes the batch
due: the loop is awake then anyway, where a timer of its own would wake it once more per batch; the timer (the gap
plus CARRY_GRACE) is for the text left when the deltas pause.

While Redis is down a flush fails fast (and is skipped while the link is down): the reply goes on locally, and the
writer publishes it all again when Redis is back.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any, Literal

from ..live.stream import ReplyWriter

Kind = Literal['content', 'reasoning']

# Fewest seconds between two batches reaching the views when the runtime is not told the pages' own (`gap`): the
# page's SLOW_GAP on an idle loop (components/coalescer.py; app/chat cannot import components: main.py passes
# components/loop_load.py's max_age, which widens it while the loop lags, and tests/app/chat/test_relay.py checks
# that each batch so paced is one send of the page's).
PAGE_GAP = 0.08
# Seconds added to that gap: the page measures it at its own add, a round trip later, on a clock that may count whole
# milliseconds (uvloop's), and its widening may have moved a little meanwhile. A batch that reads 1 ms short of the
# gap is held a whole batch age (80 ms) for company, so 5 ms of every batch's wait buys that off (docs/live.md).
GAP_MARGIN = 0.005
# Seconds past the gap a batch waits for the next delta to carry its flush before a timer sends it: longer than
# the gap between deltas at LLM pace (~10-30 ms), short against the page's own batching (80 ms).
CARRY_GRACE = 1 / 30


class Relay:
    """Publishes a reply's deltas, then hands each batch to `apply(kind, text)` (which updates reply and views)."""

    def __init__(self, writer: ReplyWriter, apply: Callable[[Kind, str], None],
                 gap: Callable[[], float] | None = None) -> None:
        self.writer, self.apply = writer, apply
        self.gap = gap or (lambda: PAGE_GAP)  # the pages' SLOW_GAP now (seconds)
        self.flushes = 0  # round trips to Redis so far (one per batch applied)
        self._pending: list[tuple[Kind, str]] = []
        self._applied_at = -math.inf  # loop time the last batch reached the views
        self._in_flight = False
        self._due = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._draining = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Take the reply's lease and start flushing."""
        await self.writer.start()
        self._task = asyncio.get_running_loop().create_task(self._flushing(), name='live relay')

    def add(self, kind: str, text: str) -> None:
        """A delta from the upstream (content, else reasoning, as the runtime takes them): it reaches the reply
        after the next flush."""
        shown: Kind = 'content' if kind == 'content' else 'reasoning'
        self.writer.add(shown, text)
        self._pending.append((shown, text))
        if not self._in_flight:  # else the flush under way schedules the next one when it is done
            self._schedule()

    async def drain(self) -> None:
        """Stop flushing on a timer: publish and apply what is left now (the reply has ended). A flush under way
        is finished, not cancelled: its batch is already out of the buffer."""
        self._draining = True
        self._cancel_timer()
        self._due.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        await self._flush()

    async def end(self, status: str, error: str | None, meta: dict[str, Any]) -> None:
        """Publish the reply's end (draining first, if the reply has not)."""
        await self.drain()
        await self.writer.end(status, error, meta)

    def _schedule(self) -> None:
        """Pending text: flush now if the last batch is a gap old, else let a later delta (or the timer) do it."""
        if self._draining or not self._pending:
            return
        loop = asyncio.get_running_loop()
        due = self._applied_at + self.gap() + GAP_MARGIN
        if loop.time() >= due:
            self._cancel_timer()
            self._due.set()
        elif self._timer is None:
            self._timer = loop.call_at(due + CARRY_GRACE, self._timer_fired)

    def _timer_fired(self) -> None:
        self._timer = None
        self._due.set()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _flushing(self) -> None:
        while True:
            await self._due.wait()
            if self._draining:
                return
            await self._flush()

    async def _flush(self) -> None:
        self._due.clear()
        if not self._pending:
            return
        batch, self._pending = self._pending, []  # exactly what this flush sends (deltas during it go with the next)
        self._in_flight = True
        try:
            self.flushes += 1
            await self.writer.flush()  # never raises: an outage is noted on the link and the reply goes on
        finally:
            self._in_flight = False
        self._applied_at = asyncio.get_running_loop().time()
        for kind, text in _merged(batch):
            self.apply(kind, text)
        self._schedule()  # deltas that came during the flush


def _merged(batch: list[tuple[Kind, str]]) -> list[tuple[Kind, str]]:
    """Consecutive deltas of one kind as one text: each view is told once per batch, not once per delta."""
    merged: list[tuple[Kind, str]] = []
    for kind, text in batch:
        if merged and merged[-1][0] == kind:
            merged[-1] = (kind, merged[-1][1] + text)
        else:
            merged.append((kind, text))
    return merged
