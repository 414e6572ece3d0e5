"""Cross-instance latency of a streamed reply: from a delta reaching instance A to the same text on instance B.

    python -m bench.live [--replies 5] [--tokens 300] [--delay 0.01] [--interval 0.08]

Two chat runtimes in one process (A streams, B follows from Redis), a throwaway redis-server and the tests' fake
upstream, all on loopback. Each delta's time is taken when A's stream hands it on (Relay.add), when A's own views get
it (after the Redis round trip: what a browser on A waits) and when B's views get it (read from Redis), and when a
page on A and on B would send it to its browser: each view feeds the page's own coalescer (components/coalescer.py,
with the loop-load widening, timed as components/streaming_markdown.py times it), so that figure is the server's part
of "delta on A to the screen of a tab on B" (loopback and a frame to render come on top; the end of a reply is sent
at once, as StreamingMarkdown.finish does). Prints p50 and p99 of each, where the time to B's page send goes (A's
relay, the round trip to Redis, B's read, B's page: for the median delta and the slowest 1%), and per reply the
Redis round trips and the sends to one browser. Both instances share one core here, so B's times include waiting
for A's work and vice versa (B's read is below zero when B's XREAD wakes before A's flush does).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from app.chat.chats import Chats
from app.chat.message import Message
from app.chat.relay import Relay
from app.config import load_settings
from app.live.hub import Live
from app.live.stream import ReplyWriter
from app.store import open_store
from app.upstream import Upstream
from components.coalescer import Coalescer
from components.loop_load import loop_load
from tests.conftest import app_env
from tests.fake_upstream import FakeUpstream, Script
from tests.services.redis import running_redis


class Arrivals:
    """A view that notes when each character offset of the reply arrived."""

    def __init__(self) -> None:
        self.times: list[tuple[int, float]] = []
        self.length = 0
        self.done = asyncio.Event()
        self.page = PageSends()

    def on_message(self, message: Message) -> None:
        pass

    def on_delta(self, message: Message, text: str) -> None:
        self.length += len(text)
        self.times.append((self.length, time.perf_counter()))
        self.page.append(text)

    def on_reasoning(self, message: Message, text: str) -> None:
        pass

    def on_finish(self, message: Message) -> None:
        self.page.finish()
        self.done.set()

    def on_branch(self) -> None:
        pass

    def on_details(self) -> None:
        pass

    def on_deleted(self) -> None:
        pass


class PageSends:
    """When a page would send the text to its browser: StreamingMarkdown.append's coalescing and timer, without
    NiceGUI (`times` as Arrivals', one entry per send)."""

    def __init__(self) -> None:
        self.coalescer = Coalescer()
        self.times: list[tuple[int, float]] = []
        self.length = 0
        self.timer: asyncio.TimerHandle | None = None
        self.timer_due = 0.0
        self.held = 0  # batches the page held for company (came sooner than its slow gap after the last)

    def append(self, text: str) -> None:
        loop = asyncio.get_running_loop()
        starts_batch, now = not self.coalescer.peek(), loop.time()
        due = self.coalescer.add(text, now, loop_load.max_age())
        self.held += starts_batch and due is not None and due > now
        if due is None or (self.timer is not None and self.timer_due <= due):
            return
        if self.timer is not None:
            self.timer.cancel()
        self.timer, self.timer_due = loop.call_at(due, self.send), due

    def send(self) -> None:
        loop_load.timer_ran(self.timer_due, asyncio.get_running_loop().time())
        self.finish()

    def finish(self) -> None:
        """Send what is buffered now (as StreamingMarkdown.finish does when the reply ends)."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if text := self.coalescer.take(asyncio.get_running_loop().time()):
            self.length += len(text)
            self.times.append((self.length, time.perf_counter()))


Stages = tuple[float, float, float, float]


def delays(sent: list[tuple[int, float]], seen: list[tuple[int, float]]) -> list[float]:
    """For each delta sent (offset reached, time), how long until `seen` reached that offset."""
    return [reached - at for (_, at), reached in zip(sent, _reached(sent, seen), strict=True)]


def breakdown(sent: list[tuple[int, float]], *seen: list[tuple[int, float]]) -> list[Stages]:
    """Per delta sent, the seconds spent in each stage on its way to B's page send (`seen`: when A's flush carrying
    it began, when Redis answered it, when B's views had it, when B's page sent it): waiting in A's relay, the round
    trip to Redis, B's XREAD waking, B's page."""
    marks = [[at for _, at in sent]] + [_reached(sent, times) for times in seen]
    return [(b - a, c - b, d - c, e - d) for a, b, c, d, e in zip(*marks, strict=True)]


def _reached(sent: list[tuple[int, float]], seen: list[tuple[int, float]]) -> list[float]:
    """For each delta sent (offset reached), when `seen` first reached that offset."""
    out, index = [], 0
    for offset, _at in sent:
        while seen[index][0] < offset:
            index += 1
        out.append(seen[index][1])
    return out


async def run(replies: int, tokens: int, delay: float, interval: float | None) -> None:
    pace = loop_load.max_age if interval is None else lambda: interval  # the pages' own pace, as main.py passes it
    upstream = FakeUpstream().start()
    sent: list[tuple[int, float]] = []
    flushes = [0]
    flush_started: list[tuple[int, float]] = []  # (content length the flush carries, when it began)
    flush_ended: list[tuple[int, float]] = []  # (same, when Redis answered)
    add, flush = Relay.add, ReplyWriter.flush

    def timed_add(publisher: Relay, kind: str, text: str) -> None:
        sent.append((len(publisher.writer.text["c"]) + len(text), time.perf_counter()))
        add(publisher, kind, text)

    async def counted_flush(writer: ReplyWriter) -> bool:
        flushes[0] += 1
        length = len(writer.text['c'])
        flush_started.append((length, time.perf_counter()))
        try:
            return await flush(writer)
        finally:
            flush_ended.append((length, time.perf_counter()))

    Relay.add = timed_add  # type: ignore[method-assign]
    ReplyWriter.flush = counted_flush  # type: ignore[method-assign]
    with running_redis() as redis, tempfile.TemporaryDirectory() as folder:
        runtimes, clients = [], []
        for name in ('a', 'b'):
            clients.append(Upstream(load_settings(app_env(upstream), env_file=None)))
            runtime = Chats(clients[-1], model='fake-model', shared=Live(redis.url(), instance_id=name),
                            batch_gap=pace)
            await runtime.start(await open_store(f'sqlite:///{Path(folder)}/bench.db'))
            runtimes.append(runtime)
        a, b = runtimes
        owner = await a.store.user_id('browser:bench')
        local: list[float] = []
        remote: list[float] = []
        sent_a: list[float] = []
        sent_b: list[float] = []
        per_reply: list[int] = []
        sends: list[int] = []
        held: list[int] = []
        stages: list[Stages] = []  # per delta: A's relay, Redis, B's read, B's page
        for _ in range(replies):
            sent.clear()
            flush_started.clear()
            flush_ended.clear()
            flushes[0] = 0
            upstream.queue(Script(tokens=['word '] * tokens, delay=delay, first_delay=0.3))
            conversation = a.draft(owner)
            on_a = Arrivals()
            conversation.attach(on_a)
            await conversation.send('go')
            followed = await b.open(owner, conversation.id)
            assert followed is not None and followed.busy, 'B opened the conversation too late to follow it'
            on_b = Arrivals()
            followed.attach(on_b)
            await asyncio.wait_for(asyncio.gather(on_a.done.wait(), on_b.done.wait()), 120)
            await asyncio.sleep(loop_load.max_age() * 2)  # the pages' last sends
            local += delays(sent, on_a.times)
            remote += delays(sent, on_b.times)
            sent_a += delays(sent, on_a.page.times)
            sent_b += delays(sent, on_b.page.times)
            stages += breakdown(sent, flush_started, flush_ended, on_b.times, on_b.page.times)
            per_reply.append(flushes[0])
            sends.append(len(on_a.page.times))
            held.append(on_b.page.held)
            await a.settle()
        for runtime, client in zip(runtimes, clients, strict=True):
            await runtime.shutdown()
            await client.aclose()
    upstream.stop()

    def quantiles(values: list[float]) -> str:
        cuts = statistics.quantiles(values, n=100)
        return f'p50 {statistics.median(values) * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms'

    gap = 'the pages\' (loop_load.max_age)' if interval is None else f'{interval * 1000:.0f} ms'
    print(f'{replies} replies of {tokens} deltas {delay * 1000:.0f} ms apart, relay gap {gap}, {len(remote)} deltas '
          'measured')
    print(f'delta -> views on A (after the Redis round trip): {quantiles(local)}')
    print(f'delta -> views on B (read from Redis):            {quantiles(remote)}')
    print(f'delta -> page on A sends it to its browser:       {quantiles(sent_a)}')
    print(f'delta -> page on B sends it to its browser:       {quantiles(sent_b)}')
    print('where the time to B\'s page send goes (A\'s relay wait / Redis round trip / B\'s read / B\'s page), ms:')
    totals = sorted(range(len(stages)), key=lambda i: sum(stages[i]))
    for label, chosen in (('median delta', totals[len(totals) // 2: len(totals) // 2 + 1]),
                          ('slowest 1% (mean)', totals[-max(1, len(totals) // 100):])):
        means = [statistics.fmean(stages[i][stage] for i in chosen) * 1000 for stage in range(4)]
        print(f'  {label:18} ' + ' / '.join(f'{value:.1f}' for value in means))
    print(f'Redis flushes per reply: {statistics.median(per_reply):.0f} (median), {tokens} deltas each; sends to one '
          f'browser per reply: {statistics.median(sends):.0f} (median); batches B\'s page held for company: '
          f'{sum(held)} in all')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--replies', type=int, default=5)
    parser.add_argument('--tokens', type=int, default=300)
    parser.add_argument('--delay', type=float, default=0.01)
    parser.add_argument('--interval', type=float, default=None,
                        help="fewest seconds between a reply's flushes (default: the pages' pace)")
    args = parser.parse_args()
    asyncio.run(run(args.replies, args.tokens, args.delay, args.interval))


if __name__ == '__main__':
    main()
