"""What only a browser shows of the chat features: clipboard, hover actions, dark mode, a phone-sized screen, drag
and drop of an image."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.wait import WebDriverWait

from tests.components.test_images import png
from tests.conftest import LiveApp
from tests.fake_upstream import FakeUpstream, Script

pytestmark = pytest.mark.nicegui_main_file('')  # the app runs as a live server here, not through NiceGUI fixtures

REPLY = '**Bold** answer with `code`.\n\n```python\nprint("hi")\n```\n'
LONG_WORD = 'x' * 300
WIDE_CODE = '```\n' + 'y = 1  # ' + 'z' * 400 + '\n```\n'


@pytest.fixture
def driver(nicegui_driver: webdriver.Chrome) -> Iterator[webdriver.Chrome]:
    """The session's Chromium, allowed to use the clipboard, back at its usual size afterwards."""
    nicegui_driver.execute_cdp_cmd('Browser.grantPermissions', {'permissions': ['clipboardReadWrite',
                                                                               'clipboardSanitizedWrite']})
    yield nicegui_driver
    nicegui_driver.set_window_size(1000, 800)
    nicegui_driver.execute_script('document.body.classList.remove("body--dark")')


def chat(driver: webdriver.Chrome, app: LiveApp, prompt: str) -> WebDriverWait[webdriver.Chrome]:
    wait = WebDriverWait(driver, 15, poll_frequency=0.05)
    driver.get(app.url + '/')
    wait.until(lambda d: d.find_element(By.TAG_NAME, 'textarea')).send_keys(prompt, Keys.ENTER)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '[data-role=assistant] [aria-label=Copy]'))
    return wait


def test_copy_and_copy_code_put_the_raw_text_on_the_clipboard_and_say_so(
        live_app: LiveApp, upstream: FakeUpstream, driver: webdriver.Chrome) -> None:
    upstream.queue(Script(tokens=[REPLY]))
    wait = chat(driver, live_app, 'copy test')
    button = driver.find_element(By.CSS_SELECTOR, '[data-role=assistant] [aria-label=Copy]')
    ActionChains(driver).move_to_element(button).click().perform()
    wait.until(lambda d: 'Copied' in d.find_element(By.TAG_NAME, 'body').text)
    copied = driver.execute_async_script('navigator.clipboard.readText().then(arguments[0])')
    assert copied == REPLY
    code = driver.find_element(By.CSS_SELECTOR, '[data-role=assistant] [aria-label="Copy code"]')
    code.click()
    wait.until(lambda d: code.text == 'Copied')
    assert driver.execute_async_script('navigator.clipboard.readText().then(arguments[0])') == 'print("hi")\n'


def test_message_actions_show_on_hover(live_app: LiveApp, upstream: FakeUpstream, driver: webdriver.Chrome) -> None:
    upstream.queue(Script(tokens=['hover me']))
    wait = chat(driver, live_app, 'hover test')
    assert driver.find_element(By.TAG_NAME, 'html').get_attribute('lang') == 'en-US'  # the page declares its language
    assert driver.switch_to.active_element == driver.find_element(By.TAG_NAME, 'textarea')  # focus back after a reply
    actions = driver.find_element(By.CSS_SELECTOR, '[data-role=assistant] .nc-actions')
    driver.find_element(By.TAG_NAME, 'textarea').click()  # the pointer away from the message
    wait.until(lambda d: actions.value_of_css_property('opacity') == '0')
    ActionChains(driver).move_to_element(driver.find_element(By.CSS_SELECTOR, '[data-role=assistant]')).perform()
    wait.until(lambda d: actions.value_of_css_property('opacity') == '1')
    driver.execute_cdp_cmd('Emulation.setTouchEmulationEnabled', {'enabled': True, 'maxTouchPoints': 1})
    try:  # a touch screen has no hover: the actions are always shown
        driver.refresh()
        touch = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '[data-role=assistant] .nc-actions'))
        assert driver.execute_script('return matchMedia("(pointer: coarse)").matches')
        wait.until(lambda d: touch.value_of_css_property('opacity') == '1')
    finally:
        driver.execute_cdp_cmd('Emulation.setTouchEmulationEnabled', {'enabled': False})


