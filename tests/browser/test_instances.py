"""Two instances on one PostgreSQL database and one Redis (the `cluster` fixture), in real Chromium: a browser that
signed in and chatted on one instance is the same person on the other, with the same conversations."""

from __future__ import annotations

import pytest
import redis
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.wait import WebDriverWait

from tests.services.cluster import Cluster
from tests.services.fixtures import CLUSTER_PASSWORD, CLUSTER_REDIS_DB
from tests.services.redis import RedisServer

pytestmark = pytest.mark.nicegui_main_file('')  # the app runs as live servers here, not through NiceGUI fixtures

PROMPT = 'shared across instances'
REPLY = '[data-role=assistant] .nicechat-markdown'


def test_a_browser_is_the_same_person_with_the_same_chats_on_either_instance(
        cluster: Cluster, redis_server: RedisServer, nicegui_driver: webdriver.Chrome) -> None:
    cluster.revive()
    driver, (first, second) = nicegui_driver, cluster.instances
    wait = WebDriverWait(driver, 30, poll_frequency=0.05)  # a loaded 2-core machine runs two instances here
    driver.delete_all_cookies()
    try:
        driver.get(first.url + '/')
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, 'input[type=password]'),
                   'no password page on the first instance').send_keys(CLUSTER_PASSWORD, Keys.ENTER)
        wait.until(lambda d: d.find_element(By.TAG_NAME, 'textarea'), 'no prompt box after signing in').send_keys(
            PROMPT, Keys.ENTER)
        wait.until(lambda d: '/c/' in d.current_url, 'the chat got no address')
        conversation = driver.current_url.split('/c/')[1]
        wait.until(lambda d: 'Put them in' in d.find_element(By.CSS_SELECTOR, REPLY).text,  # the demo's last line
                   'the reply did not finish on the first instance')

        # Signing in is kept in NiceGUI's user storage: in Redis, so the other instance knows it (no password page).
        keys = redis.Redis.from_url(redis_server.url(CLUSTER_REDIS_DB)).keys('nicegui:user-*')
        assert keys, 'NiceGUI did not keep its user storage in Redis'
        driver.get(f'{second.url}/c/{conversation}')
        wait.until(lambda d: 'Put them in' in d.find_element(By.CSS_SELECTOR, REPLY).text,
                   'the second instance did not show the conversation (a password page or a 404 instead?)')
        assert driver.find_elements(By.CSS_SELECTOR, 'input[type=password]') == []
        assert PROMPT in driver.find_element(By.CSS_SELECTOR, '[data-role=user]').text
        nav = driver.find_element(By.CSS_SELECTOR, 'nav[aria-label=Conversations]')
        assert [a.get_attribute('textContent').strip() for a in nav.find_elements(By.TAG_NAME, 'a')] == [PROMPT]
    finally:
        driver.delete_all_cookies()
