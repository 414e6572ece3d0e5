"""The coalescing rules, on a simulated clock: pace in, sends out."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.coalescer import MAX_AGE, MIN_BATCH, MIN_INTERVAL, Coalescer
from components.loop_load import WIDEST_AGE, LoopLoad

# Float slack for comparing simulated times.
EPS = 1e-9


def simulate(arrivals: list[tuple[float, str]], max_age: float = MAX_AGE) -> list[tuple[float, str]]:
    """Feed (time, text) deltas in order, sending whenever the buffer is due, as the element's timer does.

    A delta at the same time as the one before it came in the same turn of the event loop (one network read): a send
    due then runs after both. A due time from `add` only ever brings the send forward (None: no sooner), as the
    element's send clock keeps the soonest it was given (components/send_clock.py).
    """
    coalescer = Coalescer()
    sends: list[tuple[float, str]] = []
    due: float | None = None
    previous = None
    for at, text in arrivals:
        while due is not None and due <= at and at != previous:
            sends.append((due, coalescer.take(due)))
            due = coalescer.due()
        sooner = coalescer.add(text, at, max_age)
        if sooner is not None and (due is None or sooner < due):
            due = sooner
        previous = at
    while due is not None:
        sends.append((due, coalescer.take(due)))
        due = coalescer.due()
    return sends


def paced(count: int, gap: float, text: str = 'abcd') -> list[tuple[float, str]]:
    return [(i * gap, text) for i in range(count)]


def test_a_slow_delta_goes_out_as_it_comes() -> None:
    sends = simulate([(0.0, 'Hello'), (0.5, ' world')])
    assert sends == [(0.0, 'Hello'), (0.5, ' world')]  # no wait for company (the timer's next turn of the loop)


def test_a_batch_that_comes_a_slow_gap_after_the_last_goes_out_with_no_wait() -> None:
    """With REDIS_URL a page gets the reply in batches at least SLOW_GAP apart (app/chat/relay.py): each is one send,
    on the loop's next turn, however widened the page's batching is."""
    for max_age in (MAX_AGE, 0.13, WIDEST_AGE):
        arrivals = [(i * (max_age + 0.005), 'a batch of words ') for i in range(10)]
        assert simulate(arrivals, max_age) == arrivals


def test_deltas_that_can_share_a_send_within_max_age_do() -> None:
    arrivals = paced(21, 0.05)  # 50 ms apart: two fit in MAX_AGE
    sends = simulate(arrivals)
    assert sends[0] == (0.0, 'abcd')  # the reply's first delta goes at once
    assert [len(text) for _, text in sends[1:]] == [8] * 10  # then every send carries two
    assert [sent for sent, _ in sends[1:]] == pytest.approx([at + MAX_AGE for at, _ in arrivals[1::2]])


def test_deltas_of_one_read_go_out_together() -> None:
    sends = simulate([(1.0, 'a'), (1.0, 'b'), (1.001, 'c')])  # 'c' came with the next read: the stream is fast now
    assert sends == [(1.0, 'ab'), (pytest.approx(1.001 + MAX_AGE), 'c')]


def test_fast_small_deltas_wait_for_age_not_longer() -> None:
    sends = simulate(paced(50, 0.01, 'ab'))  # 200 characters a second: MIN_BATCH takes longer than MAX_AGE
    assert all(later - earlier >= MAX_AGE - 0.01 - EPS for (earlier, _), (later, _) in pairwise(sends[:-1]))
    assert ''.join(text for _, text in sends) == 'ab' * 50


def test_a_full_batch_goes_out_at_once_but_not_too_often() -> None:
    coalescer = Coalescer()
    coalescer.add('x' * MIN_BATCH, 0.0)
    assert coalescer.take(0.0) == 'x' * MIN_BATCH
    assert coalescer.add('y' * MIN_BATCH, 0.001) == MIN_INTERVAL


def test_nothing_buffered_is_never_due() -> None:
    coalescer = Coalescer()
    assert coalescer.due() is None
    assert coalescer.add('', 0.0) is None
    assert coalescer.take(0.0) == ''


def test_fast_pace_stays_under_thirty_sends_a_second() -> None:
    sends = simulate(paced(1000, 0.002))  # 4 KB at 2 ms a delta
    duration = sends[-1][0] - sends[0][0]
    assert len(sends) / duration <= 1 / MIN_INTERVAL + 1


def test_llm_pace_sends_few_big_frames() -> None:
    sends = simulate(paced(1000, 0.010))  # 4 KB at 10 ms a delta: ~10 s
    average = sum(len(text) for _, text in sends) / len(sends)
    assert average >= 4 * MAX_AGE / 0.010 * 0.9  # each send carries ~MAX_AGE worth of deltas


def test_cost_per_delta_is_flat_in_reply_length() -> None:
    short, long = simulate(paced(250, 0.002)), simulate(paced(8000, 0.002))
    assert len(long) / 8000 <= len(short) / 250 * 1.1


def test_a_wider_age_puts_more_deltas_in_a_send_and_keeps_to_it() -> None:
    arrivals = paced(41, 0.05)  # the page bench's pace: two deltas a send at MAX_AGE
    sends = simulate(arrivals, max_age=WIDEST_AGE)
    assert [len(text) for _, text in sends[1:]] == [16] * 10  # four a send (was two), after the first delta alone
    assert [sent for sent, _ in sends[1:]] == pytest.approx([at + WIDEST_AGE for at, _ in arrivals[1::4]])


def test_widening_also_waits_for_a_bigger_batch() -> None:
    sends = simulate(paced(100, 0.002), max_age=2 * MAX_AGE)  # 2 ms apart: sent by size, not age
    assert min(len(text) for _, text in sends[1:-1]) >= 2 * MIN_BATCH


def test_the_age_widens_with_the_loops_lag_and_no_further() -> None:
    load = LoopLoad()
    for due in range(100):
        load.timer_ran(due, due + 0.001)  # an idle loop runs timers about on time
    assert MAX_AGE < load.max_age() < MAX_AGE + 0.01
    for due in range(100):
        load.timer_ran(due, due + 0.02)  # 20 ms late, steadily
    assert load.max_age() == pytest.approx(MAX_AGE + 4 * 0.02, abs=0.005)
    for due in range(100):
        load.timer_ran(due, due + 1.0)  # overloaded
    assert load.max_age() == WIDEST_AGE
    load.timer_ran(5.0, 4.0)  # a timer cannot run early: counts as on time
    assert load.lag >= 0


# (pause before the delta, its text): any mix of bursts, LLM pace and long pauses.
arrival_gaps = st.lists(st.tuples(st.floats(0, 0.2), st.text(min_size=1, max_size=12)), min_size=1, max_size=200)


@given(arrival_gaps, st.sampled_from([MAX_AGE, 0.13, WIDEST_AGE]))
def test_any_pace_keeps_order_latency_and_rate(deltas: list[tuple[float, str]], max_age: float) -> None:
    arrivals, now = [], 0.0
    for gap, text in deltas:
        now += gap
        arrivals.append((now, text))
    sends = simulate(arrivals, max_age)
    assert ''.join(text for _, text in sends) == ''.join(text for _, text in arrivals)
    assert all(later - earlier >= MIN_INTERVAL - EPS for (earlier, _), (later, _) in pairwise(sends))
    sent_at: list[float] = []  # per character: when it left
    for at, text in sends:
        sent_at += [at] * len(text)
    offset = 0
    for at, text in arrivals:
        assert at - EPS <= sent_at[offset] <= at + max_age + EPS
        offset += len(text)
