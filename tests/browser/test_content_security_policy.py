"""The chat page works in Chromium under its Content-Security-Policy, and the policy is really enforced there."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.wait import WebDriverWait

from tests.conftest import LiveApp

pytestmark = pytest.mark.nicegui_main_file('')  # the app runs as a live server here, not through NiceGUI fixtures

# Collects every CSP violation the page reports, from before its first script runs.
RECORD_VIOLATIONS = '''window.__violations = [];
document.addEventListener('securitypolicyviolation',
    (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));'''
REPLY = '[data-role=assistant] .nicechat-markdown'


@pytest.fixture
def driver(nicegui_driver: webdriver.Chrome) -> Iterator[webdriver.Chrome]:
    """The session's Chromium recording CSP violations on every new page, allowed to use the clipboard."""
    nicegui_driver.execute_cdp_cmd('Browser.grantPermissions', {'permissions': ['clipboardReadWrite',
                                                                               'clipboardSanitizedWrite']})
    script = nicegui_driver.execute_cdp_cmd('Page.addScriptToEvaluateOnNewDocument', {'source': RECORD_VIOLATIONS})
    nicegui_driver.get_log('browser')  # start with an empty console log
    yield nicegui_driver
    nicegui_driver.execute_cdp_cmd('Page.removeScriptToEvaluateOnNewDocument', {'identifier': script['identifier']})


def test_demo_chat_works_under_the_policy_with_no_violation(demo_app: LiveApp, driver: webdriver.Chrome) -> None:
    wait = WebDriverWait(driver, 20, poll_frequency=0.05)
    driver.get(demo_app.url + '/')
    wait.until(lambda d: d.find_element(By.TAG_NAME, 'textarea')).send_keys('csp check', Keys.ENTER)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '[data-role=assistant] [aria-label=Copy]'))
    reply = driver.find_elements(By.CSS_SELECTOR, REPLY)[-1]
    assert 'csp check' in reply.text  # the demo quotes the prompt: the reply streamed and rendered
    # Code highlighting (highlight.js spans) and the table rendered inside the reply.
    assert reply.find_elements(By.CSS_SELECTOR, 'pre code [class^=hljs-]')
    assert reply.find_elements(By.CSS_SELECTOR, 'table td')
    copy_code = driver.find_element(By.CSS_SELECTOR, '[data-role=assistant] [aria-label="Copy code"]')
    copy_code.click()
    wait.until(lambda d: copy_code.text == 'Copied')
    copied = driver.execute_async_script('navigator.clipboard.readText().then(arguments[0])')
    assert copied.startswith('def greet(name: str) -> str:')
    assert driver.execute_script('return window.__violations') == []
    console = [entry['message'] for entry in driver.get_log('browser')]
    assert not [line for line in console if 'Content Security Policy' in line], console


def test_the_policy_is_enforced_on_the_page(demo_app: LiveApp, driver: webdriver.Chrome) -> None:
    # What the policy forbids really is blocked (so the test above would see a violation if the page caused one).
    wait = WebDriverWait(driver, 20, poll_frequency=0.05)
    driver.get(demo_app.url + '/')
    wait.until(lambda d: d.find_element(By.TAG_NAME, 'textarea'))
    driver.execute_script('''
        document.body.append(Object.assign(new Image(), {src: 'http://127.0.0.2:9/leak.png'}));
        document.body.append(Object.assign(document.createElement('object'), {data: '/favicon.ico'}));''')
    wait.until(lambda d: len(d.execute_script('return window.__violations')) >= 2)
    blocked = driver.execute_script('return window.__violations')
    assert any(line.startswith('img-src http://127.0.0.2:9/leak.png') for line in blocked), blocked
    assert any(line.startswith('object-src') for line in blocked), blocked
