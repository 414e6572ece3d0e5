"""The page work of one chat turn, alone: `python -m bench.turn_cost [--turns 150] [--rounds 5] [--against main]`.

Per turn, in a fresh NiceGUI client holding a real chat page (components/chat.py) and drawer (components/sidebar.py)
with no conversations yet, as a tab opened on '/' has: the two message views of the turn (`ChatPage.on_message` for
the prompt and for the streaming reply), the drawer's entry for the new conversation (`Sidebar.moved_to_top`), the
reply's first text (`on_delta`: the waiting dots go) and its end (`on_finish`). For each step: server time to run
it and the tasks it left for the loop (median over the turns, µs), then to serialize what the outbox would send for
it (every updated element's `_to_dict` and each message, JSON as socket.io sends them), the elements made and the
bytes. No socket, no store: only what the page builds, the cost bench/page_load sees per turn as MessageView,
_entry and on_finish.

Runs in a child process per tree (this one and, with `--against`, a git commit exported to a temporary folder),
rounds interleaved, each child with NiceGUI's `expects_arguments` cache installed as the app does. The medians of
the rounds' medians are printed, and the ratio this tree / the other. One child alone, profiled (where the
steps' time goes, sorted by a pstats key): `TURN_COST_PROFILE=tottime python bench/turn_cost/__main__.py --child
150 30`.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

STEPS = ('views', 'sidebar', 'first', 'finish')
PROMPT = 'tokens=200 delay=0.05 tab=bench'
REPLY = ' '.join(f'word{n}' for n in range(200))


class _Conversation:
    """What the chat page reads of a new, empty conversation."""

    model = 'bench-model'
    title = 'bench'
    busy = False
    stored = False
    system_prompt = None

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.settings: dict[str, Any] = {}
        self.tree = self

    def versions(self, message: Any) -> list[Any]:
        return [message]

    def attach(self, view: Any) -> None:
        pass

    def detach(self, view: Any) -> None:
        pass


async def _child(turns: int, warmup: int) -> None:
    """Time `turns` turns (after `warmup` untimed ones) in the tree that is the current directory."""
    import datetime as dt

    from nicegui import core, ui
    from nicegui import json as nicegui_json
    from nicegui.client import Client
    from nicegui.outbox import Deleted
    from nicegui.page import page

    from app.chat.message import Message
    from app.store.records import ConversationSummary
    from app.web import signatures
    from components import chat, sidebar
    from components.person_menu import Person

    signatures.install()
    core.loop = asyncio.get_running_loop()  # as in the app: run_method sends (without a loop it does nothing)

    async def nothing(*args: Any) -> Any:
        return []

    person = Person(import_json=nothing, delete_all=nothing, max_tokens_limit=4096, save_image=nothing)
    samples: dict[str, list[float]] = {f'{step}{kind}': [] for step in STEPS for kind in ('', '_send')}
    counts: dict[str, list[int]] = {f'{step}{kind}': [] for step in STEPS for kind in ('_elements', '_bytes')}

    def drain(client: Client) -> tuple[float, int]:
        """Serialize what the outbox holds as its loop would (updates, then messages); its time and bytes."""
        start = time.perf_counter()
        outbox = client.outbox
        sent = 0
        if outbox.updates:
            data = {key: None if isinstance(element, Deleted) else element._to_dict()
                    for key, element in outbox.updates.items()}
            sent += len(nicegui_json.dumps(['update', data]).encode())
        for _, kind, payload in outbox.messages:
            sent += len(nicegui_json.dumps([kind, payload]).encode())
        outbox.updates.clear()
        outbox.messages.clear()
        return time.perf_counter() - start, sent

    profiler = cProfile.Profile() if os.environ.get('TURN_COST_PROFILE') else None
    for turn in range(warmup + turns):
        client = Client(page('/'), request=None)
        with client:
            with ui.left_drawer(value=False):
                bar = sidebar.Sidebar(load=nothing, rename=nothing, delete=nothing, current_id=f'c{turn}')
            await bar.refresh()
            view = chat.create(_Conversation(), models=['bench-model'], demo=False, person=person)  # type: ignore
            drain(client)
            steps = _steps(view, bar, turn, Message, ConversationSummary(f'c{turn}', PROMPT, dt.datetime.now(dt.UTC)))
            for step, run in steps.items():
                made = client.next_element_id
                if profiler is not None and turn >= warmup:
                    profiler.enable()
                start = time.perf_counter()
                run()
                await asyncio.sleep(0)  # what the step left for the loop (run_method's send is a task) runs too
                took = time.perf_counter() - start
                if profiler is not None:
                    profiler.disable()
                send, sent = drain(client)
                if turn >= warmup:
                    samples[step].append(took * 1e6)
                    samples[f'{step}_send'].append(send * 1e6)
                    counts[f'{step}_elements'].append(client.next_element_id - made)
                    counts[f'{step}_bytes'].append(sent)
        client.delete()
        await asyncio.sleep(0)
    if profiler is not None:  # where the steps' time goes, to stderr (TURN_COST_PROFILE=1 with --child)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats(os.environ['TURN_COST_PROFILE']).print_stats(40)
    result = {name: statistics.median(values) for name, values in {**samples, **counts}.items()}
    print(json.dumps(result), flush=True)


def _steps(view: Any, bar: Any, turn: int, message: Any, summary: Any) -> dict[str, Callable[[], object]]:
    """One turn's page work, step by step, as the chat runtime calls it."""
    prompt = message(f'u{turn}', 'user', PROMPT)
    reply = message(f'a{turn}', 'assistant', '', status='streaming', parent_id=prompt.id)

    def finish() -> None:
        reply.content, reply.status = REPLY, 'complete'
        reply.usage = {'prompt_tokens': 12, 'completion_tokens': 200}
        reply.timing = {'ttft_s': 0.42, 'total_s': 10.4}
        view.on_finish(reply)

    return {'views': lambda: (view.on_message(prompt), view.on_message(reply)),
            'sidebar': lambda: bar.moved_to_top(summary),
            'first': lambda: view.on_delta(reply, 'word0'),
            'finish': finish}


