"""Benchmarks of "Conversations that last": `python -m bench.chat` (needs chromium and chromedriver).

Method and figures: docs/conversations.md.

    python -m bench.chat               # all three parts, 5 rounds each (about 13 minutes; seeding once adds ~3)
    python -m bench.chat --rounds 3 --only reply
    python -m bench.chat --rounds 3 --redis   # a streamed reply with REDIS_URL vs without (about 5 minutes)

1. reply: a streamed reply with the database on (this tree) vs the design before it (commit 602d8fe), A/B rounds.
2. history: opening a conversation of 1,000 messages, its last 10, 20 or 50 messages first vs all at once.
3. drawer: a person with 10,000 conversations opens the drawer and searches it.

Everything runs on loopback: the bench upstream, the apps (live `main.py` processes), headless Chromium.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.api.servers import ROOT, Server, start_upstream
from components.chat import FIRST_SCREEN
from components.sidebar import SEARCH_DEBOUNCE_MS
from tests.services.redis import RedisServer

from . import apps, drawer, history, report, streaming
from .browser import ChatBrowser
from .seed import MANY_PERSON, seeded_database

PARTS = ('reply', 'history', 'drawer')
# FIRST_SCREEN for the "all at once" app: more than the conversation has.
ALL_AT_ONCE = '100000'
# A checkpoint interval longer than any reply: what the replies cost without their checkpoints.
NO_CHECKPOINTS = '3600'
# First screens to compare (besides the app's own FIRST_SCREEN).
FIRST_SCREENS = (10, 20, 50)
# Search debounces to compare (besides the app's own SEARCH_DEBOUNCE_MS): 250 ms was the app's before these figures.
DEBOUNCES = (100, 250)
# `--redis`: the baseline app's name, and how much more server CPU per reply the app with REDIS_URL may take.
SINGLE_INSTANCE = 'database, one instance (no REDIS_URL)'
REDIS_CPU_MARGIN = 0.25


def load_average() -> float:
    """The machine's 1-minute load average: how much else ran (2 cores here, shared with other work)."""
    return round(os.getloadavg()[0], 1)


def log(line: str) -> None:
    """Progress, as it happens."""
    print(line, flush=True)


def main() -> None:
    """Start the upstream and the apps, run the parts, print and save the figures; stop everything."""
    parser = argparse.ArgumentParser(prog='python -m bench.chat', description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=5, help='rounds of each measurement (default 5)')
    parser.add_argument('--only', choices=PARTS, action='append', help='run only this part (repeatable)')
    parser.add_argument('--redis', action='store_true',
                        help='instead of the parts: streamed replies of this app with REDIS_URL (a throwaway '
                        'redis-server) against the same app without it')
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a plain kill still stops the apps and the browser
    if args.redis:
        with_redis(args.rounds)
        return
    parts = args.only or list(PARTS)
    work = Path(tempfile.mkdtemp(prefix='nicechat-bench-chat-'))
    started: list[Server | apps.App] = []
    results: dict[str, Any] = {'rounds': args.rounds, 'command': ' '.join(['python -m bench.chat', *sys.argv[1:]]),
                               'load_average': {}}
    try:
        upstream, upstream_url = start_upstream(work)
        started.append(upstream)
        database, seeded = seeded_database(work / 'seeded', log)
        full = apps.start('database-10k', ROOT, upstream_url, work, person=MANY_PERSON, DATA_DIR=str(work / 'seeded'))
        started.append(full)
        with ChatBrowser() as browser:
            if 'reply' in parts:
                log('1. streamed replies: database on (empty, and 10,000 conversations) vs the old design ...')
                empty = apps.start('database', ROOT, upstream_url, work, DATA_DIR=str(work / 'empty'))
                unsaved = apps.start('no-checkpoints', ROOT, upstream_url, work, DATA_DIR=str(work / 'unsaved'),
                                     NICECHAT_BENCH_CHECKPOINT_INTERVAL=NO_CHECKPOINTS)
                old = apps.start('old-602d8fe', apps.export_old(work / 'old'), upstream_url, work)
                started += [empty, unsaved, old]
                replies = {'database, new person': empty, 'database, 10,000 conversations': full,
                           'database, no checkpoints while streaming (attribution only)': unsaved,
                           f'before the database ({apps.OLD_COMMIT})': old}
                load = load_average()
                results['reply'] = streaming.run(browser, replies, args.rounds, log)
                results['load_average']['reply'] = [load, load_average()]
                for app in (empty, unsaved, old):
                    app.stop()
            if 'history' in parts:
                log(f'2. opening a conversation of 1,000 messages ({seeded.long_chars:,} characters) ...')
                path = f'/c/{seeded.long_conversation}'
                pages = {'new chat, no messages (the floor)': (full, '/')}
                others = []
                for count in sorted({*FIRST_SCREENS, FIRST_SCREEN}):
                    if count == FIRST_SCREEN:
                        pages[f'last {count} first (the app)'] = (full, path)
                        continue
                    others.append(apps.start(f'first-{count}', ROOT, upstream_url, work, person=MANY_PERSON,
                                             DATA_DIR=str(work / 'seeded'), NICECHAT_BENCH_FIRST_SCREEN=str(count)))
                    pages[f'last {count} first'] = (others[-1], path)
                others.append(apps.start('all-at-once', ROOT, upstream_url, work, person=MANY_PERSON,
                                         DATA_DIR=str(work / 'seeded'), NICECHAT_BENCH_FIRST_SCREEN=ALL_AT_ONCE))
                pages['all 1,000 at once'] = (others[-1], path)
                started += others
                load = load_average()
                results['history'] = history.run(browser, pages, args.rounds, log)
                results['load_average']['history'] = [load, load_average()]
                results['history_chars'] = seeded.long_chars
                for app in others:
                    app.stop()
            if 'drawer' in parts:
                log(f'3. the drawer with {seeded.many_conversations:,} conversations '
                    f'({seeded.many_chars / 1e6:.1f} MB of message text) ...')
                searches = {f'debounce {SEARCH_DEBOUNCE_MS} ms (the app)': (full, SEARCH_DEBOUNCE_MS)}
                for value in sorted(set(DEBOUNCES) - {SEARCH_DEBOUNCE_MS}):
                    other = apps.start(f'debounce-{value}', ROOT, upstream_url, work, person=MANY_PERSON,
                                       DATA_DIR=str(work / 'seeded'), NICECHAT_BENCH_SEARCH_DEBOUNCE_MS=str(value))
                    started.append(other)
                    searches[f'debounce {value} ms'] = (other, value)
                load = load_average()
                results['drawer'] = drawer.run(browser, searches, f'sqlite:///{database}', args.rounds, log)
                results['load_average']['drawer'] = [load, load_average()]
                results['drawer_chars'] = seeded.many_chars
    finally:
        for process in reversed(started):
            process.stop()
        _save(results, work)  # what was measured, even if a later part failed


