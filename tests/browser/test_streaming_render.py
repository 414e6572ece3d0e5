"""The streaming message in real Chromium: incremental markdown, highlighted code, tables, no injected code runs."""

from __future__ import annotations

import asyncio

import pytest
from nicegui import ui
from nicegui.testing import Screen
from selenium.webdriver.common.by import By

from components.streaming_markdown import StreamingMarkdown

# Pause between two deltas: LLM-like, so the browser sees the reply grow over many updates.
DELTA_GAP = 0.003
# Reply text streamed in two parts; part 1 stops inside a code fence that is not closed yet.
PART_1 = ('# Streaming title\n\nSome *text* with `inline code` and a [safe link](https://example.com/docs).\n\n'
          '- one\n- two\n\n```python\ndef add(a, b):\n    return a + b')
PART_2 = ('\n```\n\n| Name | Value |\n| --- | --- |\n| alpha | 1 |\n| beta | 2 |\n\n'
          'Quotes "double" and \'single\', back\\slashes \\" \\\' \\n, and more than ASCII: Café 中文 🙂\n\n'
          'Raw HTML stays text: <script>window.xss = 1</script> <img src=x onerror="window.xss = 2">\n\n'
          '[bad link](javascript:window.xss=3) and ![pixel](http://127.0.0.1:9/pixel.png)\n')
DONE = '.nicechat-markdown[data-done]'

pytestmark = pytest.mark.nicegui_main_file('')  # pages come from the test, not main.py


def deltas(text: str, size: int = 3) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]


def serve_page() -> None:
    @ui.page('/')
    def page() -> None:
        live = StreamingMarkdown().classes('live')
        reference = ui.column()

        async def stream(text: str) -> None:
            for delta in deltas(text):
                live.append(delta)
                await asyncio.sleep(DELTA_GAP)

        async def finish() -> None:
            await stream(PART_2)
            live.finish()
            with reference:  # what a one-shot render of the whole text gives
                StreamingMarkdown(PART_1 + PART_2, streaming=False).classes('one-shot')

        ui.button('Part one', on_click=lambda: stream(PART_1))
        ui.button('Part two', on_click=finish)


def test_streams_markdown_incrementally_and_safely(screen: Screen) -> None:
    serve_page()
    screen.open('/')
    screen.click('Part one')
    screen.wait_for(lambda: 'return a + b' in screen.find_by_css('.live pre code').text)  # open fence is code
    heading = screen.find_by_css('.live h1')
    screen.selenium.execute_script('arguments[0].keptFromStart = true', heading)
    assert screen.find_all_by_class('hljs-keyword'), 'the open code fence is not highlighted'

    screen.click('Part two')
    screen.wait_for(lambda: len(screen.selenium.find_elements(By.CSS_SELECTOR, DONE)) == 2)
    live, one_shot = screen.find_by_css('.live'), screen.find_by_css('.one-shot')
    assert live.get_attribute('innerHTML') == one_shot.get_attribute('innerHTML')
    assert screen.selenium.execute_script('return arguments[0].keptFromStart && arguments[0].isConnected', heading), \
        'a finished block was re-rendered'
    assert [cell.text for cell in live.find_elements(By.CSS_SELECTOR, 'td')] == ['alpha', '1', 'beta', '2']
    assert live.find_element(By.CSS_SELECTOR, 'pre code.language-python .hljs-keyword').text == 'def'
    link = live.find_element(By.LINK_TEXT, 'safe link')
    assert (link.get_attribute('target'), link.get_attribute('rel')) == ('_blank', 'noopener noreferrer nofollow')

    assert screen.selenium.execute_script('return window.xss') is None
    assert screen.selenium.execute_script('return arguments[0].querySelectorAll("script, img, [onerror]").length',
                                          live) == 0  # (find_elements would wait out the implicit wait)
    assert '<script>window.xss = 1</script>' in live.text
    assert [a.text for a in live.find_elements(By.TAG_NAME, 'a')] == ['safe link', 'pixel']  # javascript: refused


def lines(tag: str, count: int = 40) -> str:
    return ''.join(f'{tag} line {i}.\n\n' for i in range(count)) + f'{tag}-end\n\n'


def distance_from_bottom(screen: Screen) -> int:
    return int(screen.selenium.execute_script(
        'const p = document.scrollingElement; return p.scrollHeight - p.scrollTop - p.clientHeight'))


def test_scroll_follows_the_stream_until_the_reader_scrolls_up(screen: Screen) -> None:
    @ui.page('/')
    def page() -> None:
        live = StreamingMarkdown()
        with ui.header():  # always in view: clicking them must not scroll the page
            for tag in 'ABC':
                ui.button(f'Stream {tag}', on_click=lambda tag=tag: [live.append(d) for d in deltas(lines(tag), 8)])

    screen.open('/')
    screen.click('Stream A')
    screen.wait_for(lambda: 'A-end' in screen.find_by_class('nicechat-markdown').text)
    assert distance_from_bottom(screen) <= 2, 'the view did not follow the stream'

    screen.selenium.execute_script('window.scrollTo(0, 100)')  # the reader scrolls up to read
    screen.selenium.execute_async_script('requestAnimationFrame(() => requestAnimationFrame(arguments[0]))')
    screen.click('Stream B')
    screen.wait_for(lambda: 'B-end' in screen.find_by_class('nicechat-markdown').text)
    assert screen.selenium.execute_script('return document.scrollingElement.scrollTop') == 100, 'reader was moved'

    screen.selenium.execute_script('window.scrollTo(0, document.scrollingElement.scrollHeight)')  # back at the end
    screen.selenium.execute_async_script('requestAnimationFrame(() => requestAnimationFrame(arguments[0]))')
    screen.click('Stream C')
    screen.wait_for(lambda: 'C-end' in screen.find_by_class('nicechat-markdown').text)
    assert distance_from_bottom(screen) <= 2, 'the view did not follow again'
