"""/docs works on a machine without internet: Swagger UI's assets come from the app, not from a CDN."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import CHROMIUM_FLAGS
from tests.conftest import LiveApp

# Every host name fails to resolve except the app's loopback address: a CDN is as unreachable as offline.
NO_NETWORK = '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'


@pytest.fixture(scope='module')
def offline_browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    """Headless Chromium (the system's) that can reach nothing but 127.0.0.1."""
    binary, driver_path = shutil.which('chromium'), shutil.which('chromedriver')
    if binary is None or driver_path is None:
        pytest.fail('Chromium is missing: apt-get install chromium chromium-driver (.ci/run does this)')
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (*CHROMIUM_FLAGS, NO_NETWORK):
        options.add_argument(flag)
    options.add_argument(f'--user-data-dir={tempfile.mkdtemp(dir=tmp_path_factory.getbasetemp())}')
    options.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()


def test_docs_render_the_chat_operation_without_network(offline_browser: webdriver.Chrome, live_app: LiveApp) -> None:
    offline_browser.get(live_app.url + '/docs')
    operation = WebDriverWait(offline_browser, 15).until(
        lambda driver: driver.find_elements(By.CSS_SELECTOR, '.opblock-post .opblock-summary'))[0]
    assert operation.find_element(By.CSS_SELECTOR, '.opblock-summary-method').text == 'POST'
    assert operation.find_element(By.CSS_SELECTOR, '.opblock-summary-path').text.replace('\u200b', '') == '/api/chat'
    scripts = [element.get_attribute('src') for element in offline_browser.find_elements(By.TAG_NAME, 'script')]
    assert all(src.startswith(live_app.url) for src in scripts if src), scripts
    severe = [entry['message'] for entry in offline_browser.get_log('browser') if entry['level'] == 'SEVERE']
    assert severe == []
