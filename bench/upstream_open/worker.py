"""One measured run of `python -m bench.upstream_open`: opens and reads short replies through one checkout's Upstream.

    python bench/upstream_open/worker.py APP_DIR UPSTREAM_URL REQUESTS CONCURRENCY [PROFILE_OUT]

Imports `app.upstream` from APP_DIR (the checkout under test, put first on sys.path), warms the client up, then
runs REQUESTS streamed completions one after another, REQUESTS more CONCURRENCY at a time, then bursts of
CONCURRENCY at once on new connections (a fresh client each), each read to its end as the API's relay reads it
(`next_batch`). Prints one JSON line: this process's CPU microseconds per request
(the upstream is another process, so none of its work is counted) and the wall time, per mode.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

# A page turn's history: a system prompt and a few turns, then the prompt that tells the bench upstream what to send.
HISTORY: list[dict[str, Any]] = [
    {'role': 'system', 'content': 'You are a helpful assistant.'},
    {'role': 'user', 'content': 'What is the capital of France?'},
    {'role': 'assistant', 'content': 'Paris is the capital of France.'},
    {'role': 'user', 'content': 'tokens=4 delay=0'},
]
WARM_UP = 50


async def _one(upstream: Any) -> None:
    async with upstream.stream(HISTORY) as reply:
        text = []
        while (batch := await reply.next_batch()) is not None:
            text += [piece for _, piece in batch]
    if ''.join(text) != 't0 t1 t2 t3 ':
        raise RuntimeError(f'unexpected reply {"".join(text)!r}')


async def _sequential(upstream: Any, requests: int) -> None:
    for _ in range(requests):
        await _one(upstream)


async def _concurrent(upstream: Any, requests: int, concurrency: int) -> None:
    share, extra = divmod(requests, concurrency)
    await asyncio.gather(*(_sequential(upstream, share + (i < extra)) for i in range(concurrency)))


async def _run(url: str, requests: int, concurrency: int, profile: str | None) -> dict[str, float]:
    from app.config import load_settings
    from app.upstream import Upstream

    settings = load_settings({'OPENAI_API_KEY': 'sk-bench', 'OPENAI_BASE_URL': url, 'OPENAI_MODEL': 'bench-model'},
                             env_file=None)
    upstream = Upstream(settings)
    try:
        await _concurrent(upstream, WARM_UP, min(concurrency, WARM_UP))  # connections in the pool, code paths warm
        profiler = None
        if profile:
            import cProfile
            profiler = cProfile.Profile()
            profiler.enable()
        figures: dict[str, float] = {}
        for mode, run in (('sequential', _sequential(upstream, requests)),
                          ('concurrent', _concurrent(upstream, requests, concurrency))):
            cpu, wall = time.process_time(), time.perf_counter()
            await run
            figures[f'{mode}_cpu_us'] = (time.process_time() - cpu) * 1e6 / requests
            figures[f'{mode}_wall_us'] = (time.perf_counter() - wall) * 1e6 / requests
        # Bursts on cold connections, as when many people press Enter at once: a new client (its one-off set-up
        # not counted), then `concurrency` requests at the same time, all but one on a connection of their own.
        bursts, cpu, wall = max(1, requests // concurrency), 0.0, 0.0
        for _ in range(bursts):
            fresh = Upstream(settings)
            await _one(fresh)
            cpu, wall = cpu - time.process_time(), wall - time.perf_counter()
            await _concurrent(fresh, concurrency, concurrency)
            cpu, wall = cpu + time.process_time(), wall + time.perf_counter()
            await fresh.aclose()
        figures['cold_cpu_us'], figures['cold_wall_us'] = (x * 1e6 / (bursts * concurrency) for x in (cpu, wall))
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
        return figures
    finally:
        await upstream.aclose()


def main() -> None:
    """Run and print the figures."""
    app_dir, url, requests, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    profile = sys.argv[5] if len(sys.argv) > 5 else None
    sys.path.insert(0, app_dir)
    try:
        import uvloop  # what the app runs on (uvicorn picks it when installed)
    except ImportError:
        figures = asyncio.run(_run(url, requests, concurrency, profile))
    else:
        figures = uvloop.run(_run(url, requests, concurrency, profile))
    print(json.dumps(figures), flush=True)


if __name__ == '__main__':
    main()
