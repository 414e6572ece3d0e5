"""How busy the page's event loop is, as the streaming sends see it: how late their timers run, and what share of
the time its thread spends working.

A send timer due at t that runs at t + 30 ms says the loop had 30 ms of other work queued: every socket message is
then worth saving. A loop that works 85% of the time runs its timers nearly on time but has little to spare: with
hundreds of tabs streaming most of its time per delta is per socket message, not per character (bench/page_load;
each message is a frame written to a socket, ~45 µs of server CPU at 400 tabs). The coalescer reads `max_age()` (or
`age`) and batches more text per message while the loop lags or is that busy, so the process spends less per
streamed delta exactly when it has least to spare, and a loop with time to spare keeps the short batches.
"""

from __future__ import annotations

import time

from .coalescer import MAX_AGE

# Weight of the newest lateness in the running mean: about the last 20 ticks of the send clock count (~0.1 s).
WEIGHT = 0.05
# Seconds of batching age added per second of loop lag: at 30 ms of lag a send waits up to WIDEST_AGE.
WIDEN_PER_LAG = 4.0
# Seconds over which the share of time the loop's thread works is measured (one clock read per window: cheap).
BUSY_WINDOW = 0.5
# Share of its time the loop's thread works from which batches widen, and at which they reach WIDEST_AGE (linearly
# between). Below BUSY_FROM (~250 tabs streaming at 50 ms a delta on this machine) a message goes as on an idle
# loop; the widening costs a reader up to WIDEST_AGE - MAX_AGE, less than a saturated loop's queue costs.
BUSY_FROM = 0.5
BUSY_FULL = 0.8
# Most a delta may wait for company, however late the loop runs. With the lag that brings it (~30 ms), a frame to
# render and loopback, a reader sees the text within ~250 ms; a loop lagging more is late whatever we do, and
# fewer messages are what lets it catch up.
WIDEST_AGE = 0.2


class LoopLoad:
    """How late send timers run (a running mean, seconds), the share of time the loop works, and the batching age
    that follows from them."""

    def __init__(self) -> None:
        self.lag = 0.0
        self.busy = 0.0  # share of the last BUSY_WINDOW its thread spent working (CPU time over wall time)
        self.age = MAX_AGE  # `max_age()`, kept up to date: the streaming element reads it once per delta
        self._window_at = -BUSY_WINDOW  # loop time the current window started
        self._window_cpu = 0.0  # the thread's CPU time then

    def timer_ran(self, due: float, now: float, cpu: float | None = None) -> None:
        """A timer due at `due` ran at `now` (loop clock), on the loop's thread; `cpu` is that thread's CPU time now
        (read here when a window ends, if not given)."""
        self.lag += WEIGHT * (max(0.0, now - due) - self.lag)
        if now - self._window_at >= BUSY_WINDOW:
            cpu = time.thread_time() if cpu is None else cpu
            self.busy = min(1.0, (cpu - self._window_cpu) / (now - self._window_at))
            self._window_at, self._window_cpu = now, cpu
        self.age = self.max_age()

    def max_age(self) -> float:
        """How long buffered text may wait now: MAX_AGE on an idle loop, up to WIDEST_AGE on a busy one."""
        by_lag = MAX_AGE + WIDEN_PER_LAG * self.lag
        by_busy = MAX_AGE + (WIDEST_AGE - MAX_AGE) * (self.busy - BUSY_FROM) / (BUSY_FULL - BUSY_FROM)
        return min(WIDEST_AGE, max(by_lag, by_busy))


# The page's event loop is one per process, and so is this.
loop_load = LoopLoad()
