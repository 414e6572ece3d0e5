"""Between the upstream and a reply when replies are shared (REDIS_URL): Redis first, then the reply and its views.

Deltas are buffered; a flush sends the buffer to Redis in one round trip, and only then appends it to the reply and
tells the views. So whatever any browser (or checkpoint) has, Redis had first, and an instance taking over after a
crash shows exactly what was shown. A flush goes out as soon as the previous one is done and at least
RELAY_INTERVAL after it: the first delta at once, then at most ~30 round trips a second per reply, each with every
delta that arrived meanwhile. While Redis is down a flush fails fast (and is skipped while the link is down): the
reply goes on locally, and the writer publishes it all again when Redis is back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Literal

from ..live.stream import ReplyWriter

Kind = Literal['content', 'reasoning']

# Fewest seconds between two flushes of one reply (the page's own coalescer sends at most every 1/30 s too).
RELAY_INTERVAL = 1 / 30


class Relay:
    """Publishes a reply's deltas, then hands each batch to `apply(kind, text)` (which updates reply and views)."""

    def __init__(self, writer: ReplyWriter, apply: Callable[[Kind, str], None], interval: float | None = None) -> None:
        self.writer, self.apply = writer, apply
        self.interval = RELAY_INTERVAL if interval is None else interval
        self._pending: list[tuple[Kind, str]] = []
        self._wake = asyncio.Event()
        self._draining = asyncio.Event()
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
        self._wake.set()

    async def drain(self) -> None:
        """Stop flushing on a timer: publish and apply what is left now (the reply has ended). A flush under way
        is finished, not cancelled: its batch is already out of the buffer."""
        self._draining.set()
        self._wake.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        await self._flush()

    async def end(self, status: str, error: str | None, meta: dict[str, Any]) -> None:
        """Publish the reply's end (draining first, if the reply has not)."""
        await self.drain()
        await self.writer.end(status, error, meta)

    async def _flushing(self) -> None:
        while not self._draining.is_set():
            await self._wake.wait()
            await self._flush()
            with contextlib.suppress(TimeoutError):  # the pause between flushes, cut short by drain()
                await asyncio.wait_for(self._draining.wait(), self.interval)

    async def _flush(self) -> None:
        self._wake.clear()
        if not self._pending:
            return
        batch, self._pending = self._pending, []  # exactly what this flush sends (deltas during it go with the next)
        await self.writer.flush()  # never raises: an outage is noted on the link and the reply goes on
        for kind, text in _merged(batch):
            self.apply(kind, text)


def _merged(batch: list[tuple[Kind, str]]) -> list[tuple[Kind, str]]:
    """Consecutive deltas of one kind as one text: each view is told once per batch, not once per delta."""
    merged: list[tuple[Kind, str]] = []
    for kind, text in batch:
        if merged and merged[-1][0] == kind:
            merged[-1] = (kind, merged[-1][1] + text)
        else:
            merged.append((kind, text))
    return merged
