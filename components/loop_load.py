"""How busy the page's event loop is, as the streaming sends see it: how late their timers run.

A send timer due at t that runs at t + 30 ms says the loop had 30 ms of other work queued: every socket message is
then worth saving. The coalescer reads `max_age()` and batches more text per message while the loop lags, so the
process spends less per streamed delta exactly when it has least to spare (bench/page_load: most of the server's
time per delta is per socket message, not per character).
"""

from __future__ import annotations

from .coalescer import MAX_AGE

# Weight of the newest lateness in the running mean: about the last 20 sends of the whole process count.
WEIGHT = 0.05
# Seconds of batching age added per second of loop lag: at 30 ms of lag a send waits up to WIDEST_AGE.
WIDEN_PER_LAG = 4.0
# Most a delta may wait for company, however late the loop runs. With the lag that brings it (~30 ms), a frame to
# render and loopback, a reader sees the text within ~250 ms; a loop lagging more is late whatever we do, and
# fewer messages are what lets it catch up.
WIDEST_AGE = 0.2


class LoopLoad:
    """A running mean of how late send timers run (seconds), and the batching age that follows from it."""

    def __init__(self) -> None:
        self.lag = 0.0
        self.age = MAX_AGE  # `max_age()`, kept up to date: the streaming element reads it once per delta

    def timer_ran(self, due: float, now: float) -> None:
        """A timer due at `due` ran at `now` (loop clock)."""
        self.lag += WEIGHT * (max(0.0, now - due) - self.lag)
        self.age = self.max_age()

    def max_age(self) -> float:
        """How long buffered text may wait now: MAX_AGE on an idle loop, up to WIDEST_AGE on a busy one."""
        return min(WIDEST_AGE, MAX_AGE + WIDEN_PER_LAG * self.lag)


# The page's event loop is one per process, and so is this.
loop_load = LoopLoad()
