"""The page under load: `python -m bench.page_load` (`python3 dev.py bench page_load`); Linux (/proc).

Opens many simulated browser tabs (bench/page_load/tab.py: NiceGUI's socket.io protocol as nicegui.js speaks it)
on one app process; each types a prompt, presses Enter and receives a paced reply from the stamping bench upstream
(200 deltas 50 ms apart by default). Per run: failures (a reply not exactly the expected text, lost or repeated
text included), delta-to-client latency p50/p99/max (upstream write to tab receipt, one clock), Enter to first text,
server CPU per streamed delta, RSS per connected tab, per tab with its reply, and kept after the tabs closed.

    python -m bench.page_load                                  # 50 100 200 300 400 tabs against this tree
    python -m bench.page_load --tabs 200,400 --against main    # A/B: this tree and `main`, interleaved
    python -m bench.page_load --tabs 200 --profile             # plus where the server's time goes while streaming
    python -m bench.page_load --tabs 200 --variant 'sansio={"ws": "websockets-sansio"}'   # this tree, other settings

The tabs offer permessage-deflate as Chromium does (`--client-deflate off`: none, as the bench did before).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.api.servers import ROOT, Server, cpu_seconds, export_tree, free_port
from bench.api.upstream import token

from . import profile

LAUNCH = ROOT / 'bench' / 'page_load' / 'launch.py'
# Seconds a closed tab's client lives on in the app (NiceGUI's reconnect_timeout, 3 s) plus slack: after this the
# RSS counts only what stays, i.e. the stored conversations.
CLIENT_GONE = 6.0


def main() -> None:
    parser = argparse.ArgumentParser(prog='python -m bench.page_load', description=__doc__.splitlines()[0])
    parser.add_argument('--tabs', default='50,100,200,300,400', help='tab counts, comma-separated')
    parser.add_argument('--tokens', type=int, default=200, help='deltas per reply (default 200)')
    parser.add_argument('--delay', type=float, default=0.05, help='seconds between deltas (default 0.05)')
    parser.add_argument('--ramp', type=float, default=1.0, help='tabs press Enter within this many seconds')
    parser.add_argument('--workers', type=int, default=2, help='client processes the tabs are spread over')
    parser.add_argument('--rounds', type=int, default=1, help='repeat every tab count this often')
    parser.add_argument('--against', help='also run this git commit (A/B, interleaved), e.g. main')
    parser.add_argument('--profile', action='store_true', help='sample the server while it streams')
    parser.add_argument('--variant', action='append', default=[], metavar='NAME=JSON',
                        help='also run this tree with these uvicorn.Config settings, e.g. \'plain={"ws_per_message_'
                             'deflate": false}\' (repeatable; A/B interleaved like --against)')
    parser.add_argument('--client-deflate', choices=('on', 'off'), default='on',
                        help='tabs offer permessage-deflate as Chromium does (default on)')
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix='nicechat-bench-page-'))
    started: list[Server] = []
    results: dict[str, Any] = {'command': ' '.join(['python -m bench.page_load', *sys.argv[1:]]), 'runs': []}
    try:
        port = free_port()
        upstream = Server('upstream', [sys.executable, '-m', 'bench.page_load.upstream', str(port)], {}, ROOT, work)
        started.append(upstream.wait_until(f'http://127.0.0.1:{port}'))
        stamps_url = f'http://127.0.0.1:{port}/stamps'
        apps = {'this tree': _start_app('this', ROOT, port, work, args.profile)}
        started.append(apps['this tree'][0])
        for variant in args.variant:
            name, _, settings = variant.partition('=')
            json.loads(settings)  # fails here, not in the app, when it is not JSON
            apps[name] = _start_app(name, ROOT, port, work, args.profile, settings)
            started.append(apps[name][0])
        if args.against:
            tree = export_tree(args.against, work / 'other')
            apps[args.against] = _start_app('other', tree, port, work, args.profile)
            started.append(apps[args.against][0])
        for name, (_, url) in apps.items():  # warm-up: imports, the first page, the upstream connection
            run_once(url, 2, args, stamps_url)
            print(f'{name}: warmed up', flush=True)
        counts = [int(n) for n in args.tabs.split(',')]
        for number in range(args.rounds):
            for index, tabs in enumerate(counts):
                order = list(apps.items())
                if (number + index) % 2:
                    order.reverse()
                for name, (server, url) in order:
                    row = measure(name, server, url, tabs, args, stamps_url)
                    results['runs'].append(row)
                    _print_row(row)
    finally:
        for server in reversed(started):
            server.stop()
        _save(results, work)


def _start_app(name: str, tree: Path, upstream_port: int, work: Path, sample: bool,
               uvicorn_settings: str = '') -> tuple[Server, str]:
    port = free_port()
    env = {'OPENAI_API_KEY': 'sk-bench', 'OPENAI_BASE_URL': f'http://127.0.0.1:{upstream_port}/v1',
           'OPENAI_MODEL': 'bench-model', 'UPSTREAM_RETRIES': '0', 'HOST': '127.0.0.1', 'PORT': str(port),
           'STORAGE_SECRET': 'bench-storage-secret', 'APP_PASSWORD': '', 'ALLOWED_MODELS': '', 'DATABASE_URL': '',
           'TRUSTED_USER_HEADER': '', 'DATA_DIR': str(work / f'data-{name}'), 'PYTHONUNBUFFERED': '1',
           **({'NICECHAT_BENCH_SAMPLE': '1'} if sample else {}),
           **({'NICECHAT_BENCH_UVICORN': uvicorn_settings} if uvicorn_settings else {})}
    server = Server(name, [sys.executable, str(LAUNCH), str(tree)], env, ROOT, work)
    url = f'http://127.0.0.1:{port}'
    return server.wait_until(f'{url}/bench/stats'), url


def rss_mb(pid: int) -> float:
    """Resident memory of `pid` in MB."""
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
    return math.nan


class Swarm:
    """The client processes of one run."""

    def __init__(self, url: str, tabs: int, args: argparse.Namespace) -> None:
        workers = max(1, min(args.workers, tabs))
        shares = [tabs // workers + (i < tabs % workers) for i in range(workers)]
        self.processes = [subprocess.Popen(
            [sys.executable, '-m', 'bench.page_load.swarm', url, str(share), f'w{i}-{time.time_ns()}',
             str(args.tokens), str(args.delay), str(args.ramp), args.client_deflate],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for i, share in enumerate(shares)]

    def tell(self, line: str) -> None:
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.write(line + '\n')
            process.stdin.flush()

    def hear(self) -> list[dict[str, Any]]:
        """One line from every process."""
        answers = []
        for process in self.processes:
            assert process.stdout is not None
            line = process.stdout.readline()
            if not line:
                raise RuntimeError(f'a client process ended (exit code {process.wait()})')
            answers.append(json.loads(line))
        return answers

    def kill(self) -> None:
        for process in self.processes:
            process.kill()

    def end(self) -> None:
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


def run_once(url: str, tabs: int, args: argparse.Namespace, stamps_url: str,
             on_opened: Any = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Open `tabs` tabs, send every prompt, collect the replies, close the tabs; the tabs' figures, and timings."""
    swarm = Swarm(url, tabs, args)
    marks: dict[str, Any] = {}
    try:
        opened = swarm.hear()
        marks['open_errors'] = [e for answer in opened for e in answer['errors']]
        marks['opened'] = sum(answer['opened'] for answer in opened)
        if on_opened:
            on_opened(marks)
        marks['go'] = time.time()
        swarm.tell('go')
        replies = swarm.hear()
        marks['replied'] = time.time()
        if on_opened:
            on_opened(marks)
        swarm.tell('close')
        swarm.hear()
    except BaseException:
        swarm.kill()  # interrupted, or a client process failed: do not wait for the others
        raise
    finally:
        swarm.end()
    marks['client_cpu_s'] = sum(answer['client_cpu_s'] for answer in replies)
    return [tab for answer in replies for tab in answer['tabs']], marks