def with_redis(rounds: int) -> None:
    """Part 1's replies, A/B: this app as one instance, and with REDIS_URL (replies published to a Redis Stream in
    one pipelined round trip per batch, NiceGUI's storage and the rate-limit counters in Redis)."""
    work = Path(tempfile.mkdtemp(prefix='nicechat-bench-chat-'))
    redis = RedisServer().start()
    started: list[Server | apps.App] = []
    results: dict[str, Any] = {'rounds': rounds, 'command': ' '.join(['python -m bench.chat', *sys.argv[1:]]),
                               'load_average': {}, 'reply_baseline': SINGLE_INSTANCE,
                               'reply_margin': REDIS_CPU_MARGIN}
    try:
        upstream, upstream_url = start_upstream(work)
        started.append(upstream)
        single = apps.start('single', ROOT, upstream_url, work, DATA_DIR=str(work / 'single'))
        shared = apps.start('redis', ROOT, upstream_url, work, DATA_DIR=str(work / 'redis'), REDIS_URL=redis.url())
        started += [single, shared]
        with ChatBrowser() as browser:
            log('streamed replies: one instance vs the same app with REDIS_URL ...')
            load = load_average()
            results['reply'] = streaming.run(browser, {SINGLE_INSTANCE: single, 'database, REDIS_URL': shared},
                                             rounds, log)
            results['load_average']['reply'] = [load, load_average()]
        with redis.client() as client:  # proof that the replies went through Redis
            results['redis_commands'] = {name.removeprefix('cmdstat_'): stat['calls']
                                         for name, stat in client.info('commandstats').items()}
    finally:
        for process in reversed(started):
            process.stop()
        redis.close()
        _save(results, work)


def _save(results: dict[str, Any], work: Path) -> None:
    print('\n'.join(['', *report.tables(results)]))
    out = ROOT / 'bench' / 'results' / f'chat-{time.strftime("%Y%m%d-%H%M%S")}.json'
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f'\nsaved {out.relative_to(ROOT)}; app logs in {work}')
    shutil.rmtree(work / 'seeded', ignore_errors=True)  # 80 MB; the seeded original stays cached
    shutil.rmtree(work / 'old', ignore_errors=True)


if __name__ == '__main__':
    main()
