"""Target 2: opening a conversation of 1,000 messages (about 1 MB of text) paints in under 300 ms.

Each load is cold: the browser waits on a blank page until the app has let go of the conversation (its last page
gone), so the app loads it from the database again. Measured in the page from navigation start: first contentful
paint, and the moment the conversation's last message is rendered (its markdown in final form, with the marker).
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

from selenium.webdriver.common.by import By

from .apps import App
from .browser import ChatBrowser
from .seed import LAST_MARKER, LONG_PERSON

# Seconds to wait for the app to let go of the conversation (NiceGUI drops a closed page after 3 s).
RELEASE_TIMEOUT = 20
# Runs before each page: when the prompt box is in the DOM, and when the last message is rendered (its markdown in
# final form, with the marker) and how many messages are on the page then.
LOAD_JS = '''
window.benchLoad = {promptAt: null, lastAt: null, messages: 0};
new MutationObserver((changes, observer) => {
  if (benchLoad.promptAt === null && document.querySelector('textarea')) benchLoad.promptAt = performance.now();
  const done = document.querySelectorAll('.nicechat-markdown[data-done]');
  const last = done[done.length - 1];
  if (last && last.textContent.includes(MARKER)) {
    [benchLoad.lastAt, benchLoad.messages] = [performance.now(), document.querySelectorAll('[data-role]').length];
    observer.disconnect();
  }
}).observe(document, {subtree: true, childList: true, attributes: true, attributeFilter: ['data-done']});
'''
# A conversation's page is loaded when its last message is rendered; a new chat's when its prompt box is there.
LOADED = 'return window.benchLoad && window.benchLoad.lastAt !== null && window.benchLoad'
EMPTY_LOADED = 'return window.benchLoad && window.benchLoad.promptAt !== null && window.benchLoad'


def one_load(browser: ChatBrowser, app: App, path: str) -> dict[str, Any]:
    """Open `path` cold (the app holds no conversation); the page's and the server's figures."""
    browser.driver.get('about:blank')
    _wait_released(app)
    before = app.stats()
    browser.forget_traffic()
    browser.driver.get(f'{app.url}{path}')
    seen = browser.wait(LOADED if path.startswith('/c/') else EMPTY_LOADED, 60)
    after = app.stats()
    browser.wait_for_paint()
    timing = browser.timing()
    frames = browser.socket_messages()
    new = {name: after['timings'].get(name, [])[len(before['timings'].get(name, [])):]
           for name in ('open_conversation', 'build_page')}
    return {'rendered_ms': seen['lastAt'] or seen['promptAt'], 'fcp_ms': timing['fcp_ms'],
            'messages_shown': seen['messages'], 'html_response_ms': timing['response_end_ms'] - timing['request_ms'],
            'html_bytes': timing['html_bytes'], 'ws_bytes': sum(frames),
            'server_open_ms': sum(new['open_conversation']), 'server_build_ms': sum(new['build_page']),
            'server_cpu_ms': (after['cpu_s'] - before['cpu_s']) * 1000}


def show_earlier(browser: ChatBrowser) -> float | None:
    """Click "Show earlier messages" once (if shown); ms until the earlier messages are on the page."""
    buttons = [b for b in browser.driver.find_elements(By.TAG_NAME, 'button') if 'Show earlier' in b.text]
    if not buttons or not buttons[0].is_displayed():
        return None
    shown = len(browser.driver.find_elements(By.CSS_SELECTOR, '[data-role]'))
    browser.run("window.benchClickAt = null; "
                "document.addEventListener('click', () => { window.benchClickAt ??= performance.now(); }, true);")
    browser.run('arguments[0].click()', buttons[0])  # the page opens at its end, the button under the header
    return float(browser.wait(f"return document.querySelectorAll('[data-role]').length > {shown} "
                              "&& performance.now() - window.benchClickAt", 30))


def run(browser: ChatBrowser, pages: dict[str, tuple[App, str]], rounds: int, log: Any = print) -> dict[str, Any]:
    """Cold loads of each page (app, path), alternating over `rounds` (A B C, then C B A); medians."""
    browser.fresh_tab()
    browser.as_person(LONG_PERSON)
    browser.before_every_page(LOAD_JS.replace('MARKER', json.dumps(LAST_MARKER)))
    try:
        for app, path in pages.values():  # warm-up: the browser caches the page's scripts, the app its imports
            one_load(browser, app, path)
        samples: dict[str, list[dict[str, Any]]] = {name: [] for name in pages}
        for number in range(rounds):
            for name in list(pages) if number % 2 == 0 else list(reversed(pages)):
                sample = one_load(browser, *pages[name])
                sample['show_earlier_ms'] = show_earlier(browser)
                samples[name].append(sample)
                log(f'  load round {number + 1} {name}: ' + ', '.join(
                    f'{key} {value:.0f}' if isinstance(value, float) else f'{key} {value}'
                    for key, value in sample.items()))
    finally:
        browser.forget_scripts()
    return {name: _medians(rows) for name, rows in samples.items()}


def _medians(rows: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for key in rows[0]:
        values = [row[key] for row in rows if row[key] is not None]
        summary[key] = statistics.median(values) if values else None
    summary['rendered_ms_all'] = [round(row['rendered_ms']) for row in rows]
    return summary


def _wait_released(app: App) -> None:
    deadline = time.monotonic() + RELEASE_TIMEOUT
    while app.stats()['live_conversations']:
        if time.monotonic() > deadline:
            raise RuntimeError('the app still holds the conversation after its page was closed')
        time.sleep(0.25)  # polling the app: it has no event to wait on from outside
