"""A live app with short header and body deadlines, behind no trusted proxy (TRUSTED_PROXIES excludes loopback)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import LiveApp, app_env, start_app, stop_app
from tests.fake_upstream import FakeUpstream

HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 3.0
MAX_REQUEST_BYTES = 1_000_000
UNTRUSTED_PROXIES = '10.9.9.9/32'  # the tests' loopback address is not a proxy here


@pytest.fixture(scope='session')
def guarded_app(fake_upstream_server: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """The app with short header and body deadlines, the default body limit, and loopback not a trusted proxy."""
    env = app_env(fake_upstream_server, HEADER_TIMEOUT=str(HEADER_TIMEOUT), BODY_TIMEOUT=str(BODY_TIMEOUT),
                  MAX_REQUEST_BYTES=str(MAX_REQUEST_BYTES), TRUSTED_PROXIES=UNTRUSTED_PROXIES)
    app = start_app(env, tmp_path_factory.mktemp('guarded') / 'app.log')
    yield app
    stop_app(app)
