"""TRUSTED_USER_HEADER behind a proxy that also sends X-Forwarded-For: the proxy is recognised by its connection's
address, not by the visitor's address that uvicorn's proxy-headers layer puts in `client`."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import LiveApp, app_env, start_app, stop_app

REFUSED = 'accepts requests only through its sign-in proxy'


@pytest.fixture(scope='module')
def proxied_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """Demo mode with a trusted user header; loopback (the test) is the trusted proxy, as by default."""
    app = start_app(app_env(None, TRUSTED_USER_HEADER='X-Forwarded-Email'),
                    tmp_path_factory.mktemp('proxied') / 'app.log')
    yield app
    stop_app(app)


def test_the_proxy_is_trusted_by_its_own_address_when_it_forwards_the_visitors(proxied_app: LiveApp) -> None:
    headers = {'X-Forwarded-Email': 'Ada@Example.org', 'X-Forwarded-For': '203.0.113.5'}
    page = httpx.get(proxied_app.url + '/', headers=headers, timeout=10)
    assert page.status_code == 200
    assert REFUSED not in page.text


def test_a_request_from_the_proxy_without_the_user_is_still_refused(proxied_app: LiveApp) -> None:
    page = httpx.get(proxied_app.url + '/', headers={'X-Forwarded-For': '203.0.113.5'}, timeout=10)
    assert page.status_code == 403
    assert 'did not say who you are' in page.text
