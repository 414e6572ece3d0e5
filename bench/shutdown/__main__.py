"""SIGTERM with many API streams open: how fast each gets its last line, and how fast the process is gone.

    python -m bench.shutdown                  # 100 streams on each of /api/chat, /v1/chat/completions, /api/ui-chat
    python -m bench.shutdown --streams 20 --rounds 3

Each round starts the app on the bench upstream, opens the streams (long paced replies, 20 ms a token), waits until
every one has text, sends SIGTERM, and records for each stream the time from the signal to its end and whether that
end was the route's `server_shutdown` error, after text that is the reply's start with nothing missing; then the
time to the exit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson

from bench.api.__main__ import percentile
from bench.api.load import TOKEN
from bench.api.servers import start_nicechat, start_upstream
from bench.api.upstream import expected_content

ROUTES = {'api-chat': '/api/chat', 'openai': '/v1/chat/completions', 'ui-chat': '/api/ui-chat'}
# Long enough to be still streaming whatever the machine's load: 3,000 tokens 20 ms apart is a minute.
TOKENS, DELAY = 3000, 0.02


@dataclass
class Ending:
    """How one stream ended after the signal."""

    route: str
    ended_at: float = 0.0
    shutdown_error: bool = False  # the route's own server_shutdown ending
    text: str = ''


def body(route: str) -> bytes:
    prompt = f'tokens={TOKENS} delay={DELAY}'
    if route == 'ui-chat':
        return orjson.dumps({'messages': [{'id': 'm', 'role': 'user', 'parts': [{'type': 'text', 'text': prompt}]}]})
    return orjson.dumps({'model': 'bench-model', 'stream': True, 'messages': [{'role': 'user', 'content': prompt}]})


async def one(session: aiohttp.ClientSession, url: str, route: str, going: asyncio.Event, ending: Ending) -> None:
    """Read one stream to its end, noting its text and how it ended."""
    headers = {'Authorization': f'Bearer {TOKEN}', 'Content-Type': 'application/json'}
    async with session.post(url + ROUTES[route], data=body(route), headers=headers) as response:
        last = b''
        async for line in response.content:
            if not line.strip():
                continue
            last = line.removeprefix(b'data: ').strip()
            if last == b'[DONE]':
                continue
            event = orjson.loads(last)
            text = (event.get('content') if event.get('type') == 'chunk' else event.get('delta')
                    if event.get('type') == 'text-delta' else
                    (event.get('choices') or [{}])[0].get('delta', {}).get('content') if 'choices' in event else None)
            if text:
                ending.text += text
                going.set()
            if 'server_shutdown' in last.decode() or b'shutting down' in last:
                ending.shutdown_error = True
        ending.ended_at = time.perf_counter()


async def round_(url: str, pid: int, per_route: int) -> tuple[list[Ending], float]:
    """Open the streams, SIGTERM the app once all have text; the endings and the signal's time."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
        endings: list[Ending] = []
        tasks, events = [], []
        for route in ROUTES:
            for _ in range(per_route):
                going = asyncio.Event()
                endings.append(Ending(route))
                events.append(going)
                tasks.append(asyncio.ensure_future(one(session, url, route, going, endings[-1])))
        await asyncio.wait_for(asyncio.gather(*(event.wait() for event in events)), 60)
        signalled = time.perf_counter()
        os.kill(pid, signal.SIGTERM)
        await asyncio.gather(*tasks, return_exceptions=True)
    return endings, signalled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--streams', type=int, default=100, help='streams per route')
    parser.add_argument('--rounds', type=int, default=1)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix='nicechat-bench-shutdown-'))
    upstream, upstream_url = start_upstream(folder)
    try:
        for number in range(1, args.rounds + 1):
            app, url = start_nicechat(upstream_url, folder, name=f'nicechat-{number}')
            endings, signalled = asyncio.run(round_(url, app.process.pid, args.streams))
            app.process.wait(30)
            exited = time.perf_counter() - signalled
            print(f'round {number}: {len(endings)} streams open; the process exited {exited:.2f} s after SIGTERM '
                  f'(exit code {app.process.returncode})')
            print('| route | streams | ended with server_shutdown | text kept | last line after SIGTERM p50 / max |')
            print('| --- | ---: | ---: | ---: | ---: |')
            expected = expected_content(TOKENS)
            for route in ROUTES:
                mine = [e for e in endings if e.route == route]
                after = [(e.ended_at - signalled) * 1000 for e in mine]
                kept = sum(1 for e in mine if e.text and expected.startswith(e.text))  # in order, no gap
                print(f'| {ROUTES[route]} | {len(mine)} | {sum(e.shutdown_error for e in mine)} | {kept} | '
                      f'{percentile(after, 0.5):.0f} / {max(after):.0f} ms |')
            log = (folder / f'nicechat-{number}.log').read_text(errors='replace')
            print('log errors:', 'none' if 'ERROR' not in log and 'Traceback' not in log else log[-2000:])
    finally:
        upstream.stop()


if __name__ == '__main__':
    main()
