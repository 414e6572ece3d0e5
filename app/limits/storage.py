"""Where the rate-limit and quota counters live: this process's memory, or Redis when REDIS_URL is set."""

from __future__ import annotations

import redis.asyncio
from limits.aio.storage import MemoryStorage, RedisStorage, Storage

# Seconds a Redis command (or opening its connection) may take before the request it guards is refused with a 503:
# a hung Redis must not hang every chat request behind it.
REDIS_TIMEOUT = 2.0
# Prefix of the counters' keys, so they stay apart from NiceGUI's storage in a shared Redis.
KEY_PREFIX = 'nicechat-limits'


class Counters:
    """The `limits` storage for the counters, and the Redis connection pool it uses (closed with `aclose`)."""

    def __init__(self, redis_url: str | None) -> None:
        self._pool: redis.asyncio.ConnectionPool | None = None
        if redis_url is None:
            self.storage: Storage = MemoryStorage()
            return
        # The pool is made here (not from a URI by `limits`) so it has timeouts and can be closed at shutdown.
        # The asyncio client of the `redis` package is the one installed ('redispy'); the default needs coredis.
        self._pool = redis.asyncio.ConnectionPool.from_url(redis_url, socket_timeout=REDIS_TIMEOUT,
                                                           socket_connect_timeout=REDIS_TIMEOUT)
        # `limits` hands its options to the redis client as they are; its annotation only lists plain values.
        self.storage = RedisStorage('async+redis://', implementation='redispy',
                                    connection_pool=self._pool,  # type: ignore[arg-type]
                                    key_prefix=KEY_PREFIX, wrap_exceptions=True)

    @property
    def shared(self) -> bool:
        """True when the counters are in Redis, shared by every instance that uses it."""
        return self._pool is not None

    async def aclose(self) -> None:
        """Close the Redis connections, if any."""
        if self._pool is not None:
            await self._pool.aclose()
