"""When to ship buffered stream text to the browser: pure timing logic, with the clock passed in.

A fast stream (deltas closer together than SLOW_GAP) is batched by size and age, so each websocket frame carries
enough text to be worth its framing; a slow stream, whose deltas could not share a send anyway, is sent as each delta
comes, so nobody waits on a batch. The age may be given per batch (components/loop_load.py widens it while the
event loop lags); the size of a full batch and the gap of a slow stream scale with it.

"As it comes" is the send timer's next turn of the event loop, not a frame later: the deltas of one network read
reach the page in one turn (app/upstream/reply.py's next_batch; a relayed batch with REDIS_URL, app/chat/relay.py, is
one call; the entries of one XREAD on another instance are one turn), so they still leave in one send, and anything
that comes later could only have shared it by waiting. A frame's wait (1/60 s) there was ~17 ms on every slow delta
and on every relayed batch, for company that a slow stream does not have (bench/live, docs/live.md).
"""

from __future__ import annotations

import math

# Fewest seconds between two sends for one message: more than ~30 updates a second is more than a reader can use.
MIN_INTERVAL = 1 / 30
# While a fast stream keeps coming, text older than this is sent anyway (plus network and a frame to render,
# a reader sees it within ~100 ms; at LLM pace this, not MIN_BATCH, sets the batch size).
MAX_AGE = 0.08
# Deltas that arrive further apart than this count as a slow stream, sent on their own: they could not share a send
# without waiting longer than MAX_AGE. Closer ones are batched by age: at 40-80 ms a delta that halves the sends, and
# the ~55-byte socket envelope each one costs. (The first delta of a reply has no gap before it: it goes at once.)
# With REDIS_URL every batch reaches the page at least this far apart (app/chat/relay.py), so each goes at once.
SLOW_GAP = MAX_AGE
# Characters that make a send worth its ~55 bytes of socket envelope (at most ~1.6x the text) in a fast stream.
MIN_BATCH = 96


class Coalescer:
    """Buffers deltas for one message and says when they are due to be sent."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._size = 0
        self._first_at = 0.0  # when the oldest buffered delta arrived
        self._last_at = -math.inf  # when the latest delta arrived, buffered or already sent
        self._gap = math.inf  # quiet time before the batch's first delta: tells a slow stream from a fast one
        self._sent_at = -math.inf
        self._max_age = MAX_AGE  # the age the current batch may reach (set when its first delta arrives)
        self._full = float(MIN_BATCH)  # characters that make the current batch due at once (scale with its age)

    def peek(self) -> str:
        """The buffered text, left in the buffer."""
        return ''.join(self._parts)

    def add(self, text: str, now: float, max_age: float = MAX_AGE) -> float | None:
        """Buffer `text` (arrived at `now`); returns when the buffer is due to be sent if that is sooner than this
        batch was due before (its first delta, or the one that fills it), else None: no sooner than already said.

        `max_age` is how long a new batch's first delta may wait (MAX_AGE, or more when the server is busy). Most
        deltas of a fast stream only join the batch (the element's send is already set): no due time is worked out.
        """
        if not text:
            return None
        size = self._size + len(text)
        self._size = size
        self._parts.append(text)
        if len(self._parts) == 1:
            self._first_at = now
            self._gap = now - self._last_at
            self._max_age = max_age
            self._full = MIN_BATCH * max_age / MAX_AGE
            self._last_at = now
            return self.due()
        self._last_at = now
        if size >= self._full > size - len(text):
            return self.due()
        return None

    def due(self) -> float | None:
        """When the buffered text should be sent (same clock as `now`), or None when nothing is buffered."""
        if not self._parts:
            return None
        age = self._max_age
        widened = age / MAX_AGE  # a wider batch also waits for more text, and counts longer gaps as fast
        if self._size >= self._full:
            wanted = self._last_at
        elif self._gap >= SLOW_GAP * widened:
            wanted = self._last_at  # a slow stream: sent on the loop's next turn, with whatever came in this one
        else:
            wanted = self._first_at + age
        return min(max(wanted, self._sent_at + MIN_INTERVAL), self._first_at + age)

    def take(self, now: float) -> str:
        """Empty the buffer and return its text; `now` counts as a send if there was any."""
        if not self._parts:
            return ''
        text = ''.join(self._parts)
        self._parts.clear()
        self._size = 0
        self._sent_at = now
        return text
