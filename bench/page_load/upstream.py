"""The bench upstream, stamping: `python -m bench.page_load.upstream PORT`.

A prompt `tokens=200 delay=0.05 tab=w0-17` is answered like bench.api.upstream's (token i is `t<i> `), except that
token 0 goes at once and token i at start + i * delay (a fixed schedule: a late reader does not slow it down), and
the wall time (time.time(), the clock every process on this machine shares) each token was written is kept per tab.
`GET /stamps` answers them all as JSON `{tab: [seconds, ...]}`; `DELETE /stamps` forgets them.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time

from bench.api.upstream import HEAD, ROLE, _delta, _end, main, token

SPEC = re.compile(r'tokens=(\d+) delay=([\d.]+) tab=(\S+)')
stamps: dict[str, list[float]] = {}


async def _answer(writer: asyncio.StreamWriter, body: dict, tab: str, tokens: int, delay: float) -> None:
    sent = stamps.setdefault(tab, [])
    writer.write(HEAD + ROLE)
    start = time.monotonic()
    for index in range(tokens):
        await asyncio.sleep(max(0.0, start + index * delay - time.monotonic()))
        writer.write(_delta(token(index)))
        sent.append(time.time())
        await writer.drain()
    await _end(writer, body, tokens)


def _json(status: str, payload: object) -> bytes:
    data = json.dumps(payload).encode()
    return (f'HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n'.encode()
            + data)


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b'\r\n\r\n')
            request_line, *lines = head.split(b'\r\n')
            length = 0
            for line in lines:
                name, _, value = line.partition(b':')
                if name.strip().lower() == b'content-length':
                    length = int(value)
            if request_line.startswith(b'GET /stamps'):
                writer.write(_json('200 OK', stamps))
                continue
            if request_line.startswith(b'DELETE /stamps'):
                stamps.clear()
                writer.write(_json('200 OK', {}))
                continue
            if not length:  # a readiness probe
                writer.write(b'HTTP/1.1 204 No Content\r\n\r\n')
                continue
            body = json.loads(await reader.readexactly(length))
            spec = SPEC.search(str(body['messages'][-1]['content']))
            if spec is None:
                writer.write(b'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n')
                continue
            await _answer(writer, body, spec[3], int(spec[1]), float(spec[2]))
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


if __name__ == '__main__':
    asyncio.run(main(int(sys.argv[1]), _serve, backlog=4096))
