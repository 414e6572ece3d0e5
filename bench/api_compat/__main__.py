"""CPU per token of POST /v1/chat/completions and POST /api/ui-chat next to POST /api/chat, on one server, one run.

    python -m bench.api_compat                 # all scenarios, 3 rounds
    python -m bench.api_compat --rounds 1 --scenario 2

Same bench upstream and scenarios as `python -m bench.api`; the three routes run interleaved against one app
process, and each route's server CPU is what the process used while that route's streams ran. Every stream's
text is checked exactly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.api.__main__ import SCENARIOS, Scenario, percentile, summarize
from bench.api.servers import ROOT, Server, start_nicechat, start_upstream
from bench.api_compat import load

ROUTES = ('api-chat', 'openai', 'ui-chat')
# The target: CPU per token of each new route at most that of /api/chat plus this share.
CPU_MARGIN = 0.10


def measure(route: str, url: str, server: Server, scenario: Scenario) -> dict[str, Any]:
    """Run one scenario against one route; its figures."""
    cpu_before = server.cpu()
    started = time.perf_counter()
    streams = asyncio.run(load.run(route, url, scenario.streams, scenario.tokens, scenario.delay))
    wall = time.perf_counter() - started
    cpu = server.cpu() - cpu_before
    gaps = [(later - earlier - scenario.delay) * 1000 for s in streams
            for earlier, later in zip(s.arrivals, s.arrivals[1:], strict=False)]
    ttfts = [s.ttft * 1000 for s in streams if s.ttft is not None]
    errors = [s.error for s in streams if s.error]
    return {'cpu_us_per_token': cpu * 1e6 / (scenario.streams * scenario.tokens),
            'ttft_p50_ms': percentile(ttfts, 0.5), 'ttft_p99_ms': percentile(ttfts, 0.99),
            'gap_p99_ms': percentile(gaps, 0.99), 'failures': len(errors), 'errors': sorted(set(errors))[:3],
            'wall_s': wall}


def report(results: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """The figures as a markdown table, then each route's CPU per token against /api/chat's."""
    lines = ['| scenario | route | CPU us/token (rounds) | TTFT p50 ms | added gap p99 ms | failures |',
             '|---|---|---:|---:|---:|---:|']
    for scenario, routes in results.items():
        for route, s in routes.items():
            lines.append(f"| {scenario} | {route} | {s['cpu_us_per_token']:.1f} {s['rounds']} | "
                         f"{s['ttft_p50_ms']:.1f} | {s['gap_p99_ms']:.2f} | {s['failures']} |")
    lines.append('')
    for scenario, routes in results.items():
        base = routes['api-chat']['cpu_us_per_token']
        for route in ROUTES[1:]:
            ratio = routes[route]['cpu_us_per_token'] / base
            verdict = 'MET' if ratio <= 1 + CPU_MARGIN and routes[route]['failures'] == 0 else 'NOT MET'
            lines.append(f'- {scenario}: {route} CPU/token {ratio:.2f}x /api/chat (target <= {1 + CPU_MARGIN:.2f}, '
                         f'no failures): {verdict}')
    return lines


def main() -> None:
    """Start the bench upstream and the app, run the scenarios route by route, print and save the figures."""
    parser = argparse.ArgumentParser(prog='python -m bench.api_compat', description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=3, help='repetitions of each scenario (default 3)')
    parser.add_argument('--scenario', type=int, action='append', choices=range(1, len(SCENARIOS) + 1),
                        help='run only this scenario (1-based, repeatable): ' +
                        '; '.join(f'{n}: {s.name}' for n, s in enumerate(SCENARIOS, 1)))
    args = parser.parse_args()
    scenarios = [SCENARIOS[n - 1] for n in args.scenario] if args.scenario else list(SCENARIOS)
    log_dir = Path(tempfile.mkdtemp(prefix='nicechat-bench-compat-'))
    servers: list[Server] = []
    try:
        upstream, upstream_url = start_upstream(log_dir)
        servers.append(upstream)
        app, url = start_nicechat(upstream_url, log_dir)
        servers.append(app)
        for route in ROUTES:
            measure(route, url, app, Scenario('warm-up', 10, 200, 0.0))
        results: dict[str, dict[str, dict[str, Any]]] = {}
        for scenario in scenarios:
            rounds: dict[str, list[dict[str, Any]]] = {route: [] for route in ROUTES}
            for number in range(args.rounds):
                for route in ROUTES:  # interleaved, so drifting machine load hits all alike
                    rounds[route].append(measure(route, url, app, scenario))
                    figures = {k: v for k, v in rounds[route][-1].items() if k != 'errors'}
                    print(f'{scenario.name} round {number + 1} {route}: {json.dumps(figures)}', flush=True)
            results[scenario.name] = {route: summarize(r) for route, r in rounds.items()}
        print('\n'.join(['', *report(results)]))
        out = ROOT / 'bench' / 'results' / f'api-compat-{time.strftime("%Y%m%d-%H%M%S")}.json'
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(results, indent=1, default=lambda v: None if math.isnan(v) else v))
        print(f'\nsaved {out.relative_to(ROOT)}; server logs in {log_dir}')
    finally:
        for server in reversed(servers):
            server.stop()


if __name__ == '__main__':
    main()
