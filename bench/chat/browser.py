"""Headless Chromium for the chat benchmark: bench.render's browser, plus tabs, a person header and page-side waits."""

from __future__ import annotations

from typing import Any

from selenium.common.exceptions import TimeoutException

from bench.render.browser import Browser

from .apps import USER_HEADER

# A desktop window: Quasar's show-if-above opens the drawer from 1024 px on, as people with a wide screen see it.
WINDOW = (1280, 900)
# Waits for a condition the page's own script reports (polled in the page: there is no event to hand back).
WAIT_JS = '''
const [test, done] = [new Function(arguments[0]), arguments[arguments.length - 1]];
const check = () => { const value = test(); value ? done(value) : setTimeout(check, 10); };
check();
'''
READY = "return window.did_handshake === true && document.querySelector('textarea, nav input') !== null"
# Seconds to wait for the first contentful paint once the page is built (headless Chromium paints, but late).
PAINT_TIMEOUT = 10
PAINTED = "return performance.getEntriesByName('first-contentful-paint').length > 0"
# Navigation Timing of the page's HTML (ms from navigation start), its size, and first contentful paint.
TIMING_JS = '''
const nav = performance.getEntriesByType('navigation')[0];
const fcp = performance.getEntriesByName('first-contentful-paint')[0];
return {request_ms: nav.requestStart, response_start_ms: nav.responseStart, response_end_ms: nav.responseEnd,
        dom_content_loaded_ms: nav.domContentLoadedEventEnd, load_ms: nav.loadEventEnd,
        html_bytes: nav.decodedBodySize, fcp_ms: fcp ? fcp.startTime : null};
'''


class ChatBrowser(Browser):
    """One Chromium session for the whole benchmark."""

    def __init__(self) -> None:
        super().__init__()
        self.driver.set_window_size(*WINDOW)
        self._scripts: list[str] = []

    def as_person(self, name: str | None) -> None:
        """Send the trusted user header `name` with every request of this tab (None: send none)."""
        self.driver.execute_cdp_cmd('Network.enable', {})
        headers = {USER_HEADER: name} if name else {}
        self.driver.execute_cdp_cmd('Network.setExtraHTTPHeaders', {'headers': headers})

    def before_every_page(self, script: str) -> None:
        """Run `script` in each page this tab opens from now on, before the page's own scripts."""
        added = self.driver.execute_cdp_cmd('Page.addScriptToEvaluateOnNewDocument', {'source': script})
        self._scripts.append(added['identifier'])

    def forget_scripts(self) -> None:
        """Stop running the scripts given to `before_every_page`."""
        for identifier in self._scripts:
            self.driver.execute_cdp_cmd('Page.removeScriptToEvaluateOnNewDocument', {'identifier': identifier})
        self._scripts.clear()

    def fresh_tab(self) -> None:
        """Continue in a new tab and close the others (each tab of the old design holds its own conversation)."""
        old = self.driver.window_handles
        self.driver.switch_to.new_window('tab')
        new = self.driver.current_window_handle
        for handle in old:
            self.driver.switch_to.window(handle)
            self.driver.close()
        self.driver.switch_to.window(new)

    def open(self, url: str, timeout: float = 30) -> None:
        """Load `url` and wait until the page's socket is connected and its prompt or search box is there."""
        self.driver.set_script_timeout(timeout)
        self.driver.get(url)
        self.wait(READY, timeout)

    def wait(self, condition: str, timeout: float = 60) -> Any:
        """Wait until the JavaScript function body `condition` returns a truthy value; return that value."""
        self.driver.set_script_timeout(timeout)
        return self.driver.execute_async_script(WAIT_JS, condition)

    def run(self, script: str, *args: Any) -> Any:
        """Run `script` in the page; its result."""
        return self.driver.execute_script(script, *args)

    def wait_for_paint(self) -> None:
        """Wait (up to PAINT_TIMEOUT) for the first contentful paint; `timing` reports None if there was none."""
        try:
            self.wait(PAINTED, PAINT_TIMEOUT)
        except TimeoutException:
            pass

    def timing(self) -> dict[str, Any]:
        """The page's navigation timing, HTML size and first contentful paint."""
        return dict(self.driver.execute_script(TIMING_JS))

    def forget_traffic(self) -> None:
        """Drop the socket traffic recorded so far."""
        self.driver.get_log('performance')
