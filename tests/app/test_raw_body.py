"""The reply read beneath the SDK (app/upstream/raw_body.py): same bytes, and silence is still an error in time."""

from __future__ import annotations

import time

import pytest

from app.config import load_settings
from app.errors import ChatError
from app.upstream.client import Upstream
from tests.fake_upstream import FakeUpstream, Script

QUIET = 0.4  # UPSTREAM_TIMEOUT here: how long the reply may read nothing
MESSAGES = [{'role': 'user', 'content': 'hi'}]


def _upstream(upstream: FakeUpstream) -> Upstream:
    return Upstream(load_settings({'OPENAI_API_KEY': 'sk-test', 'OPENAI_BASE_URL': upstream.url, 'OPENAI_MODEL': 'm',
                                   'UPSTREAM_RETRIES': '0', 'UPSTREAM_TIMEOUT': str(QUIET)}, env_file=None))


async def test_silence_mid_reply_times_out_on_a_reused_connection(upstream: FakeUpstream) -> None:
    # The first reply ends normally and leaves its connection in the pool with aiohttp's own read timer off (the
    # watch stood in for it); the second, on that connection, goes quiet after two tokens.
    client = _upstream(upstream)
    quiet = Script(tokens=['x', 'y', 'never'], first_delay=QUIET / 2, hold_at=2)
    upstream.queue(Script(tokens=['a', 'b'], delay=QUIET / 4), quiet)
    try:
        async with client.stream(MESSAGES) as reply:
            assert getattr(reply.read, '__self__', None).__class__.__module__.startswith('aiohttp')  # read beneath
            assert [text async for _, text in reply.deltas()] == ['a', 'b']  # reads QUIET/4 apart: no timeout
        seen: list[str] = []
        with pytest.raises(ChatError) as failed:
            async with client.stream(MESSAGES) as reply:
                async for _, text in reply.deltas():
                    seen.append(text)
                    quiet_from = time.monotonic()
        waited = time.monotonic() - quiet_from
        assert failed.value.code == 'upstream_timeout'
        assert seen == ['x', 'y']
        assert QUIET * 0.9 <= waited < QUIET + 1.0  # the timeout counts from the last read, like aiohttp's
    finally:
        quiet.release.set()
        await client.aclose()
