"""Leases: a reply whose instance was SIGKILLed ends as interrupted with the text Redis had, claimed exactly once."""

from __future__ import annotations

import asyncio
import signal
import sys

from app.live import keys
from app.live.lease import Reaper
from app.live.link import Link
from app.live.stream import ReplyReader, ReplyWriter
from tests.app.live.conftest import LIVE_DB
from tests.app.live.test_stream import WITHIN, read_all
from tests.conftest import ROOT
from tests.services.redis import RedisServer

# A short lease, so the test waits well under a second for the expiry (the app uses LEASE_TTL_MS).
TTL_MS = 600


class Saved:
    """What on_interrupted was called with, per instance."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.called = asyncio.Event()

    async def __call__(self, reply_id: str, content: str, reasoning: str) -> None:
        self.calls.append((reply_id, content, reasoning))
        self.called.set()


async def test_a_killed_writers_reply_is_followed_to_the_kill_then_ends_interrupted_once(
        links: tuple[Link, Link], redis_server: RedisServer) -> None:
    b, c = links
    process = await asyncio.create_subprocess_exec(sys.executable, '-m', 'tests.app.live.writer_process',
                                                   redis_server.url(LIVE_DB), 'doomed-reply', str(TTL_MS), cwd=ROOT,
                                                   stdout=asyncio.subprocess.PIPE)
    try:
        assert process.stdout is not None
        for _ in range(10):  # ten batches in Redis
            published = int(await asyncio.wait_for(process.stdout.readline(), WITHIN))
        saved_b, saved_c = Saved(), Saved()
        reaper_b, reaper_c = Reaper(b, saved_b, interval=TTL_MS / 4000), Reaper(c, saved_c, interval=TTL_MS / 4000)
        reader = ReplyReader(b, 'doomed-reply', reaper=reaper_b, block_ms=TTL_MS // 3)
        following = asyncio.create_task(read_all(reader))
        process.send_signal(signal.SIGKILL)
        await process.wait()
        # Everything flushed before the kill is in Redis (the process may have flushed more after its last line).
        reaper_b.start()
        reaper_c.start()  # another instance's sweeps race the reader's and reaper_b's claims
        content, _ = await asyncio.wait_for(following, WITHIN)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert reader.status == 'interrupted'
    assert content.startswith(' '.join(f'word{n}' for n in range(10))) and len(content) >= published
    assert content == ''.join(f'word{n} ' for n in range(len(content.split())))  # in order, nothing twice
    await asyncio.sleep(TTL_MS / 1000)  # a few more sweeps of both reapers: nobody claims it again
    await reaper_b.aclose()
    await reaper_c.aclose()
    calls = saved_b.calls + saved_c.calls
    assert calls == [('doomed-reply', content, '')]  # exactly once, by one instance, with all the text Redis had
    assert not await b.redis.zscore(keys.INFLIGHT, 'doomed-reply')


async def test_concurrent_claims_of_one_expired_lease_have_one_winner(links: tuple[Link, Link]) -> None:
    a, b = links
    writer = ReplyWriter(a, 'frozen', lease_ttl_ms=TTL_MS, heartbeat=3600)  # no heartbeats: as if frozen
    await writer.start()
    writer.add('content', 'half')
    await writer.flush()
    saved = Saved()
    reapers = [Reaper(link, saved) for link in (a, b) for _ in range(5)]
    assert await reapers[0].sweep() == 0  # the lease is still valid
    await asyncio.sleep(TTL_MS / 1000 + 0.1)  # let it expire: there is no event for a key's expiry to await here
    claims = await asyncio.gather(*(reaper.sweep() for reaper in reapers))
    assert sorted(claims) == [0] * 9 + [1]
    assert saved.calls == [('frozen', 'half', '')]
    await writer._renew()  # the frozen writer wakes up: it learns it was reaped and stops publishing
    assert writer.reaped and not await writer.flush()


async def test_heartbeats_keep_a_long_reply_alive(links: tuple[Link, Link]) -> None:
    a, b = links
    writer = ReplyWriter(a, 'long', lease_ttl_ms=TTL_MS)
    await writer.start()
    saved = Saved()
    reaper = Reaper(b, saved)
    for _ in range(6):  # three lease lifetimes
        await asyncio.sleep(TTL_MS / 2000)
        writer.add('content', 'more ')
        await writer.flush()
        assert await reaper.sweep() == 0
    await writer.end('complete')
    assert saved.calls == []
