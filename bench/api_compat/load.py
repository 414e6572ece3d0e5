"""The load side: concurrent streams against one route of the app, read raw (no SDK), timed per text piece."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson

from bench.api import load as ndjson_load
from bench.api.load import STREAM_TIMEOUT, TOKEN, Stream
from bench.api.upstream import expected_content

Reader = Callable[[aiohttp.ClientResponse, Stream], Awaitable[list[str]]]


def _prompt(tokens: int, delay: float) -> str:
    return f'tokens={tokens} delay={delay}'


async def _sse_data(response: aiohttp.ClientResponse) -> Any:
    """Each SSE event's data, decoded; `[DONE]` as the string."""
    async for line in response.content:
        if line.startswith(b'data: '):
            data = line[6:].rstrip(b'\n')
            yield 'DONE' if data == b'[DONE]' else orjson.loads(data)


async def _read_openai(response: aiohttp.ClientResponse, stream: Stream) -> list[str]:
    parts: list[str] = []
    async for data in _sse_data(response):
        if data == 'DONE':
            return parts
        if 'error' in data:
            raise RuntimeError(data['error']['code'])
        if data['choices'] and (content := data['choices'][0]['delta'].get('content')):
            stream.arrivals.append(time.perf_counter())
            parts.append(content)
    raise RuntimeError('no [DONE]')


async def _read_ui(response: aiohttp.ClientResponse, stream: Stream) -> list[str]:
    parts: list[str] = []
    async for data in _sse_data(response):
        if data == 'DONE':
            return parts
        if data['type'] == 'error':
            raise RuntimeError(data['errorText'])
        if data['type'] == 'text-delta':
            stream.arrivals.append(time.perf_counter())
            parts.append(data['delta'])
    raise RuntimeError('no [DONE]')


def _body(route: str, tokens: int, delay: float) -> bytes:
    if route == 'openai':
        return orjson.dumps({'model': 'bench-model', 'stream': True, 'stream_options': {'include_usage': True},
                             'messages': [{'role': 'user', 'content': _prompt(tokens, delay)}]})
    return orjson.dumps({'messages': [{'id': 'm1', 'role': 'user',
                                       'parts': [{'type': 'text', 'text': _prompt(tokens, delay)}]}]})


async def _one(session: aiohttp.ClientSession, url: str, route: str, tokens: int, delay: float) -> Stream:
    stream = Stream(started=time.perf_counter())
    path, reader = ('/v1/chat/completions', _read_openai) if route == 'openai' else ('/api/ui-chat', _read_ui)
    headers = {'Content-Type': 'application/json', 'Authorization': f'Bearer {TOKEN}'}
    async with session.post(url + path, data=_body(route, tokens, delay), headers=headers) as response:
        if response.status != 200:
            stream.error = f'HTTP {response.status}'
            return stream
        parts = await reader(response, stream)
    if ''.join(parts) != expected_content(tokens):
        stream.error = 'content mismatch'
    return stream


async def run(route: str, url: str, streams: int, tokens: int, delay: float) -> list[Stream]:
    """Open `streams` concurrent replies on `route` ('api-chat', 'openai' or 'ui-chat'); what each client saw."""
    if route == 'api-chat':
        return await ndjson_load.run('nicechat', url, streams, tokens, delay)
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=STREAM_TIMEOUT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        return list(await asyncio.gather(*(ndjson_load._guarded(_one(session, url, route, tokens, delay))
                                           for _ in range(streams))))
