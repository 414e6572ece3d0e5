"""Conversations that last, in real Chromium against the live app: addresses, back button, a second tab, restarts,
SIGTERM and SIGKILL in the middle of a reply."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.wait import WebDriverWait

from tests.conftest import LiveApp, app_env, start_app, stop_app
from tests.fake_upstream import FakeUpstream, Script

pytestmark = pytest.mark.nicegui_main_file('')  # the app runs as a live server here, not through NiceGUI fixtures

REPLY = '[data-role=assistant] .nicechat-markdown'
# The most of a reply a hard kill may lose: the checkpoint interval, plus room for a loaded machine.
CRASH_LOSS_SECONDS = 1.0 + 0.75


class Apps:
    """Starts the app (again) on one data folder, as a person would restart it on one machine."""

    def __init__(self, upstream: FakeUpstream, folder: Path) -> None:
        self.upstream, self.folder, self.runs = upstream, folder, 0
        self.current: LiveApp | None = None

    def start(self) -> LiveApp:
        self.runs += 1
        # No STORAGE_SECRET: the app keeps one in its data folder, so the browser's identity survives restarts.
        env = app_env(self.upstream, STORAGE_SECRET='', DATA_DIR=str(self.folder / 'data'))
        self.current = start_app(env, self.folder / f'run{self.runs}.log')
        return self.current


@pytest.fixture
def apps(upstream: FakeUpstream, tmp_path: Path) -> Iterator[Apps]:
    runner = Apps(upstream, tmp_path)
    yield runner
    if runner.current is not None and runner.current.process.poll() is None:
        stop_app(runner.current)


def reply_words(driver: webdriver.Chrome) -> list[str]:
    found = driver.find_elements(By.CSS_SELECTOR, REPLY)
    return found[-1].text.split() if found else []


def send(driver: webdriver.Chrome, text: str) -> None:
    wait = WebDriverWait(driver, 15, poll_frequency=0.02)
    wait.until(lambda d: d.find_element(By.TAG_NAME, 'textarea')).send_keys(text, Keys.ENTER)


def address(driver: webdriver.Chrome) -> str:
    """The conversation's own address, once the first message has given it one."""
    WebDriverWait(driver, 15).until(lambda d: '/c/' in d.current_url)
    return driver.current_url


def test_addresses_back_button_second_tab_and_restart(
        apps: Apps, upstream: FakeUpstream, nicegui_driver: webdriver.Chrome) -> None:
    upstream.queue(Script(tokens=['Apples', ' are', ' red']), Script(tokens=['Bananas', ' are', ' yellow']))
    driver, app = nicegui_driver, apps.start()
    wait = WebDriverWait(driver, 15, poll_frequency=0.05)
    driver.get(app.url + '/')
    send(driver, 'about apples')
    first = address(driver)
    wait.until(lambda d: reply_words(d) == ['Apples', 'are', 'red'])
    driver.find_element(By.XPATH, '//button[contains(., "New chat")]').click()
    wait.until(lambda d: d.current_url == app.url + '/')
    send(driver, 'about bananas')
    second = address(driver)
    assert second != first
    wait.until(lambda d: reply_words(d) == ['Bananas', 'are', 'yellow'])

    driver.back()  # the new chat's '/' was replaced by its own address: one step back is the first conversation
    wait.until(lambda d: d.current_url == first and reply_words(d) == ['Apples', 'are', 'red'])

    driver.switch_to.new_window('tab')  # a second tab on the same conversation
    driver.get(first)
    wait.until(lambda d: reply_words(d) == ['Apples', 'are', 'red'])
    driver.close()
    driver.switch_to.window(driver.window_handles[0])

    stop_app(app)
    app = apps.start()
    driver.get(first.replace(first.split('/c/')[0], app.url))  # same browser, restarted app (on a new port)
    wait.until(lambda d: reply_words(d) == ['Apples', 'are', 'red'])
    nav = driver.find_element(By.CSS_SELECTOR, 'nav[aria-label=Conversations]')
    # the drawer is behind the menu button at this window width: read the links' text, shown or not
    wait.until(lambda d: sorted(a.get_attribute('textContent').strip() for a in nav.find_elements(By.TAG_NAME, 'a'))
               == ['about apples', 'about bananas'])


# A slow reply, 30 ms a word, that is still streaming when the app is stopped.
WORDS = [f'w{i} ' for i in range(400)]


def start_slow_reply(apps: Apps, upstream: FakeUpstream, driver: webdriver.Chrome) -> tuple[LiveApp, str]:
    """Start the app and a slow reply on a new chat; returns the app and the conversation's address."""
    upstream.queue(Script(tokens=WORDS, delay=0.03))
    app = apps.start()
    driver.get(app.url + '/')
    send(driver, 'count slowly')
    return app, address(driver)


def reopen(apps: Apps, driver: webdriver.Chrome, page: str) -> None:
    """Restart the app and open the conversation again, once it says its reply was interrupted."""
    app = apps.start()
    driver.get(page.replace(page.split('/c/')[0], app.url))
    WebDriverWait(driver, 15, poll_frequency=0.05).until(
        lambda d: 'Interrupted' in d.find_elements(By.CSS_SELECTOR, '[data-role=assistant]')[-1].text)


def test_a_hard_kill_loses_at_most_a_second_and_the_reply_says_interrupted(
        apps: Apps, upstream: FakeUpstream, nicegui_driver: webdriver.Chrome) -> None:
    driver = nicegui_driver
    app, page = start_slow_reply(apps, upstream, driver)
    wait = WebDriverWait(driver, 15, poll_frequency=0.02)
    shown: list[tuple[float, int]] = []

    def streamed_two_seconds(d: webdriver.Chrome) -> bool:
        shown.append((time.monotonic(), len(reply_words(d))))
        return shown[-1][1] > 0 and shown[-1][0] - next(t for t, n in shown if n) > 2

    wait.until(streamed_two_seconds)
    app.process.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    app.process.wait(5)
    on_screen = max(n for _, n in shown)
    reopen(apps, driver, page)
    saved = reply_words(driver)
    assert saved == [w.strip() for w in WORDS[:len(saved)]], 'what was saved is not the start of the reply'
    floor = max(n for t, n in shown if t <= killed_at - CRASH_LOSS_SECONDS)
    assert floor <= len(saved) <= on_screen + 40, (floor, len(saved), on_screen)


def test_sigterm_saves_the_reply_in_flight_as_interrupted_with_all_its_text(
        apps: Apps, upstream: FakeUpstream, nicegui_driver: webdriver.Chrome) -> None:
    driver = nicegui_driver
    app, page = start_slow_reply(apps, upstream, driver)
    WebDriverWait(driver, 15, poll_frequency=0.02).until(lambda d: len(reply_words(d)) >= 10)
    app.process.send_signal(signal.SIGTERM)
    app.process.wait(5)  # exits within 5 s
    record = upstream.records[0]
    assert record.disconnected.is_set(), 'the upstream was left generating'
    log = app.log()
    assert 'Traceback' not in log and 'ERROR' not in log, log
    reopen(apps, driver, page)
    saved = reply_words(driver)
    assert saved == [w.strip() for w in WORDS[:len(saved)]], 'what was saved is not the start of the reply'
    # Every token that came. The fake upstream counts a token as sent once its write succeeds and it has not yet
    # seen the app hang up; a token written in the same turn of its loop as the app's close (the EOF not read yet)
    # is counted though the app never got it: so the last one may be missing, no more (seen once in ~10 CI runs).
    assert record.tokens_sent - 1 <= len(saved) <= record.tokens_sent, (len(saved), record.tokens_sent)
