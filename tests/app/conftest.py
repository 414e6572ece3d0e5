"""Live app instances with non-default API settings, for the contract rows that need them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import LiveApp, app_env, start_app, stop_app
from tests.fake_upstream import FakeUpstream

# Settings of `tuned_app`: short enough for tests to see pings and timeouts, far enough apart not to race.
PING_INTERVAL = 0.2
UPSTREAM_TIMEOUT = 1.5
MAX_REQUEST_BYTES = 4000
MAX_TOKENS_LIMIT = 100
ALLOWED_MODELS = ('fake-model', 'other-model')


@pytest.fixture(scope='session')
def tuned_app(fake_upstream_server: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """The app on the fake upstream with fast pings, a short upstream timeout, small limits and two models."""
    env = app_env(fake_upstream_server, PING_INTERVAL=str(PING_INTERVAL), UPSTREAM_TIMEOUT=str(UPSTREAM_TIMEOUT),
                  MAX_REQUEST_BYTES=str(MAX_REQUEST_BYTES), MAX_TOKENS_LIMIT=str(MAX_TOKENS_LIMIT),
                  ALLOWED_MODELS=','.join(ALLOWED_MODELS))
    app = start_app(env, tmp_path_factory.mktemp('tuned') / 'app.log')
    yield app
    stop_app(app)

