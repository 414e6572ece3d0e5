"""The instance's connection to Redis and whether it is up.

Redis is where replies are shared, not where they happen: when it cannot be reached, replies go on streaming to the
browsers of the instance holding them, and nothing here raises into the runtime. The first failure logs one clear
line and starts a probe (one PING a second, PROBE_INTERVAL); when Redis answers again, one line says so and every
`on_back` callback runs (writers publish again what was missed: Redis may have restarted empty). No retry storm, no
crash loop: while it is down, callers skip Redis instead of waiting on it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

log = logging.getLogger(__name__)

# Seconds a command may take before Redis counts as unreachable (on loopback or a LAN it answers in well under 1 ms;
# a full second would hold a reply's batches back that long each time).
COMMAND_TIMEOUT = 0.5
# Seconds between two PINGs while Redis is down.
PROBE_INTERVAL = 1.0
# Errors that mean Redis is unreachable or gone (redis-py's own, and the OS's and asyncio's it may let through).
DOWN_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError)
# Seconds a background task of the live layer, or closing a client, may take once asked to end: a shutdown must
# finish (SIGTERM has 5 s in all) even if a Redis call is stuck.
CLOSE_TIMEOUT = 2.0


async def end_task(task: asyncio.Task[None] | None, what: str) -> None:
    """Cancel `task` and wait for it at most CLOSE_TIMEOUT; one stuck in a Redis call is left behind with a warning."""
    if task is None:
        return
    task.cancel()
    await asyncio.wait({task}, timeout=CLOSE_TIMEOUT)
    if not task.done():
        log.warning('%s did not end within %.0f s of being cancelled; left behind', what, CLOSE_TIMEOUT)
    elif not task.cancelled() and task.exception() is not None:  # retrieved, so asyncio does not report it again
        log.warning('%s ended with %s', what, type(task.exception()).__name__)


class Link:
    """One instance's Redis clients: `redis` for quick commands, `blocking` for XREAD BLOCK and pub/sub."""

    def __init__(self, url: str, *, instance_id: str | None = None, timeout: float = COMMAND_TIMEOUT,
                 probe_interval: float = PROBE_INTERVAL) -> None:
        self.instance_id = instance_id or uuid.uuid4().hex
        no_retry = Retry(NoBackoff(), 0)  # a failure is handled here, once, not retried inside each command
        self.redis = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=no_retry)
        # Blocking reads wait up to their BLOCK time for the server: no socket timeout of their own.
        self.blocking = Redis.from_url(url, socket_timeout=None, socket_connect_timeout=timeout, retry=no_retry)
        parts = urlsplit(url)
        self.where = f'{parts.hostname or parts.path}:{parts.port or 6379}'  # never the password
        self.probe_interval = probe_interval
        self.up = True
        self._back = asyncio.Event()
        self._back.set()
        self._probe: asyncio.Task[None] | None = None
        self._on_back: list[Callable[[], Awaitable[None]]] = []

    def failed(self, error: BaseException) -> None:
        """Note that a command failed because Redis is unreachable; the first failure logs and starts the probe."""
        if not self.up:
            return
        self.up = False
        self._back.clear()
        log.warning('Redis at %s is unreachable (%s): replies go on streaming on this instance only, and are shared '
                    'again when it is back', self.where, type(error).__name__)
        self._probe = asyncio.get_running_loop().create_task(self._wait_until_back(), name='redis probe')

    async def wait_up(self, within: float | None = None) -> bool:
        """Wait until Redis is up (at once if it is); False if `within` seconds passed first."""
        try:
            await asyncio.wait_for(self._back.wait(), within)
        except TimeoutError:
            return False
        return True

    def on_back(self, callback: Callable[[], Awaitable[None]]) -> Callable[[], None]:
        """Run `callback` each time Redis is back after an outage; returns the function that stops it."""
        self._on_back.append(callback)
        return lambda: self._on_back.remove(callback) if callback in self._on_back else None

    async def aclose(self) -> None:
        """Stop probing and close both clients."""
        await end_task(self._probe, 'the Redis probe')
        for client in (self.redis, self.blocking):
            try:
                await asyncio.wait_for(client.aclose(), CLOSE_TIMEOUT)
            except (TimeoutError, *DOWN_ERRORS) as error:
                log.warning('closing a Redis client failed (%s)', type(error).__name__)

    async def _wait_until_back(self) -> None:
        while True:
            await asyncio.sleep(self.probe_interval)
            try:
                # Connections pooled before the outage are dead (a restarted server forgot them): drop them all, so
                # the first command after it does not fail on one and count as a second outage.
                await self.redis.connection_pool.disconnect()
                await self.blocking.connection_pool.disconnect()
                await self.redis.ping()
            except DOWN_ERRORS:
                continue
            break
        self.up = True
        self._back.set()
        log.warning('Redis at %s is reachable again: replies are shared across instances again', self.where)
        for callback in list(self._on_back):
            try:
                await callback()
            except DOWN_ERRORS as error:  # down again already: the next failure starts another probe
                self.failed(error)
                return
