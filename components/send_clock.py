"""One clock for every streaming message's sends in the process, instead of a timer per message per batch.

A streaming message buffers its deltas and is due to send them at some time (components/coalescer.py). With a timer
of its own per batch, hundreds of tabs streaming made thousands of timers a second, each made, often moved (cancel
and call_at again) and fired on its own turn of the event loop (bench/page_load: ~5,000 sends a second at 400
tabs). Here a due message is filed under the tick it falls in, and one timer per tick sends every message filed
there. A message due now (the first delta of a reply, a slow stream's delta, a full batch) goes on the loop's next
turn, in one callback with every other message due now, after the rest of this turn's deltas joined it.

A send runs at the end of its tick: at most TICK later than its message asked, never earlier (so a batch keeps the
coalescer's fewest seconds between sends, and the deltas it waited for; uvloop's and asyncio's timers may run up to
a millisecond early, which the tick absorbs).
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Protocol

from .loop_load import loop_load

log = logging.getLogger(__name__)

# Seconds per tick: the most a send runs after its due time (besides the loop's own lag), and uvloop's timer
# resolution. At most 1/TICK timers a second while anything streams (there were ~2,000 a second at 200 tabs and
# ~4,000 at 400); with a 5 ms tick delta p99 at 200 tabs was higher than 19692d1's in 3 of 3 pairs, with 1 ms
# lower in 2 of 3 (docs/page_load.md, eleventh round).
TICK = 0.001
# The slot of a sender due now: before every tick.
NOW = -1


class Sender(Protocol):
    """A streaming message: sends its buffered text when its time comes."""

    def send_due(self) -> None:
        """Send what is buffered (the time `SendClock.schedule` was given has come)."""


class SendClock:
    """Senders filed by the tick they are due in; one timer for the earliest tick, one callback for those due now."""

    def __init__(self) -> None:
        self._start(None)

    def _start(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Nothing filed, on `loop` (tests run an event loop each: what was filed died with the one before)."""
        self._loop = loop
        self._filed: dict[Sender, int] = {}  # each sender's slot: NOW, or the tick it is due in
        self._ticks: dict[int, list[Sender]] = {}  # senders by tick (an entry is stale when _filed says otherwise)
        self._now: list[Sender] = []
        self._now_handle: asyncio.Handle | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_tick: float = math.inf  # the tick the timer is set for

    def schedule(self, sender: Sender, due: float) -> None:
        """Have `sender.send_due()` run at `due` (loop time), or sooner if it already is to run sooner."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._start(loop)
        filed = self._filed.get(sender)
        if due <= loop.time():
            if filed == NOW:
                return
            self._filed[sender] = NOW
            self._now.append(sender)
            if self._now_handle is None:
                self._now_handle = loop.call_soon(self._send_now)
            return
        tick = math.ceil(due / TICK)
        if filed is not None and filed <= tick:
            return  # already due as soon
        self._filed[sender] = tick
        senders = self._ticks.get(tick)
        if senders is None:
            self._ticks[tick] = [sender]
            if tick < self._timer_tick:
                self._set_timer(loop, tick)
        else:
            senders.append(sender)

    def forget(self, sender: Sender) -> None:
        """`sender` has sent (or is gone): its filing lapses."""
        self._filed.pop(sender, None)

    def _set_timer(self, loop: asyncio.AbstractEventLoop, tick: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_tick = tick
        self._timer = loop.call_at(tick * TICK, self._tick)

    def _send_now(self) -> None:
        self._now_handle = None
        senders, self._now = self._now, []
        for sender in senders:
            if self._filed.get(sender) == NOW:
                del self._filed[sender]
                self._send(sender)

    def _tick(self) -> None:
        loop = self._loop
        assert loop is not None
        self._timer = None
        now = loop.time()
        fired = self._timer_tick
        first = int(fired)  # no tick filed is earlier: a sooner one would have set the timer for itself
        last = max(math.floor(now / TICK), first)  # (uvloop's timers count whole milliseconds: one may run early)
        filed, ticks = self._filed, self._ticks
        timer_ran = loop_load.timer_ran
        for tick in range(first, last + 1):
            for sender in ticks.pop(tick, ()):
                if filed.get(sender) == tick:
                    del filed[sender]
                    # How late the loop runs sends, one sample per send as when each message had its timer: a
                    # sample per tick weighed the long turns of a busy loop less, and batches widened less.
                    timer_ran(tick * TICK, now)
                    self._send(sender)
        self._timer_tick = math.inf
        if self._ticks:
            self._set_timer(loop, min(self._ticks))

    @staticmethod
    def _send(sender: Sender) -> None:
        try:
            sender.send_due()
        except Exception:  # one message's failure must not hold back the others due with it
            log.exception('a streaming send failed')


# The page's event loop is one per process, and so is this.
send_clock = SendClock()
