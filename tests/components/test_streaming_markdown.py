"""The streaming message through NiceGUI's simulated user: the server keeps every character and ships each once."""

from __future__ import annotations

import asyncio
import json as stdjson
import re
from collections.abc import Callable
from typing import Any

import pytest
from nicegui import core, events, json, ui
from nicegui.outbox import Outbox
from nicegui.testing import User

from app.web.socket_path import LeanOutbox
from components import streaming_markdown
from components.streaming_markdown import StreamingMarkdown
from tests.components.chat_helpers import STREAM_RETRIES, conversation_link, open_chat, send
from tests.fake_upstream import FakeUpstream, Script

REPLY = ['# Title\n\n', 'Some ', '**bold**', ' text.\n\n', '```python\n', 'print(1)\n', '```\n\n', '| a | b |\n',
         '|---|---|\n', '| 1 | 2 |\n']


class Browser:
    """What the browser side of one element would hold, replaying the server's calls by its offset rule.

    Offsets count what JavaScript's string length counts: UTF-16 code units (an emoji is two).
    """

    def __init__(self, text: str) -> None:
        self.units = text.encode('utf-16-le', 'surrogatepass')
        self.total: int | None = None

    @property
    def text(self) -> str:
        return self.units.decode('utf-16-le', 'surrogatepass')

    def call(self, name: str, *args: Any) -> None:
        if name == 'append':
            offset, chunk = args
            assert 2 * offset <= len(self.units), 'a gap: the browser would have to ask for a resync'
            self.units += chunk.encode('utf-16-le', 'surrogatepass')[len(self.units) - 2 * offset:]
        elif name == 'finish':
            self.total = args[0]


class Calls(list[tuple[StreamingMarkdown, str, tuple[Any, ...]]]):
    """Every run_method call on a StreamingMarkdown, in order; `until` waits for a condition on them."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Event()
        # The text each element was made with (a reply's view is made with its first text: Conversation._start).
        self.mounted: dict[StreamingMarkdown, str] = {}

    def record(self, call: tuple[StreamingMarkdown, str, tuple[Any, ...]]) -> None:
        self.append(call)
        self.changed.set()

    async def until(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(10):
            while not condition():
                self.changed.clear()
                await self.changed.wait()

    def sent(self, element: StreamingMarkdown) -> int:
        """Characters of text sent to `element`'s browser side."""
        return sum(len(args[1]) for target, name, args in self if target is element and name == 'append')


# One escape in a JavaScript string literal: a \uXXXX code unit, or a backslash and one character.
JS_ESCAPE = re.compile(r'\\(u[0-9a-fA-F]{4}|.)', re.DOTALL)
JS_SINGLE_CHAR_ESCAPES = {'n': '\n', 'r': '\r', 't': '\t', 'b': '\b', 'f': '\f', 'v': '\v', '0': '\0'}


def js_value(literal: str) -> str:
    """The string a single-quoted JavaScript string literal stands for (as a browser would read it)."""
    assert literal[0] == literal[-1] == "'" and "'" not in JS_ESCAPE.sub('', literal[1:-1]), literal

    def unescape(escape: re.Match[str]) -> str:
        code = escape[1]
        if len(code) == 5 and code[0] == 'u':
            return chr(int(code[1:], 16))
        return JS_SINGLE_CHAR_ESCAPES.get(code, code)

    units = JS_ESCAPE.sub(unescape, literal[1:-1])
    return units.encode('utf-16', 'surrogatepass').decode('utf-16', 'surrogatepass')  # \ud83d\ude42 pairs to one


@pytest.mark.parametrize('text', ['plain', 'it\'s "quoted" \\ back\\slash \\" \\\' \n\r\t\x00\x1f\x7f',
                                  'Café 中文 🙂 \u2028\u2029 </script>', 'lone \ud800 surrogate \udfff 🙂'])
