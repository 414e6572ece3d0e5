"""Store benchmark: `python -m bench.store` (SQLite in a temp dir, and PostgreSQL on loopback if installed).

    python -m bench.store                   # 10,000 conversations for one owner + 10,000 of 20 others, 7 runs each
    python -m bench.store --conversations 2000 --runs 3 --no-postgres

Prints medians in milliseconds; the issue's target for listing and searching is under 200 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from app.store import open_store
from bench.store import fill, measure
from tests.services.postgres import PostgresMissing, running_postgres

TARGET_MS = 200.0


@asynccontextmanager
async def databases(postgres: bool) -> AsyncIterator[list[tuple[str, str]]]:
    """(name, URL) of an empty SQLite file and, if wanted and installed, an empty PostgreSQL database."""
    with tempfile.TemporaryDirectory(prefix='nicechat-bench-') as folder:
        found = [('SQLite', f'sqlite:///{folder}/nicechat.db')]
        if not postgres:
            yield found
            return
        try:
            with running_postgres(durable=True) as server:
                yield [*found, ('PostgreSQL', server.url(server.create_database()))]
        except PostgresMissing as missing:
            print(f'PostgreSQL skipped: {missing}')
            yield found


async def bench(url: str, shape: fill.Shape, runs: int) -> dict[str, Any]:
    """Every figure for one database."""
    store = await open_store(url)
    try:
        started = time.perf_counter()
        owner = await fill.load(store, url, shape)
        figures: dict[str, Any] = {'load s': round(time.perf_counter() - started, 1)}
        figures |= await measure.reads(store, owner, runs)
        figures |= await measure.long_conversation(store, url, owner, runs)
        figures['streamed reply, alone'] = await measure.streamed_replies(store, owner, 1)
        figures[f'streamed replies, {measure.CONCURRENT_REPLIES} at once'] = await measure.streamed_replies(
            store, owner, measure.CONCURRENT_REPLIES)
        return figures
    finally:
        await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--conversations', type=int, default=fill.Shape.conversations)
    parser.add_argument('--runs', type=int, default=7)
    parser.add_argument('--no-postgres', action='store_true')
    options = parser.parse_args()
    shape = fill.Shape(conversations=options.conversations)
    async with databases(not options.no_postgres) as found:
        for name, url in found:
            figures = await bench(url, shape, options.runs)
            print(f'## {name}: {shape.conversations:,} conversations of one owner, '
                  f'{shape.noise_owners * shape.noise_conversations:,} of {shape.noise_owners} others, '
                  f'{fill.TURNS * 2} messages each; medians of {options.runs} runs')
            for key, value in figures.items():
                if isinstance(value, dict) and 'ms' in value:
                    verdict = 'ok' if value['ms'] < TARGET_MS else f'OVER the {TARGET_MS:.0f} ms target'
                    print(f'{key:32} {value["ms"]:8.1f} ms  ({value["results"]} results; {verdict})')
                else:
                    print(f'{key:32} {json.dumps(value)}')
            print(flush=True)


if __name__ == '__main__':
    asyncio.run(main())