def measure(name: str, server: Server, url: str, tabs: int, args: argparse.Namespace,
            stamps_url: str) -> dict[str, Any]:
    """One run of `tabs` tabs against one app: its row of figures."""
    pid = server.process.pid
    httpx.delete(stamps_url)
    httpx.delete(f'{url}/bench/stalls')
    probes: dict[str, Any] = {'rss_start': rss_mb(pid), 'load_start': os.getloadavg()[0],
                              'stats_start': httpx.get(f'{url}/bench/stats', timeout=30).json()}

    def on_phase(marks: dict[str, Any]) -> None:
        if 'go' not in marks:  # all tabs open, nothing sent yet
            probes['rss_open'] = rss_mb(pid)
            probes['cpu_go'] = cpu_seconds(pid)
            if args.profile:
                httpx.post(f'{url}/bench/profile/start')
        else:  # all replies in
            probes['cpu_done'] = cpu_seconds(pid)
            probes['rss_replied'] = rss_mb(pid)
            probes['load_end'] = os.getloadavg()[0]
            if args.profile:
                probes['profile'] = httpx.post(f'{url}/bench/profile/stop', timeout=60).json()['stacks']

    results, marks = run_once(url, tabs, args, stamps_url, on_phase)
    time.sleep(CLIENT_GONE)  # closed tabs' clients are deleted after NiceGUI's reconnect timeout
    probes['rss_closed'] = rss_mb(pid)
    probes['stats_end'] = httpx.get(f'{url}/bench/stats', timeout=30).json()
    stamps = httpx.get(stamps_url).json()
    probes['arrivals'] = httpx.get(stamps_url.replace('/stamps', '/arrivals')).json()
    probes['stalls'] = httpx.get(f'{url}/bench/stalls').json()
    return _figures(name, tabs, args, results, marks, probes, stamps)


