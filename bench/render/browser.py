"""Headless Chromium for the benchmark: loads a run's page, starts it, and reads what reached the browser."""

from __future__ import annotations

import json
import shutil
import tempfile
from types import TracebackType

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

# Chromium as root on a machine without network: no sandbox, no GPU, nothing phoning home, a fresh profile.
FLAGS = ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic',
         '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
         '--window-size=1000,800')
# Waits on the page's own state (the watcher sets window.bench.doneAt when the final form is in the DOM).
WAIT_DONE_JS = '''
const done = arguments[arguments.length - 1];
const check = () => (window.bench && window.bench.doneAt) ? done(window.bench.doneAt) : setTimeout(check, 50);
check();
'''
WAIT_READY_JS = '''
const done = arguments[arguments.length - 1];
const check = () => window.bench ? done(true) : setTimeout(check, 20);
check();
'''


class Browser:
    """One Chromium session, reused across runs."""

    def __init__(self) -> None:
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which('chromium') or 'chromium'
        for flag in FLAGS:
            options.add_argument(flag)
        self._profile = tempfile.TemporaryDirectory(prefix='bench-chromium-')
        options.add_argument(f'--user-data-dir={self._profile.name}')
        options.set_capability('goog:loggingPrefs', {'performance': 'ALL'})
        service = Service(executable_path=shutil.which('chromedriver') or 'chromedriver')
        self.driver = webdriver.Chrome(service=service, options=options)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Quit Chromium and remove its profile."""
        self.driver.quit()
        self._profile.cleanup()

    def load(self, url: str) -> None:
        """Open a run's page and wait until its watcher is installed; forget the socket traffic so far."""
        self.driver.set_script_timeout(30)
        self.driver.get(url)
        self.driver.execute_async_script(WAIT_READY_JS)
        self.driver.get_log('performance')

    def start(self) -> None:
        """Click the page's Start button."""
        self.driver.find_element(By.XPATH, '//button[contains(., "Start")]').click()

    def wait_until_done(self, timeout: float) -> float:
        """Wall time (s) the final form of the message reached the DOM."""
        self.driver.set_script_timeout(timeout)
        return float(self.driver.execute_async_script(WAIT_DONE_JS)) / 1000

    def socket_messages(self) -> list[int]:
        """Sizes (bytes) of the socket.io messages the page received since `load`, pings left out."""
        sizes = []
        for entry in self.driver.get_log('performance'):
            message = json.loads(entry['message'])['message']
            if message['method'] == 'Network.webSocketFrameReceived':
                payload = message['params']['response']['payloadData']
                if payload.startswith('42'):  # socket.io event; '2'/'3' are engine.io pings and pongs
                    sizes.append(len(payload.encode()))
        return sizes

    def word_log(self) -> list[tuple[float, int]]:
        """(wall time s, words shown) after every change of the message in the page."""
        return [(at / 1000, words) for at, words in self.driver.execute_script('return window.bench.log')]
