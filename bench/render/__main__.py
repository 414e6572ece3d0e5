"""Render benchmark: `python -m bench.render` (needs chromium and chromedriver; Linux, for /proc CPU times).

Streams the same replies through a naive per-delta `ui.markdown` and through our streaming message, in one run,
in headless Chromium, and prints per run: server CPU, websocket bytes and updates to the browser, and timings.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from .browser import Browser

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / 'bench' / 'results' / 'render.json'
CLOCK_TICKS = os.sysconf('SC_CLK_TCK')
# Longest a run may take before the benchmark gives up on it (the naive 4 KB run takes ~12 s on 2 cores).
RUN_TIMEOUT = 180


@dataclass
class Run:
    """One scenario: which message, which reply (KB of markdown, or `words:N`), seconds between deltas."""

    name: str
    kind: str
    reply: str
    pace: float


RUNS = [
    Run('none 4 KB @2 ms', 'none', '4', 0.002),
    Run('none 4 KB @10 ms', 'none', '4', 0.010),
    Run('naive 4 KB @2 ms', 'naive', '4', 0.002),
    Run('ours 4 KB @2 ms', 'ours', '4', 0.002),
    Run('naive 4 KB @10 ms', 'naive', '4', 0.010),
    Run('ours 4 KB @10 ms', 'ours', '4', 0.010),
    Run('ours 1 KB @2 ms', 'ours', '1', 0.002),
    Run('ours 32 KB @2 ms', 'ours', '32', 0.002),
    Run('ours 1 KB @20 ms', 'ours', '1', 0.020),
    Run('ours 1 KB @50 ms', 'ours', '1', 0.050),
    Run('ours words @10 ms', 'ours', 'words:300', 0.010),
    Run('ours words @50 ms', 'ours', 'words:60', 0.050),
    Run('ours words @100 ms', 'ours', 'words:30', 0.100),
]


def main() -> None:
    parser = argparse.ArgumentParser(prog='python -m bench.render', description=__doc__)
    parser.add_argument('--only', help='run only scenarios whose name contains this text (e.g. ours)')
    args = parser.parse_args()
    runs = [run for run in RUNS if not args.only or args.only in run.name]
    port = _free_port()
    server = subprocess.Popen([sys.executable, '-m', 'bench.render.server', str(port)], cwd=ROOT,
                              env={**os.environ, 'PYTHONUNBUFFERED': '1'})
    try:
        _wait_for(f'http://127.0.0.1:{port}/result')
        with Browser() as browser:
            rows = [measure(browser, server.pid, port, run) for run in runs]
    finally:
        server.terminate()
        server.wait(10)
    _derive(rows)
    _print(rows)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2))
    print(f'\n(raw figures in {RESULTS.relative_to(ROOT)})')


def measure(browser: Browser, pid: int, port: int, run: Run) -> dict[str, Any]:
    """Load the run's page, start the stream, wait for the final render; read the server and browser figures."""
    browser.load(f'http://127.0.0.1:{port}/?kind={run.kind}&reply={run.reply}&pace={run.pace}')
    cpu_before = _cpu_seconds(pid)
    browser.start()
    done_at = browser.wait_until_done(RUN_TIMEOUT)
    cpu = _cpu_seconds(pid) - cpu_before
    server = httpx.get(f'http://127.0.0.1:{port}/result').json()
    frames = browser.socket_messages()
    arrivals = server['arrivals']
    row: dict[str, Any] = {
        **asdict(run), 'chars': server['chars'], 'text_bytes': server['bytes'], 'deltas': server['deltas'],
        'cpu_s': round(cpu, 3), 'ws_bytes': sum(frames), 'wire_bytes': server['wire_bytes'], 'updates': len(frames),
        'last_delta_to_final_ms': round((done_at - arrivals[-1]) * 1000),
        'submit_to_final_s': round(done_at - server['submitted'], 2),
        'upstream_s': round(arrivals[-1] - server['submitted'], 2),
    }
    if run.reply.startswith('words:'):
        latencies = _delta_latencies(arrivals, browser.word_log())
        row |= {'delta_p50_ms': round(statistics.median(latencies)), 'delta_max_ms': round(max(latencies))}
    print(f'{run.name}: done', file=sys.stderr, flush=True)
    return row


def _delta_latencies(arrivals: list[float], log: list[tuple[float, int]]) -> list[float]:
    """Per delta: ms from its arrival at the server until the page first shows that many words."""
    latencies = []
    for count, arrival in enumerate(arrivals, start=1):
        shown = next(at for at, words in log if words >= count)
        latencies.append((shown - arrival) * 1000)
    return latencies


# Printed columns: (key in a row, heading).
COLUMNS = [('name', 'run'), ('deltas', 'deltas'), ('text_bytes', 'text B'), ('cpu_s', 'CPU s'),
           ('net_cpu_s', 'net CPU s'), ('cpu_per_delta_us', 'CPU/delta µs'), ('ws_bytes', 'ws B'),
           ('ws_ratio', 'ws/text'), ('wire_bytes', 'wire B'), ('wire_ratio', 'wire/text'), ('updates', 'updates'),
           ('last_delta_to_final_ms', 'last→final ms'), ('submit_to_final_s', 'submit→final s'),
           ('delta_p50_ms', 'delta p50 ms'), ('delta_max_ms', 'delta max ms')]


def _derive(rows: list[dict[str, Any]]) -> None:
    """Add ratios, CPU per delta, and CPU net of the simulated upstream (the `none` run at the same reply and pace)."""
    upstream_only = {(row['reply'], row['pace']): row['cpu_s'] for row in rows if row['kind'] == 'none'}
    for row in rows:
        row['ws_ratio'] = round(row['ws_bytes'] / row['text_bytes'], 2)
        row['wire_ratio'] = round(row['wire_bytes'] / row['text_bytes'], 2)
        row['cpu_per_delta_us'] = round(row['cpu_s'] / row['deltas'] * 1e6)
        if row['kind'] != 'none' and (row['reply'], row['pace']) in upstream_only:
            row['net_cpu_s'] = round(row['cpu_s'] - upstream_only[row['reply'], row['pace']], 3)


def _print(rows: list[dict[str, Any]]) -> None:
    widths = [max(len(title), *(len(str(row.get(key, ''))) for row in rows)) for key, title in COLUMNS]
    print('  '.join(title.rjust(width) for (_, title), width in zip(COLUMNS, widths, strict=True)))
    for row in rows:
        print('  '.join(str(row.get(key, '')).rjust(width) for (key, _), width in zip(COLUMNS, widths, strict=True)))


def _cpu_seconds(pid: int) -> float:
    fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return int(sock.getsockname()[1])


def _wait_for(url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)  # polling a starting subprocess: there is no event to wait on


if __name__ == '__main__':
    main()