def _figures(name: str, tabs: int, args: argparse.Namespace, results: list[dict[str, Any]], marks: dict[str, Any],
             probes: dict[str, Any], stamps: dict[str, list[float]]) -> dict[str, Any]:
    ends, end = [], 0
    for index in range(args.tokens):  # UTF-16 offset where token i ends (all ASCII: characters)
        end += len(token(index))
        ends.append(end)
    latencies: list[float] = []
    sent_at: list[float] = []  # when the upstream wrote each delta of `latencies`
    first_text: list[float] = []
    failures = [f'open: {e}' for e in marks['open_errors']] + [f'{r["tag"]}: {r["error"]}' for r in results
                                                               if r.get('error')]
    failures += ['a tab did not open'] * (tabs - marks['opened'] - len(marks['open_errors']))
    for result in results:
        sent = stamps.get(result['tag'], [])
        growth = result.get('growth') or []
        if growth:
            first_text.append(growth[0][0] - result['enter'])
        shown = 0
        for at, units in growth:
            while shown < len(sent) and ends[shown] <= units:
                latencies.append(at - sent[shown])
                sent_at.append(sent[shown])
                shown += 1
    # Deltas the upstream wrote once every tab had its first text: the streams alone, without turns starting.
    started = max((r['growth'][0][0] for r in results if r.get('growth')), default=math.inf)
    steady = [latency for latency, at in zip(latencies, sent_at, strict=True) if at >= started]
    deltas = sum(len(stamps.get(r['tag'], [])) for r in results)
    cpu = probes['cpu_done'] - probes['cpu_go']
    row = {'app': name, 'tabs': tabs, 'failures': len(failures), 'failure_samples': failures[:3],
           'resyncs': sum(r.get('resyncs', 0) for r in results),
           'latency_p50_ms': _ms(_percentile(latencies, 0.5)), 'latency_p99_ms': _ms(_percentile(latencies, 0.99)),
           'latency_max_ms': _ms(max(latencies, default=math.nan)),
           'latency_steady_p99_ms': _ms(_percentile(steady, 0.99)), 'steady_deltas': len(steady),
           'first_text_p50_ms': _ms(_percentile(first_text, 0.5)),
           'first_text_p99_ms': _ms(_percentile(first_text, 0.99)),
           'cpu_s': round(cpu, 2), 'cpu_per_delta_us': round(cpu / deltas * 1e6, 1) if deltas else math.nan,
           'deltas': deltas, 'deflate_tabs': sum(1 for r in results if r.get('deflate')),
           'messages_per_tab': round(sum(r.get('messages', 0) for r in results) / max(1, len(results))),
           'window_s': round(marks['replied'] - marks['go'], 1), 'client_cpu_s': round(marks['client_cpu_s'], 1),
           'rss_start_mb': round(probes['rss_start'], 1),
           'mb_per_tab': round((probes['rss_open'] - probes['rss_start']) / tabs, 3),
           'mb_per_tab_with_reply': round((probes['rss_replied'] - probes['rss_start']) / tabs, 3),
           'mb_kept_per_conversation': round((probes['rss_closed'] - probes['rss_start']) / tabs, 3),
           'load': [round(probes['load_start'], 1), round(probes['load_end'], 1)]}
    row['live_conversations_after'] = probes['stats_end'].get('live_conversations')  # in memory after the tabs closed
    for timing in ('build_page', 'save_turn'):  # ms each, from the launcher's probes (bench/chat/launch.py)
        before = len(probes['stats_start']['timings'].get(timing, []))
        durations = probes['stats_end']['timings'].get(timing, [])[before:]
        row[f'{timing}_p50_ms'] = round(_percentile(durations, 0.5), 1)
        row[f'{timing}_p99_ms'] = round(_percentile(durations, 0.99), 1)
    row['turn_steps'], row['turn_records'] = _turn_steps(results, probes['stats_end'].get('turns') or {}, stamps,
                                                         probes['arrivals']['arrivals'])
    row['upstream_lag_ms'] = _ms(probes['arrivals']['lag'])
    row['stalls'] = probes['stalls']  # the app's loop, late by 20 ms or more, and the collector's long passes
    row['loop_stall_max_ms'] = _ms(max((late for _, late in probes['stalls']['stalls']), default=0.0))
    row['gc_full_ms'] = _ms(sum(took for _, generation, took, _ in probes['stalls']['collections'] if generation == 2))
    if 'profile' in probes:
        row['profile'] = profile.summary(probes['profile'])
        row['profile_stacks'] = probes['profile']  # raw, for other cuts than the summary's
    return row


