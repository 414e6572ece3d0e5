"""A process full of tabs: `python -m bench.page_load.swarm URL TABS NAME TOKENS DELAY RAMP DEFLATE` (run by __main__).

The benchmark splits its tabs over a few of these, so the client side has cores' worth of event loops and its own
lag stays out of the figures as far as it can. Each talks JSON lines with the benchmark, one phase at a time:

1. opens TABS tabs (page + socket), types each tab's prompt, then prints `{"opened": ...}`;
2. on a `go` line, presses Enter in every tab at a random moment within RAMP seconds, waits for every reply to be
   complete, and prints each tab's figures (`{"tabs": [...]}`);
3. on a `close` line, closes every tab and prints `{"closed": ...}`.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from typing import Any

import aiohttp
import socketio

from bench.api.upstream import expected_content

from .tab import Tab

# Tabs opening at once, at most: a crowd arriving, not one instant (the page build is ~10-20 ms of server time).
OPENING_AT_ONCE = 4
# Longest a reply may take beyond its upstream schedule before the tab counts it as failed.
REPLY_SLACK = 60.0


def prompt(tag: str, tokens: int, delay: float) -> str:
    """What a tab types: the stamping upstream's instructions, with the tab's tag."""
    return f'tokens={tokens} delay={delay} tab={tag}'


async def _open(url: str, tag: str, tokens: int, delay: float, gate: asyncio.Semaphore, deflate: bool) -> Tab | str:
    http = aiohttp.ClientSession()
    tab = Tab(url, http, deflate=deflate)
    try:
        async with gate:
            await tab.open()
        await tab.type(prompt(tag, tokens, delay))
        return tab
    except Exception as error:  # reported as that tab's failure
        await http.close()
        return f'open: {type(error).__name__}: {error}'


async def _reply(tab: Tab, start: float, tokens: int, delay: float) -> dict[str, Any]:
    await asyncio.sleep(max(0.0, start - time.time()))
    before = set(tab.seen.streams)
    try:
        enter = await tab.press_enter()
    except socketio.exceptions.SocketIOError as error:
        return {'enter': time.time(), 'error': f'could not press Enter: {type(error).__name__} (disconnected)'}
    new = lambda: [i for i in tab.seen.streams if i not in before]  # noqa: E731
    result: dict[str, Any] = {'enter': enter}
    try:
        await tab.wait_for(lambda: tab.disconnected or (bool(new()) and tab.seen.streams[new()[-1]].done),
                           tokens * delay + REPLY_SLACK)
    except TimeoutError:
        result['error'] = 'timeout'
    if tab.disconnected and 'error' not in result:
        result['error'] = 'the server closed the socket'
    ids = new()
    if not ids:
        return {'error': 'no reply element', **result}
    stream = tab.seen.streams[ids[-1]]
    expected = expected_content(tokens)
    if stream.source != expected and 'error' not in result:
        cut = next((i for i, (a, b) in enumerate(zip(stream.source, expected, strict=False)) if a != b),
                   min(len(stream.source), len(expected)))
        result['error'] = (f'text differs at {cut}: got ...{stream.source[max(0, cut - 20):cut + 20]!r}, '
                           f'expected ...{expected[max(0, cut - 20):cut + 20]!r}')
    growth = [(at, units) for at, element, units in tab.seen.growth if element == ids[-1] and at >= enter]
    return result | {'growth': growth, 'resyncs': stream.resyncs, 'messages': len(tab.seen.messages),
                     'deflate': tab.deflate}


async def main(url: str, count: int, name: str, tokens: int, delay: float, ramp: float, deflate: bool) -> None:
    gate = asyncio.Semaphore(OPENING_AT_ONCE)
    tags = [f'{name}-{i}' for i in range(count)]
    opened = await asyncio.gather(*(_open(url, tag, tokens, delay, gate, deflate) for tag in tags))
    tabs = [(tag, tab) for tag, tab in zip(tags, opened, strict=True) if isinstance(tab, Tab)]
    _say({'opened': len(tabs), 'errors': [error for error in opened if isinstance(error, str)][:5]})
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # `go`
    now = time.time()
    cpu = time.process_time()
    results = await asyncio.gather(*(_reply(tab, now + random.uniform(0, ramp), tokens, delay) for _, tab in tabs))
    _say({'tabs': [{'tag': tag, **result} for (tag, _), result in zip(tabs, results, strict=True)],
          'client_cpu_s': time.process_time() - cpu})
    await loop.run_in_executor(None, sys.stdin.readline)  # `close`
    for _, tab in tabs:
        await tab.close()
        await tab.http.close()
    _say({'closed': len(tabs)})


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + '\n')
    sys.stdout.flush()


if __name__ == '__main__':
    import uvloop  # the app's loop too (uvicorn picks it): the client should not be the slower side

    url, count, name, tokens, delay, ramp, deflate = sys.argv[1:8]
    uvloop.run(main(url, int(count), name, int(tokens), float(delay), float(ramp), deflate == 'on'))
