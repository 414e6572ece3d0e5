"""Run the app with a bench-only probe: `python bench/tab_cycles/probe.py REPORT.json main.py`.

On SIGUSR2 the app's event loop runs one full pass of the garbage collector over everything (frozen objects
included, as app/ops/collector.py's reclaim does) with `gc.DEBUG_SAVEALL`, so what the pass would free is kept in
`gc.garbage` instead, and appends to REPORT.json what that was: the objects, the reference cycles among them (the
strongly connected components of their references) grouped by the types in each, and how many objects each kind of
cycle holds (reachable from it). What reference counting frees never shows here: only what waits for the collector.
The app itself has no such hook: it exists only in the process this wrapper starts.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import json
import runpy
import signal
import sys
from typing import Any

from nicegui import app

loops: list[asyncio.AbstractEventLoop] = []
# Types that only carry others (an object's __dict__, a bound method's tuple...): a cycle is named by the rest.
CARRIERS = {'dict', 'list', 'tuple', 'cell', 'ReferenceType', 'set', 'frozenset'}


def _remember_loop() -> None:
    loops.append(asyncio.get_running_loop())


def name(obj: Any) -> str:
    """The object's type, and for a function or method the code it runs."""
    kind = type(obj)
    if kind.__name__ in ('function', 'method'):
        function = getattr(obj, '__func__', obj)
        return f'{kind.__name__} {function.__module__}.{function.__qualname__}'
    return f'{kind.__module__}.{kind.__qualname__}' if kind.__module__ != 'builtins' else kind.__qualname__


def components(objects: list[Any]) -> list[list[Any]]:
    """The strongly connected components of the references among `objects` (Tarjan's, iterative)."""
    by_id = {id(obj): obj for obj in objects}
    edges = {key: [id(ref) for ref in gc.get_referents(obj) if id(ref) in by_id] for key, obj in by_id.items()}
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    stack: list[int] = []
    on_stack: set[int] = set()
    found: list[list[Any]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, position = work.pop()
            if position == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            for next_position in range(position, len(edges[node])):
                target = edges[node][next_position]
                if target not in index:
                    work += [(node, next_position + 1), (target, 0)]
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                if low[node] == index[node]:
                    component = []
                    while (member := stack.pop()) != node:
                        on_stack.discard(member)
                        component.append(by_id[member])
                    on_stack.discard(node)
                    component.append(by_id[node])
                    found.append(component)
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
    return found


def summary(garbage: list[Any]) -> dict[str, Any]:
    """The cycles in `garbage` by kind: how many, their objects, and the objects reachable from them."""
    by_id = {id(obj): obj for obj in garbage}
    cycles = [c for c in components(garbage) if len(c) > 1 or any(ref is c[0] for ref in gc.get_referents(c[0]))]
    kinds: dict[str, dict[str, int]] = collections.defaultdict(lambda: {'cycles': 0, 'objects': 0, 'reach': 0})
    for cycle in cycles:
        kind = ' + '.join(sorted({name(obj) for obj in cycle if type(obj).__name__ not in CARRIERS})) or 'builtins'
        seen = {id(obj) for obj in cycle}
        todo = list(cycle)
        while todo:
            for ref in gc.get_referents(todo.pop()):
                if id(ref) in by_id and id(ref) not in seen:
                    seen.add(id(ref))
                    todo.append(ref)
        kinds[kind]['cycles'] += 1
        kinds[kind]['objects'] += len(cycle)
        kinds[kind]['reach'] += len(seen)
    return {'garbage': len(garbage), 'in_cycles': sum(len(c) for c in cycles),
            'kinds': dict(sorted(kinds.items(), key=lambda item: -item[1]['reach']))}


def report(path: str) -> None:
    """What a full pass over everything would free now, as one line of `path` (see the module docstring)."""
    callbacks = list(gc.callbacks)  # the collector's freeze after a full pass: not during this one
    gc.callbacks.clear()
    try:
        gc.unfreeze()
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        garbage = list(gc.garbage)
        gc.garbage.clear()
        gc.set_debug(0)
        line = json.dumps(summary(garbage))
        del garbage
        gc.collect()  # and now free it
        gc.freeze()
    finally:
        gc.callbacks.extend(callbacks)
    with open(path, 'a') as file:
        file.write(line + '\n')


if __name__ == '__main__':
    out, script = sys.argv[1], sys.argv[2]
    sys.argv = [script]
    sys.path.insert(0, '.')
    app.on_startup(_remember_loop)
    # Runs between two callbacks of the loop, never inside one.
    signal.signal(signal.SIGUSR2, lambda *_: loops[0].call_soon_threadsafe(report, out))
    runpy.run_path(script, run_name='__main__')
