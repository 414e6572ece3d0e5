"""The API's routes with limits and a usage recorder, served over real HTTP by uvicorn in the test's own loop.

In-process, so a test can look at the stream slots and the usage each reply recorded; over a real socket, so a
client that leaves is a real disconnect, as in production (the dispatcher in front, as main.py serves them).
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import pytest
import uvicorn
from fastapi import FastAPI

from app.api import interop, routes
from app.api.access import Access, Caller
from app.api.dispatcher import Dispatcher
from app.api.keys import PersonalKeys
from app.api.metering import Metering
from app.api.usage import Usage
from app.config import load_settings
from app.limits import Limits
from app.store import Store
from app.upstream import Upstream
from tests.conftest import app_env
from tests.fake_upstream import FakeUpstream

# Three callers: each test's counters are its own, and one caller's limits can be shown not to touch another's.
TOKENS = ('tok-limits-first', 'tok-limits-second', 'tok-limits-third')
# Seconds a test waits for a reply's usage to be recorded.
RECORD_TIMEOUT = 10


def auth(token: str = TOKENS[0]) -> dict[str, str]:
    """The header that authenticates as `token`."""
    return {'Authorization': f'Bearer {token}'}


@dataclass
class ServedApi:
    """The API on a loopback port, with its limits and every (caller id, completion tokens) recorded."""

    url: str
    limits: Limits
    recorded: asyncio.Queue[tuple[str, int]] = field(default_factory=asyncio.Queue)
    # Records wait for `release` (set unless a test clears it); `recording` is set once one waits there.
    release: asyncio.Event = field(default_factory=asyncio.Event)
    recording: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.release.set()

    async def next_record(self) -> tuple[str, int]:
        """The next reply's (caller id, completion tokens), waiting for it to end."""
        return await asyncio.wait_for(self.recorded.get(), RECORD_TIMEOUT)

    def caller_id(self, token: str = TOKENS[0]) -> str:
        """The caller id the limits count `token` under."""
        return 'admin:' + hashlib.sha256(token.encode()).hexdigest()[:12]


@pytest.fixture
async def serve_api(upstream: FakeUpstream) -> AsyncIterator[Callable[..., Awaitable[ServedApi]]]:
    """Serve the API with the test settings overridden by keyword arguments (API_RATE_LIMIT='2/second', ...); with
    `store`, people's API keys in it are accepted too, and their counters are kept there."""
    async with AsyncExitStack() as stack:
        async def serve(store: Store | None = None, **env: str) -> ServedApi:
            settings = load_settings(app_env(upstream, API_TOKENS=','.join(TOKENS), **env), env_file=None)
            model_server = Upstream(settings)
            stack.push_async_callback(model_server.aclose)
            limits = Limits(settings)
            stack.push_async_callback(limits.aclose)
            sock = socket.socket()
            sock.bind(('127.0.0.1', 0))
            sock.listen()  # listening before uvicorn runs: a client can connect at once (the backlog holds it)
            served = ServedApi(f'http://127.0.0.1:{sock.getsockname()[1]}', limits)

            async def record(caller: Caller, tokens: int) -> None:
                served.recording.set()
                await served.release.wait()
                served.recorded.put_nowait((caller.id, tokens))
            usage = Usage()
            usage.subscribe(limits.count_tokens)
            access = Access(settings)
            if store is not None:
                async def opened() -> Store:
                    return store
                keys = PersonalKeys(opened)
                access = Access(settings, lookup=keys.caller)
                usage.subscribe(keys.count)
            usage.subscribe(record)  # last: when a test has a reply's record, every other listener has run
            metering = Metering(limits, usage)
            router = routes.create_router(settings, model_server, access, metering=metering)
            interop.add_routes(router, settings, model_server, access, metering=metering)
            app = FastAPI()
            app.include_router(router)
            server = uvicorn.Server(uvicorn.Config(Dispatcher(app, router), lifespan='off', log_level='warning',
                                                   access_log=False, timeout_graceful_shutdown=1))
            task = asyncio.create_task(server.serve(sockets=[sock]))

            async def stop() -> None:
                server.should_exit = True
                await task
                sock.close()
            stack.push_async_callback(stop)
            return served

        yield serve
