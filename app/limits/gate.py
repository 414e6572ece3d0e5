"""The limits of one process: who may start a reply now, and the tokens each API caller has used."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

import limits
from limits.aio.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter
from limits.errors import StorageError

from ..config import Settings
from ..errors import ChatError
from .slots import Lease, Slots
from .storage import Counters

log = logging.getLogger(__name__)

# Retry-After, in seconds, when every stream slot is taken: a slot frees when some reply ends, which no window
# predicts; a typical reply lasts seconds, so a client asks again soon rather than waiting on a guess.
STREAMS_RETRY_AFTER = 1
# Retry-After when the counters cannot be read (Redis unreachable): long enough not to hammer it while it restarts.
UNAVAILABLE_RETRY_AFTER = 5


class HasId(Protocol):
    """Whoever a quota is counted for (an API Caller)."""

    @property
    def id(self) -> str: ...


class Limits:
    """Rate limits and quotas counted in `limits` storage; concurrent streams capped in this process.

    Rates use the moving window (no more than N in any period, Retry-After exact to when the oldest request leaves
    it); the token quota a fixed window that starts with a caller's first counted reply (its counter is one number,
    where a moving window would keep one entry per token).
    """

    def __init__(self, settings: Settings, counters: Counters | None = None) -> None:
        self.counters = counters or Counters(settings.redis_url or None)
        self._rates = MovingWindowRateLimiter(self.counters.storage)
        self._totals = FixedWindowRateLimiter(self.counters.storage)
        self.api_rate = _item(settings.api_rate_limit)
        self.api_quota = _item(settings.api_token_quota)
        self.chat_rate = _item(settings.chat_rate_limit)
        self.api_streams = Slots(settings.api_max_streams)  # per API caller
        self.streams = Slots(settings.max_streams)  # the whole process, page and API

    async def admit_api(self, caller_id: str) -> Lease:
        """Let one API reply start for `caller_id`, or raise ChatError 429/503 with Retry-After (nothing is taken)."""
        if not self.api_streams.take(caller_id):
            raise ChatError('too_many_streams', f'This API key already has {self.api_streams.limit} replies '
                            'streaming, the most it may at once; wait for one to end.', 429,
                            retry_after=str(STREAMS_RETRY_AFTER))
        lease = Lease([(self.api_streams, caller_id)])
        async with _given_back_on_refusal(lease):
            # Slots first: a request refused because the server is full is not counted against the caller's rate.
            lease.add(self._take_stream())
            if self.api_rate is not None and (wait := await self._hit(self.api_rate, 'api', caller_id)):
                raise ChatError('rate_limited', f'Too many requests: this API key may make {_per(self.api_rate)} '
                                f'requests. Try again in {wait} s.', 429, retry_after=str(wait))
            if self.api_quota is not None and (wait := await self._spent(self.api_quota, caller_id)):
                raise ChatError('quota_exceeded', f'This API key has used its quota of {_per(self.api_quota)} '
                                f'completion tokens. Try again in {wait} s.', 429, retry_after=str(wait))
        return lease

    async def admit_page(self, person_id: str) -> Lease:
        """Let one reply on the page start for `person_id`, or raise ChatError 429/503 (nothing is taken)."""
        lease = Lease()
        async with _given_back_on_refusal(lease):
            lease.add(self._take_stream())
            if self.chat_rate is not None and (wait := await self._hit(self.chat_rate, 'chat', person_id)):
                raise ChatError('rate_limited', f'You are sending messages faster than this server allows '
                                f'({_per(self.chat_rate)}). Send again in {wait} s.', 429, retry_after=str(wait))
        return lease

    async def count_tokens(self, caller: HasId, completion_tokens: int) -> None:
        """Count one finished API reply's completion tokens against its caller's quota (a Usage listener)."""
        if self.api_quota is None or completion_tokens <= 0:
            return
        try:
            # A reply that crosses the quota still counts in full: the next request is refused, not this one.
            await self._totals.hit(self.api_quota, 'tokens', caller.id, cost=completion_tokens)
        except Exception as exc:  # the counters' storage failed: the reply was sent; say so without its text
            log.error('could not count %d tokens for %s: %s', completion_tokens, caller.id, _kind(exc))

    async def tokens_used(self, caller_id: str) -> int:
        """Completion tokens `caller_id` has used in the quota's current window (0 without a quota)."""
        if self.api_quota is None:
            return 0
        # The counter itself: the limiter's `remaining` stops at 0, while a reply that crosses the quota counts in full.
        return await self.counters.storage.get(self.api_quota.key_for('tokens', caller_id))

    async def aclose(self) -> None:
        """Close the counters' connections (Redis)."""
        await self.counters.aclose()

    def _take_stream(self) -> tuple[Slots, str]:
        """One of the process's MAX_STREAMS, or ChatError 503 (server_busy)."""
        if not self.streams.take():
            raise ChatError('server_busy', 'The server is busy: it is streaming as many replies as it can right '
                            'now. Try again in a moment.', 503, retry_after=str(STREAMS_RETRY_AFTER))
        return self.streams, ''

    async def _hit(self, rate: limits.RateLimitItem, kind: str, key: str) -> int | None:
        """Count one request against `rate`: None if it fits, else the seconds until the window has room."""
        async with self._counting():
            if await self._rates.hit(rate, kind, key):
                return None
            return await self._wait(self._rates, rate, kind, key)

    async def _spent(self, quota: limits.RateLimitItem, key: str) -> int | None:
        """None if `key` has some of `quota` left, else the seconds until its window ends."""
        async with self._counting():
            if await self._totals.test(quota, 'tokens', key):
                return None
            return await self._wait(self._totals, quota, 'tokens', key)

    @asynccontextmanager
    async def _counting(self) -> AsyncIterator[None]:
        """Turn a failure of the counters' storage into a 503: with limits set, unchecked requests are not let by."""
        try:
            yield
        except ChatError:
            raise
        except Exception as exc:
            # The type only: a storage error's text can name the Redis host (and the URL carries a password).
            log.error('rate-limit counters unavailable: %s', _kind(exc))
            raise ChatError('limits_unavailable', 'The server cannot check its rate limits right now; try again '
                            'shortly.', 503, retry_after=str(UNAVAILABLE_RETRY_AFTER)) from None

    @staticmethod
    async def _wait(limiter: MovingWindowRateLimiter | FixedWindowRateLimiter, item: limits.RateLimitItem,
                    *keys: str) -> int:
        """Whole seconds until the window frees room (Retry-After), at least 1."""
        stats = await limiter.get_window_stats(item, *keys)
        return max(1, math.ceil(stats.reset_time - time.time()))


@asynccontextmanager
async def _given_back_on_refusal(lease: Lease) -> AsyncIterator[None]:
    """Whatever `lease` holds goes back if admission fails (a refusal, a storage error, a cancelled request)."""
    try:
        yield
    except BaseException:
        lease.release()
        raise


def _kind(error: Exception) -> str:
    """The type of a storage failure, for a log line (`limits` wraps the Redis client's errors in StorageError)."""
    return type(error.storage_error if isinstance(error, StorageError) else error).__name__


def _item(rate: str | None) -> limits.RateLimitItem | None:
    return None if rate is None else limits.parse(rate)


def _per(item: limits.RateLimitItem) -> str:
    """'60 per minute', '10 per 2 seconds', '100,000 per day'."""
    multiples = item.multiples or 1
    unit = item.GRANULARITY.name
    period = unit if multiples == 1 else f'{multiples} {unit}s'
    return f'{item.amount:,} per {period}'
