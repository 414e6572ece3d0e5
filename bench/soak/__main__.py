"""Soak: thousands of replies in a row through the API and the chat page, with tabs opening and closing.

    python -m bench.soak                       # 2,000 API replies and 2,000 page replies (about 5 minutes)
    python -m bench.soak --api 200 --page 100  # a quick look

One app process (`python main.py`, run through bench/soak/instrumented.py for a task count on demand) against the
bench upstream, all on loopback. The replies go in ten segments; in each, API streams (`--concurrency` at a time,
each batch on a new HTTP session, so connections open and close) run beside simulated browser tabs (the `pageload`
helper's socket.io client, bench/page_load/tab.py) that open the page, send `--replies-per-tab` prompts, check
every reply's text and close. After a warm-up, after half the segments and after the last, once the app has had
SETTLE seconds to let closed tabs go, it samples: RSS, open file descriptors and sockets (/proc), asyncio tasks
(the probe), objects the garbage collector tracks. Then it scans the app's log for errors.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import yarl

from bench.api import load
from bench.api.servers import ROOT, Server, start_nicechat, start_upstream
from bench.api.upstream import expected_content

SEGMENTS = 10
# Seconds between the last reply and a sample: NiceGUI deletes a disconnected client after its reconnect timeout
# (3 s), and its tasks and sockets with it; aiohttp closes idle upstream connections 5-10 s after their last use.
SETTLE = 12.0
# Longest wait for the probe's answer.
PROBE_TIMEOUT = 10.0
# The people whose tabs open and close: each keeps its cookies (NiceGUI keeps every visitor's storage for good,
# so fresh visitors would grow memory by design); set by --people.
PEOPLE: list[dict[str, str]] = []
# RSS may grow this much from the middle sample to the end one and still count as flat (allocator noise).
RSS_FLAT_SHARE = 0.03


def _tcp_ports(pid: int) -> dict[str, tuple[int, int, str]]:
    """Socket inode -> (local port, remote port, state) of the process's TCP sockets (its network namespace)."""
    ports: dict[str, tuple[int, int, str]] = {}
    for table in ('tcp', 'tcp6'):
        for line in Path(f'/proc/{pid}/net/{table}').read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
            ports[inode] = (int(local.rsplit(':', 1)[1], 16), int(remote.rsplit(':', 1)[1], 16), state)
    return ports


def sample(server: Server, stats_path: Path, app_port: int, upstream_port: int) -> dict[str, Any]:
    """The app's memory, descriptors, sockets (clients', upstream, other) and tasks now."""
    pid = server.process.pid
    before = stats_path.stat().st_mtime_ns if stats_path.exists() else 0
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + PROBE_TIMEOUT
    while not stats_path.exists() or stats_path.stat().st_mtime_ns == before:
        if time.monotonic() > deadline:
            raise RuntimeError('the app did not answer the probe')
        time.sleep(0.05)  # the probe writes a file; there is no event to wait on across processes
    probe = json.loads(stats_path.read_text())
    fds = list(Path(f'/proc/{pid}/fd').iterdir())
    links = []
    for fd in fds:
        try:
            links.append(os.readlink(fd))
        except OSError:
            continue  # closed while we looked
    status = dict(line.split(':', 1) for line in Path(f'/proc/{pid}/status').read_text().splitlines())
    tcp = _tcp_ports(pid)
    sockets = [tcp.get(link[8:-1]) for link in links if link.startswith('socket:[')]
    listening = '0A'  # the TCP state in /proc/net/tcp
    return {'rss_mb': int(status['VmRSS'].split()[0]) / 1024, 'fds': len(links), 'sockets': len(sockets),
            'client_connections': sum(1 for s in sockets if s and s[0] == app_port and s[2] != listening),
            'upstream_connections': sum(1 for s in sockets if s and s[1] == upstream_port),
            'tasks': probe['tasks'], 'gc_tracked': probe['gc_tracked'], 'gc_live': probe['gc_live'],
            'task_kinds': probe['task_kinds'], 'fd_kinds': _fd_kinds(links), 'live_types': probe['live_types'],
            'call_identities': probe['call_identities']}


def _fd_kinds(links: list[str]) -> dict[str, int]:
    """How many descriptors of each kind: sockets, pipes, event fds, or files by name."""
    kinds = collections.Counter(link.split('[')[0].rstrip(':') if '[' in link else link for link in links)
    return dict(kinds.most_common())


async def api_replies(url: str, count: int, concurrency: int, tokens: int, delay: float) -> list[str]:
    """`count` API replies, `concurrency` at a time, each batch on its own HTTP session; the failures."""
    errors: list[str] = []
    for start in range(0, count, concurrency):
        streams = await load.run('nicechat', url, min(concurrency, count - start), tokens, delay)
        errors += [s.error for s in streams if s.error]
    return errors


