"""The whole app in real Chromium: a reply types itself out word by word, and Stop reaches the upstream."""

from __future__ import annotations

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.wait import WebDriverWait

from tests.conftest import LiveApp
from tests.fake_upstream import FakeUpstream, Script

pytestmark = pytest.mark.nicegui_main_file('')  # the app runs as a live server here, not through NiceGUI fixtures

# Words the fake model streams, one per delta, slowly enough for the page to show many intermediate states.
WORDS = [f'word{i} ' for i in range(400)]
WORD_GAP = 0.03
REPLY = '[data-role=assistant] .nicechat-markdown'


def reply_text(driver: webdriver.Chrome) -> str:
    found = driver.find_elements(By.CSS_SELECTOR, REPLY)
    return found[-1].text if found else ''


def test_reply_types_itself_out_and_stop_reaches_the_upstream(
        live_app: LiveApp, upstream: FakeUpstream, nicegui_driver: webdriver.Chrome) -> None:
    upstream.queue(Script(tokens=WORDS, delay=WORD_GAP, hold_at=len(WORDS) - 1))  # never ends before the Stop
    driver = nicegui_driver
    driver.get(live_app.url + '/')
    wait = WebDriverWait(driver, 15, poll_frequency=0.02)
    prompt = wait.until(lambda d: d.find_element(By.TAG_NAME, 'textarea'))
    wait.until(lambda d: d.switch_to.active_element == prompt)  # the prompt box has focus on load

    prompt.send_keys('line one', Keys.SHIFT, Keys.ENTER, Keys.SHIFT, 'line two', Keys.ENTER)
    seen: list[int] = []

    def grew(d: webdriver.Chrome) -> bool:
        words = len(reply_text(d).split())
        if words and (not seen or words > seen[-1]):
            seen.append(words)
        return len(seen) >= 5

    wait.until(grew)  # five distinct, growing states of the same reply: it types itself out
    assert seen[-1] < len(WORDS)
    assert upstream.records[0].messages == [{'role': 'user', 'content': 'line one\nline two'}]

    driver.find_element(By.CSS_SELECTOR, '[aria-label=Stop]').click()
    record = upstream.records[0]
    assert record.disconnected.wait(10), 'the upstream never saw the Stop'
    assert record.tokens_sent < len(WORDS)
    wait.until(lambda d: 'Stopped' in d.find_element(By.CSS_SELECTOR, '[data-role=assistant]:last-child').text)
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '[aria-label=Send]').is_displayed())
    shown = reply_text(driver).split()
    assert shown == [w.strip() for w in WORDS[:len(shown)]]  # what was shown is exactly the start of the reply


def test_reload_mid_stream_keeps_the_reply_going(
        live_app: LiveApp, upstream: FakeUpstream, nicegui_driver: webdriver.Chrome) -> None:
    words = [f'w{i} ' for i in range(120)]
    script = Script(tokens=words, delay=0.01, hold_at=60)  # held mid-reply until the reloaded page has shown it
    upstream.queue(script)
    driver = nicegui_driver
    driver.get(live_app.url + '/')
    wait = WebDriverWait(driver, 15, poll_frequency=0.02)
    wait.until(lambda d: d.find_element(By.TAG_NAME, 'textarea')).send_keys('count', Keys.ENTER)
    wait.until(lambda d: len(reply_text(d).split()) >= 10)
    driver.refresh()  # same tab: the page is rebuilt from the server's copy of the conversation
    wait.until(lambda d: 0 < len(reply_text(d).split()) < len(words))  # the rebuilt page shows the reply mid-stream
    script.release.set()
    wait.until(lambda d: reply_text(d).split() == [w.strip() for w in words])  # and follows it to the end, exactly
    record = upstream.records[0]
    assert len(upstream.records) == 1
    assert record.finished.wait(5)
    assert not record.disconnected.is_set(), 'the reload cut the upstream request'
