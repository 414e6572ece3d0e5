"""Shared fixtures: the fake upstream on loopback, app settings for tests, and the app as a live server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from nicegui.testing import User
from nicegui.testing.user_simulation import user_simulation

from tests.fake_upstream import FakeUpstream

# PostgreSQL, Redis and nginx, once per session, and the app instances behind nginx.
pytest_plugins = ['tests.services.fixtures']

ROOT = Path(__file__).resolve().parent.parent
# Secrets used by the tests; each must never show up in any output of the app.
SECRET_KEY = 'sk-test-SECRETKEY-0123456789abcdefghijklmnopqrstuv'
API_TOKEN = 'tok-test-client-token-42'
STORAGE_SECRET = 'storage-secret-for-tests-987654321'
# Password of the tests' Redis server: like the secrets above, it must never show up in any output of the app.
# Seconds a live app may take to start: a few on a quiet machine, far more on a loaded 2-core one (seen over 30).
APP_START_TIMEOUT = 90


@pytest.fixture(scope='session')
def fake_upstream_server() -> Iterator[FakeUpstream]:
    server = FakeUpstream().start()
    yield server
    server.stop()



@pytest.fixture
def upstream(fake_upstream_server: FakeUpstream) -> Iterator[FakeUpstream]:
    """The fake OpenAI-compatible server, with no scripts queued and no requests recorded."""
    fake_upstream_server.reset()
    yield fake_upstream_server
    fake_upstream_server.reset()


def app_env(upstream: FakeUpstream | None, **extra: str) -> dict[str, str]:
    """Environment for the app: talking to `upstream` with the secret key, or demo mode when None."""
    env = {'STORAGE_SECRET': STORAGE_SECRET, 'UPSTREAM_RETRIES': '0', 'OPENAI_MODEL': 'fake-model'}
    if upstream is not None:
        env |= {'OPENAI_API_KEY': SECRET_KEY, 'OPENAI_BASE_URL': upstream.url, 'API_TOKENS': API_TOKEN}
    else:
        env |= {'OPENAI_API_KEY': '', 'OPENAI_BASE_URL': '', 'API_TOKENS': '', 'OPENAI_MODEL': '',
                'DEMO_TOKEN_DELAY': '0.002'}
    return env | extra


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data folder (SQLite database, storage secret) for each test's in-process app."""
    folder = tmp_path / 'data'
    monkeypatch.setenv('DATA_DIR', str(folder))
    monkeypatch.delenv('DATABASE_URL', raising=False)
    return folder


@pytest.fixture
def configured(upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch) -> FakeUpstream:
    """Point the app (as the `user` fixture will load it) at the fake upstream; request this before `user`."""
    for name, value in app_env(upstream).items():
        monkeypatch.setenv(name, value)
    return upstream


@pytest.fixture
async def user_factory(upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch,
                       caplog: pytest.LogCaptureFixture) -> AsyncIterator[Callable[..., Awaitable[User]]]:
    """Make a simulated user of the app loaded with the test settings overridden by keyword arguments."""
    async with AsyncExitStack() as stack:
        async def make(**env: str) -> User:
            for name, value in (app_env(upstream) | env).items():
                monkeypatch.setenv(name, value)
            return await stack.enter_async_context(user_simulation(main_file=ROOT / 'main.py'))

        yield make
    if any(record.levelname == 'ERROR' for record in caplog.get_records('call')):
        pytest.fail('There were unexpected ERROR logs.', pytrace=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveApp:
    """The app running as a real server in a subprocess."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """Everything the server printed so far."""
        return self.log_path.read_text(errors='replace')


def start_app(env: dict[str, str], log_path: Path) -> LiveApp:
    """Run `python main.py` with `env` on a free port and wait until it answers."""
    port = free_port()
    full_env = {**os.environ, 'DATA_DIR': str(log_path.parent / 'data'), **env, 'HOST': '127.0.0.1',
                'PORT': str(port), 'PYTHONUNBUFFERED': '1'}
    full_env.pop('PYTEST_CURRENT_TEST', None)  # NiceGUI changes behaviour under pytest; this is a real run
    full_env.pop('NICEGUI_USER_SIMULATION', None)
    log = log_path.open('wb')
    process = subprocess.Popen([sys.executable, 'main.py'], cwd=ROOT, env=full_env, stdout=log,
                               stderr=subprocess.STDOUT)
    app = LiveApp(f'http://127.0.0.1:{port}', process, log_path)
    deadline = time.monotonic() + APP_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f'app exited with {process.returncode}:\n{app.log()}')
        try:
            httpx.get(app.url + '/docs', timeout=1)
            return app
        except httpx.TransportError:
            time.sleep(0.05)  # polling a starting subprocess: there is no event to await
    process.kill()
    raise RuntimeError(f'app did not start:\n{app.log()}')


def stop_app(app: LiveApp) -> None:
    """Stop the app, then fail if it logged an error or a traceback at any point of the session."""
    app.process.terminate()
    try:
        app.process.wait(10)
    except subprocess.TimeoutExpired:
        app.process.kill()
    log = app.log()
    assert 'ERROR' not in log and 'Traceback' not in log, 'the live app logged an error:\n' + log[-3000:]


@pytest.fixture(scope='session')
def live_app(fake_upstream_server: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """The app as a live server using the fake upstream, with API_TOKENS set."""
    app = start_app(app_env(fake_upstream_server), tmp_path_factory.mktemp('live') / 'app.log')
    yield app
    stop_app(app)


@pytest.fixture(scope='session')
def demo_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """The app as a live server in demo mode (no key, no base URL)."""
    app = start_app(app_env(None), tmp_path_factory.mktemp('demo') / 'app.log')
    yield app
    stop_app(app)
