"""Remake the README's screenshots: the real app in demo mode, driven in headless Chromium (light and dark, desktop
and phone). Run from the repository root after any visible change, then look at them before committing:

    .venv/bin/python docs/screenshots.py
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.wait import WebDriverWait

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / 'docs' / 'images'
SIZES = {'desktop': (1280, 860), 'mobile': (390, 844)}
PROMPTS = ('Show me a small Python example', 'And a table of the steps, please')


def main() -> int:
    """Start the app, take the four pictures, stop the app."""
    with tempfile.TemporaryDirectory() as data, socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
        probe.close()
        env = {**os.environ, 'OPENAI_API_KEY': '', 'OPENAI_BASE_URL': '', 'DATA_DIR': data, 'PORT': str(port),
               'HOST': '127.0.0.1', 'DEMO_TOKEN_DELAY': '0.001'}
        app = subprocess.Popen([sys.executable, 'main.py'], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
        try:
            url = f'http://127.0.0.1:{port}'
            _wait_until_up(url)
            driver = _chromium(Path(data) / 'profile')
            try:
                _converse(driver, url)
                page = driver.current_url
                for theme in ('light', 'dark'):
                    _choose_theme(driver, theme)  # the app's own toggle, remembered for this browser
                    for size, (width, height) in SIZES.items():
                        driver.set_window_size(width, height)
                        driver.get(page)
                        WebDriverWait(driver, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, 'pre code'))
                        time.sleep(0.5)  # let the layout settle (drawer animation) before the picture
                        driver.save_screenshot(str(OUT / f'chat-{size}-{theme}.png'))
                        print('wrote', OUT / f'chat-{size}-{theme}.png')
            finally:
                driver.quit()
        finally:
            app.terminate()
            app.wait(10)
    return 0


def _converse(driver: webdriver.Chrome, url: str) -> None:
    driver.set_window_size(*SIZES['desktop'])
    driver.get(url + '/')
    wait = WebDriverWait(driver, 30, poll_frequency=0.1)
    for prompt in PROMPTS:
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '[aria-label=Send]').is_displayed())
        driver.find_element(By.TAG_NAME, 'textarea').send_keys(prompt, Keys.ENTER)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '[aria-label=Stop]'))
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '[aria-label=Send]').is_displayed())
    wait.until(lambda d: '/c/' in d.current_url)


def _choose_theme(driver: webdriver.Chrome, theme: str) -> None:
    def button() -> str:
        return str(driver.find_element(By.CSS_SELECTOR, '[aria-label^="Colour theme"]').get_attribute('aria-label'))
    for _ in range(3):
        if button().endswith(theme):
            return
        before = button()
        driver.find_element(By.CSS_SELECTOR, '[aria-label^="Colour theme"]').click()
        WebDriverWait(driver, 5).until(lambda d, before=before: button() != before)
    raise RuntimeError(f'no {theme} theme')


def _chromium(profile: Path) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which('chromium') or 'chromium'
    for flag in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--hide-scrollbars',
                 '--disable-background-networking', '--disable-component-update', '--no-first-run',
                 f'--user-data-dir={profile}'):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(shutil.which('chromedriver') or 'chromedriver'), options=options)


def _wait_until_up(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + '/openapi.json', timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)  # a starting process offers nothing to wait on
    raise RuntimeError('the app did not start')


if __name__ == '__main__':
    sys.exit(main())
