"""/healthz, /readyz and the metrics token, on live apps; the readiness checks against a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from app.ops import readiness
from app.ops.readiness import Readiness
from tests.conftest import LiveApp, app_env, free_port, start_app, stop_app
from tests.services.redis import RedisServer

METRICS_TOKEN = 'metrics-token-for-tests-7f3a'


@pytest.fixture(scope='module')
def guarded_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """Demo mode with METRICS_TOKEN set and REDIS_URL pointing where no Redis listens."""
    env = app_env(None, METRICS_TOKEN=METRICS_TOKEN, REDIS_URL=f'redis://127.0.0.1:{free_port()}/0')
    app = start_app(env, tmp_path_factory.mktemp('guarded') / 'app.log')
    yield app
    stop_app(app)


def test_health_and_readiness_of_a_working_app(live_app: LiveApp) -> None:
    health = httpx.get(live_app.url + '/healthz', timeout=10)
    assert (health.status_code, health.json()) == (200, {'status': 'ok'})
    ready = httpx.get(live_app.url + '/readyz', timeout=10)
    assert (ready.status_code, ready.json()) == (200, {'status': 'ready', 'checks': {'database': 'ok'}})
    assert ready.headers['cache-control'] == 'no-store'


def test_readiness_fails_with_a_reason_when_redis_is_unreachable(guarded_app: LiveApp) -> None:
    assert httpx.get(guarded_app.url + '/healthz', timeout=10).status_code == 200  # up, just not ready
    ready = httpx.get(guarded_app.url + '/readyz', timeout=10)
    assert ready.status_code == 503
    body = ready.json()
    assert body['status'] == 'unavailable' and body['checks']['database'] == 'ok'
    assert body['checks']['redis'] == 'unreachable (ConnectionError)'
    assert body['reason'] == 'redis: unreachable (ConnectionError)'


@pytest.mark.parametrize('authorization', [None, 'Bearer wrong-token', f'Basic {METRICS_TOKEN}',
                                           f'Bearer {METRICS_TOKEN}x'])
def test_metrics_ask_for_the_token(guarded_app: LiveApp, authorization: str | None) -> None:
    headers = {'Authorization': authorization} if authorization else {}
    response = httpx.get(guarded_app.url + '/metrics', headers=headers, timeout=10)
    assert response.status_code == 401 and response.headers['www-authenticate'] == 'Bearer'
    assert response.json()['error']['code'] == 'unauthorized'
    assert METRICS_TOKEN not in response.text


def test_metrics_with_the_token_and_the_token_never_logged(guarded_app: LiveApp) -> None:
    response = httpx.get(guarded_app.url + '/metrics', headers={'Authorization': f'Bearer {METRICS_TOKEN}'},
                         timeout=10)
    assert response.status_code == 200 and 'nicechat_replies_total{outcome="done"}' in response.text
    assert METRICS_TOKEN not in response.text and METRICS_TOKEN not in guarded_app.log()


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
