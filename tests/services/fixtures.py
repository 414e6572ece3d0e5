"""Session fixtures for the external servers (a pytest plugin, named in tests/conftest.py): each starts on first
use, once per session, and is torn down at its end; a missing binary fails with the package to install."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.services.cluster import Cluster
from tests.services.nginx import NginxMissing
from tests.services.postgres import PostgresMissing, PostgresServer, running_postgres
from tests.services.redis import RedisMissing, RedisServer, running_redis

# The session Redis server's password: loopback-only, and tests check it never shows in a response or log.
REDIS_PASSWORD = 'redis-test-pass-Kx42'
# The Redis database the cluster's instances share (others stay free for tests that need an empty one).
CLUSTER_REDIS_DB = 1
# Demo-model pause between tokens in the cluster: slow enough that a buffered stream would show (a reply of ~120
# tokens takes ~1.2 s), fast enough to keep the tests short.
CLUSTER_TOKEN_DELAY = '0.01'
# The cluster's page password: signing in is remembered in NiceGUI's user storage, which only Redis shares.
CLUSTER_PASSWORD = 'cluster-page-password-5e1'


@pytest.fixture(scope='session')
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session, started on first use (fails, not skips, if not installed)."""
    try:
        with running_postgres() as server:
            yield server
    except PostgresMissing as missing:
        pytest.fail(str(missing), pytrace=False)


@pytest.fixture(scope='session')
def redis_server() -> Iterator[RedisServer]:
    """A Redis server for the whole session, with a password (tests check it never shows), started on first use
    (fails, not skips, if not installed); tests sharing it use their own databases or keys."""
    try:
        with running_redis(password=REDIS_PASSWORD) as server:
            yield server
    except RedisMissing as missing:
        pytest.fail(str(missing), pytrace=False)


@pytest.fixture(scope='session')
def cluster(postgres_server: PostgresServer, redis_server: RedisServer,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Two app instances in demo mode on one PostgreSQL database and Redis, behind nginx (deploy/nginx.conf)."""
    from tests.conftest import app_env  # the root conftest names this plugin: import it late, not at load time

    env = app_env(None, REDIS_URL=redis_server.url(CLUSTER_REDIS_DB), DEMO_TOKEN_DELAY=CLUSTER_TOKEN_DELAY,
                  APP_PASSWORD=CLUSTER_PASSWORD)
    try:
        running = Cluster(tmp_path_factory.mktemp('cluster'), env, postgres_server.url(
            postgres_server.create_database())).start()
    except NginxMissing as missing:
        pytest.fail(str(missing), pytrace=False)
    yield running
    failed = running.close()
    assert not failed, 'an instance logged an error:\n' + '\n'.join(failed)
