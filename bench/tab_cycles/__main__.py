"""What closed tabs leave for the garbage collector: `python -m bench.tab_cycles [--tabs 20] [--replies 3]
[--against f3febdf] [--chromium]`.

One app process per tree (`python main.py` through bench/tab_cycles/probe.py) against the bench upstream, on
loopback. One tab opens, sends a prompt and closes (start-up's and the first page's own garbage), the probe clears
what waits for the collector; then `--tabs` simulated browser tabs at once (bench/page_load/tab.py's socket.io
client, as bench.soak drives them) each send `--replies` prompts, check the replies and close; once NiceGUI has
deleted their clients (its reconnect timeout, 3 s), the probe lists what a full pass of the collector would free:
its objects per closed tab, and the cycles by kind (the types in each) with the objects each kind holds.

With app/ops/collector.py in place, all of that waits, frozen, for the next reclaim (a full pass over everything);
what reference counting frees is not in it. `--against` runs a git commit too (exported with git archive), after
this tree. `--chromium`: the tabs are headless Chromium's, opened on the page one after another, then closed as a
person closes a tab, the socket ending from the browser's side (no prompts). The simulated tabs end theirs with
socket.io's goodbye; the libraries leave different cycles for each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.api.servers import ROOT, export_tree, start_nicechat, start_upstream
from bench.soak.__main__ import tab_life

PROBE = Path(__file__).with_name('probe.py')
# Seconds after the last tab closed before the probe looks: NiceGUI deletes a disconnected client after its
# reconnect timeout (3 s).
SETTLE = 6.0
# Longest wait for the probe's answer.
PROBE_TIMEOUT = 30.0
# Kinds of cycles printed per tree.
TOP = 12


async def _probe(pid: int, report: Path, lines: int) -> dict[str, Any]:
    """Signal the probe and wait for its line (the `lines`-th of `report`)."""
    os.kill(pid, signal.SIGUSR2)
    deadline = time.monotonic() + PROBE_TIMEOUT
    while time.monotonic() < deadline:
        if (line := _line(report, lines)) is not None:
            return dict(json.loads(line))
        await asyncio.sleep(0.1)  # a file written by another process: nothing to await
    raise TimeoutError('the probe did not answer')


def _line(report: Path, number: int) -> str | None:
    """The `number`-th line of `report` (a small file), if it has that many."""
    lines = report.read_text().splitlines() if report.exists() else []
    return lines[number - 1] if len(lines) >= number else None


async def measure(tree: Path, upstream_url: str, work: Path, tabs: int, replies: int,
                  chromium: bool) -> dict[str, Any]:
    """The probe's report on `tabs` closed tabs of `tree`'s app."""
    report = work / 'cycles.jsonl'
    server, url = start_nicechat(upstream_url, work, root=tree, wrapper=[str(PROBE), str(report)])
    browser = _Chromium(url) if chromium else None
    try:
        cookies: dict[str, str] = {}
        if browser is not None:
            errors = await asyncio.to_thread(browser.tabs, 1)
        else:
            errors = await tab_life(url, 1, 10, 0.001, 'warm', cookies)
        await asyncio.sleep(SETTLE)  # the warm-up tab's client deleted: nothing to await from outside the app
        await _probe(server.process.pid, report, 1)
        if browser is not None:
            errors += await asyncio.to_thread(browser.tabs, tabs)
        else:
            lives = await asyncio.gather(*(tab_life(url, replies, 10, 0.001, f't{n}', dict(cookies))
                                           for n in range(tabs)))
            errors += [error for life in lives for error in life]
        await asyncio.sleep(SETTLE)  # as above
        found = await _probe(server.process.pid, report, 2)
    finally:
        if browser is not None:
            browser.quit()
        server.stop()
    return {**found, 'errors': errors}


class _Chromium:
    """Headless Chromium (the system's, as tests/browser uses it) opening tabs on the chat page and closing them as
    a person closes a tab: the websocket ends from the browser's side, without socket.io's goodbye."""

    def __init__(self, url: str) -> None:
        from bench.render.browser import Browser  # selenium, only with --chromium

        self.url = url
        self._browser = Browser()  # the render bench's: its flags for a machine with no network, a fresh profile
        self.driver = self._browser.driver
        self.driver.implicitly_wait(10)
        self.home = self.driver.current_window_handle  # a blank tab that stays open: the browser lives on

    def tabs(self, count: int) -> list[str]:
        """Open `count` tabs on the page, each until its prompt box shows and its socket is connected, then close
        them all."""
        from selenium.webdriver.common.by import By

        opened = []
        for _ in range(count):
            self.driver.switch_to.window(self.home)
            self.driver.switch_to.new_window('tab')
            self.driver.get(self.url + '/')
            self.driver.find_element(By.CSS_SELECTOR, 'textarea')  # the page is built once the socket connected
            opened.append(self.driver.current_window_handle)
        for handle in opened:
            self.driver.switch_to.window(handle)
            self.driver.close()
        self.driver.switch_to.window(self.home)
        return []

    def quit(self) -> None:
        self._browser.close()


def show(name: str, found: dict[str, Any], tabs: int) -> None:
    print(f'\n{name}: {found["garbage"] / tabs:.0f} objects per closed tab wait for the collector, '
          f'{found["in_cycles"] / tabs:.0f} of them in cycles; errors: {found["errors"] or "none"}')
    print('| cycles / tab | their objects / tab | objects they hold / tab | kind (the types in each cycle) |')
    print('| ---: | ---: | ---: | --- |')
    for kind, counts in list(found['kinds'].items())[:TOP]:
        print(f'| {counts["cycles"] / tabs:.1f} | {counts["objects"] / tabs:.1f} | {counts["reach"] / tabs:.1f} '
              f'| {kind[:160]} |')


async def main() -> None:
    parser = argparse.ArgumentParser(prog='python -m bench.tab_cycles', description=__doc__.splitlines()[0])
    parser.add_argument('--tabs', type=int, default=20, help='tabs open at once (default 20)')
    parser.add_argument('--replies', type=int, default=3, help='prompts each tab sends (default 3)')
    parser.add_argument('--against', help='also run this git commit, after this tree')
    parser.add_argument('--chromium', action='store_true',
                        help='real tabs: headless Chromium opens the page in each and closes it (no prompts)')
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix='nicechat-tab-cycles-'))
    trees = [('this tree', ROOT)]
    if args.against:
        trees.append((args.against, export_tree(args.against, work / 'against')))
    upstream, upstream_url = start_upstream(work)
    try:
        for number, (name, tree) in enumerate(trees):
            folder = work / f'run{number}'
            folder.mkdir()
            found = await measure(tree, upstream_url, folder, args.tabs, args.replies, args.chromium)
            show(name, found, args.tabs)
    finally:
        upstream.stop()


if __name__ == '__main__':
    asyncio.run(main())
