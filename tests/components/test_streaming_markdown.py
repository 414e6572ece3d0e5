"""The streaming message through NiceGUI's simulated user: the server keeps every character and ships each once."""

from __future__ import annotations

from typing import Any

import pytest
from nicegui import events, ui
from nicegui.testing import User

from components.streaming_markdown import StreamingMarkdown
from tests.components.chat_helpers import STREAM_RETRIES, conversation_link, open_chat, send
from tests.fake_upstream import FakeUpstream, Script

REPLY = ['# Title\n\n', 'Some ', '**bold**', ' text.\n\n', '```python\n', 'print(1)\n', '```\n\n', '| a | b |\n',
         '|---|---|\n', '| 1 | 2 |\n']


class Browser:
    """What the browser side of one element would hold, replaying the server's calls by its offset rule."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.total: int | None = None

    def call(self, name: str, *args: Any) -> None:
        if name == 'append':
            offset, chunk = args
            assert offset <= len(self.text), 'a gap: the browser would have to ask for a resync'
            self.text += chunk[len(self.text) - offset:]
        elif name == 'finish':
            self.total = args[0]


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[StreamingMarkdown, str, tuple[Any, ...]]]:
    """Every run_method call on a StreamingMarkdown, in order."""
    recorded: list[tuple[StreamingMarkdown, str, tuple[Any, ...]]] = []

    def record(self: StreamingMarkdown, name: str, *args: Any, timeout: float = 1) -> Any:
        recorded.append((self, name, args))
        return ui.element.run_method(self, name, *args, timeout=timeout)

    monkeypatch.setattr(StreamingMarkdown, 'run_method', record)
    return recorded


def replay(element: StreamingMarkdown, calls: list[tuple[StreamingMarkdown, str, tuple[Any, ...]]]) -> Browser:
    browser = Browser(element.props['text'])
    for target, name, args in calls:
        if target is element:
            browser.call(name, *args)
    return browser


async def test_every_delta_arrives_once_in_few_sends(configured: FakeUpstream, user: User, calls: list[Any]) -> None:
    tokens = [f'word{i} ' for i in range(400)]
    configured.queue(Script(tokens=tokens))
    await open_chat(user)
    await send(user, 'go')
    await user.should_see('word399', retries=STREAM_RETRIES)
    await user.should_see(marker='send')  # finished
    element = user.find(StreamingMarkdown).elements.pop()
    assert element.text == ''.join(tokens)
    browser = replay(element, calls)
    assert browser.text == ''.join(tokens)
    assert browser.total == len(browser.text)
    appends = [args for target, name, args in calls if target is element and name == 'append']
    assert sum(len(chunk) for _, chunk in appends) == len(browser.text), 'text was sent more than once'
    assert len(appends) < len(tokens) / 4, 'deltas arriving together were not coalesced'


async def test_reload_mid_stream_continues_without_loss_or_repeat(configured: FakeUpstream, user: User,
                                                                  calls: list[Any]) -> None:
    configured.queue(Script(tokens=REPLY * 10, delay=0.02))  # ~2 s: the reload lands mid-stream
    await open_chat(user)
    await send(user, 'tables please')
    await user.should_see('print(1)', retries=STREAM_RETRIES)
    await user.open(await conversation_link(user))  # a reload: a new page, built while the reply still streams
    await user.should_see(marker='stop')
    element = user.find(StreamingMarkdown).elements.pop()
    assert element.props['streaming'], 'the reload should have happened mid-stream'
    assert 0 < len(element.props['text']) < len(''.join(REPLY * 10))
    await user.should_see(marker='send', retries=STREAM_RETRIES)
    assert replay(element, calls).text == element.text == ''.join(REPLY * 10)


async def test_resync_sends_what_the_browser_lacks(configured: FakeUpstream, user: User, calls: list[Any]) -> None:
    configured.queue(Script(tokens=REPLY))
    await open_chat(user)
    await send(user, 'hi')
    await user.should_see(marker='send', retries=STREAM_RETRIES)
    element = user.find(StreamingMarkdown).elements.pop()
    calls.clear()
    element._resync(events.GenericEventArguments(sender=element, client=element.client, args=7))
    assert [(name, args) for _, name, args in calls] == [('append', (7, ''.join(REPLY)[7:])),
                                                          ('finish', (len(''.join(REPLY)),))]


async def test_finished_message_loads_whole_and_final(configured: FakeUpstream, user: User) -> None:
    configured.queue(Script(tokens=REPLY))
    await open_chat(user)
    await send(user, 'hi')
    await user.should_see(marker='send', retries=STREAM_RETRIES)
    await user.open(await conversation_link(user))
    element = user.find(StreamingMarkdown).elements.pop()
    assert element.props['text'] == ''.join(REPLY)
    assert not element.props['streaming']