def test_dark_mode_toggle_is_remembered_and_code_stays_readable(
        live_app: LiveApp, upstream: FakeUpstream, driver: webdriver.Chrome) -> None:
    upstream.queue(Script(tokens=[REPLY]))
    wait = chat(driver, live_app, 'dark test')
    theme = driver.find_element(By.CSS_SELECTOR, '[aria-label^="Colour theme"]')
    for expected in ('light', 'dark'):  # auto → light → dark
        theme.click()
        wait.until(lambda d, expected=expected: d.find_element(
            By.CSS_SELECTOR, '[aria-label^="Colour theme"]').get_attribute('aria-label').endswith(expected))
        theme = driver.find_element(By.CSS_SELECTOR, '[aria-label^="Colour theme"]')
    wait.until(lambda d: 'body--dark' in d.find_element(By.TAG_NAME, 'body').get_attribute('class'))
    driver.refresh()  # remembered for this browser
    wait.until(lambda d: 'body--dark' in d.find_element(By.TAG_NAME, 'body').get_attribute('class'))
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '.nicechat-markdown pre'))
    pre = driver.find_element(By.CSS_SELECTOR, '.nicechat-markdown pre')
    background, text = pre.value_of_css_property('background-color'), driver.execute_script(
        'return getComputedStyle(arguments[0].querySelector("code")).color', pre)
    assert background == 'rgba(13, 17, 23, 1)'  # dark code block with light text: readable
    assert text == 'rgb(201, 209, 217)'
    driver.find_element(By.CSS_SELECTOR, '[aria-label^="Colour theme"]').click()  # back to auto for other tests
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '[aria-label^="Colour theme"]')
               .get_attribute('aria-label').endswith('auto'))


def test_a_phone_sized_screen_never_scrolls_sideways(
        live_app: LiveApp, upstream: FakeUpstream, driver: webdriver.Chrome) -> None:
    table = '| a | b |\n|---|---|\n| ' + 'w' * 200 + ' | 1 |\n'
    upstream.queue(Script(tokens=[LONG_WORD + '\n\n' + WIDE_CODE + '\n' + table]))
    driver.set_window_size(390, 844)
    wait = chat(driver, live_app, 'https://example.com/' + 'q' * 200)
    width = driver.execute_script('return window.innerWidth')
    assert driver.execute_script('return document.scrollingElement.scrollWidth') <= width
    too_wide = driver.execute_script('''
        const w = window.innerWidth;
        return [...document.querySelectorAll('body *')].filter(e => {
            const r = e.getBoundingClientRect();
            return r.width > 0 && r.right > w + 1 && !e.closest('pre, table');
        }).map(e => e.tagName + '.' + e.className).slice(0, 5);''')
    assert too_wide == []
    assert driver.find_element(By.CSS_SELECTOR, '[aria-label=Menu]').is_displayed()
    assert not driver.find_element(By.CSS_SELECTOR, 'nav[aria-label=Conversations]').is_displayed()
    for label in ('Send', 'Attach image'):
        box = driver.find_element(By.CSS_SELECTOR, f'[aria-label="{label}"]').rect
        assert box['x'] >= 0 and box['x'] + box['width'] <= width
    driver.find_element(By.CSS_SELECTOR, '[aria-label=Menu]').click()
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, 'nav[aria-label=Conversations]').is_displayed())


def test_an_image_dropped_on_the_prompt_box_is_attached_and_sent(
        live_app: LiveApp, upstream: FakeUpstream, driver: webdriver.Chrome) -> None:
    upstream.queue(Script(tokens=['I see it']))
    wait = WebDriverWait(driver, 15, poll_frequency=0.05)
    driver.get(live_app.url + '/')
    box = wait.until(lambda d: d.find_element(By.TAG_NAME, 'textarea'))
    image = png()
    driver.execute_script('''
        const bytes = Uint8Array.from(atob(arguments[1]), c => c.charCodeAt(0));
        const data = new DataTransfer();
        data.items.add(new File([bytes], 'dropped.png', {type: 'image/png'}));
        arguments[0].dispatchEvent(new DragEvent('drop', {dataTransfer: data, bubbles: true, cancelable: true}));
    ''', box, base64.b64encode(image).decode())
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '[aria-label="Remove image"]'))
    box.send_keys('what is it?', Keys.ENTER)
    wait.until(lambda d: 'I see it' in d.find_element(By.CSS_SELECTOR, '[data-role=assistant]').text)
    parts = upstream.records[-1].messages[-1]['content']
    assert parts[1]['image_url']['url'] == 'data:image/png;base64,' + base64.b64encode(image).decode()
    thumb = driver.find_element(By.CSS_SELECTOR, '[data-role=user] img')
    wait.until(lambda d: d.execute_script('return arguments[0].complete && arguments[0].naturalWidth', thumb) == 2)
