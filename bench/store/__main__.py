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
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from itertools import count
from typing import Any

from app.store import migrate, open_store
from app.store.engine import create_engine, writer
from app.store.urls import async_url
from bench.store import fill, measure
from tests.services.postgres import PostgresMissing, running_postgres

TARGET_MS = 200.0
BEFORE_SEARCH_INDEX = '0002'  # the revision before the search index (0003)
NewDatabase = Callable[[], str]  # makes an empty database; its URL


@asynccontextmanager
async def databases(postgres: bool) -> AsyncIterator[list[tuple[str, NewDatabase]]]:
    """(name, maker of empty databases) for SQLite files and, if wanted and installed, PostgreSQL."""
    with tempfile.TemporaryDirectory(prefix='nicechat-bench-') as folder:
        files = count(1)
        found: list[tuple[str, NewDatabase]] = [('SQLite', lambda: f'sqlite:///{folder}/bench-{next(files)}.db')]
        if not postgres:
            yield found
            return
        try:
            with running_postgres(durable=True) as server:
                yield [*found, ('PostgreSQL', lambda: server.url(server.create_database()))]
        except PostgresMissing as missing:
            print(f'PostgreSQL skipped: {missing}')
            yield found


async def bench(new_database: NewDatabase, shape: fill.Shape, runs: int) -> dict[str, Any]:
    """Every figure for one kind of database."""
    url = new_database()
    # Load at 0002, then open (migrating to head) as an upgraded installation would: the bulk load is quicker
    # without the search index, and building it over existing data is a figure of its own.
    engine = create_engine(async_url(url))
    try:
        await migrate.upgrade(writer(engine), BEFORE_SEARCH_INDEX)
        started = time.perf_counter()
        owner = await fill.load(engine, shape)
        figures: dict[str, Any] = {'bulk load s': round(time.perf_counter() - started, 1)}
    finally:
        await engine.dispose()
    started = time.perf_counter()
    store = await open_store(url)
    figures[f'open, upgrading {BEFORE_SEARCH_INDEX} -> head, s'] = round(time.perf_counter() - started, 1)
    figures['database MB'] = round(await measure.database_bytes(url) / 1e6, 1)
    try:
        figures |= await measure.reads(store, owner, runs)
        figures |= await measure.long_conversation(store, owner, runs)
        figures['streamed reply, alone'] = await measure.streamed_replies(store, owner, 1)
        figures[f'streamed replies, {measure.CONCURRENT_REPLIES} at once'] = await measure.streamed_replies(
            store, owner, measure.CONCURRENT_REPLIES)
    finally:
        await store.close()
    figures |= await measure.bytes_per_thousand(new_database(), BEFORE_SEARCH_INDEX)
    return figures


def report(name: str, shape: fill.Shape, runs: int, figures: dict[str, Any]) -> None:
    """Print one database's figures."""
    print(f'## {name}: {shape.conversations:,} conversations of one owner, '
          f'{shape.noise_owners * shape.noise_conversations:,} of {shape.noise_owners} others, '
          f'{fill.TURNS * 2} messages each; medians of {runs} runs')
    for key, value in figures.items():
        if isinstance(value, dict) and 'ms' in value:
            verdict = 'ok' if value['ms'] < TARGET_MS else f'OVER the {TARGET_MS:.0f} ms target'
            print(f'{key:36} {value["ms"]:8.1f} ms  ({value["results"]} results; {verdict})')
        else:
            print(f'{key:36} {json.dumps(value)}')
    print(flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--conversations', type=int, default=fill.Shape.conversations)
    parser.add_argument('--runs', type=int, default=7)
    parser.add_argument('--no-postgres', action='store_true')
    options = parser.parse_args()
    shape = fill.Shape(conversations=options.conversations)
    async with databases(not options.no_postgres) as found:
        for name, new_database in found:
            report(name, shape, options.runs, await bench(new_database, shape, options.runs))


if __name__ == '__main__':
    asyncio.run(main())
