"""The app's Prometheus metrics, in prometheus-client's default registry (with its process and GC collectors).

Replies are counted where every reply passes, `Upstream.stream` (page, `/api/chat`, `/v1`, `/api/ui-chat` alike),
once when a reply starts and once when it ends: nothing runs per delta but the reply's own delta counter, so the
metrics cost a few microseconds a reply, not a token.
"""

from __future__ import annotations

import asyncio
import time
from types import TracebackType
from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

from ..errors import ChatError

if TYPE_CHECKING:
    from ..upstream.reply import Reply

# How a reply ended: read to its end, left early (Stop, a closed tab, a client gone), or failed.
OUTCOMES = ('done', 'stopped', 'error')
# How often the event loop's lag is sampled: often enough to see a blocked loop, rare enough to cost nothing.
LOOP_LAG_INTERVAL = 0.5

# No `_created` series: they would double the text of every scrape for nothing this app's dashboards use.
disable_created_metrics()  # type: ignore[no-untyped-call]
STREAMS_IN_FLIGHT = Gauge('nicechat_streams_in_flight', 'Replies being streamed from the model server now.')
REPLIES = Counter('nicechat_replies', 'Replies from the model server, by how they ended.', ['outcome'])
TOKENS = Counter('nicechat_tokens_relayed', 'Deltas relayed from the model server (about one token each).')
TIME_TO_FIRST_TOKEN = Histogram(
    'nicechat_time_to_first_token_seconds', 'From sending a request upstream to its first delta.',
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60))
UPSTREAM_ERRORS = Counter('nicechat_upstream_errors', 'Failed replies, by error code (as in the API).', ['code'])
LOOP_LAG = Histogram(
    'nicechat_event_loop_lag_seconds', f'How late a {LOOP_LAG_INTERVAL} s sleep of the event loop wakes up.',
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5))
for _outcome in OUTCOMES:
    REPLIES.labels(_outcome)  # every outcome shows from the start, at 0


class ReplyWatch:
    """Counts one reply: in flight while open; on leaving, its outcome, deltas, time to first token, error code."""

    __slots__ = ('reply',)

    def __init__(self) -> None:
        self.reply: Reply | None = None  # set once the upstream answered

    def __enter__(self) -> ReplyWatch:
        STREAMS_IN_FLIGHT.inc()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        STREAMS_IN_FLIGHT.dec()
        reply = self.reply
        if reply is not None:
            if reply.first_delta_at is not None:
                TIME_TO_FIRST_TOKEN.observe(reply.first_delta_at - reply.started)
            if reply.delta_count:
                TOKENS.inc(reply.delta_count)
        if isinstance(error, Exception):  # not CancelledError or GeneratorExit: a consumer leaving is no failure
            outcome = 'error'
            UPSTREAM_ERRORS.labels(error.code if isinstance(error, ChatError) else 'internal_error').inc()
        elif reply is not None and (reply.complete or reply.finish_reason is not None):
            outcome = 'done'  # even if its consumer left after the last delta (the API ends a response at `done`)
        else:
            outcome = 'stopped'
        REPLIES.labels(outcome).inc()


async def watch_event_loop() -> None:
    """Sample the event loop's lag until cancelled (a start-up task): a busy or blocked loop wakes sleeps late."""
    while True:
        asleep = time.perf_counter()
        await asyncio.sleep(LOOP_LAG_INTERVAL)
        LOOP_LAG.observe(max(0.0, time.perf_counter() - asleep - LOOP_LAG_INTERVAL))
