"""The bench upstream, stamping: `python -m bench.page_load.upstream PORT`.

A prompt `tokens=200 delay=0.05 tab=w0-17` is answered like bench.api.upstream's (token i is `t<i> `), except that
token 0 goes at once and token i at start + i * delay (a fixed schedule: a late reader does not slow it down), and
the wall time (time.time(), the clock every process on this machine shares) each token was written is kept per tab.
`GET /stamps` answers them all as JSON `{tab: [seconds, ...]}`; `DELETE /stamps` forgets them.

Where each request's time went before its first token, per tab: `GET /arrivals` answers `{tab: {step: seconds}}`
with `accepted` (its connection's handler first ran; only for a connection's first request), `head` (the request's
head read) and `body` (its body read and parsed); and `lag`, the longest this process's event loop was late for a
timer since the last `DELETE /stamps` (seconds). `DELETE /stamps` forgets those too.
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
arrivals: dict[str, dict[str, float]] = {}
# Seconds between two looks at the loop's lateness; the worst lateness since the last DELETE /stamps.
LAG_TICK = 0.01
lag = {'max': 0.0}


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


async def _watch_lag() -> None:
    """Keep lag['max'] up to date: how late this loop runs a timer (the process starved of CPU, or busy)."""
    while True:
        due = time.monotonic() + LAG_TICK
        await asyncio.sleep(LAG_TICK)
        lag['max'] = max(lag['max'], time.monotonic() - due)


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    accepted: float | None = time.time()
    try:
        while True:
            head = await reader.readuntil(b'\r\n\r\n')
            head_at = time.time()
            request_line, *lines = head.split(b'\r\n')
            length = 0
            for line in lines:
                name, _, value = line.partition(b':')
                if name.strip().lower() == b'content-length':
                    length = int(value)
            if request_line.startswith(b'GET /stamps'):
                writer.write(_json('200 OK', stamps))
                continue
            if request_line.startswith(b'GET /arrivals'):
                writer.write(_json('200 OK', {'arrivals': arrivals, 'lag': lag['max']}))
                continue
            if request_line.startswith(b'DELETE /stamps'):
                stamps.clear()
                arrivals.clear()
                lag['max'] = 0.0
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
            arrivals[spec[3]] = {'head': head_at, 'body': time.time(), **({'accepted': accepted} if accepted else {})}
            accepted = None
            await _answer(writer, body, spec[3], int(spec[1]), float(spec[2]))
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _main(port: int) -> None:
    watch = asyncio.ensure_future(_watch_lag())  # runs as long as the server
    await main(port, _serve, backlog=4096)
    watch.cancel()


if __name__ == '__main__':
    asyncio.run(_main(int(sys.argv[1])))
