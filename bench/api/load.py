"""The load side of the benchmark: concurrent streams against one target, timed per token."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import openai
import orjson

from bench.api.upstream import expected_content

TOKEN = 'bench-token'
# Generous: a stream that stalls this long counts as a failure rather than hanging the run.
STREAM_TIMEOUT = 120.0


@dataclass
class Stream:
    """What one client saw of one reply."""

    started: float = 0.0
    arrivals: list[float] = field(default_factory=list)  # perf_counter time of each non-empty text piece
    error: str | None = None

    @property
    def ttft(self) -> float | None:
        """Seconds from sending the request to the first text."""
        return self.arrivals[0] - self.started if self.arrivals else None


def _prompt(tokens: int, delay: float) -> list[dict[str, str]]:
    return [{'role': 'user', 'content': f'tokens={tokens} delay={delay}'}]


async def _http_stream(session: aiohttp.ClientSession, url: str, tokens: int, delay: float,
                       headers: dict[str, str]) -> Stream:
    stream = Stream(started=time.perf_counter())
    parts: list[str] = []
    final: dict[str, Any] | None = None
    async with session.post(url, data=orjson.dumps({'messages': _prompt(tokens, delay)}),
                            headers={'Content-Type': 'application/json', **headers}) as response:
        if response.status != 200:
            stream.error = f'HTTP {response.status}'
            return stream
        async for line in response.content:
            if not line.strip():
                continue
            event = orjson.loads(line)
            kind = event.get('type')
            if kind == 'chunk' and event['content']:
                stream.arrivals.append(time.perf_counter())
                parts.append(event['content'])
            elif kind in {'done', 'error'}:
                final = event
    expected = expected_content(tokens)
    if final is None or final['type'] != 'done':
        stream.error = f'no done line ({final})'
    elif ''.join(parts) != expected or final['full_content'] != expected:
        stream.error = 'content mismatch'
    return stream


async def _sdk_stream(client: openai.AsyncOpenAI, tokens: int, delay: float) -> Stream:
    stream = Stream(started=time.perf_counter())
    parts: list[str] = []
    chunks = await client.chat.completions.create(model='bench-model', messages=_prompt(tokens, delay),  # type: ignore[arg-type]
                                                  stream=True)
    async for chunk in chunks:
        if chunk.choices and (content := chunk.choices[0].delta.content):
            stream.arrivals.append(time.perf_counter())
            parts.append(content)
    if ''.join(parts) != expected_content(tokens):
        stream.error = 'content mismatch'
    return stream


async def _guarded(coro: Any) -> Stream:
    try:
        async with asyncio.timeout(STREAM_TIMEOUT):
            result: Stream = await coro
            return result
    except Exception as error:  # any failure of one stream is counted, not fatal to the run
        return Stream(error=f'{type(error).__name__}: {error}'[:200])


async def run(target: str, url: str, streams: int, tokens: int, delay: float) -> list[Stream]:
    """Open `streams` concurrent replies of `tokens` tokens paced `delay` s apart; return what each client saw."""
    if target == 'direct':
        client = openai.AsyncOpenAI(base_url=url, api_key='sk-bench', max_retries=0,
                                    http_client=openai.DefaultAsyncHttpxClient(
                                        limits=openai._constants.DEFAULT_CONNECTION_LIMITS, timeout=STREAM_TIMEOUT))
        async with client:
            return list(await asyncio.gather(*(_guarded(_sdk_stream(client, tokens, delay))
                                               for _ in range(streams))))
    headers = {'Authorization': f'Bearer {TOKEN}'} if target.startswith('nicechat') else {}
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=STREAM_TIMEOUT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        return list(await asyncio.gather(*(_guarded(_http_stream(session, url + '/api/chat', tokens, delay, headers))
                                           for _ in range(streams))))