async def tab_life(url: str, replies: int, tokens: int, delay: float, tag: str, cookies: dict[str, str]) -> list[str]:
    """One browser tab of the person whose `cookies` these are (kept up to date): open the page, send `replies`
    prompts one after another, check each reply, close."""
    from bench.page_load.tab import Tab

    errors: list[str] = []
    async with aiohttp.ClientSession() as http:
        http.cookie_jar.update_cookies(cookies, yarl.URL(url))
        tab = Tab(url, http)
        await tab.open()
        try:
            for number in range(replies):
                if error := await _page_reply(tab, f'tokens={tokens} delay={delay} tab={tag}-{number}', tokens,
                                              30 + tokens * delay):
                    errors.append(error)
                    break
        finally:
            await tab.close()
            cookies.update({cookie.key: cookie.value for cookie in http.cookie_jar})
    return errors


async def _page_reply(tab: Any, prompt: str, tokens: int, seconds: float) -> str | None:
    """Send one prompt in `tab` and wait for its reply; what went wrong, if anything."""
    before = set(tab.seen.streams)

    def new() -> list[int]:
        return [i for i in tab.seen.streams if i not in before]

    await tab.type(prompt)
    await tab.press_enter()
    try:
        await tab.wait_for(lambda: bool(new()) and tab.seen.streams[new()[-1]].done, seconds)
    except TimeoutError:
        return 'page reply timed out'
    if tab.seen.streams[new()[-1]].source != expected_content(tokens):
        return 'page reply text differs'
    return None


async def page_replies(url: str, count: int, args: argparse.Namespace, segment: int) -> list[str]:
    """`count` replies through tabs of `replies_per_tab` each, `tabs` at a time, of the soak's people; the failures."""
    gate = asyncio.Semaphore(args.tabs)
    lives = [min(args.replies_per_tab, count - start) for start in range(0, count, args.replies_per_tab)]
    # Tabs take turns among the people, and two tabs of one person can be open at once, as in a browser.

    async def one(number: int, replies: int) -> list[str]:
        async with gate:
            person = PEOPLE[(segment * len(lives) + number) % len(PEOPLE)]
            try:
                return await tab_life(url, replies, args.tokens, args.delay, f's{segment}t{number}', person)
            except Exception as error:  # one tab's failure is counted, not fatal to the soak
                return [f'tab: {type(error).__name__}: {error}'[:200]]

    results = await asyncio.gather(*(one(n, replies) for n, replies in enumerate(lives)))
    return [error for errors in results for error in errors]


async def segment(url: str, args: argparse.Namespace, number: int, api: int, page: int) -> list[str]:
    """One segment: its API replies and its page replies at the same time."""
    results = await asyncio.gather(
        api_replies(url, api, args.concurrency, args.tokens, args.delay),
        page_replies(url, page, args, number))
    return [error for errors in results for error in errors]


def _brief(figures: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in figures.items() if k != 'live_types'})


def log_errors(log: Path) -> list[str]:
    """Lines of the app's log that report an error or a warning."""
    return [line for line in log.read_text(errors='replace').splitlines()
            if any(word in line for word in ('ERROR', 'WARNING', 'Traceback', 'Exception'))]


