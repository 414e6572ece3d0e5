"""app/live against a real redis-server on loopback (tests/services/redis.py): one server per session, each test on
an emptied database of its own, with two Links standing for two instances."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.live.link import Link
from tests.services.redis import RedisServer  # the session's server: tests/services/fixtures.py

# The database these tests use on the shared server (the app's own tests use others).
LIVE_DB = 3


@pytest.fixture
async def links(redis_server: RedisServer) -> AsyncIterator[tuple[Link, Link]]:
    """Two instances' links to an empty database."""
    a, b = Link(redis_server.url(LIVE_DB), instance_id='a'), Link(redis_server.url(LIVE_DB), instance_id='b')
    await a.redis.flushdb()
    yield a, b
    await a.aclose()
    await b.aclose()
