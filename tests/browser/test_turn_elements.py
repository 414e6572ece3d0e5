"""What a turn adds to the page is drawn in the browser from few elements (components/message_frame.py,
conversation_entry.py, announcer.py): the markup, labels and behaviour are those the separate NiceGUI elements had."""

from __future__ import annotations

import re

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

PROMPT, REPLY = '.nc-message[data-role=user]', '.nc-message[data-role=assistant]'
WAITING = f'{REPLY} .nc-bubble [aria-label="Waiting for the model"]'


def labels(element: WebElement) -> list[str]:
    return [button.get_attribute('aria-label') or '' for button in element.find_elements(By.TAG_NAME, 'button')]


def text(element: WebElement) -> str:
    """The element's text, shown or not (Selenium's `.text` is empty for what is hidden, e.g. a closed drawer)."""
    return (element.get_attribute('textContent') or '').strip()


def test_a_turn_draws_its_messages_drawer_entry_and_announcement(
        live_app: LiveApp, upstream: FakeUpstream, nicegui_driver: webdriver.Chrome) -> None:
    driver = nicegui_driver
    held = Script(tokens=['Same', ' answer'], hold_at=0)
    upstream.queue(held)
    upstream.queue(Script(tokens=['Same', ' answer']))
    wait = WebDriverWait(driver, 15, poll_frequency=0.05, ignored_exceptions=(StaleElementReferenceException,))
    driver.get(live_app.url + '/')
    wait.until(lambda d: d.find_element(By.TAG_NAME, 'textarea')).send_keys('frame test', Keys.ENTER)

    # The prompt: the role line, its text in the bubble, Copy and Edit; the reply waits with labelled dots.
    prompt = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, PROMPT))
    assert text(prompt.find_element(By.CSS_SELECTOR, '.nc-bubble.nc-user .whitespace-pre-wrap')) == 'frame test'
    assert text(prompt).startswith('You')
    assert labels(prompt.find_element(By.CSS_SELECTOR, '[role=toolbar]')) == ['Copy', 'Edit']
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, WAITING))
    assert text(driver.find_element(By.CSS_SELECTOR, REPLY)).startswith('Assistant')

    # The drawer's entry: a link to the conversation, the page shown (aria-current), with labelled buttons.
    entry = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, 'nav .nc-current'))
    link = entry.find_element(By.TAG_NAME, 'a')
    assert link.get_attribute('aria-current') == 'page' and text(link) == 'frame test'
    assert re.fullmatch(re.escape(live_app.url) + r'/c/[0-9a-f]{32}', link.get_attribute('href') or '')
    assert labels(entry) == ['Rename', 'Delete']

    # The reply's text comes: the dots go; at its end the live region announces it once, with its id.
    held.release.set()
    wait.until(lambda d: 'Same answer' in text(d.find_element(By.CSS_SELECTOR, f'{REPLY} .nicechat-markdown')))
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, WAITING))
    region = driver.find_element(By.CSS_SELECTOR, '[aria-live=polite][role=status]')
    wait.until(lambda d: text(region) == 'Reply: Same answer')
    first = region.get_attribute('data-reply')
    assert first
    driver.execute_script('window.announced = arguments[0].firstElementChild', region)

    # The same text again (Regenerate) is a new node in the region: announced again, not an unchanged text.
    regenerate = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, f'{REPLY} [aria-label=Regenerate]'))
    driver.execute_script('arguments[0].click()', regenerate)
    wait.until(lambda d: region.get_attribute('data-reply') not in (None, first))
    assert text(region) == 'Reply: Same answer'
    assert driver.execute_script('return arguments[0].firstElementChild !== window.announced', region)

    # Edit: the editor takes the place of the bubble and the buttons; Cancel puts them back. (The page was drawn
    # again for the new version: the prompt is found anew.)
    prompt = driver.find_element(By.CSS_SELECTOR, PROMPT)
    driver.execute_script('arguments[0].click()', prompt.find_element(By.CSS_SELECTOR, '[aria-label=Edit]'))
    box = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, f'{PROMPT} textarea'))
    assert box.get_attribute('value') == 'frame test'
    assert not prompt.find_element(By.CSS_SELECTOR, '.nc-bubble').is_displayed()
    assert not prompt.find_element(By.CSS_SELECTOR, '[role=toolbar]').is_displayed()
    cancel = next(button for button in prompt.find_elements(By.TAG_NAME, 'button') if text(button) == 'Cancel')
    cancel.click()
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, f'{PROMPT} textarea'))
    assert prompt.find_element(By.CSS_SELECTOR, '.nc-bubble').is_displayed()

    # The entry's Rename opens the rename dialog with the title.
    driver.execute_script('arguments[0].click()', entry.find_element(By.CSS_SELECTOR, '[aria-label=Rename]'))
    title = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '.q-dialog input'))
    assert title.get_attribute('value') == 'frame test'