def main() -> None:
    """Start the upstream and the app, run the segments, sample, print and save the figures."""
    parser = argparse.ArgumentParser(prog='python -m bench.soak', description=__doc__.splitlines()[0])
    parser.add_argument('--api', type=int, default=2000, help='API replies (default 2000)')
    parser.add_argument('--page', type=int, default=2000, help='page replies (default 2000; 0 to skip the page)')
    parser.add_argument('--tokens', type=int, default=40, help='tokens per reply (default 40)')
    parser.add_argument('--delay', type=float, default=0.002, help='seconds between tokens (default 0.002)')
    parser.add_argument('--concurrency', type=int, default=10, help='API streams at once (default 10)')
    parser.add_argument('--tabs', type=int, default=8, help='tabs open at once (default 8)')
    parser.add_argument('--replies-per-tab', type=int, default=5, help='prompts each tab sends (default 5)')
    parser.add_argument('--people', type=int, default=16, help='people (cookie jars) the tabs belong to (default 16)')
    args = parser.parse_args()
    PEOPLE.extend({} for _ in range(args.people))
    if args.page:
        try:
            import bench.page_load.tab  # noqa: F401
        except ImportError:
            parser.error('the page part needs bench/page_load/tab.py (the pageload branch); use --page 0 without it')
    log_dir = Path(tempfile.mkdtemp(prefix='nicechat-soak-'))
    stats_path = log_dir / 'probe.json'
    servers: list[Server] = []
    try:
        upstream, upstream_url = start_upstream(log_dir)
        servers.append(upstream)
        probe = [str(ROOT / 'bench' / 'soak' / 'instrumented.py'), str(stats_path)]
        app, url = start_nicechat(upstream_url, log_dir, wrapper=probe,
                                  env_extra={'DATA_DIR': str(log_dir / 'data')})
        servers.append(app)
        started = time.perf_counter()
        # A warm-up as large as a segment: pools (upstream connections, the database's) reach their working size.
        errors = asyncio.run(segment(url, args, -1, -(-args.api // SEGMENTS), -(-args.page // SEGMENTS)))
        time.sleep(SETTLE)
        ports = int(url.rsplit(':', 1)[1]), int(upstream_url.split(':')[2].split('/')[0])
        samples = {'start': sample(app, stats_path, *ports)}
        print(f"start: {_brief(samples['start'])}", flush=True)
        for number in range(SEGMENTS):
            api = args.api // SEGMENTS + (number < args.api % SEGMENTS)
            page = args.page // SEGMENTS + (number < args.page % SEGMENTS)
            errors += asyncio.run(segment(url, args, number, api, page))
            print(f'segment {number + 1}/{SEGMENTS}: {api} API + {page} page replies, {len(errors)} failures so far',
                  flush=True)
            if number + 1 in {SEGMENTS // 2, SEGMENTS}:
                time.sleep(SETTLE)
                name = 'middle' if number + 1 < SEGMENTS else 'end'
                samples[name] = sample(app, stats_path, *ports)
                print(f'{name}: {_brief(samples[name])}', flush=True)
        wall = time.perf_counter() - started
        report(samples, errors, log_errors(app.log_path), args, wall, log_dir)
    finally:
        for server in reversed(servers):
            server.stop()


def report(samples: dict[str, dict[str, Any]], errors: list[str], logged: list[str], args: argparse.Namespace,
           wall: float, log_dir: Path) -> None:
    """Print the table and the verdicts; save the figures."""
    start, middle, end = samples['start'], samples['middle'], samples['end']
    lines = ['| sample | RSS MB | fds | sockets (clients / upstream) | asyncio tasks | gc objects (live) |',
             '|---|---:|---:|---:|---:|---:|']
    lines += [f"| {name} | {s['rss_mb']:.1f} | {s['fds']} | {s['sockets']} ({s['client_connections']} / "
              f"{s['upstream_connections']}) | {s['tasks']} | {s['gc_tracked']} ({s['gc_live']}) |"
              for name, s in samples.items()]
    flat = end['rss_mb'] <= middle['rss_mb'] * (1 + RSS_FLAT_SHARE)
    kept = {key: end[key] - start[key] for key in ('fds', 'sockets', 'tasks', 'client_connections')}
    lines += ['', f'- {args.api} API + {args.page} page replies ({args.tokens} tokens each) in {wall:.0f} s: '
              f"{len(errors)} failures{': ' + '; '.join(sorted(set(errors))[:3]) if errors else ''}",
              f"- RSS {start['rss_mb']:.1f} -> {middle['rss_mb']:.1f} -> {end['rss_mb']:.1f} MB "
              f"(flat: at most +{RSS_FLAT_SHARE:.0%} from middle to end): {'MET' if flat else 'NOT MET'}",
              f"- left behind at the end vs the start: {kept['fds']} fds, {kept['sockets']} sockets "
              f"({kept['client_connections']} client connections), {kept['tasks']} tasks: "
              f"{'MET' if max(kept.values()) <= 0 else 'NOT MET'}",
              f"- error and warning lines in the app's log: {len(logged)}"
              f"{': ' + '; '.join(sorted(set(logged))[:3])[:300] if logged else ''}: "
              f"{'MET' if not logged else 'NOT MET'}"]
    grown = {kind: end['live_types'].get(kind, 0) - count for kind, count in middle['live_types'].items()}
    grown |= {kind: count for kind, count in end['live_types'].items() if kind not in middle['live_types']}
    top = sorted(grown.items(), key=lambda item: -item[1])[:8]
    lines.append('- live objects grown from middle to end, by type: ' + ', '.join(f'{k} +{v}' for k, v in top))
    print('\n'.join(['', *lines]))
    out = ROOT / 'bench' / 'results' / f'soak-{time.strftime("%Y%m%d-%H%M%S")}.json'
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({'samples': samples, 'failures': errors[:50], 'log_errors': logged[:50],
                               'args': vars(args), 'wall_s': wall}, indent=1))
    print(f'\nsaved {out.relative_to(ROOT)}; app log in {log_dir}')


if __name__ == '__main__':
    main()
