"""Benchmark of POST /api/chat: this app vs the seed's Next.js route vs the SDK reading the upstream directly.

    python -m bench.api            # all scenarios, 3 rounds; builds the seed app once (needs npm)
    python -m bench.api --rounds 1 --no-seed
    python -m bench.api --scenario 2 --no-seed --no-direct --app /tmp/other-checkout   # A/B two versions
    python -m bench.api --scenario 2 --scenario 4 --no-seed --no-direct   # the 500-stream load vs 100 streams
    python -m bench.api --scenario 2 --no-seed --no-direct --profile /tmp/nicechat.prof   # where the CPU goes
    python -m bench.api --scenario 2 --no-seed --no-direct --redis   # what API_RATE_LIMIT costs, in memory and in Redis

Everything runs on loopback against `bench.api.upstream`; figures are medians over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.api import load
from bench.api.servers import ROOT, Server, build_seed, start_nicechat, start_seed, start_upstream
from tests.services.redis import RedisServer


@dataclass(frozen=True)
class Scenario:
    """One load shape."""

    name: str
    streams: int
    tokens: int
    delay: float


SCENARIOS = (
    Scenario('full speed: 20 x 2000 tokens', 20, 2000, 0.0),
    Scenario('paced: 100 x 200 tokens @ 20 ms', 100, 200, 0.02),
    Scenario('paced: 200 x 200 tokens @ 20 ms', 200, 200, 0.02),
    Scenario('paced: 500 x 200 tokens @ 20 ms', 500, 200, 0.02),
)
# The 500-stream load's CPU per token may exceed the 100-stream figure (scenario 2) by at most this share.
LOAD_SCENARIO, LOAD_BASELINE, LOAD_CPU_MARGIN = SCENARIOS[3].name, SCENARIOS[1].name, 0.25
# Targets from the issue: CPU per token at most this share of the seed route's, TTFB p50 this close to direct.
CPU_SHARE_TARGET = 0.5
TTFB_MARGIN_MS = 20.0
# `--redis`: a rate limit no bench scenario reaches, so every request is counted and none refused.
BENCH_RATE_LIMIT = '1000000/minute'


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile; nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def measure(target: str, url: str, server: Server | None, scenario: Scenario) -> dict[str, Any]:
    """Run one scenario against one target; return its figures."""
    cpu_before = server.cpu() if server else 0.0
    started = time.perf_counter()
    streams = asyncio.run(load.run(target, url, scenario.streams, scenario.tokens, scenario.delay))
    wall = time.perf_counter() - started
    cpu = server.cpu() - cpu_before if server else math.nan
    gaps = [(later - earlier - scenario.delay) * 1000 for s in streams
            for earlier, later in zip(s.arrivals, s.arrivals[1:], strict=False)]
    ttfts = [s.ttft * 1000 for s in streams if s.ttft is not None]
    errors = [s.error for s in streams if s.error]
    return {'cpu_us_per_token': cpu * 1e6 / (scenario.streams * scenario.tokens),
            'ttft_p50_ms': percentile(ttfts, 0.5), 'ttft_p99_ms': percentile(ttfts, 0.99),
            'gap_p99_ms': percentile(gaps, 0.99), 'failures': len(errors), 'errors': sorted(set(errors))[:3],
            'wall_s': wall}


def summarize(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over rounds; failures summed."""
    keys = ('cpu_us_per_token', 'ttft_p50_ms', 'ttft_p99_ms', 'gap_p99_ms', 'wall_s')
    summary = {key: statistics.median(r[key] for r in rounds) for key in keys}
    summary['failures'] = sum(r['failures'] for r in rounds)
    summary['errors'] = sorted({e for r in rounds for e in r['errors']})[:3]
    summary['rounds'] = [round(r['cpu_us_per_token'], 1) for r in rounds]
    return summary


