"""The process-wide send clock on a real event loop: never early, at most a tick late, one callback per tick."""

from __future__ import annotations

import asyncio

import pytest

from components.send_clock import TICK, SendClock

# Seconds of slack for a loop that runs a timer late (a busy machine): only lateness is loose, never earliness.
LATE = 0.05


class Sender:
    """Records when (loop time) its sends ran; `fail` makes each send raise."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fail: bool = False) -> None:
        self.loop, self.fail = loop, fail
        self.sent: list[float] = []
        self.done = asyncio.Event()

    def send_due(self) -> None:
        self.sent.append(self.loop.time())
        self.done.set()
        if self.fail:
            raise RuntimeError('a failing send')


async def test_a_send_runs_at_its_due_time_not_before() -> None:
    clock, loop = SendClock(), asyncio.get_running_loop()
    senders = [Sender(loop) for _ in range(20)]
    start = loop.time()
    dues = [start + 0.01 + 0.003 * i for i in range(20)]
    for sender, due in zip(senders, dues, strict=True):
        clock.schedule(sender, due)
    await asyncio.wait_for(asyncio.gather(*(sender.done.wait() for sender in senders)), 2)
    for sender, due in zip(senders, dues, strict=True):
        assert len(sender.sent) == 1
        # uvloop and asyncio count timers in whole milliseconds: a timer may run up to 1 ms before its time
        assert due - 0.001 <= sender.sent[0] <= due + TICK + LATE


async def test_senders_due_now_share_one_callback_after_this_turn() -> None:
    clock, loop = SendClock(), asyncio.get_running_loop()
    callbacks = 0
    send_now = clock._send_now

    def counted() -> None:
        nonlocal callbacks
        callbacks += 1
        send_now()

    clock._send_now = counted  # type: ignore[method-assign]
    first, second = Sender(loop), Sender(loop)
    clock.schedule(first, loop.time())
    clock.schedule(first, loop.time() - 1)  # filed once however often it is told
    assert first.sent == []  # not in this turn: deltas still to come in it join the send
    clock.schedule(second, loop.time() - 1)
    await asyncio.wait_for(second.done.wait(), 1)
    assert len(first.sent) == len(second.sent) == 1 and callbacks == 1


async def test_a_sooner_due_time_wins_and_a_later_one_changes_nothing() -> None:
    clock, loop = SendClock(), asyncio.get_running_loop()
    sender = Sender(loop)
    start = loop.time()
    clock.schedule(sender, start + 0.5)
    clock.schedule(sender, start + 0.02)  # the batch filled up: sooner
    clock.schedule(sender, start + 1.0)  # no later than already said
    await asyncio.wait_for(sender.done.wait(), 1)
    assert sender.sent[0] - start < 0.02 + TICK + LATE
    await asyncio.sleep(0.6)  # past the first due time: its stale filing sends nothing more
    assert len(sender.sent) == 1


async def test_a_forgotten_sender_is_not_called_and_a_failing_one_does_not_stop_the_others(
        caplog: pytest.LogCaptureFixture) -> None:
    clock, loop = SendClock(), asyncio.get_running_loop()
    forgotten, failing, other = Sender(loop), Sender(loop, fail=True), Sender(loop)
    due = loop.time() + 0.01
    for sender in (forgotten, failing, other):
        clock.schedule(sender, due)
    clock.forget(forgotten)  # sent on its own (a finish), or deleted
    await asyncio.wait_for(other.done.wait(), 1)
    await asyncio.sleep(2 * TICK)
    assert forgotten.sent == [] and len(failing.sent) == len(other.sent) == 1
    assert 'a streaming send failed' in caplog.text


async def test_senders_due_in_one_tick_are_sent_by_one_timer() -> None:
    clock, loop = SendClock(), asyncio.get_running_loop()
    fired = 0
    tick = clock._tick

    def counted() -> None:
        nonlocal fired
        fired += 1
        tick()

    clock._tick = counted  # type: ignore[method-assign]
    senders = [Sender(loop) for _ in range(50)]
    middle = (int(loop.time() / TICK) + 20.5) * TICK  # the middle of a tick a few ahead: all due within it
    for index, sender in enumerate(senders):
        clock.schedule(sender, middle - index * TICK / 200)
    await asyncio.wait_for(asyncio.gather(*(sender.done.wait() for sender in senders)), 1)
    assert fired == 1
