"""/healthz, /readyz and the metrics token, on live apps; the readiness checks against a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from app.ops import readiness
from app.ops.readiness import Readiness
from tests.conftest import LiveApp, app_env, start_app
from tests.services.redis import RedisServer, running_redis

METRICS_TOKEN = 'metrics-token-for-tests-7f3a'


@dataclass
class Guarded:
    app: LiveApp
    redis: RedisServer


@pytest.fixture(scope='module')
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guarded]:
    """Demo mode with METRICS_TOKEN set and REDIS_URL on a Redis of its own (a test stops and restarts it)."""
    with running_redis() as redis:
        env = app_env(None, METRICS_TOKEN=METRICS_TOKEN, REDIS_URL=redis.url())
        app = start_app(env, tmp_path_factory.mktemp('guarded') / 'app.log')
        yield Guarded(app, redis)
        app.process.terminate()
        app.process.wait(10)
    # NiceGUI logs each storage's broken Redis subscription as an error (its own code); nothing of ours may.
    errors = [line for line in app.log().splitlines() if line.startswith('ERROR')]
    assert all(line.startswith('ERROR:     nicegui: ') for line in errors), errors


def test_health_and_readiness_of_a_working_app(live_app: LiveApp) -> None:
    health = httpx.get(live_app.url + '/healthz', timeout=10)
    assert (health.status_code, health.json()) == (200, {'status': 'ok'})
    ready = httpx.get(live_app.url + '/readyz', timeout=10)
    assert (ready.status_code, ready.json()) == (200, {'status': 'ready', 'checks': {'database': 'ok'}})
    assert ready.headers['cache-control'] == 'no-store'


def test_readiness_follows_redis_down_and_back_while_pages_keep_loading(guarded: Guarded) -> None:
    with httpx.Client(base_url=guarded.app.url, timeout=20) as browser:
        assert browser.get('/readyz').json() == {'status': 'ready', 'checks': {'database': 'ok', 'redis': 'ok'}}
        assert browser.get('/').status_code == 200
        guarded.redis.stop()
        try:
            assert browser.get('/healthz').status_code == 200  # up, just not ready
            down = browser.get('/readyz')
            assert down.status_code == 503
            assert down.json() == {'status': 'unavailable', 'reason': 'redis: unreachable (ConnectionError)',
                                   'checks': {'database': 'ok', 'redis': 'unreachable (ConnectionError)'}}
            assert browser.get('/').status_code == 200  # NiceGUI's storage fails to load; the page still works
        finally:
            guarded.redis.start()  # same port, empty
        assert browser.get('/readyz').json()['status'] == 'ready'
        assert browser.get('/').status_code == 200
    assert guarded.app.process.poll() is None  # no crash, no restart loop: the same process served it all


@pytest.mark.parametrize('authorization', [None, 'Bearer wrong-token', f'Basic {METRICS_TOKEN}',
                                           f'Bearer {METRICS_TOKEN}x'])
def test_metrics_ask_for_the_token(guarded: Guarded, authorization: str | None) -> None:
    headers = {'Authorization': authorization} if authorization else {}
    response = httpx.get(guarded.app.url + '/metrics', headers=headers, timeout=10)
    assert response.status_code == 401 and response.headers['www-authenticate'] == 'Bearer'
    assert response.json()['error']['code'] == 'unauthorized'
    assert METRICS_TOKEN not in response.text


def test_metrics_with_the_token_and_the_token_never_logged(guarded: Guarded) -> None:
    response = httpx.get(guarded.app.url + '/metrics', headers={'Authorization': f'Bearer {METRICS_TOKEN}'},
                         timeout=10)
    assert response.status_code == 200 and 'nicechat_replies_total{outcome="done"}' in response.text
    assert METRICS_TOKEN not in response.text and METRICS_TOKEN not in guarded.app.log()


async def test_readiness_checks_a_real_redis_and_times_out_a_silent_database(
        redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    async def answers() -> None:
        pass

    async def silent() -> None:
        await asyncio.Event().wait()

    probe = Readiness(answers, redis_server.url(2))
    try:
        assert await probe.check() == {'database': 'ok', 'redis': 'ok'}
    finally:
        await probe.aclose()
    monkeypatch.setattr(readiness, 'CHECK_TIMEOUT', 0.2)
    silent_probe = Readiness(silent)
    assert await silent_probe.check() == {'database': 'no answer within 0.2 s'}
