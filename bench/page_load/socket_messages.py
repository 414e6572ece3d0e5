"""Server CPU per socket message to and from a tab: `python -m bench.page_load.socket_messages [--against main]`.

What bench.page_load cannot resolve in its noise: the cost of one message each way on a connected tab's websocket.
The app runs as for bench.page_load (bench/page_load/launch.py, with its socket routes); one simulated tab
(bench/page_load/tab.py, offering permessage-deflate as Chromium does) opens the page, then per round:

- out: the server makes `--sends` streamed sends to the tab in one step (a StreamingMarkdown's append and its send
  timer, as a reply does; ~80-byte frames written to the socket), timed on its loop thread;
- in: the tab sends `--acks` acks ~1 ms apart (each a frame of its own, as the page's every 3 s), each pruning the
  messages it has; the loop thread's CPU over that, minus the same wait without messages.

With `--against`, another commit's app runs too and the rounds alternate between the two (A/B, interleaved).
Medians per message, and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ACK_GAP = 0.001  # seconds between two acks: one frame per read, not a burst


async def _out(http: aiohttp.ClientSession, url: str, tab: Any, sends: int) -> float:
    async with http.post(f'{url}/bench/socket/sends', params={'client_id': tab.client_id, 'n': sends}) as response:
        answer = await response.json()
    await tab.wait_for(lambda: tab.next_message_id >= answer['next_message_id'], 30)  # all arrived
    return float(answer['cpu_s']) / sends


async def _loop_cpu(http: aiohttp.ClientSession, url: str) -> float:
    async with http.get(f'{url}/bench/socket/cpu') as response:
        return float((await response.json())['cpu_s'])


async def _in(http: aiohttp.ClientSession, url: str, tab: Any, acks: int) -> float:
    async def window(send: bool) -> float:
        cpu = await _loop_cpu(http, url)
        for _ in range(acks):
            if send:
                await tab.sio.emit('ack', {'client_id': tab.client_id, 'next_message_id': tab.next_message_id})
            await asyncio.sleep(ACK_GAP)
        await asyncio.sleep(0.05)
        return await _loop_cpu(http, url) - cpu

    idle = await window(False)
    busy = await window(True)
    return (busy - idle) / acks


async def _run(args: argparse.Namespace, apps: dict[str, str]) -> dict[str, dict[str, list[float]]]:
    from bench.page_load.tab import Tab

    figures: dict[str, dict[str, list[float]]] = {name: {'out': [], 'in': []} for name in apps}
    tabs: dict[str, Tab] = {}
    sessions = []
    try:
        for name, url in apps.items():
            http = aiohttp.ClientSession()
            sessions.append(http)
            tabs[name] = Tab(url, http)
            await tabs[name].open()
            await _out(http, url, tabs[name], args.sends)  # warm-up
            await _in(http, url, tabs[name], 50)
        for number in range(args.rounds):
            order = list(apps.items())
            if number % 2:
                order.reverse()
            for name, url in order:
                tab = tabs[name]
                figures[name]['out'].append(await _out(tab.http, url, tab, args.sends))
                figures[name]['in'].append(await _in(tab.http, url, tab, args.acks))
    finally:
        for tab in tabs.values():
            await tab.close()
        for http in sessions:
            await http.close()
    return figures


def main() -> None:
    from bench.api.servers import ROOT, Server, export_tree, free_port
    from bench.page_load.__main__ import LAUNCH

    parser = argparse.ArgumentParser(prog='python -m bench.page_load.socket_messages',
                                     description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=10, help='rounds per app (default 10)')
    parser.add_argument('--sends', type=int, default=300, help='messages to the tab per round (default 300)')
    parser.add_argument('--acks', type=int, default=300, help='acks from the tab per round (default 300)')
    parser.add_argument('--against', help='also run this git commit, interleaved, e.g. main')
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix='nicechat-bench-socket-'))
    trees = {'this tree': ROOT}
    if args.against:
        trees[args.against] = export_tree(args.against, work / 'other')
    started: list[Server] = []
    apps: dict[str, str] = {}
    try:
        for index, (name, tree) in enumerate(trees.items()):
            port = free_port()
            env = {'OPENAI_API_KEY': 'sk-bench', 'OPENAI_BASE_URL': 'http://127.0.0.1:9/v1',
                   'OPENAI_MODEL': 'bench-model', 'HOST': '127.0.0.1', 'PORT': str(port),
                   'STORAGE_SECRET': 'bench-storage-secret', 'APP_PASSWORD': '', 'ALLOWED_MODELS': '',
                   'DATABASE_URL': '', 'TRUSTED_USER_HEADER': '', 'DATA_DIR': str(work / f'data-{index}'),
                   'PYTHONUNBUFFERED': '1', 'NICECHAT_BENCH_SOCKET': '1'}
            server = Server(f'app-{index}', [sys.executable, str(LAUNCH), str(tree)], env, ROOT, work)
            started.append(server)
            apps[name] = f'http://127.0.0.1:{port}'
            server.wait_until(f'{apps[name]}/bench/stats')
        started_at = time.time()
        figures = asyncio.run(_run(args, apps))
    finally:
        for server in reversed(started):
            server.stop()
    print(f'{args.rounds} rounds of {args.sends} sends and {args.acks} acks per app, {time.time() - started_at:.0f} s; '
          'loop-thread CPU per message, µs (median [min-max])')
    medians: dict[str, dict[str, float]] = {}
    for name, by_way in figures.items():
        medians[name] = {way: statistics.median(values) * 1e6 for way, values in by_way.items()}
        print(f'  {name:>10}: ' + '  '.join(
            f'{way} {medians[name][way]:5.1f} [{min(values) * 1e6:.1f}-{max(values) * 1e6:.1f}]'
            for way, values in by_way.items()))
    if args.against:
        print('  ratio (this tree / ' + args.against + '): ' + '  '.join(
            f'{way} {medians["this tree"][way] / medians[args.against][way]:.2f}' for way in ('out', 'in')))


if __name__ == '__main__':
    main()
