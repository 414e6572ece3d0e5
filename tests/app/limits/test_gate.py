"""Limits on their own, on both storages (this process's memory, and a real redis-server): windows refuse and free
again when they said, a quota counts tokens, stream slots are shared by the page and the API, and a Redis that
cannot be reached refuses requests with a 503 instead of letting them by uncounted."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from itertools import count

import pytest

from app.api.access import Caller
from app.config import Settings, load_settings
from app.errors import ChatError
from app.limits import Lease, Limits
from tests.services.fixtures import REDIS_PASSWORD
from tests.services.redis import RedisServer, free_port

# Instances sharing Redis must share the storage secret too (start-up refuses otherwise).
SHARED_SECRET = 'limits-test-storage-secret'

_databases = count(1)  # each Redis test gets a database of its own on the shared server
MakeLimits = Callable[..., Limits]


@pytest.fixture(params=['memory', 'redis'])
async def make_limits(request: pytest.FixtureRequest) -> AsyncIterator[MakeLimits]:
    """Build Limits from settings given as keyword arguments, counting in memory or in one Redis database."""
    redis_url = None
    if request.param == 'redis':
        server: RedisServer = request.getfixturevalue('redis_server')
        redis_url = server.url(next(_databases) % 16)
        with server.client(int(redis_url.rsplit('/', 1)[1])) as client:
            client.flushdb()
    made: list[Limits] = []

    def make(**env: str) -> Limits:
        shared = {'REDIS_URL': redis_url, 'STORAGE_SECRET': SHARED_SECRET} if redis_url else {}
        limits = Limits(load_settings(env | shared, env_file=None))
        made.append(limits)
        return limits
    yield make
    for limits in made:
        await limits.aclose()


async def refused(admission: Awaitable[Lease]) -> ChatError:
    """The error an admission raised (failing the test if it let the reply start)."""
    with pytest.raises(ChatError) as error:
        await admission
    return error.value


async def test_a_rate_refuses_past_its_amount_and_frees_when_the_oldest_request_leaves(make_limits: MakeLimits) -> None:
    limits = make_limits(API_RATE_LIMIT='2/second', CHAT_RATE_LIMIT='1/second')
    (await limits.admit_api('key:a')).release()
    (await limits.admit_api('key:a')).release()
    started = time.time()
    error = await refused(limits.admit_api('key:a'))
    assert (error.code, error.status, error.retry_after) == ('rate_limited', 429, '1')
    (await limits.admit_api('key:b')).release()  # another caller has a window of its own
    (await limits.admit_page('key:a')).release()  # and the page's messages are counted apart from the API's
    await refused(limits.admit_page('key:a'))
    await asyncio.sleep(max(0.0, started + int(error.retry_after) - time.time()))  # the wait it reported
    (await limits.admit_api('key:a')).release()


async def test_a_quota_counts_tokens_and_refuses_until_its_window_ends(make_limits: MakeLimits) -> None:
    limits = make_limits(API_TOKEN_QUOTA='100/second')
    caller = Caller('key:a')
    (await limits.admit_api(caller.id)).release()
    await limits.count_tokens(caller, 60)
    (await limits.admit_api(caller.id)).release()  # 40 tokens left: a reply may start
    await limits.count_tokens(caller, 60)  # it went past: counted in full
    assert await limits.tokens_used(caller.id) == 120
    error = await refused(limits.admit_api(caller.id))
    assert (error.code, error.status, error.retry_after) == ('quota_exceeded', 429, '1')
    assert '100 per second' in error.message
    await asyncio.sleep(int(error.retry_after or 0))
    assert await limits.tokens_used(caller.id) == 0
    (await limits.admit_api(caller.id)).release()


async def test_unset_means_no_limit(make_limits: MakeLimits) -> None:
    limits = make_limits(MAX_STREAMS='0')
    leases = [await limits.admit_api('key:a') for _ in range(50)] + [await limits.admit_page('p') for _ in range(50)]
    await limits.count_tokens(Caller('key:a'), 10**9)
    assert limits.streams.used() == 100
    for lease in leases:
        lease.release()
    assert limits.streams.used() == 0


def test_max_streams_has_a_default_and_is_shared_by_the_page_and_the_api() -> None:
    assert Settings().max_streams == load_settings({}, env_file=None).max_streams == 1000


async def test_the_page_and_the_api_share_the_process_streams_and_a_lease_frees_once() -> None:
    limits = Limits(load_settings({'MAX_STREAMS': '2', 'API_MAX_STREAMS': '1'}, env_file=None))
    page = await limits.admit_page('person')
    api = await limits.admit_api('key:a')
    busy = await refused(limits.admit_page('person'))
    assert (busy.code, busy.status, busy.retry_after) == ('server_busy', 503, '1')
    assert (await refused(limits.admit_api('key:b'))).code == 'server_busy'
    assert (await refused(limits.admit_api('key:a'))).code == 'too_many_streams'
    assert limits.api_streams.used('key:b') == 0  # a refused admission holds nothing
    page.release()
    page.release()  # a second release gives nothing back twice
    assert limits.streams.used() == 1
    assert (await refused(limits.admit_api('key:a'))).code == 'too_many_streams'  # its own cap still holds
    other = await limits.admit_api('key:b')
    api.release()
    other.release()
    assert (limits.streams.used(), limits.api_streams.used('key:a')) == (0, 0)


async def test_limits_in_redis_are_shared_by_every_instance(redis_server: RedisServer) -> None:
    url = redis_server.url(15)
    with redis_server.client(15) as client:
        client.flushdb()
    settings = load_settings({'REDIS_URL': url, 'STORAGE_SECRET': SHARED_SECRET, 'API_RATE_LIMIT': '3/minute',
                              'API_TOKEN_QUOTA': '50'}, env_file=None)
    first, second = Limits(settings), Limits(settings)  # two processes behind one load balancer
    try:
        for limits in (first, second, first):
            (await limits.admit_api('key:a')).release()
        assert (await refused(second.admit_api('key:a'))).code == 'rate_limited'
        await first.count_tokens(Caller('key:b'), 70)
        assert (await refused(second.admit_api('key:b'))).code == 'quota_exceeded'
        with redis_server.client(15) as client:
            assert all(key.startswith(b'nicechat-limits:') for key in client.keys())
    finally:
        await first.aclose()
        await second.aclose()


async def test_an_unreachable_redis_refuses_with_503_and_logs_no_address_or_password(
        caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    url = f'redis://:{REDIS_PASSWORD}@127.0.0.1:{port}/0'  # nothing listens there
    limits = Limits(load_settings({'REDIS_URL': url, 'STORAGE_SECRET': SHARED_SECRET, 'API_RATE_LIMIT': '5/minute',
                                   'API_TOKEN_QUOTA': '50'}, env_file=None))
    try:
        error = await refused(limits.admit_api('key:a'))
        assert (error.code, error.status, error.retry_after) == ('limits_unavailable', 503, '5')
        await limits.count_tokens(Caller('key:a'), 10)  # a reply already sent: logged, not raised
        assert limits.streams.used() == 0
    finally:
        await limits.aclose()
    logged = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(logged) == 2 and all('ConnectionError' in line for line in logged)
    assert not any(REDIS_PASSWORD in line or str(port) in line for line in logged)
