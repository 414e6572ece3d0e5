"""The page's reply read alone: `python -m bench.page_load.read [--replies 200] [--rounds 3] [--against main]`.

The chat runtime (`Chats`, the real SDK and store) streams `--replies` paced replies at once from the page bench's
stamping upstream (200 deltas 50 ms apart, started within a second), each to a view that only counts: no page, no
socket. Reported: process CPU per delta, for this tree and, with `--against`, another commit, interleaved. It
isolates what `bench.page_load` cannot resolve in its noise: the cost of reading a reply and handing it to the
views (plus each turn's own work, the SDK's request and the turn's save, shared over its deltas).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOKENS, DELAY = 200, 0.05


class _Counter:
    """A view that counts deltas and says when its reply ended."""

    def __init__(self) -> None:
        self.deltas, self.done = 0, asyncio.Event()

    def on_delta(self, message: object, text: str) -> None:
        self.deltas += 1

    def on_finish(self, message: object) -> None:
        self.done.set()

    def __getattr__(self, name: str) -> object:  # the View protocol's other calls: nothing to do
        return lambda *args: None


async def _child(port: int, replies: int) -> None:
    """One run, in the tree that is the current directory (its `app` package)."""
    from app.chat.chats import Chats  # imported here: the tree under test is on sys.path by now
    from app.config import load_settings
    from app.store import open_store
    from app.upstream import Upstream

    store = await open_store(f'sqlite:///{tempfile.mkdtemp()}/chat.db')
    upstream = Upstream(load_settings({'OPENAI_API_KEY': 'sk-bench', 'OPENAI_MODEL': 'bench-model',
                                       'OPENAI_BASE_URL': f'http://127.0.0.1:{port}/v1', 'UPSTREAM_RETRIES': '0'},
                                      env_file=None))
    chats = Chats(upstream, model='bench-model', checkpoint_interval=1.0)
    await chats.start(store)
    owners = [await store.user_id(f'bench:{n}') for n in range(replies)]
    views = [_Counter() for _ in owners]

    async def reply(n: int) -> None:
        await asyncio.sleep(random.random())
        conversation = chats.draft(owners[n])
        conversation.attach(views[n])  # type: ignore[arg-type]
        await conversation.send(f'tokens={TOKENS} delay={DELAY} tab=read-{n}')
        await views[n].done.wait()

    cpu = time.process_time()
    await asyncio.gather(*(reply(n) for n in range(replies)))
    cpu = time.process_time() - cpu
    deltas = sum(view.deltas for view in views)
    print(f'{cpu / (replies * TOKENS) * 1e6:.1f} {deltas}', flush=True)
    await chats.shutdown()
    await upstream.aclose()


def main() -> None:
    from bench.api.servers import ROOT, Server, export_tree, free_port

    parser = argparse.ArgumentParser(prog='python -m bench.page_load.read', description=__doc__.splitlines()[0])
    parser.add_argument('--replies', type=int, default=200, help='replies streamed at once (default 200)')
    parser.add_argument('--rounds', type=int, default=3, help='runs per tree (default 3)')
    parser.add_argument('--against', help='also run this git commit, interleaved, e.g. main')
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix='nicechat-bench-read-'))
    port = free_port()
    upstream = Server('upstream', [sys.executable, '-m', 'bench.page_load.upstream', str(port)], {}, ROOT, work)
    trees = {'this tree': ROOT}
    try:
        upstream.wait_until(f'http://127.0.0.1:{port}')
        if args.against:
            trees[args.against] = export_tree(args.against, work / 'other')
        figures: dict[str, list[float]] = {name: [] for name in trees}
        for round_ in range(args.rounds):
            for name, tree in (trees.items() if round_ % 2 == 0 else reversed(trees.items())):
                out = subprocess.run([sys.executable, __file__, '--child', str(port), str(args.replies)], cwd=tree,
                                     capture_output=True, text=True, check=True).stdout.split()
                figures[name].append(float(out[0]))
                print(f'{name}: {out[0]} µs CPU per delta ({out[1]} deltas, {args.replies} replies)', flush=True)
        for name, values in figures.items():
            print(f'{name}: median {sorted(values)[len(values) // 2]:.1f} µs per delta over {len(values)} runs')
    finally:
        upstream.stop()


if __name__ == '__main__':
    if sys.argv[1:2] == ['--child']:
        sys.path[0] = os.getcwd()  # the tree under test, not this folder (its profile.py would shadow the stdlib)
        import uvloop

        uvloop.run(_child(int(sys.argv[2]), int(sys.argv[3])))
    else:
        main()
