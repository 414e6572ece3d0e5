"""One batch of turns, off the page: `python -m bench.page_load.turn_order [--turns 50] [--rounds 4] [--against main]`.

Many people pressing Enter at once have their turns committed in one batch (Chats.save_turn); what then lies between
the commit and each reply's first text is the order of the turns' work. This runs the chat runtime (real SQLite,
the real SDK against tests/fake_upstream.py) with views and drawers that burn what the page's cost (~0.7 ms a
MessageView, ~1.2 ms a drawer entry: docs/page_load.md) and no page, no sockets: the order alone, on a quiet loop.
Per run, ms after the batch's commit: each reply's request written to its socket, and its first text in a view
(p50 and max over the batch). With `--against`, that commit's tree runs too, interleaved.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
VIEW_S, DRAWER_S = 0.0007, 0.0012


def burn(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


class BurningView:
    """Like the page's view: builds a reply's element (burning VIEW_S) from the text it has, then follows deltas."""

    def __init__(self, marks: dict[str, Any]) -> None:
        self.marks, self.shown = marks, ''

    def on_message(self, message: Any) -> None:
        burn(VIEW_S)
        if message.role == 'assistant':
            self.shown = message.id
            if message.content:
                self.marks.setdefault('text', time.perf_counter())

    def on_delta(self, message: Any, text: str) -> None:
        if message.id == self.shown:
            self.marks.setdefault('text', time.perf_counter())

    def on_reasoning(self, message: Any, text: str) -> None:
        pass

    def on_finish(self, message: Any) -> None:
        self.marks['done'].set()

    def on_branch(self) -> None:
        pass

    def on_details(self) -> None:
        pass

    def on_deleted(self) -> None:
        pass


async def run(turns: int) -> dict[str, float]:
    """One batch in this process (its tree on sys.path); ms after the commit."""
    import asyncio.selector_events as selector_events

    from app.chat.chats import Chats
    from app.config import load_settings
    from app.store import open_store
    from app.upstream import Upstream
    from tests.conftest import app_env
    from tests.fake_upstream import FakeUpstream, Script

    fake = FakeUpstream().start()
    store = await open_store(f'sqlite:///{tempfile.mkdtemp()}/chat.db')
    upstream = Upstream(load_settings(app_env(fake), env_file=None))
    chats = Chats(upstream, model='fake-model', checkpoint_interval=3600)
    await chats.start(store)
    written: dict[bytes, float] = {}
    transport = selector_events._SelectorSocketTransport  # type: ignore[attr-defined]  # asyncio's own loop
    write = transport.write

    def stamped(self: Any, data: Any) -> None:  # a reply's request leaving for the upstream
        head = bytes(data)
        if head.startswith(b'POST ') and b'tab=' in head:
            written.setdefault(head.split(b'tab=')[1][:6], time.perf_counter())
        write(self, data)

    transport.write = stamped
    figures: dict[str, float] = {}
    for number in range(2):  # the first warms up (imports, the upstream connection)
        fake.queue(*[Script(tokens=['x', 'y'], delay=0.01) for _ in range(turns)])
        owners = [await store.user_id(f'browser:{number}-{i}') for i in range(turns)]
        marks: list[dict[str, Any]] = []
        conversations = []
        for owner in owners:
            marks.append({'done': asyncio.Event()})
            conversations.append(chats.draft(owner))
            conversations[-1].attach(BurningView(marks[-1]))
            chats.watch_lists(owner, lambda: burn(DRAWER_S), on_top=lambda _: burn(DRAWER_S))
        committed: list[float] = []
        add_turns = store.add_turns

        async def timed(new: Any, add_turns: Any = add_turns, committed: list[float] = committed) -> None:
            await add_turns(new)
            committed.append(time.perf_counter())

        store.add_turns = timed  # type: ignore[method-assign,assignment]
        written.clear()
        await asyncio.gather(*(c.send(f'tab={i:06d} go') for i, c in enumerate(conversations)))
        for mark in marks:
            await mark['done'].wait()
        store.add_turns = add_turns  # type: ignore[method-assign]
        requests = [(written[f'{i:06d}'.encode()] - committed[0]) * 1000 for i in range(turns)]
        texts = [(mark['text'] - committed[0]) * 1000 for mark in marks]
        figures = {'batches': len(committed), 'request_p50': statistics.median(requests), 'request_max': max(requests),
                   'text_p50': statistics.median(texts), 'text_max': max(texts)}
    await chats.shutdown()
    await upstream.aclose()
    fake.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(prog='python -m bench.page_load.turn_order', description=__doc__.splitlines()[0])
    parser.add_argument('--turns', type=int, default=50)
    parser.add_argument('--rounds', type=int, default=4)
    parser.add_argument('--against', help='also run this git commit, interleaved, e.g. main')
    parser.add_argument('--tree', help=argparse.SUPPRESS)  # a child process: run once in this tree, print JSON
    args = parser.parse_args()
    if args.tree:
        sys.path.insert(0, args.tree)
        print(json.dumps(asyncio.run(run(args.turns))))
        return
    trees = {'this tree': ROOT}
    if args.against:
        from bench.api.servers import export_tree

        trees[args.against] = export_tree(args.against, Path(tempfile.mkdtemp(prefix='nicechat-bench-turns-')))
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for number in range(args.rounds):
        for name, tree in (list(trees.items()) if number % 2 == 0 else list(reversed(trees.items()))):
            out = subprocess.run([sys.executable, __file__, '--tree', str(tree), '--turns', str(args.turns)],
                                 cwd=tree, capture_output=True, text=True, check=True)
            rows[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
            row = rows[name][-1]
            print(f'{name}: batches {row["batches"]}  request p50 {row["request_p50"]:.0f} max {row["request_max"]:.0f}'
                  f'  first text p50 {row["text_p50"]:.0f} max {row["text_max"]:.0f} ms', flush=True)
    for name, runs in rows.items():
        medians = {key: statistics.median(run[key] for run in runs) for key in ('request_p50', 'request_max',
                                                                              'text_p50', 'text_max')}
        print(f'{name} (medians of {len(runs)}): ' + '  '.join(f'{key} {value:.0f}' for key, value in medians.items()))


if __name__ == '__main__':
    main()
