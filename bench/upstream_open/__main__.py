"""CPU of opening one upstream stream: this checkout's Upstream vs others', side by side.

    python -m bench.upstream_open --against main          # this checkout vs /work/main (or any checkout path)
    python -m bench.upstream_open --requests 1000 --rounds 7 --concurrency 50
    python -m bench.upstream_open --profile /tmp/open.prof   # this checkout only, under cProfile

Each round runs bench/upstream_open/worker.py once per checkout, in alternating order, against one
`bench.api.upstream` process on loopback: the real SDK and aiohttp, a page-like history of four messages, a reply
of four tokens (opening, not streaming, dominates); requests one after another, many at a time on pooled
connections, and bursts on new connections (worker.py). The figures are the worker process's CPU per request (the
upstream's work is in its own process) and medians over the rounds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.api.servers import ROOT, start_upstream

WORKER = Path(__file__).resolve().parent / 'worker.py'
MAIN_CHECKOUT = Path('/work/main')
KEYS = ('sequential_cpu_us', 'concurrent_cpu_us', 'cold_cpu_us', 'sequential_wall_us', 'concurrent_wall_us',
        'cold_wall_us')
CPU_KEYS = KEYS[:3]


def run_worker(app: Path, url: str, requests: int, concurrency: int, profile: Path | None = None) -> dict[str, float]:
    """One worker run of `app`; its JSON figures."""
    command = [sys.executable, str(WORKER), str(app), url, str(requests), str(concurrency)]
    done = subprocess.run([*command, *([str(profile)] if profile else [])], cwd=app, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f'worker for {app} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}')
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    """Start the upstream, run the rounds interleaved, print medians and ratios."""
    parser = argparse.ArgumentParser(prog='python -m bench.upstream_open', description=__doc__.splitlines()[0])
    parser.add_argument('--against', type=Path, action='append', default=[],
                        help=f'another checkout to compare with (repeatable); "main" is {MAIN_CHECKOUT}')
    parser.add_argument('--rounds', type=int, default=5, help='worker runs per checkout (default 5)')
    parser.add_argument('--requests', type=int, default=500, help='requests per mode per run (default 500)')
    parser.add_argument('--concurrency', type=int, default=50, help='requests in flight in the concurrent mode')
    parser.add_argument('--profile', type=Path, metavar='OUT.prof', help='profile this checkout once and stop')
    args = parser.parse_args()
    log_dir = Path(tempfile.mkdtemp(prefix='nicechat-bench-open-'))
    upstream, url = start_upstream(log_dir)
    try:
        if args.profile:
            print(json.dumps(run_worker(ROOT, url, args.requests, args.concurrency, args.profile.resolve())))
            print(f'profile written to {args.profile}')
            return
        checkouts = {'this': ROOT}
        for other in args.against:
            path = MAIN_CHECKOUT if str(other) == 'main' else other.resolve()
            checkouts[path.name if path != ROOT else 'this-again'] = path
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in checkouts}
        for number in range(args.rounds):
            order = list(checkouts.items())
            if number % 2:
                order.reverse()  # neither checkout always runs first
            for name, path in order:
                runs[name].append(run_worker(path, url, args.requests, args.concurrency))
                print(f'round {number + 1} {name}: {json.dumps({k: round(v, 1) for k, v in runs[name][-1].items()})}',
                      flush=True)
        medians = {name: {key: statistics.median(r[key] for r in rs) for key in KEYS} for name, rs in runs.items()}
        print('\n| checkout | CPU us/request: sequential | concurrent | cold burst | wall us/request: sequential | '
              'concurrent | cold burst |')
        print('|---|---:|---:|---:|---:|---:|---:|')
        for name, m in medians.items():
            print(f'| {name} | ' + ' | '.join(f'{m[key]:.0f}' for key in KEYS) + ' |')
        for name in list(checkouts)[1:]:
            pairs = list(zip(runs['this'], runs[name], strict=True))
            ratios = {key.removesuffix('_cpu_us'): statistics.median(a[key] / b[key] for a, b in pairs)
                      for key in CPU_KEYS}
            print(f'- this / {name}, CPU per request (median of per-round ratios): ' +
                  ', '.join(f'{mode} {ratio:.2f}' for mode, ratio in ratios.items()))
    finally:
        upstream.stop()


if __name__ == '__main__':
    main()
