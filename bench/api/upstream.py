"""A lean OpenAI-compatible streaming server for the benchmark: `python -m bench.api.upstream PORT`.

The last message of a request says what to stream: `tokens=2000 delay=0.02`. Token i is `t<i> `, so a client
can check the exact content. Or `markdown=4 delay=0.01`: bench.render's LLM-style markdown reply of 4 KB in deltas
of 4 characters, each on a fixed schedule (a late reader does not slow it down). HTTP/1.1 keep-alive, chunked SSE,
usage chunk when asked for, then `[DONE]`.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections.abc import Awaitable, Callable

from bench.render.reply import deltas, reply_text

# A connection handler of asyncio.start_server.
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

SPEC = re.compile(r'tokens=(\d+) delay=([\d.]+)')
MARKDOWN_SPEC = re.compile(r'markdown=([\d.]+) delay=([\d.]+)')
HEAD = (b'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n'
        b'Cache-Control: no-cache\r\n\r\n')
PREFIX = b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":0,"model":"bench-model","choices":'


def token(index: int) -> str:
    """The text of token `index`."""
    return f't{index} '


def expected_content(tokens: int) -> str:
    """The full reply for a request of `tokens` tokens."""
    return ''.join(token(i) for i in range(tokens))


def _event(choices: str, tail: str = '') -> bytes:
    data = PREFIX + choices.encode() + tail.encode() + b'}\n\n'
    return f'{len(data):x}\r\n'.encode() + data + b'\r\n'


def _delta(content: str) -> bytes:
    return _event(f'[{{"index":0,"delta":{{"content":{json.dumps(content)}}},"finish_reason":null}}]')


ROLE = _event('[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]')
STOP = _event('[{"index":0,"delta":{},"finish_reason":"stop"}]')
DONE = b'e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n'


async def _answer(writer: asyncio.StreamWriter, body: dict, tokens: int, delay: float) -> None:
    writer.write(HEAD + ROLE)
    for index in range(tokens):
        if delay:
            await asyncio.sleep(delay)
        writer.write(_delta(token(index)))
        await writer.drain()
        if not delay:
            await asyncio.sleep(0)  # let concurrent streams interleave, as a shared server would
    await _end(writer, body, tokens)


async def _answer_markdown(writer: asyncio.StreamWriter, body: dict, kilobytes: float, delay: float) -> None:
    pieces = deltas(reply_text(kilobytes))
    writer.write(HEAD + ROLE)
    start = time.monotonic()
    for index, piece in enumerate(pieces):
        await asyncio.sleep(max(0.0, start + (index + 1) * delay - time.monotonic()))  # the schedule, not the reader
        writer.write(_delta(piece))
        await writer.drain()
    await _end(writer, body, len(pieces))


async def _end(writer: asyncio.StreamWriter, body: dict, tokens: int) -> None:
    writer.write(STOP)
    if (body.get('stream_options') or {}).get('include_usage'):
        writer.write(_event('[]', f',"usage":{{"prompt_tokens":5,"completion_tokens":{tokens},'
                                  f'"total_tokens":{tokens + 5}}}'))
    writer.write(DONE)
    await writer.drain()


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b'\r\n\r\n')
            length = 0
            for line in head.split(b'\r\n'):
                name, _, value = line.partition(b':')
                if name.strip().lower() == b'content-length':
                    length = int(value)
            if not length:  # a readiness probe
                writer.write(b'HTTP/1.1 204 No Content\r\n\r\n')
                continue
            body = json.loads(await reader.readexactly(length))
            prompt = str(body['messages'][-1]['content'])
            if markdown := MARKDOWN_SPEC.search(prompt):
                await _answer_markdown(writer, body, float(markdown[1]), float(markdown[2]))
            elif spec := SPEC.search(prompt):
                await _answer(writer, body, int(spec[1]), float(spec[2]))
            else:
                writer.write(b'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n')
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port: int, serve: Handler | None = None, backlog: int = 1024) -> None:
    """Serve on 127.0.0.1:`port` until killed (with `serve`, another bench's handler), saying 'ready' once listening."""
    server = await asyncio.start_server(serve or _serve, '127.0.0.1', port, backlog=backlog)
    print('ready', flush=True)
    async with server:
        await server.serve_forever()


if __name__ == '__main__':
    asyncio.run(main(int(sys.argv[1])))