# A page turn's steps as bench/chat/launch.py stamps them, in the order they happen on main; then the tab's first text.
# From `task` to `headers`, the upstream request (aiohttp's steps, bench/chat/launch.py's _probe_request) with, from
# the bench upstream's clock (upstream.py's /arrivals): `accepted` (the request's connection, if new, reached its
# handler), `head` and `body` (the request read) and `asked` (its first token's stamp: token 0 goes at once).
TURN_STEPS = ('handler', 'save', 'write', 'written', 'saved', 'stream', 'task', 'connect', 'dial', 'syn', 'dialed',
              'connected', 'posted', 'flushed', 'accepted', 'head', 'body', 'asked', 'headers', 'delta', 'view', 'sent',
              'first_text')


def _turn_steps(results: list[dict[str, Any]], turns: dict[str, dict[str, float]],
                stamps: dict[str, list[float]], arrivals: dict[str, dict[str, float]],
                ) -> tuple[dict[str, list[float]], list[dict[str, float]]]:
    """Per step, p50 and p99 ms from the tab's Enter (a step a version does not stamp is left out); and each tab's
    steps, ms from its Enter (in the results file, to follow the slowest turns step by step)."""
    since: dict[str, list[float]] = {step: [] for step in TURN_STEPS}
    records: list[dict[str, float]] = []
    for result in results:
        record = {**(turns.get(result['tag']) or {}), **arrivals.get(result['tag'], {})}
        if sent := stamps.get(result['tag']):
            record['asked'] = sent[0]
        if result.get('growth'):
            record['first_text'] = result['growth'][0][0]
        for step, at in record.items():
            if step in since:
                since[step].append(at - result['enter'])
        records.append({'enter': result['enter'],
                        **{step: _ms(record[step] - result['enter']) for step in TURN_STEPS if step in record}})
    return {step: [_ms(_percentile(values, 0.5)), _ms(_percentile(values, 0.99))]
            for step, values in since.items() if values}, records


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


COLUMNS = [('app', 'app'), ('tabs', 'tabs'), ('failures', 'fail'), ('resyncs', 'resync'),
           ('latency_p50_ms', 'p50 ms'), ('latency_p99_ms', 'p99 ms'), ('latency_max_ms', 'max ms'),
           ('latency_steady_p99_ms', 'steady p99 ms'),
           ('first_text_p50_ms', '1st p50'), ('first_text_p99_ms', '1st p99'), ('cpu_per_delta_us', 'CPU/delta µs'),
           ('messages_per_tab', 'msgs/tab'), ('deflate_tabs', 'deflate tabs'), ('window_s', 'window s'),
           ('client_cpu_s', 'client CPU s'),
           ('mb_per_tab', 'MB/tab'), ('mb_per_tab_with_reply', 'MB/tab+reply'),
           ('mb_kept_per_conversation', 'MB kept/conv'), ('build_page_p99_ms', 'page build p99'),
           ('save_turn_p50_ms', 'save turn p50'), ('save_turn_p99_ms', 'save turn p99'),
           ('loop_stall_max_ms', 'loop stall max ms'), ('gc_full_ms', 'full GC ms'),
           ('upstream_lag_ms', 'upstream lag max ms'), ('load', 'load')]


def _print_row(row: dict[str, Any]) -> None:
    print('  '.join(f'{title}={row[key]}' for key, title in COLUMNS), flush=True)
    if row.get('turn_steps'):
        print('  turn steps, ms after Enter p50/p99: ' + '  '.join(f'{step} {p50:.0f}/{p99:.0f}' for step, (p50, p99)
                                                                 in row['turn_steps'].items()), flush=True)
    for sample in row['failure_samples']:
        print(f'  failure: {sample}', flush=True)
    if 'profile' in row:
        print(profile.render(row['profile']), flush=True)


def _save(results: dict[str, Any], work: Path) -> None:
    out = ROOT / 'bench' / 'results' / f'page_load-{time.strftime("%Y%m%d-%H%M%S")}.json'
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f'\nsaved {out.relative_to(ROOT)}; logs in {work}')
    shutil.rmtree(work / 'other', ignore_errors=True)


if __name__ == '__main__':
    main()
