"""bench/page_load's simulated tab talks to the app as a Chromium tab does: the same socket messages for a prompt,
over a websocket with the same extension (permessage-deflate: the server compresses every frame it sends, most of
them written by app/web/socket_frames.py, and both tabs must read them all)."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import aiohttp
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.wait import WebDriverWait

from bench.page_load.tab import APPEND, STREAMING_TAG, Tab, js_string_value
from tests.conftest import LiveApp
from tests.fake_upstream import FakeUpstream, Script

pytestmark = pytest.mark.nicegui_main_file('')  # the app runs as a live server here

PROMPT = 'Say "hi" to the load test'
# Tokens with quotes, a backslash, non-ASCII and an emoji: the tab must decode __nc's literal as the browser does.
TOKENS = [f'w{i} ' for i in range(20)] + ['"q" ', "'s' ", 'back\\slash ', 'Café 中文 ', '🙂 ', 'end.']
DELAY = 0.02
# Records every socket.io message the page receives and sends, as it goes (socket.io-client's onAny hooks).
HOOK_JS = '''
window.__frames = [];
window.socket.onAny((event, data) => window.__frames.push(['in', event, JSON.stringify(data)]));
window.socket.onAnyOutgoing((event, data) => window.__frames.push(['out', event, JSON.stringify(data)]));
'''
DONE = '[data-role=assistant] .nicechat-markdown[data-done]'
EXTENSIONS_JS = 'return window.socket.io.engine.transport.ws.extensions'  # what the browser's websocket negotiated
# The turn's last message: the prompt box gets the focus back after the reply's finish (ChatPage.on_finish).
ENDED_JS = '''
const finish = window.__frames.findIndex(f => f[1] === 'run_javascript' && f[2].includes('finish'));
return finish >= 0 && window.__frames.slice(finish).some(f => f[1] === 'run_javascript' && f[2].includes('focus'));
'''


def ended(codes: list[str]) -> bool:
    """Whether the prompt box got the focus back after the reply's finish (the turn's last message)."""
    finish = next((i for i, code in enumerate(codes) if '"finish"' in code), None)
    return finish is not None and any('"focus"' in code for code in codes[finish:])


def shape(frames: list[tuple[str, str, Any]]) -> tuple[list[tuple[str, ...]], str, list[tuple[str, ...]]]:
    """What the server sent and what the tab sent, each in order, with what timing decides taken out; and the text.

    How many deltas share a send, where the appends fall between the page's updates, and whether the outbox sends a
    new element's component and the sidebar's refresh in one `update` or two, depend on timing: appends are compared
    as the text they add up to, and runs of `update` and `load_js_components` count as one. Ids (elements, listeners,
    conversations) are left out; the sent events keep their element id and arguments (the typed text). Acks (every
    3 s) are left out.
    """
    kinds: list[tuple[str, ...]] = []
    sent: list[tuple[str, ...]] = []
    text = ''
    mounted: set[str] = set()
    for direction, event, data in frames:
        if event == 'ack':
            continue
        if direction == 'out':
            sent.append((event, str(data['id']), json.dumps(data['args'])))
            continue
        if event == 'update':  # the reply's element mounts with the text read while its turn was being saved
            for element_id, element in data.items():
                if isinstance(element, dict) and element.get('tag') == STREAMING_TAG and element_id not in mounted:
                    mounted.add(element_id)
                    text += (element.get('props') or {}).get('text') or ''
        if event == 'run_javascript':
            code = data['code']
            if match := APPEND.match(code):  # appends: compared as the text they add up to
                text += js_string_value(match[3])
                continue
            kind: tuple[str, ...] = (direction, event, re.sub(r'\d+|"/c/\w+"', '#', code))
        else:
            kind = (direction, 'update' if event == 'load_js_components' else event)
        if not kinds or kinds[-1] != kind or kind[-1] != 'update':
            kinds.append(kind)
    return kinds, text, sent


def browser_frames(driver: webdriver.Chrome, url: str) -> tuple[list[tuple[str, str, Any]], str]:
    driver.get(url + '/')
    driver.delete_all_cookies()  # a new person, as each simulated tab is
    driver.get(url + '/')
    wait = WebDriverWait(driver, 15, poll_frequency=0.02)
    prompt = wait.until(lambda d: d.find_element(By.TAG_NAME, 'textarea'))
    wait.until(lambda d: d.execute_script('return window.did_handshake === true'))
    driver.execute_script(HOOK_JS)
    prompt.send_keys(PROMPT, Keys.ENTER)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, DONE))
    wait.until(lambda d: d.execute_script(ENDED_JS))
    return [(direction, event, json.loads(data)) for direction, event, data in driver.execute_script(
        'return window.__frames')], driver.execute_script(EXTENSIONS_JS)


async def tab_frames(url: str) -> tuple[list[tuple[str, str, Any]], str, bool]:
    async with aiohttp.ClientSession() as http:
        tab = Tab(url, http, record=True)
        await tab.open()
        start = len(tab.seen.messages)
        await tab.type(PROMPT)
        await tab.press_enter()
        await tab.wait_for(lambda: ended([str(data.get('code')) for _, event, data in tab.seen.messages[start:]
                                          if event == 'run_javascript']), 15)
        deflate = tab.deflate
        await tab.close()
    frames = sorted([(at, 'in', event, data) for at, event, data in tab.seen.messages[start:]]
                    + [(at, 'out', event, data) for at, event, data in tab.seen.sent])
    shown = tab.seen.streams[tab.replies()[-1]].source
    return [(direction, event, data) for _, direction, event, data in frames], shown, deflate


def test_simulated_tab_sends_and_receives_what_chromium_does(
        live_app: LiveApp, upstream: FakeUpstream, nicegui_driver: webdriver.Chrome) -> None:
    upstream.queue(Script(tokens=TOKENS, delay=DELAY))
    frames, extensions = browser_frames(nicegui_driver, live_app.url)
    browser = shape(frames)
    upstream.queue(Script(tokens=TOKENS, delay=DELAY))
    frames, shown, deflate = asyncio.run(tab_frames(live_app.url))
    simulated = shape(frames)

    assert browser[1] == simulated[1] == shown == ''.join(TOKENS)
    assert simulated[0] == browser[0]  # what the server sent, in order
    assert simulated[2] == browser[2]  # what the tab sent, in order
    assert any(args == '[]' for _, _, args in simulated[2]), 'no Enter was sent'
    assert extensions.startswith('permessage-deflate') and deflate  # both compressed, and both read every frame
