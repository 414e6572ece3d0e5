"""A message's toolbar is drawn in the browser by its frame (components/message_frame.py): its buttons keep their
labels, work from the keyboard, and each press reaches the server as the button it was."""

from __future__ import annotations

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

from tests.conftest import LiveApp
from tests.fake_upstream import FakeUpstream, Script

pytestmark = pytest.mark.nicegui_main_file('')  # the app runs as a live server here

REPLY = '[data-role=assistant]'


def labels(toolbar: WebElement) -> list[str]:
    return [button.get_attribute('aria-label') or '' for button in toolbar.find_elements(By.TAG_NAME, 'button')]


def toolbar_text(driver: webdriver.Chrome) -> str:
    """The reply's toolbar's text (shown on hover only: Selenium's `.text` would be empty)."""
    return driver.find_element(By.CSS_SELECTOR, f'{REPLY} [role=toolbar]').get_attribute('textContent') or ''


def test_toolbar_buttons_are_labelled_keyboard_reachable_and_act(
        live_app: LiveApp, upstream: FakeUpstream, nicegui_driver: webdriver.Chrome) -> None:
    driver = nicegui_driver
    upstream.queue(Script(tokens=['first answer']))
    upstream.queue(Script(tokens=['second answer']))
    # The message views are made anew when the shown version changes: an element found a moment ago can go stale.
    wait = WebDriverWait(driver, 15, poll_frequency=0.05, ignored_exceptions=(StaleElementReferenceException,))
    driver.get(live_app.url + '/')
    wait.until(lambda d: d.find_element(By.TAG_NAME, 'textarea')).send_keys('toolbar test', Keys.ENTER)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f'{REPLY} [aria-label=Regenerate]'))
    toolbar = driver.find_element(By.CSS_SELECTOR, f'{REPLY} [role=toolbar]')
    assert labels(toolbar) == ['Copy', 'Regenerate']
    prompt_toolbar = driver.find_element(By.CSS_SELECTOR, '[data-role=user] [role=toolbar]')
    assert labels(prompt_toolbar) == ['Copy', 'Edit']

    # From the keyboard: focus Copy, Tab to Regenerate, Enter presses it (a new version of the answer).
    driver.execute_script('arguments[0].focus()', toolbar.find_element(By.CSS_SELECTOR, '[aria-label=Copy]'))
    driver.switch_to.active_element.send_keys(Keys.TAB)
    assert driver.switch_to.active_element.get_attribute('aria-label') == 'Regenerate'
    driver.switch_to.active_element.send_keys(Keys.ENTER)
    wait.until(lambda d: 'second answer' in d.find_element(By.CSS_SELECTOR, REPLY).text)
    wait.until(lambda d: '2 / 2' in toolbar_text(d))
    toolbar = driver.find_element(By.CSS_SELECTOR, f'{REPLY} [role=toolbar]')
    assert labels(toolbar) == ['Previous version', 'Next version', 'Copy', 'Regenerate']
    assert toolbar.find_element(By.CSS_SELECTOR, '[aria-label="Next version"]').get_attribute('disabled') is not None

    asked = len(upstream.records)
    toolbar.find_element(By.CSS_SELECTOR, '[aria-label="Previous version"]').click()
    wait.until(lambda d: 'first answer' in d.find_element(By.CSS_SELECTOR, REPLY).text)
    wait.until(lambda d: '1 / 2' in toolbar_text(d))
    assert len(upstream.records) == asked  # switching versions asks the model nothing
