"""NiceGUI's `screen` fixture on the system's Chromium and chromedriver (Debian: chromium, chromium-driver)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator

import pytest
from nicegui.testing.screen import Screen
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

# Flags Chromium needs as root on a machine with no network: no sandbox, no GPU, nothing phoning home.
CHROMIUM_FLAGS = ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic',
                  '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
                  '--window-size=1000,800')


@pytest.fixture(scope='session', autouse=True)
def screenshots_outside_the_repo(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The `screen` fixture saves a screenshot per test; keep them in pytest's temp folder, not the work tree."""
    Screen.SCREENSHOT_DIR = tmp_path_factory.mktemp('screenshots')


@pytest.fixture(scope='session')
def nicegui_chrome_options(tmp_path_factory: pytest.TempPathFactory) -> webdriver.ChromeOptions:
    """Chrome options for the system Chromium, with a fresh profile."""
    binary = shutil.which('chromium') or shutil.which('chromium-browser')
    if binary is None:
        pytest.fail('Chromium is missing: apt-get install chromium chromium-driver (.ci/run does this)')
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f'--user-data-dir={tempfile.mkdtemp(dir=tmp_path_factory.getbasetemp())}')
    options.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    return options


@pytest.fixture(scope='session')
def nicegui_driver(nicegui_chrome_options: webdriver.ChromeOptions) -> Iterator[webdriver.Chrome]:
    """The system chromedriver (Selenium Manager would try to download one; there is no network)."""
    path = shutil.which('chromedriver')
    if path is None:
        pytest.fail('chromedriver is missing: apt-get install chromium-driver (.ci/run does this)')
    driver = webdriver.Chrome(service=Service(executable_path=path), options=nicegui_chrome_options)
    driver.implicitly_wait(Screen.IMPLICIT_WAIT)
    driver.set_page_load_timeout(10)
    yield driver
    driver.quit()
