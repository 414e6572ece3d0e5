"""Runs one version of the app for the page load bench: bench/chat/launch.py's probes, plus a sampling profiler.

    python bench/page_load/launch.py APP_DIR

With `NICECHAT_BENCH_SAMPLE=1`, `POST /bench/profile/start` starts sampling the main thread's stack (the event loop)
every SAMPLE_INTERVAL of process CPU time (SIGPROF: no py-spy or perf on this machine), and `POST /bench/profile/stop`
answers what it saw: stacks as `file:function` frames, with counts. Without it nothing is added.
`NICECHAT_BENCH_UVICORN` (JSON, e.g. `{"ws": "websockets-sansio", "ws_per_message_deflate": false}`) overrides those
settings of the app's `uvicorn.Config` (the bench's `--variant`). `NICECHAT_BENCH_SOCKET=1` adds the routes of
bench/page_load/socket_messages.py.
Standalone on purpose, like bench/chat/launch.py: APP_DIR may be another commit's tree.
"""

from __future__ import annotations

import collections
import gc
import json
import os
import runpy
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

# CPU seconds between two samples. ITIMER_PROF counts the process's CPU time, so samples fall in proportion to CPU
# spent (a thread that waits for the GIL would sample mostly where the loop releases it, i.e. when it is idle).
SAMPLE_INTERVAL = 0.001
CHAT_LAUNCH = Path(__file__).resolve().parents[1] / 'chat' / 'launch.py'


class Sampler:
    """A statistical CPU profiler of the main thread: SIGPROF every SAMPLE_INTERVAL of CPU, the stack counted."""

    def __init__(self) -> None:
        self.stacks: collections.Counter[tuple[str, ...]] = collections.Counter()

    def start(self) -> None:
        self.stacks.clear()
        signal.signal(signal.SIGPROF, self._sample)
        signal.setitimer(signal.ITIMER_PROF, SAMPLE_INTERVAL, SAMPLE_INTERVAL)

    def stop(self) -> list[tuple[list[str], int]]:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        signal.signal(signal.SIGPROF, signal.SIG_IGN)
        return [(list(stack), count) for stack, count in self.stacks.most_common()]

    def _sample(self, _signal: int, frame: FrameType | None) -> None:
        stack = []
        while frame is not None:
            code = frame.f_code
            stack.append(f'{_short(code.co_filename)}:{code.co_name}')
            frame = frame.f_back
        self.stacks[tuple(reversed(stack))] += 1


def _short(path: str) -> str:
    for marker in ('site-packages/', 'python3.11/'):
        if marker in path:
            return path.split(marker, 1)[1]
    return '/'.join(path.split('/')[-3:])  # the project's own files: app/chat/conversation.py


def _routes(sampler: Sampler) -> None:
    from nicegui import app

    @app.post('/bench/profile/start')
    async def start() -> dict[str, Any]:
        sampler.start()
        return {'started': time.time()}

    @app.post('/bench/profile/stop')
    async def stop() -> dict[str, Any]:
        return {'stacks': sampler.stop()}


def _socket_routes() -> None:
    """`POST /bench/socket/sends?client_id=&n=`: `n` streamed sends to that tab, as a reply's send timer makes them
    (a StreamingMarkdown's append, then its timer firing), in one step; answers the loop thread's CPU for them.
    `GET /bench/socket/cpu`: the loop thread's CPU so far (what the tab's messages to the server cost, by difference).
    For bench/page_load/socket_messages.py."""
    import asyncio

    from nicegui import Client, app

    @app.post('/bench/socket/sends')
    async def sends(client_id: str, n: int = 200, text: str = 'word ') -> dict[str, Any]:
        from components.streaming_markdown import StreamingMarkdown

        client = Client.instances[client_id]
        with client.layout:
            markdown = StreamingMarkdown()
        await asyncio.sleep(0.2)  # the element's update goes out first (the outbox loop's next turn), not timed
        cpu = time.thread_time()
        for _ in range(n):
            markdown.append(text)
            markdown._timer_fired()
        cpu = time.thread_time() - cpu
        markdown.delete()
        return {'cpu_s': cpu, 'next_message_id': client.outbox.next_message_id}

    @app.get('/bench/socket/cpu')
    async def loop_cpu() -> dict[str, Any]:
        return {'cpu_s': time.thread_time()}


# Seconds between two looks at the event loop's lateness, and the lateness (seconds) worth recording as a stall.
TICK = 0.01
STALL = 0.02


def _stall_routes() -> None:
    """`GET /bench/stalls`: each time the event loop ran a TICK timer at least STALL late, as [wall time it was due,
    seconds late] (a long step, or the process starved of CPU), and each pass of the garbage collector over
    generation 1 or 2 that took 5 ms or more, as [wall time it started, generation, seconds, objects freed], from
    the app's start or the last `DELETE`."""
    import asyncio

    from nicegui import app

    stalls: list[tuple[float, float]] = []

    async def watch() -> None:
        while True:
            due = time.monotonic() + TICK
            await asyncio.sleep(TICK)
            if (late := time.monotonic() - due) >= STALL:
                stalls.append((time.time() - late, round(late, 4)))

    tasks: set[asyncio.Task[None]] = set()
    app.on_startup(lambda: tasks.add(asyncio.create_task(watch())))
    collections_: list[tuple[float, int, float, int]] = []  # the collector's passes of generation 1 and 2
    started = [0.0]

    def on_collect(phase: str, info: dict[str, Any]) -> None:
        if info['generation'] == 0:
            return
        if phase == 'start':
            started[0] = time.perf_counter()
        elif (took := time.perf_counter() - started[0]) >= 0.005:
            collections_.append((time.time() - took, info['generation'], round(took, 4), info['collected']))
    gc.callbacks.append(on_collect)

    @app.get('/bench/stalls')
    async def list_stalls() -> dict[str, Any]:
        return {'stalls': stalls, 'collections': collections_, 'gc_counts': gc.get_count(),
                'gc_frozen': gc.get_freeze_count(), 'gc_stats': gc.get_stats()}

    @app.delete('/bench/stalls')
    async def forget() -> dict[str, Any]:
        stalls.clear()
        collections_.clear()
        return {}


def _uvicorn_settings(settings: dict[str, Any]) -> None:
    import uvicorn

    init = uvicorn.Config.__init__

    def configured(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **{**kwargs, **settings})

    uvicorn.Config.__init__ = configured  # type: ignore[method-assign]


def main() -> None:
    if settings := os.environ.get('NICECHAT_BENCH_UVICORN'):
        _uvicorn_settings(json.loads(settings))
    if os.environ.get('NICECHAT_BENCH_SAMPLE'):
        _routes(Sampler())
    if os.environ.get('NICECHAT_BENCH_SOCKET'):
        _socket_routes()
    _stall_routes()
    sys.argv = [str(CHAT_LAUNCH), *sys.argv[1:]]
    runpy.run_path(str(CHAT_LAUNCH), run_name='__main__')


if __name__ == '__main__':
    main()
