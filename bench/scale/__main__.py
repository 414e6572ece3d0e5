"""Two instances behind nginx (deploy/nginx.conf) against one instance: the API bench's load, on loopback.

    python -m bench.scale                 # 400 paced streams and the full-speed scenario, 3 rounds each
    python -m bench.scale --rounds 1

Both set-ups share one PostgreSQL and one Redis (tests/services) and the bench's upstream; "one" is instance 1
reached directly, "two" is nginx in front of instances 1 and 2. Server CPU is summed over the instances (nginx's own
is reported apart). Expect little gain on a 2-core machine: the load client, the upstream and nginx share the cores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench.api.__main__ import Scenario, measure
from bench.api.load import TOKEN
from bench.api.servers import cpu_seconds, start_upstream
from tests.services.cluster import Cluster
from tests.services.postgres import running_postgres
from tests.services.redis import running_redis

SCENARIOS = (
    Scenario('paced: 400 x 200 tokens @ 20 ms', 400, 200, 0.02),
    Scenario('full speed: 20 x 2000 tokens', 20, 2000, 0.0),
)


class Processes:
    """CPU of some processes (and their children), as bench.api's Server reports it."""

    def __init__(self, *pids: int) -> None:
        self.pids = pids

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids)


def main() -> None:
    parser = argparse.ArgumentParser(prog='python -m bench.scale', description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix='nicechat-bench-scale-'))
    upstream, upstream_url = start_upstream(folder)
    try:
        with running_postgres() as postgres, running_redis() as redis:
            env = {'OPENAI_API_KEY': 'sk-bench', 'OPENAI_BASE_URL': upstream_url, 'OPENAI_MODEL': 'bench-model',
                   'API_TOKENS': TOKEN, 'UPSTREAM_RETRIES': '0', 'STORAGE_SECRET': 'bench-storage-secret',
                   'REDIS_URL': redis.url()}
            cluster = Cluster(folder, env, postgres.url(postgres.create_database())).start()
            try:
                first, second = cluster.instances
                assert first.process and second.process and cluster.nginx.process
                targets = {'one instance': (first.url, Processes(first.process.pid)),
                           'two behind nginx': (cluster.url, Processes(first.process.pid, second.process.pid))}
                nginx = Processes(cluster.nginx.process.pid)
                for url, server in targets.values():
                    measure('nicechat', url, server, Scenario('warm-up', 20, 200, 0.0))
                results: dict[str, dict[str, Any]] = {}
                for scenario in SCENARIOS:
                    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
                    for number in range(args.rounds):
                        for name, (url, server) in targets.items():  # interleaved
                            nginx_before = nginx.cpu()
                            figures = measure('nicechat', url, server, scenario)
                            figures['nginx_cpu_s'] = nginx.cpu() - nginx_before
                            rounds[name].append(figures)
                            print(f'{scenario.name} round {number + 1} {name}: {json.dumps(figures)}', flush=True)
                    results[scenario.name] = {
                        name: {key: statistics.median(r[key] for r in runs) for key in
                               ('cpu_us_per_token', 'ttft_p50_ms', 'ttft_p99_ms', 'wall_s', 'nginx_cpu_s')}
                        | {'failures': sum(r['failures'] for r in runs)} for name, runs in rounds.items()}
                print()
                print('| scenario | set-up | app CPU us/token | TTFT p50 ms | TTFT p99 ms | wall s | nginx CPU s | '
                      'failures |')
                print('|---|---|---:|---:|---:|---:|---:|---:|')
                for scenario_name, by_target in results.items():
                    for name, s in by_target.items():
                        print(f"| {scenario_name} | {name} | {s['cpu_us_per_token']:.1f} | {s['ttft_p50_ms']:.0f} | "
                              f"{s['ttft_p99_ms']:.0f} | {s['wall_s']:.2f} | {s['nginx_cpu_s']:.2f} | "
                              f"{s['failures']} |")
            finally:
                cluster.close()
    finally:
        upstream.stop()


if __name__ == '__main__':
    main()
