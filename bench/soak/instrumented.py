"""Run the app with a bench-only probe: `python bench/soak/instrumented.py STATS.json main.py`.

On SIGUSR1 the app's event loop writes, to STATS.json, how many asyncio tasks are alive (and what they run) and
the objects the garbage collector tracks, before and after a full collection (what is only waiting for the
collector is not a leak). The app itself has no such endpoint: the probe exists only
in the process this wrapper starts. File descriptors and memory are read from /proc by the soak itself.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import json
import os
import runpy
import signal
import sys
from typing import Any

from nicegui import app

loops: list[asyncio.AbstractEventLoop] = []


def _remember_loop() -> None:
    loops.append(asyncio.get_running_loop())


def _task_name(task: asyncio.Task[Any]) -> str:
    coro = task.get_coro()
    return getattr(coro, '__qualname__', type(coro).__name__)


def _collected() -> list[Any]:
    """Every object the collector tracks after a full collection. With app/ops/collector.py's Collector installed,
    the survivors of full passes are frozen (out of gc.get_objects()) and garbage cycles among them wait for its
    reclaim: count them too, as a reclaim would (unfreeze, collect, freeze again), without its callback freezing
    the survivors before they are listed. Without it (trees before it), as before: start-up's frozen objects apart."""
    collector = [callback for callback in gc.callbacks
                 if type(getattr(callback, '__self__', None)).__name__ == 'Collector']
    if not collector:
        gc.collect()
        return gc.get_objects()
    for callback in collector:
        gc.callbacks.remove(callback)
    try:
        gc.unfreeze()
        gc.collect()
        live = gc.get_objects()
        gc.freeze()
    finally:
        gc.callbacks.extend(collector)
    return live


def _write_stats(path: str) -> None:
    tasks = asyncio.all_tasks(loops[0])
    tracked = len(gc.get_objects()) + gc.get_freeze_count()
    live = _collected()
    stats = {'tasks': len(tasks), 'task_kinds': collections.Counter(_task_name(t) for t in tasks).most_common(12),
             'gc_tracked': tracked, 'gc_live': len(live), 'pid': os.getpid(),
             'live_types': dict(collections.Counter(type(o).__qualname__ for o in live)),
             'call_identities': collections.Counter(
                 getattr(o.call, '__qualname__', type(o.call).__qualname__) for o in live
                 if type(o).__name__ == '_CallIdentity').most_common(5)}
    temporary = path + '.tmp'
    with open(temporary, 'w') as file:
        json.dump(stats, file)
    os.replace(temporary, path)


if __name__ == '__main__':
    out, script = sys.argv[1], sys.argv[2]
    sys.argv = [script]
    sys.path.insert(0, '.')
    app.on_startup(_remember_loop)
    # Runs between two callbacks of the loop, never inside one: the task set is consistent.
    signal.signal(signal.SIGUSR1, lambda *_: loops[0].call_soon_threadsafe(_write_stats, out))
    runpy.run_path(script, run_name='__main__')
