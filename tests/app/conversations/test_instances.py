"""A reply followed and stopped over the API on any instance (issue 9: behind nginx a client cannot choose one).

Two instances in this process, A and B: each its own chat runtime, store connection (one SQLite file), upstream
client, Redis link and API server (the app's own routes, served by uvicorn on a loopback port), on one real
redis-server. The holder that dies is a third instance in a subprocess (holder_process.py), SIGKILLed mid-reply.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import statistics
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from app.api import routes
from app.api.access import Access
from app.api.keys import PersonalKeys
from app.chat.chats import Chats
from app.chat.message import INTERRUPTED
from app.config import load_settings
from app.live.hub import Live
from app.live.lease import read_text
from app.store import Store, open_store
from app.upstream import Upstream
from tests.conftest import ROOT, app_env
from tests.fake_upstream import FakeUpstream, Script
from tests.services.redis import RedisServer

EVENT_TIMEOUT = 10
INSTANCES_DB = 8  # the Redis database of these tests
TOKENS = [f'{n:02d}é🙂 ' for n in range(80)]  # offsets count code points: bytes or UTF-16 units would cut these
FULL = ''.join(TOKENS)


@dataclass
class Instance:
    """One instance: its runtime and the address of its API."""

    chats: Chats
    url: str


@dataclass
class Pair:
    a: Instance
    b: Instance
    auth: dict[str, str]  # a person's personal API key
    owner: str
    database: str
    redis_url: str


async def serve(chats: Chats, database: str, redis_url: str, upstream: FakeUpstream,
                tasks: list[tuple[uvicorn.Server, asyncio.Task[None]]]) -> Instance:
    settings = load_settings(app_env(upstream, REDIS_URL=redis_url, DATABASE_URL=database, PING_INTERVAL='0.5'),
                             env_file=None)

    async def store() -> Store:
        await chats.ready()
        return chats.store

    app = FastAPI()
    app.include_router(routes.create_router(settings, chats.upstream, Access(settings, PersonalKeys(store).caller),
                                            chats=chats))
    listening = socket.socket()  # listening before uvicorn starts: a request made at once waits in the backlog
    listening.bind(('127.0.0.1', 0))
    listening.listen()
    server = uvicorn.Server(uvicorn.Config(app, log_level='warning', lifespan='off'))
    tasks.append((server, asyncio.create_task(server.serve(sockets=[listening]))))
    return Instance(chats, f'http://127.0.0.1:{listening.getsockname()[1]}')


@pytest.fixture
async def pair(tmp_path: Path, upstream: FakeUpstream, redis_server: RedisServer) -> AsyncIterator[Pair]:
    database, redis_url = f'sqlite:///{tmp_path}/shared.db', redis_server.url(INSTANCES_DB)
    runtimes: list[Chats] = []
    servers: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []
    for name in ('a', 'b'):
        live = Live(redis_url, instance_id=name)
        if name == 'a':
            await live.link.redis.flushdb()
        client = Upstream(load_settings(app_env(upstream), env_file=None))
        runtime = Chats(client, model='fake-model', shared=live)
        await runtime.start(await open_store(database))
        await asyncio.wait_for(live.changes.subscribed(), EVENT_TIMEOUT)
        await asyncio.wait_for(live.stops.subscribed(), EVENT_TIMEOUT)
        runtimes.append(runtime)
    a, b = [await serve(runtime, database, redis_url, upstream, servers) for runtime in runtimes]
    owner = await a.chats.store.user_id('header:alice')
    secret = (await a.chats.store.create_api_key(owner, 'tests')).secret
    yield Pair(a, b, {'Authorization': f'Bearer {secret}'}, owner, database, redis_url)
    for server, task in servers:
        server.should_exit = True
        await asyncio.wait_for(task, EVENT_TIMEOUT)
    for runtime in runtimes:
        await runtime.shutdown()
        await runtime.upstream.aclose()


async def create(instance: Instance, auth: dict[str, str]) -> str:
    async with httpx.AsyncClient() as client:
        response = await client.post(instance.url + '/api/conversations', json={}, headers=auth)
    assert response.status_code == 201, response.text
    return str(response.json()['id'])


async def read_lines(response: httpx.Response, until: int | None = None) -> tuple[list[dict[str, Any]], str, int]:
    """Lines of a stream, until its text reaches `until` characters (then the connection is closed: a real
    disconnect) or it ends; the lines, the text and the last offset."""
    lines: list[dict[str, Any]] = []
    text, offset = '', 0
    async for raw in response.aiter_lines():
        lines.append(line := json.loads(raw))
        if line['type'] == 'chunk':
            text += line['content']
            offset = line['offset']
            if until is not None and offset >= until:
                break
    return lines, text, offset


async def test_a_reply_streamed_by_a_is_resumed_over_b_twice_and_arrives_exactly_once(
        pair: Pair, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=TOKENS, delay=0.02))
    conversation = await create(pair.a, pair.auth)
    body = {'conversation_id': conversation, 'messages': [{'role': 'user', 'content': 'count'}]}
    async with httpx.AsyncClient(timeout=EVENT_TIMEOUT) as client, \
            client.stream('POST', pair.a.url + '/api/chat', json=body, headers=pair.auth) as first:
        lines, text, offset = await read_lines(first, until=40)  # then the client drops (a real disconnect)
    reply_id = lines[0]['id']
    stream = f'{pair.b.url}/api/conversations/{conversation}/stream'
    async with httpx.AsyncClient(timeout=EVENT_TIMEOUT) as client, \
            client.stream('GET', stream, params={'offset': offset, 'reply_id': reply_id}, headers=pair.auth) as second:
        assert second.status_code == 200
        lines, more, offset = await read_lines(second, until=offset + 120)  # drops again, mid-reply, on B
    assert lines[0] == {'type': 'start', 'id': reply_id, 'model': 'fake-model'}
    assert text + more == FULL[:offset] and offset < len(FULL), 'the reply ended before the second drop'
    async with httpx.AsyncClient(timeout=EVENT_TIMEOUT) as client, \
            client.stream('GET', stream, params={'offset': offset, 'reply_id': reply_id}, headers=pair.auth) as third:
        lines, rest, _ = await read_lines(third)
    assert text + more + rest == FULL
    assert lines[-1]['type'] == 'done' and lines[-1]['full_content'] == FULL
    assert len(upstream.records) == 1 and upstream.records[0].completed  # A alone asked the model, once


async def test_stop_over_b_closes_the_upstream_request_a_holds(pair: Pair, upstream: FakeUpstream) -> None:
    elapsed: list[float] = []
    for _ in range(3):
        upstream.reset()
        upstream.queue(Script(tokens=['tick '] * 2000, delay=0.01))
        conversation = await create(pair.a, pair.auth)
        body = {'conversation_id': conversation, 'messages': [{'role': 'user', 'content': 'count'}]}
        async with httpx.AsyncClient(timeout=EVENT_TIMEOUT) as client:
            async with client.stream('POST', pair.a.url + '/api/chat', json=body, headers=pair.auth) as first:
                await read_lines(first, until=20)
            asked = time.monotonic()
            stopped = await client.post(f'{pair.b.url}/api/conversations/{conversation}/stop', headers=pair.auth)
            assert stopped.json() == {'stopped': True}
            record = upstream.records[0]
            assert await asyncio.to_thread(record.disconnected.wait, EVENT_TIMEOUT), 'A kept generating'
            assert record.disconnected_at is not None and not record.completed
            elapsed.append((record.disconnected_at - asked) * 1000)
            lines = [json.loads(raw) for raw in (await client.get(
                f'{pair.b.url}/api/conversations/{conversation}/stream', headers=pair.auth)).text.splitlines()]
            assert lines[-1]['type'] == 'error' and lines[-1]['error']['code'] == 'stopped'
            again = await client.post(f'{pair.b.url}/api/conversations/{conversation}/stop', headers=pair.auth)
            assert again.json() == {'stopped': False}
    print(f'\nStop over B -> A closed the upstream: {", ".join(f"{ms:.0f}" for ms in elapsed)} ms '
          f'(median {statistics.median(elapsed):.0f})')


async def test_a_holder_killed_mid_reply_ends_b_s_stream_interrupted_with_the_text_redis_had(
        pair: Pair, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=[f'w{n} ' for n in range(2000)], delay=0.01))
    conversation = await create(pair.a, pair.auth)
    holder = await asyncio.create_subprocess_exec(
        sys.executable, '-m', 'tests.app.conversations.holder_process', pair.redis_url, pair.database, upstream.url,
        pair.owner, conversation, cwd=ROOT, stdout=asyncio.subprocess.PIPE)
    try:
        reply_id = await asyncio.wait_for(_reply_id(holder), EVENT_TIMEOUT * 3)  # a process start on a busy machine
        stream = f'{pair.b.url}/api/conversations/{conversation}/stream'
        async with httpx.AsyncClient(timeout=EVENT_TIMEOUT) as client, \
                client.stream('GET', stream, params={'reply_id': reply_id}, headers=pair.auth) as response:
            lines: list[dict[str, Any]] = []
            async for raw in response.aiter_lines():
                lines.append(json.loads(raw))
                if lines[-1]['type'] == 'chunk' and lines[-1]['offset'] >= 30 and holder.returncode is None:
                    holder.send_signal(signal.SIGKILL)  # mid-reply, with the stream open on B
                    await holder.wait()
    finally:
        if holder.returncode is None:
            holder.kill()
        await holder.wait()
    shared, _ = await read_text(pair.b.chats.shared.link, reply_id)  # type: ignore[union-attr]
    text = ''.join(line['content'] for line in lines if line['type'] == 'chunk')
    assert lines[-1] == {'type': 'error', 'error': {'code': 'interrupted', 'message': lines[-1]['error']['message']}}
    assert text == shared and len(text) >= 30 and shared == ''.join(f'w{n} ' for n in range(shared.count('w')))
    saved = (await pair.a.chats.store.messages(conversation))[-1]
    for _ in range(100):  # the claimer's save is its own background work
        if saved.status == INTERRUPTED:
            break
        await asyncio.sleep(0.02)
        saved = (await pair.a.chats.store.messages(conversation))[-1]
    assert (saved.id, saved.status, saved.content) == (reply_id, INTERRUPTED, shared)


async def _reply_id(holder: asyncio.subprocess.Process) -> str:
    """The reply id the holder prints once its turn is saved and streaming."""
    assert holder.stdout is not None
    line = await holder.stdout.readline()
    assert line, f'the holder exited with {await holder.wait()}'
    return line.decode().strip()
