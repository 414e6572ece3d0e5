"""app/ops/collector.py: a full pass of the garbage collector freezes what survived it, and a reclaim frees the
garbage cycles that died frozen (on demand, and on the collector's interval)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from app.ops.collector import OVERDUE, Collector, resident_bytes


class Thing:
    """A tracked object that can be weakly referenced and put in a cycle."""

    other: Thing | None = None


@pytest.fixture
def collector() -> Iterator[Collector]:
    collector = Collector()
    collector.install()
    try:
        yield collector
    finally:
        collector.uninstall()
        gc.unfreeze()  # the test process's objects go back to the passes


def _in_oldest_generation(things: list[Thing]) -> int:
    oldest = {id(obj) for obj in gc.get_objects(generation=2)}
    return sum(id(thing) in oldest for thing in things)


def _dead_cycle() -> weakref.ref[Thing]:
    """A cycle that survives a full pass, then becomes garbage: its weak reference."""
    first, second = Thing(), Thing()
    first.other, second.other = second, first
    gc.collect()  # survives: alive here
    return weakref.ref(first)


def test_a_full_pass_freezes_what_survived_it(collector: Collector) -> None:
    kept = [Thing() for _ in range(50)]
    gc.collect()
    # Out of the oldest generation: the next full passes walk only what is made after this one.
    assert _in_oldest_generation(kept) == 0
    newer = [Thing() for _ in range(50)]
    gc.collect(1)  # a younger pass moves them along, as usual, and freezes nothing
    assert _in_oldest_generation(newer) == 50
    gc.collect()
    assert _in_oldest_generation(newer) == 0
    assert all(gc.is_tracked(thing) for thing in kept + newer)


def test_frozen_objects_are_still_freed_by_reference_counting(collector: Collector) -> None:
    thing = Thing()
    gc.collect()
    gone = weakref.ref(thing)
    del thing
    assert gone() is None


def test_a_reclaim_frees_the_cycles_that_died_frozen(collector: Collector) -> None:
    cycle = _dead_cycle()
    gc.collect()
    assert cycle() is not None  # frozen: out of the passes until a reclaim (the price of short full passes)
    collector.reclaim()
    assert cycle() is None
    kept = [Thing()]
    collector.reclaim()
    assert _in_oldest_generation(kept) == 0  # what survives a reclaim is frozen again


def test_a_reclaim_is_due_after_its_interval_or_once_the_process_memory_grew(collector: Collector) -> None:
    collector.reclaim()
    assert not collector.due()
    collector.reclaim_growth = 1.05
    grown = bytearray(max(64 << 20, resident_bytes() // 5))  # zeroed: its pages are resident (+20% at least)
    assert collector.due()
    collector.reclaim()  # what the process holds now is the new base
    assert not collector.due()
    collector.reclaim_interval = 0.0
    assert collector.due()
    del grown


def test_the_resident_memory_is_the_process_own() -> None:
    before = resident_bytes()
    grown = bytearray(32 << 20)
    assert resident_bytes() - before >= 30 << 20
    del grown


async def test_started_it_reclaims_when_due(collector: Collector) -> None:
    collector.check_interval, collector.reclaim_interval = 0.01, 0.0
    cycle = _dead_cycle()
    freed = asyncio.Event()
    weakref.finalize(cycle(), freed.set)
    await collector.start()
    try:
        await asyncio.wait_for(freed.wait(), 10)
    finally:
        await collector.stop()


async def test_a_due_reclaim_waits_while_replies_stream_unless_overdue(collector: Collector) -> None:
    streaming, declined = True, asyncio.Event()
    asked = 0

    def busy() -> bool:  # asked only when a reclaim is due
        nonlocal asked
        asked += 1
        if asked == 3:
            declined.set()
        return streaming

    collector.busy = busy
    collector.check_interval, collector.reclaim_interval = 0.01, 1.0  # due in 1 s, overdue in OVERDUE s
    collector.reclaim()
    cycle = _dead_cycle()
    gc.collect()
    freed = asyncio.Event()
    weakref.finalize(cycle(), freed.set)
    await collector.start()
    try:
        await asyncio.wait_for(declined.wait(), 10)  # three checks saw a due reclaim and replies streaming
        assert cycle() is not None and not collector.due(OVERDUE)
        streaming = False
        await asyncio.wait_for(freed.wait(), 10)  # the first check with nothing streaming reclaims
        streaming = True
        second = _dead_cycle()
        gc.collect()
        freed.clear()
        weakref.finalize(second(), freed.set)
        collector.reclaim_interval = 0.0  # overdue at once: reclaimed while replies stream
        await asyncio.wait_for(freed.wait(), 10)
        assert busy()
    finally:
        await collector.stop()
