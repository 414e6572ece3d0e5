"""Target 1: a streamed reply costs the same with the database on as before it, end to end in a real browser.

Each round opens a fresh tab on a new chat, types `markdown=4 delay=…` (the bench upstream streams bench.render's
4 KB markdown reply for it), and measures from Enter until the reply's final form is on screen, plus a short settle
so the reply's final save is counted too.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from bench.render.reply import SENTINEL

from .apps import App
from .browser import ChatBrowser

PACES = (0.010, 0.002)  # seconds between deltas: LLM pace, and a fast local model
REPLY_KB = 4
# Each new chat gets two turns: the first creates the conversation (and its drawer entry), the second continues it.
TURNS = ('new chat', 'follow-up')
# Seconds after the final form is on screen still counted: the final save is spawned as the reply ends.
SETTLE = 0.5
# Seconds to let the typed prompt reach the server (one value update per keystroke) before measuring starts.
TYPED_SETTLE = 0.5
# Records, in the page: Enter, the reply's first text, and its final form (data-done) with its text.
WATCH_JS = '''
window.bench = {enterAt: null, userAt: null, firstTextAt: null, doneAt: null, text: null};
const count = (role) => document.querySelectorAll(`[data-role=${role}]`).length;
document.addEventListener('keydown', (e) => {
  if (e.key !== 'Enter' || bench.enterAt !== null) return;
  [bench.enterAt, bench.users, bench.replies] = [performance.now(), count('user'), count('assistant')];
}, true);
new MutationObserver(() => {
  if (bench.enterAt === null || bench.doneAt !== null) return;
  if (bench.userAt === null && count('user') > bench.users) bench.userAt = performance.now();
  const reply = document.querySelectorAll('[data-role=assistant] .nicechat-markdown')[bench.replies];
  if (!reply) return;
  if (bench.firstTextAt === null && reply.textContent.length > 0) bench.firstTextAt = performance.now();
  if (reply.hasAttribute('data-done')) [bench.doneAt, bench.text] = [performance.now(), reply.textContent];
}).observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true});
'''
DONE = 'return window.bench.doneAt !== null && window.bench'


def conversation(browser: ChatBrowser, app: App, pace: float) -> dict[str, dict[str, Any]]:
    """A new chat in a fresh tab: its first reply, then a follow-up in the same conversation; each one's figures."""
    browser.fresh_tab()
    browser.as_person(app.person)
    browser.open(f'{app.url}/')
    return {turn: one_reply(browser, app, pace) for turn in TURNS}


def one_reply(browser: ChatBrowser, app: App, pace: float) -> dict[str, Any]:
    """Send one prompt on the open chat page; the reply's figures."""
    browser.run(WATCH_JS)
    prompt = browser.driver.find_element(By.TAG_NAME, 'textarea')
    prompt.send_keys(f'markdown={REPLY_KB} delay={pace}')
    time.sleep(TYPED_SETTLE)  # no event tells when the last keystroke's value update was handled
    browser.forget_traffic()
    before = app.stats()
    prompt.send_keys(Keys.ENTER)
    seen = browser.wait(DONE, 120)
    time.sleep(SETTLE)
    after = app.stats()
    frames = browser.socket_messages()
    if SENTINEL not in seen['text']:
        raise RuntimeError(f'the reply on screen is incomplete: ...{seen["text"][-200:]!r}')
    return {'cpu_s': after['cpu_s'] - before['cpu_s'], 'ws_bytes': sum(frames), 'ws_messages': len(frames),
            'wire_bytes': after['wire_bytes'] - before['wire_bytes'],
            'db_writes': after['db_writes'] - before['db_writes'],
            'save_turn_ms': sum(_new(before, after, 'save_turn')),
            'sidebar_ms': sum(_new(before, after, 'sidebar_refresh')),
            'prompt_shown_ms': seen['userAt'] - seen['enterAt'], 'first_text_ms': seen['firstTextAt'] - seen['enterAt'],
            'final_ms': seen['doneAt'] - seen['enterAt']}


def _new(before: dict[str, Any], after: dict[str, Any], timing: str) -> list[float]:
    """The `timing` durations (ms) recorded between two snapshots of the app's stats."""
    return after['timings'].get(timing, [])[len(before['timings'].get(timing, [])):]


def run(browser: ChatBrowser, apps: dict[str, App], rounds: int, log: Any = print) -> dict[str, Any]:
    """Alternate the apps, round by round (A B C, then C B A), at each pace; medians per app, turn and pace."""
    for app in apps.values():  # warm-up: first imports, first upstream connection, browser caches
        conversation(browser, app, PACES[-1])
    samples: dict[str, list[dict[str, Any]]] = {}
    for number in range(rounds):
        for pace in PACES:
            for name in list(apps) if number % 2 == 0 else list(reversed(apps)):
                for turn, sample in conversation(browser, apps[name], pace).items():
                    key = f'{name}: {turn} @{pace * 1000:.0f} ms'
                    samples.setdefault(key, []).append(sample)
                    log(f'  round {number + 1} {key}: ' + ', '.join(
                        f'{k} {v:.3f}' if isinstance(v, float) else f'{k} {v}' for k, v in sample.items()))
    return {key: _medians(rows) for key, rows in sorted(samples.items(), key=lambda item: _order(item[0], apps))}


def _order(key: str, apps: dict[str, App]) -> tuple[int, int, int]:
    """Rows grouped by turn, then pace, then app (in the order given), so each comparison sits together."""
    name, rest = key.split(': ', 1)
    turn, pace = rest.split(' @')
    return TURNS.index(turn), -int(pace.split()[0]), list(apps).index(name)


def _medians(rows: list[dict[str, Any]]) -> dict[str, Any]:
    summary = {key: statistics.median(row[key] for row in rows) for key in rows[0]}
    summary['cpu_s_all'] = [round(row['cpu_s'], 3) for row in rows]
    summary['ws_bytes_all'] = sorted({row['ws_bytes'] for row in rows})
    return summary
