"""Target 3: the drawer of a person with 10,000 conversations opens and searches in under 200 ms.

Opening: navigation start until the drawer lists its first page (50 links). Searching: from the last keystroke in
"Search conversations" until the list shows exactly what the store's own query returns for the term; that includes
the box's debounce (components/sidebar.py SEARCH_DEBOUNCE_MS), so the server's part is reported apart.
"""

from __future__ import annotations

import asyncio
import json
import statistics
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from app.store import open_store

from .apps import App
from .browser import ChatBrowser
from .seed import MANY_PERSON, MISSING_TERM, TEXT_TERM, TITLE_TERM

SEARCHES = {'title hit': TITLE_TERM, 'message-text hit': TEXT_TERM, 'no hit': MISSING_TERM}
LINKS = "Array.from(document.querySelectorAll('nav[aria-label=Conversations] a')).map((a) => a.getAttribute('href'))"
# Runs before the page: when the drawer first lists a full page of links.
OPEN_JS = f'''
window.benchOpen = {{listedAt: null}};
new MutationObserver((changes, observer) => {{
  if ({LINKS}.length >= 50) {{ benchOpen.listedAt = performance.now(); observer.disconnect(); }}
}}).observe(document, {{subtree: true, childList: true}});
'''
LISTED = 'return window.benchOpen && window.benchOpen.listedAt !== null && window.benchOpen'
# In the page: the last keystroke in the search box, and when the list first equals `expected` (hrefs, in order).
SEARCH_JS = f'''
const expected = JSON.stringify(arguments[0]);
const nav = document.querySelector('nav[aria-label=Conversations]');
window.benchSearch = {{typedAt: null, listedAt: null}};
nav.addEventListener('input', () => {{ benchSearch.typedAt = performance.now(); }}, true);
new MutationObserver((changes, observer) => {{
  const settled = arguments[0].length > 0 || nav.textContent.includes('No matches.');
  if (benchSearch.typedAt !== null && JSON.stringify({LINKS}) === expected && settled) {{
    benchSearch.listedAt = performance.now();
    observer.disconnect();
  }}
}}).observe(nav, {{subtree: true, childList: true, characterData: true}});
'''
SEARCHED = 'return window.benchSearch.listedAt !== null && window.benchSearch'


def expected_lists(database: str) -> dict[str | None, list[str]]:
    """Per search term (None: no search), the first page of links the store's own query gives."""
    async def query() -> dict[str | None, list[str]]:
        store = await open_store(database)
        try:
            owner = await store.user_id(f'header:{MANY_PERSON}')
            return {term: [f'/c/{s.id}' for s in await store.conversations(owner, query=term)]
                    for term in (None, *SEARCHES.values())}
        finally:
            await store.close()
    return asyncio.run(query())


def open_drawer(browser: ChatBrowser, app: App) -> dict[str, Any]:
    """Load a new chat page; when its drawer lists the first 50 conversations, and the server's parts."""
    before = app.stats()
    browser.driver.get(f'{app.url}/')
    seen = browser.wait(LISTED, 60)
    after = app.stats()
    browser.wait_for_paint()
    timing = browser.timing()
    return {'listed_ms': seen['listedAt'], 'fcp_ms': timing['fcp_ms'],
            'html_response_ms': timing['response_end_ms'] - timing['request_ms'], 'html_bytes': timing['html_bytes'],
            'server_cpu_ms': (after['cpu_s'] - before['cpu_s']) * 1000, **_server(before, after)}


def search(browser: ChatBrowser, app: App, term: str, expected: dict[str | None, list[str]]) -> dict[str, Any]:
    """Type `term` in the search box; ms from the last keystroke to the right list, and the server's parts."""
    box = browser.driver.find_element(By.CSS_SELECTOR, 'nav[aria-label=Conversations] input')
    browser.run(SEARCH_JS, expected[term])
    before = app.stats()
    box.send_keys(term)
    seen = browser.wait(SEARCHED, 60)
    after = app.stats()
    box.send_keys(Keys.CONTROL, 'a')
    box.send_keys(Keys.BACKSPACE)  # back to the unfiltered list before the next search
    unfiltered = json.dumps(json.dumps(expected[None], separators=(',', ':')))  # as JSON.stringify gives it
    browser.wait(f'return JSON.stringify({LINKS}) === {unfiltered}', 60)
    return {'end_to_end_ms': seen['listedAt'] - seen['typedAt'], 'results': len(expected[term]),
            'server_cpu_ms': (after['cpu_s'] - before['cpu_s']) * 1000, **_server(before, after)}


def load_more(browser: ChatBrowser) -> float:
    """Click "Load more"; ms until the second page of links is listed too."""
    button = next(b for b in browser.driver.find_elements(By.TAG_NAME, 'button') if b.text.strip() == 'Load more')
    browser.run("window.benchClickAt = null; "
                "document.addEventListener('click', () => { window.benchClickAt ??= performance.now(); }, true);")
    button.click()
    return float(browser.wait(f'return {LINKS}.length >= 100 && performance.now() - window.benchClickAt', 30))


def run(browser: ChatBrowser, apps: dict[str, tuple[App, int]], database: str, rounds: int,
        log: Any = print) -> dict[str, Any]:
    """Open the drawer (first app) and search each term (every app, alternating), `rounds` times; medians.

    `apps` maps a name to the app and the search debounce (ms) it runs with.
    """
    expected = expected_lists(database)
    browser.fresh_tab()
    browser.as_person(MANY_PERSON)
    browser.before_every_page(OPEN_JS)
    first = next(iter(apps.values()))[0]
    try:
        open_drawer(browser, first)  # warm-up
        opens, more = [], []
        for number in range(rounds):
            opens.append(open_drawer(browser, first))
            more.append({'load_more_ms': load_more(browser)})
            log(f'  drawer round {number + 1}: {_line(opens[-1])}, load more {more[-1]["load_more_ms"]:.0f} ms')
        searches: dict[str, list[dict[str, Any]]] = {}
        for number in range(-1, rounds):  # round -1 warms each app's search up
            for name in list(apps) if number % 2 == 0 else list(reversed(apps)):
                app, debounce = apps[name]
                open_drawer(browser, app)
                for label, term in SEARCHES.items():
                    sample = {**search(browser, app, term, expected), 'debounce_ms': debounce}
                    if number >= 0:
                        searches.setdefault(f'{label}, {name}', []).append(sample)
                        log(f'  search round {number + 1} {label}, {name}: {_line(sample)}')
    finally:
        browser.forget_scripts()
    return {'open': _medians(opens), 'load more': _medians(more),
            **{f'search: {key}': _medians(rows) for key, rows in searches.items()}}


def _server(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
    """The server's time (ms) in the list query, and in the sidebar's refresh (query + building the list)."""
    def new(name: str) -> float:
        return sum(after['timings'].get(name, [])[len(before['timings'].get(name, [])):])
    return {'query_ms': new('list_query'), 'refresh_ms': new('sidebar_refresh'), 'build_page_ms': new('build_page')}


def _line(row: dict[str, Any]) -> str:
    return ', '.join(f'{key} {value:.0f}' if isinstance(value, float | int) else f'{key} {value}'
                     for key, value in row.items())


def _medians(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per figure, the median of the rounds that have it (a page may not report a paint)."""
    medians: dict[str, Any] = {}
    for key in rows[0]:
        values = [row[key] for row in rows if row[key] is not None]
        medians[key] = statistics.median(values) if values else None
    return medians