def report(results: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """The figures as a markdown table, then the targets, met or not."""
    lines = ['| scenario | target | CPU us/token | TTFT p50 ms | TTFT p99 ms | added gap p99 ms | failures |',
             '|---|---|---:|---:|---:|---:|---:|']
    for scenario, targets in results.items():
        for target, s in targets.items():
            cpu = '-' if math.isnan(s['cpu_us_per_token']) else f"{s['cpu_us_per_token']:.1f}"
            lines.append(f"| {scenario} | {target} | {cpu} | {s['ttft_p50_ms']:.1f} | {s['ttft_p99_ms']:.1f} | "
                         f"{s['gap_p99_ms']:.2f} | {s['failures']} |")
    lines.append('')
    for scenario, targets in results.items():
        ours, seed, direct = targets.get('nicechat'), targets.get('seed'), targets.get('direct')
        if ours is None:
            continue
        if seed:
            ratio = ours['cpu_us_per_token'] / seed['cpu_us_per_token']
            verdict = 'MET' if ratio <= CPU_SHARE_TARGET else 'NOT MET'
            lines.append(f'- {scenario}: CPU/token {ratio:.2f}x the seed route (target <= {CPU_SHARE_TARGET}): '
                         f'{verdict}')
        if direct:
            margin = ours['ttft_p50_ms'] - direct['ttft_p50_ms']
            verdict = 'MET' if margin <= TTFB_MARGIN_MS else 'NOT MET'
            lines.append(f'- {scenario}: TTFT p50 {margin:+.1f} ms vs direct (target <= {TTFB_MARGIN_MS:.0f}): '
                         f'{verdict}')
        for name, other in targets.items():
            if name.startswith('nicechat:'):
                change = other['cpu_us_per_token'] / ours['cpu_us_per_token'] - 1
                lines.append(f"- {scenario}: {name} CPU/token {change:+.1%} vs this checkout (per round: "
                             f"{other['rounds']} vs {ours['rounds']})")
        verdict = 'MET' if ours['failures'] == 0 else 'NOT MET'
        lines.append(f"- {scenario}: {ours['failures']} failures, exact content checked on every stream: {verdict}")
    if LOAD_SCENARIO in results and LOAD_BASELINE in results:
        load, base = results[LOAD_SCENARIO]['nicechat'], results[LOAD_BASELINE]['nicechat']
        change = load['cpu_us_per_token'] / base['cpu_us_per_token'] - 1
        verdict = 'MET' if change <= LOAD_CPU_MARGIN else 'NOT MET'
        lines.append(f"- 500 streams: CPU/token {change:+.1%} vs 100 streams (target <= +{LOAD_CPU_MARGIN:.0%}), "
                     f"TTFT p99 {load['ttft_p99_ms']:.0f} ms: {verdict}")
    return lines


def main() -> None:
    """Start the servers, run every scenario round by round, print and save the figures."""
    parser = argparse.ArgumentParser(prog='python -m bench.api', description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=3, help='repetitions of each scenario (default 3)')
    parser.add_argument('--no-seed', action='store_true', help="skip the seed's Next.js route")
    parser.add_argument('--no-direct', action='store_true', help='skip reading the upstream directly with the SDK')
    parser.add_argument('--scenario', type=int, action='append', choices=range(1, len(SCENARIOS) + 1),
                        help='run only this scenario (1-based, repeatable): ' +
                        '; '.join(f'{n}: {s.name}' for n, s in enumerate(SCENARIOS, 1)))
    parser.add_argument('--profile', type=Path, metavar='OUT.prof',
                        help='run this checkout under cProfile and write its stats here when the run ends')
    parser.add_argument('--app', type=Path, action='append', default=[],
                        help='another checkout of this app to measure alongside (repeatable), e.g. one without a '
                        'change; reported as nicechat:<folder name>')
    parser.add_argument('--redis', action='store_true',
                        help=f'also measure this checkout with API_RATE_LIMIT={BENCH_RATE_LIMIT} counted in memory, '
                        'and with it counted in a throwaway redis-server (REDIS_URL): what the limits and Redis cost')
    args = parser.parse_args()
    scenarios = [SCENARIOS[n - 1] for n in args.scenario] if args.scenario else list(SCENARIOS)
    log_dir = Path(tempfile.mkdtemp(prefix='nicechat-bench-'))
    servers: list[Server] = []
    redis = RedisServer().start() if args.redis else None
    try:
        upstream, upstream_url = start_upstream(log_dir)
        servers.append(upstream)
        profiler = [str(ROOT / 'bench' / 'api' / 'profiled.py'), str(args.profile.resolve())] if args.profile else None
        ours, ours_url = start_nicechat(upstream_url, log_dir, wrapper=profiler)
        servers.append(ours)
        targets: dict[str, tuple[str, Server | None]] = {'nicechat': (ours_url, ours)}
        for root in args.app:
            name = f'nicechat:{root.resolve().name}'
            other, other_url = start_nicechat(upstream_url, log_dir, root.resolve(), name.replace(':', '-'))
            servers.append(other)
            targets[name] = (other_url, other)
        if redis is not None:
            limited = {'API_RATE_LIMIT': BENCH_RATE_LIMIT}
            for name, env in (('nicechat:rate-limit-in-memory', limited),
                              ('nicechat:rate-limit-in-redis', {**limited, 'REDIS_URL': redis.url()})):
                other, other_url = start_nicechat(upstream_url, log_dir, name=name.replace(':', '-'), env_extra=env)
                servers.append(other)
                targets[name] = (other_url, other)
        build = None if args.no_seed else build_seed()
        if build is not None:
            seed, seed_url = start_seed(build, upstream_url, log_dir)
            servers.append(seed)
            targets['seed'] = (seed_url, seed)
        if not args.no_direct:
            targets['direct'] = (upstream_url, None)
        warm_up = Scenario('warm-up', 10, 200, 0.0)
        for name, (url, server) in targets.items():
            measure(name, url, server, warm_up)
        results: dict[str, dict[str, dict[str, Any]]] = {}
        for scenario in scenarios:
            rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
            for number in range(args.rounds):
                for name, (url, server) in targets.items():  # interleaved, so drifting machine load hits all alike
                    rounds[name].append(measure(name, url, server, scenario))
                    print(f'{scenario.name} round {number + 1} {name}: '
                          f"{json.dumps({k: v for k, v in rounds[name][-1].items() if k != 'errors'})}", flush=True)
            results[scenario.name] = {name: summarize(r) for name, r in rounds.items()}
        print('\n'.join(['', *report(results)]))
        if redis is not None:  # proof that the limits were counted in Redis, not in memory after a failure
            with redis.client() as client:
                calls = {name.removeprefix('cmdstat_'): stat['calls']
                         for name, stat in client.info('commandstats').items()}
                print(f"redis: {len(client.keys('nicechat-limits:*'))} keys under nicechat-limits:, commands {calls}")
        out = ROOT / 'bench' / 'results' / f'api-{time.strftime("%Y%m%d-%H%M%S")}.json'
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(results, indent=1))
        print(f'\nsaved {out.relative_to(ROOT)}; server logs in {log_dir}')
    finally:
        for server in reversed(servers):
            server.stop()
        if redis is not None:
            redis.close()


if __name__ == '__main__':
    main()
