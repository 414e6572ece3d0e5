"""The garbage collector's full passes, kept short while tabs are connected.

A full pass of CPython's collector walks every tracked object of the oldest generation, and stops the event loop
while it does. What start-up builds is frozen out of those passes (main.py), but the tabs' clients and elements are
made later: at 200 connected tabs a full pass walked several hundred thousand objects in 150-330 ms, and the burst of
allocations when many people press Enter at once is what sets one off. Every turn started in that window waited
for it (bench.page_load: the first text's p99 at 200 tabs, docs/page_load.md's eleventh round).

So after each full pass, what survived it is frozen too: the next full pass walks only what was made since, tens of
milliseconds' worth at most. Frozen objects are still freed by reference counting, as most are (a finished reply);
only garbage cycles among them wait for the next reclaim. A closed tab left ~1,500 objects in cycles until
app/web/teardown.py cut them; ~60 are left (engine.io's and uvicorn's), ~3 objects per reply. A reclaim unfreezes
everything and runs one full pass over all of it (the stall that came every few seconds under load), then freezes
its survivors again: every RECLAIM_INTERVAL seconds, or sooner once the process's resident memory is RECLAIM_GROWTH
times what it was after the last reclaim (the tabs that come and go), so that what waits stays of the order of what
lives. That pass stops the loop as the old ones did (~1 s at 400 tabs), so a due reclaim waits for a moment when no
reply is streaming (`busy`), unless it is OVERDUE: that many times its interval, or its growth, and it runs anyway
(memory stays bounded under a load that never pauses).
Growth is measured as memory, not with `gc.get_freeze_count()`: that walks the frozen objects' list, tens to
hundreds of milliseconds per million objects scattered over the heap, a stall at every check.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections.abc import Callable
from typing import Any

# Longest time, in seconds, between two full passes over everything, frozen included: how long a garbage cycle can
# outlive its use; and the growth of the process's memory (times what it was after the last reclaim) that calls one
# sooner. While closed tabs left ~1,500 objects each in cycles, 300 s and 2x let bench.soak's RSS grow 162 -> 199 ->
# 227 MB over its 100 s (live objects flat): not flat, hence 60 s then. Since they go by reference counting, a soak of
# 4,000 API + 4,000 page replies (142 s) with no reclaim at all ends at the same RSS as with one every 60 s (161.8 ->
# 172.4 -> 173.6 against 160.3 -> 172.3 -> 173.9 MB; 23,000 objects waiting at the end): a reclaim, ~0.9 s with the
# loop stopped at 400 tabs, is needed far less often, and one that is overdue under a load that never pauses
# (OVERDUE times this) comes every 20 minutes instead of every 2. The growth still calls one sooner.
RECLAIM_INTERVAL = 600.0
RECLAIM_GROWTH = 1.25
# How far past its interval and its growth (as a factor of each) a reclaim runs even while replies stream.
OVERDUE = 2.0
# Seconds between two looks at whether a reclaim is due.
CHECK_INTERVAL = 5.0
# The generation a full pass collects (CPython's collector has three).
OLDEST = 2


class Collector:
    """Freezes the survivors of every full pass (`install`), and reclaims the frozen garbage now and then (`start`)."""

    def __init__(self, reclaim_interval: float = RECLAIM_INTERVAL, reclaim_growth: float = RECLAIM_GROWTH,
                 check_interval: float = CHECK_INTERVAL, busy: Callable[[], bool] = lambda: False) -> None:
        """`busy` says whether a stall now would be seen (replies are streaming): a due reclaim waits it out."""
        self.reclaim_interval, self.reclaim_growth = reclaim_interval, reclaim_growth
        self.check_interval, self.busy = check_interval, busy
        self._task: asyncio.Task[None] | None = None
        self._reclaimed_at = time.monotonic()
        self._left = resident_bytes()  # the process's memory after the last reclaim (or the install)

    def install(self) -> None:
        """Freeze what exists now (start-up's objects) and, from now on, the survivors of each full pass."""
        gc.freeze()
        self._reclaimed_at, self._left = time.monotonic(), resident_bytes()
        if self._collected not in gc.callbacks:
            gc.callbacks.append(self._collected)

    def uninstall(self) -> None:
        """Stop freezing survivors (what is frozen stays so until `gc.unfreeze()` or a reclaim)."""
        if self._collected in gc.callbacks:
            gc.callbacks.remove(self._collected)

    def reclaim(self) -> None:
        """One full pass over everything, the frozen objects included; its survivors are frozen again."""
        gc.unfreeze()
        gc.collect()
        gc.freeze()  # also when not installed: the objects were frozen before, they stay out of the passes
        self._reclaimed_at, self._left = time.monotonic(), resident_bytes()

    def due(self, factor: float = 1.0) -> bool:
        """Whether a reclaim is due: `factor` times its interval since the last, or the process's memory grew by
        `factor` times its growth, 1.25x -> 1.5x at 2 (OVERDUE: due even while busy)."""
        return (time.monotonic() - self._reclaimed_at >= factor * self.reclaim_interval
                or resident_bytes() > (1 + factor * (self.reclaim_growth - 1)) * self._left > 0)

    async def start(self) -> None:
        """Reclaim when due and not busy, or overdue (checked every `check_interval` s), until `stop`."""
        self._task = asyncio.create_task(self._run(), name='gc reclaim')

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.check_interval)
            if self.due() and (not self.busy() or self.due(OVERDUE)):  # overdue implies due: one look mostly
                self.reclaim()

    def _collected(self, phase: str, info: dict[str, Any]) -> None:
        # Runs in whichever thread allocated when the pass set off, after the pass: the generations are consistent,
        # and moving them into the permanent one is all freeze does. After a full pass the younger ones are empty.
        if phase == 'stop' and info['generation'] == OLDEST:
            gc.freeze()


_PAGE = os.sysconf('SC_PAGE_SIZE') if hasattr(os, 'sysconf') else 4096


def resident_bytes() -> int:
    """The process's resident memory (Linux's /proc, one small read); 0 where that is not there (then only the
    interval calls a reclaim)."""
    try:
        with open('/proc/self/statm', 'rb') as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0