def test_js_string_round_trips_and_stays_short(text: str) -> None:
    literal = streaming_markdown.js_string(text)
    assert js_value(literal) == text
    assert literal[1:-1] == stdjson.dumps(text, ensure_ascii='\ud800' in text)[1:-1].replace('\\"', '"').replace(
        "'", "\\'")  # JSON's own escapes, as before the shortcuts
    assert streaming_markdown.utf16_length(text) == len(text.encode('utf-16-le', 'surrogatepass')) // 2
    if '\ud800' not in text:  # (the outbox's JSON cannot carry a lone surrogate at all)
        assert len(json.dumps(literal).encode()) < len(json.dumps(stdjson.dumps(text)).encode()), 'longer than JSON'


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    """Every call of a StreamingMarkdown's browser side, in order, as (element, method, args)."""
    recorded = Calls()
    append_call = re.compile(rf'{streaming_markdown.APPEND_FUNCTION}\((\d+),(\d+),(.*)\)', re.DOTALL)

    def record_method(self: StreamingMarkdown, name: str, *args: Any, timeout: float = 1) -> Any:
        recorded.record((self, name, args))
        return ui.element.run_method(self, name, *args, timeout=timeout)

    def recorder(enqueue_message: Callable[..., None]) -> Callable[..., None]:
        def record_message(self: Outbox, message_type: str, data: Any, target_id: str) -> None:
            if message_type == 'run_javascript' and (call := append_call.fullmatch(data['code'])):
                element = self.client.elements[int(call[1])]
                assert isinstance(element, StreamingMarkdown)
                recorded.record((element, 'append', (int(call[2]), js_value(call[3]))))
            enqueue_message(self, message_type, data, target_id)
        return record_message

    monkeypatch.setattr(StreamingMarkdown, 'run_method', record_method)
    made = StreamingMarkdown.__init__

    def record_made(self: StreamingMarkdown, text: str = '', **kwargs: Any) -> None:
        made(self, text, **kwargs)
        recorded.mounted[self] = text

    monkeypatch.setattr(StreamingMarkdown, '__init__', record_made)
    # Appends go straight into the outbox (see StreamingMarkdown._append): NiceGUI's, or the app's (socket_path.py).
    for outbox in (Outbox, LeanOutbox):
        monkeypatch.setattr(outbox, 'enqueue_message', recorder(outbox.enqueue_message))
    return recorded


def replay(element: StreamingMarkdown, calls: list[tuple[StreamingMarkdown, str, tuple[Any, ...]]]) -> Browser:
    browser = Browser(element.props['text'])
    for target, name, args in calls:
        if target is element:
            browser.call(name, *args)
    return browser


async def test_every_delta_arrives_once_in_few_sends(configured: FakeUpstream, user: User, calls: Calls) -> None:
    tokens = [f'word{i} ' for i in range(400)]
    configured.queue(Script(tokens=tokens))
    await open_chat(user)
    await send(user, 'go')
    await user.should_see('word399', retries=STREAM_RETRIES)
    await user.should_see(marker='send', retries=STREAM_RETRIES)  # finished (the text shows before the turn ends)
    element = user.find(StreamingMarkdown).elements.pop()
    assert element.text == ''.join(tokens)
    browser = replay(element, calls)
    assert browser.text == ''.join(tokens)
    assert browser.total == len(browser.units) // 2
    appends = [args for target, name, args in calls if target is element and name == 'append']
    mounted = calls.mounted[element]  # the text read before the element was made comes with it
    assert len(mounted) + sum(len(chunk) for _, chunk in appends) == len(browser.text), 'text was sent more than once'
    assert not appends or appends[0][0] == len(mounted), 'the first append does not start where the mount ended'
    assert len(appends) < len(tokens) / 4, 'deltas arriving together were not coalesced'


async def test_reload_mid_stream_continues_without_loss_or_repeat(configured: FakeUpstream, user: User,
                                                                  calls: Calls) -> None:
    script = Script(tokens=REPLY * 10, delay=0.005, hold_at=len(REPLY) * 5)  # held mid-reply until the reload is done
    configured.queue(script)
    await open_chat(user)
    await send(user, 'tables please')
    await user.should_see('print(1)', retries=STREAM_RETRIES)
    await user.open(await conversation_link(user))  # a reload: a new page, built while the reply still streams
    await user.should_see(marker='stop', retries=STREAM_RETRIES)
    element = user.find(StreamingMarkdown).elements.pop()
    assert element.props['streaming']
    assert 0 < len(element.props['text']) < len(''.join(REPLY * 10))
    script.release.set()
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


