"""CPU of one upstream read, from aiohttp's `data_received` to `deliver`: this checkout vs another, interleaved.

    python -m bench.upstream_read --against 19692d1       # a commit (exported with git archive) or a checkout path
    python -m bench.upstream_read --rounds 15 --reads 200

Each round runs worker.py once per checkout, in alternating order (a fresh process each: the same imports, the same
warm-up); a worker relays 300 replies of `--reads` paced tokens through that checkout's tap and reports the median
ns per read. Printed: each checkout's median over the rounds and the median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.page_load.__main__ import _export

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).resolve().parent / 'worker.py'


def measure(app: Path, reads: int) -> float:
    done = subprocess.run([sys.executable, str(WORKER), str(app), str(reads), '300'], cwd=app, capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f'worker for {app} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}')
    figure: float = json.loads(done.stdout.strip().splitlines()[-1])['ns_per_read']
    return figure


def main() -> None:
    parser = argparse.ArgumentParser(prog='python -m bench.upstream_read', description=__doc__.splitlines()[0])
    parser.add_argument('--against', required=True, help='a commit of this repository, or another checkout path')
    parser.add_argument('--rounds', type=int, default=9)
    parser.add_argument('--reads', type=int, default=200, help='paced tokens per reply (default 200)')
    args = parser.parse_args()
    other = Path(args.against)
    if not other.is_dir():
        other = _export(args.against, Path(tempfile.mkdtemp(prefix='nicechat-bench-read-')))
    mine: list[float] = []
    theirs: list[float] = []
    for round_ in range(args.rounds):
        pair = [(ROOT, mine), (other, theirs)]
        for app, figures in pair if round_ % 2 == 0 else pair[::-1]:
            figures.append(measure(app, args.reads))
        print(f'round {round_ + 1}: this {mine[-1]:.0f} ns, {args.against} {theirs[-1]:.0f} ns '
              f'({mine[-1] / theirs[-1]:.2f}x)', flush=True)
    print(f'median ns per read: this {statistics.median(mine):.0f}, {args.against} {statistics.median(theirs):.0f}; '
          f'ratio (median of rounds) {statistics.median(a / b for a, b in zip(mine, theirs, strict=True)):.3f}')


if __name__ == '__main__':
    main()