def _table(figures: dict[str, dict[str, float]], names: list[str]) -> str:
    """Steps as rows: µs (run + send), elements, bytes per tree; the ratio of the first tree to the second."""
    lines = []
    header = f'{"step":<8}' + ''.join(f'{name[:18]:>36}' for name in names) + ('   ratio' if len(names) > 1 else '')
    lines.append(header)
    total = dict.fromkeys(names, 0.0)
    for step in (*STEPS, 'turn'):
        row = f'{step:<8}'
        cost = {}
        for name in names:
            f = figures[name]
            if step == 'turn':
                run = sum(f[s] for s in STEPS)
                send = sum(f[f'{s}_send'] for s in STEPS)
                made = sum(f[f'{s}_elements'] for s in STEPS)
                sent = sum(f[f'{s}_bytes'] for s in STEPS)
            else:
                run, send, made, sent = f[step], f[f'{step}_send'], f[f'{step}_elements'], f[f'{step}_bytes']
                total[name] += run + send
            cost[name] = run + send
            row += f'{run:8.0f} + {send:5.0f} µs {made:4.0f} el {sent:6.0f} B'
        if len(names) > 1:
            row += f'   {cost[names[0]] / cost[names[1]]:.2f}'
        lines.append(row)
    return '\n'.join(lines)


def main() -> None:
    from bench.api.servers import ROOT, export_tree

    parser = argparse.ArgumentParser(prog='python -m bench.turn_cost', description=__doc__.splitlines()[0])
    parser.add_argument('--turns', type=int, default=150, help='timed turns per run (default 150)')
    parser.add_argument('--warmup', type=int, default=30, help='untimed turns first (default 30)')
    parser.add_argument('--rounds', type=int, default=5, help='runs per tree (default 5)')
    parser.add_argument('--against', help='also run this git commit, interleaved, e.g. main')
    args = parser.parse_args()
    trees = {'this tree': ROOT}
    work = Path(tempfile.mkdtemp(prefix='nicechat-bench-turn-'))
    if args.against:
        trees[args.against] = export_tree(args.against, work / 'other')
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for round_ in range(args.rounds):
        for name, tree in (list(trees.items()) if round_ % 2 == 0 else list(reversed(trees.items()))):
            out = subprocess.run([sys.executable, __file__, '--child', str(args.turns), str(args.warmup)], cwd=tree,
                                 capture_output=True, text=True, check=True).stdout
            runs[name].append(json.loads(out.strip().splitlines()[-1]))
            f = runs[name][-1]
            print(f'round {round_ + 1} {name}: ' + ', '.join(f'{s} {f[s] + f[s + "_send"]:.0f} µs' for s in STEPS),
                  flush=True)
    figures = {name: {key: statistics.median(run[key] for run in values) for key in values[0]}
               for name, values in runs.items()}
    print(f'\nmedians of {args.rounds} rounds x {args.turns} turns (run + serialize µs, elements made, bytes out):')
    print(_table(figures, list(trees)))


if __name__ == '__main__':
    if sys.argv[1:2] == ['--child']:
        sys.path[0] = os.getcwd()  # the tree under test, not this folder
        import uvloop

        uvloop.run(_child(int(sys.argv[2]), int(sys.argv[3])))
    else:
        main()
