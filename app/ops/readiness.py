"""Readiness: whether this instance can serve, i.e. its database and (when configured) Redis answer in time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

# Longest wait for each dependency: a probe must answer well within a load balancer's or orchestrator's timeout.
CHECK_TIMEOUT = 2.0


class Readiness:
    """Checks the database (`ping_database`) and Redis (REDIS_URL, if any) at once, each with CHECK_TIMEOUT."""

    def __init__(self, ping_database: Callable[[], Awaitable[None]], redis_url: str = '') -> None:
        self._ping_database = ping_database
        self._redis_url = redis_url
        self._redis: redis.Redis | None = None

    async def check(self) -> dict[str, str]:
        """Each dependency's state: 'ok', or why not (the exception's type only: its text could carry an address)."""
        checks = {'database': self._ping_database}
        if self._redis_url:
            checks['redis'] = self._ping_redis
        results = await asyncio.gather(*(_timed(check) for check in checks.values()))
        return dict(zip(checks, results, strict=True))

    async def aclose(self) -> None:
        """Close the Redis connection, if one was opened."""
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def _ping_redis(self) -> None:
        if self._redis is None:
            # No retries: a probe reports the state now; the next probe asks again.
            self._redis = redis.from_url(self._redis_url, socket_connect_timeout=CHECK_TIMEOUT,
                                         socket_timeout=CHECK_TIMEOUT, retry=Retry(NoBackoff(), 0))
        await self._redis.ping()


async def _timed(check: Callable[[], Awaitable[None]]) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await check()
    except TimeoutError:
        return f'no answer within {CHECK_TIMEOUT:g} s'
    except Exception as error:
        return f'unreachable ({type(error).__name__})'
    return 'ok'