async def open_message(user: User, text: str, *, streaming: bool = False) -> StreamingMarkdown:
    """A page holding one message with `text`, open in the simulated browser."""
    @ui.page('/')
    def page() -> None:
        StreamingMarkdown(text, streaming=streaming)

    await user.open('/')
    return user.find(StreamingMarkdown).elements.pop()


@pytest.mark.nicegui_main_file('')
async def test_resync_spam_is_answered_once_per_interval(user: User, calls: Calls) -> None:
    text = 'x' * 100_000
    element = await open_message(user, text)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for offset in [50, *[0] * 19]:  # a script asking for the whole message again and again
        user.find(StreamingMarkdown).trigger('resync', offset)
    sent = calls.sent(element)
    assert sent == len(text) - 50, 'each resync was answered with the whole text'
    await calls.until(lambda: calls.sent(element) > len(text))  # the rest get one answer, a while later
    assert loop.time() - started >= streaming_markdown.RESYNC_INTERVAL * 0.9
    sent = calls.sent(element)
    assert sent == 2 * len(text) - 50  # that answer covers the smallest offset asked for: 0
    assert [name for _, name, _ in calls] == ['append', 'finish'] * 2


@pytest.mark.nicegui_main_file('')
async def test_resync_with_a_bad_offset_is_ignored_with_a_warning(user: User, calls: Calls,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    element = await open_message(user, 'Hello world')
    for junk in ['abc', [1], {'a': 1}, -5, 1.5, True, 10**9]:
        user.find(StreamingMarkdown).trigger('resync', junk)
    assert calls == [], 'a bad resync was answered'
    assert [r.levelname for r in caplog.records if 'resync' in r.getMessage()] == ['WARNING']  # once per element
    user.find(StreamingMarkdown).trigger('resync', 6)
    assert [(name, args) for _, name, args in calls] == [('append', (6, 'world')), ('finish', (11,))]
    assert element.text == 'Hello world'


# LLM-like markdown with some text beyond ASCII (accents, CJK, an emoji), cut into ~4-character deltas as streamed.
PACED_REPLY = ''.join(REPLY) + 'Café, naïve, 中文的流式回复 🙂.\n\n' + ''.join(REPLY[-4:])
PACED_DELTAS = [(PACED_REPLY * 8)[i:i + 4] for i in range(0, len(PACED_REPLY) * 8, 4)]  # ~1 KB
# Upstream paces (seconds between deltas): a fast local model, and a typical hosted one.
PACES = [0.002, 0.010]


@pytest.mark.nicegui_main_file('')
@pytest.mark.parametrize('pace', PACES)
async def test_a_paced_stream_costs_at_most_three_times_its_text_on_the_socket(
        user: User, calls: Calls, monkeypatch: pytest.MonkeyPatch, pace: float) -> None:
    payloads: list[int] = []  # socket.io message sizes, as the browser receives them: 42["type",{...}]
    finish_sent = asyncio.Event()
    emit = core.sio.emit

    async def counting_emit(event: str, data: Any = None, **kwargs: Any) -> None:
        payloads.append(len(('42' + json.dumps([event, data])).encode()))
        if '"finish"' in str(data):
            finish_sent.set()
        await emit(event, data, **kwargs)

    element = await open_message(user, '', streaming=True)
    await user.should_see(kind=StreamingMarkdown)
    monkeypatch.setattr(core.sio, 'emit', counting_emit)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i, delta in enumerate(PACED_DELTAS):  # on the upstream's schedule: a late loop does not slow it down
        await asyncio.sleep(max(0.0, start + i * pace - loop.time()))
        element.append(delta)
    element.finish()
    await asyncio.wait_for(finish_sent.wait(), 10)  # the last message of the stream has left through the socket
    browser = replay(element, calls)
    assert browser.text == ''.join(PACED_DELTAS)
    assert browser.total == len(browser.units) // 2
    text_bytes = len(''.join(PACED_DELTAS).encode())
    assert sum(payloads) <= 3 * text_bytes, f'{sum(payloads)} B in {len(payloads)} messages for {text_bytes} B'
