"""The page's reply read in the upstream's network callback (Conversation._stream over Reply.relay and raw_body's
tap): deltas reach the views with no task step per read, and Stop, a view that raises and a bug in the delivery
each leave aiohttp's connection unwrapped, the reply's outcome right and the runtime serving the next reply."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from app.chat.chats import Chats
from app.chat.message import COMPLETE, FAILED, STOPPED, Message
from app.store import Store
from app.upstream.reply import Reply
from tests.app.chat.conftest import Recorder
from tests.fake_upstream import FakeUpstream, Script

EVENT_TIMEOUT = 10
TOKENS = [f'token {n}, ' for n in range(20)]


async def wait(event: asyncio.Event) -> None:
    await asyncio.wait_for(event.wait(), EVENT_TIMEOUT)


@dataclass
class CallbackRecorder(Recorder):
    """A view that also notes, for each delta and reasoning delta, whether it was told inside a task."""

    reasoning: str = ''
    in_task: list[bool] = field(default_factory=list)

    def on_delta(self, message: Message, text: str) -> None:
        self.in_task.append(asyncio.current_task() is not None)
        super().on_delta(message, text)

    def on_reasoning(self, message: Message, text: str) -> None:
        self.in_task.append(asyncio.current_task() is not None)
        self.reasoning += text


class Broken(Recorder):
    """A view with a bug: it raises on its third delta."""

    deltas = 0

    def on_delta(self, message: Message, text: str) -> None:
        self.deltas += 1
        if self.deltas == 3:
            raise RuntimeError('a bug in a view')
        super().on_delta(message, text)


def capture_replies(chats: Chats) -> list[Reply]:
    """The replies the runtime's upstream opens from now on (to look at their tap and connection)."""
    opened: list[Reply] = []
    stream: Callable[..., AbstractAsyncContextManager[Reply]] = chats.upstream.stream

    @asynccontextmanager
    async def capturing(*args: Any, **kwargs: Any) -> AsyncIterator[Reply]:
        async with stream(*args, **kwargs) as reply:
            opened.append(reply)
            yield reply

    chats.upstream.stream = capturing  # type: ignore[method-assign]
    return opened


def tapped(reply: Reply) -> bool:
    """Whether the reply's body reader hands its pieces to the tap right now (rather than storing them)."""
    engaged: bool = reply.tap.engaged  # type: ignore[union-attr]
    return engaged


async def test_the_pages_deltas_are_delivered_from_the_network_callback(
        chats: Chats, store: Store, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=TOKENS, reasoning=['Let me ', 'think. '], first_delay=0.05, delay=0.005))
    replies = capture_replies(chats)
    conversation = chats.draft(await store.user_id('browser:a'))
    view = CallbackRecorder()
    conversation.attach(view)
    await conversation.send('count')
    await wait(view.finished)
    await chats.settle()
    assert view.text == ''.join(TOKENS) and view.reasoning == 'Let me think. '
    # Only what was already waiting when the tap engaged is told from the reply's task; every read after it, in the
    # callback that brought it (as many calls as reads: tokens can share one on a busy machine).
    assert view.in_task.count(True) <= 1 and view.in_task.count(False) >= 1, view.in_task
    (reply,) = replies
    assert reply.tap is not None and not tapped(reply)  # the body's reader has its own class back
    saved = (await store.messages(conversation.id))[-1]
    assert (saved.content, saved.reasoning, saved.status) == (''.join(TOKENS), 'Let me think. ', COMPLETE)
    assert saved.timing is not None and saved.timing['ttft_s'] is not None


async def test_stop_mid_reply_unwraps_the_connection_and_closes_the_upstream(
        chats: Chats, store: Store, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['tick '] * 500, delay=0.02), Script(tokens=['next', ' one']))
    replies = capture_replies(chats)
    conversation = chats.draft(await store.user_id('browser:a'))
    view = Recorder(wanted=10)
    conversation.attach(view)
    await conversation.send('count')
    await wait(view.grew)
    (reply,) = replies
    assert tapped(reply)  # the reply task sleeps while the callback delivers
    protocol = reply.tap._protocol  # type: ignore[union-attr]
    conversation.stop()
    await wait(view.finished)
    assert not tapped(reply)
    assert await asyncio.to_thread(upstream.records[0].disconnected.wait, 2), 'the upstream kept generating'
    assert protocol.transport is None  # the connection was closed, not given back to the pool half read
    await chats.settle()
    saved = (await store.messages(conversation.id))[-1]
    assert saved.status == STOPPED and saved.content == view.text and len(saved.content) >= 10
    view.finished.clear()
    await conversation.send('again')
    await wait(view.finished)
    assert conversation.messages[-1].content == 'next one' and conversation.messages[-1].status == COMPLETE


async def test_a_view_that_raises_in_the_callback_is_detached_and_the_reply_goes_on(
        chats: Chats, store: Store, upstream: FakeUpstream, caplog: pytest.LogCaptureFixture) -> None:
    upstream.queue(Script(tokens=TOKENS, delay=0.005), Script(tokens=['next', ' one']))
    replies = capture_replies(chats)
    conversation = chats.draft(await store.user_id('browser:a'))
    broken, view = Broken(), Recorder()
    conversation.attach(broken)
    conversation.attach(view)
    with caplog.at_level(logging.ERROR, logger='app.chat.view'):
        await conversation.send('count')
        await wait(view.finished)
    assert 'a conversation view failed; detaching it' in caplog.text  # logged, with its traceback, not silent
    assert broken.text == ''.join(TOKENS[:2]) and len(conversation.views) == 1  # detached at its bug
    assert view.text == ''.join(TOKENS)  # every other view has it all
    assert upstream.records[0].completed and not upstream.records[0].disconnected.is_set()
    assert not tapped(replies[0])
    await chats.settle()
    saved = (await store.messages(conversation.id))[-1]
    assert (saved.content, saved.status) == (''.join(TOKENS), COMPLETE)
    view.finished.clear()
    await conversation.send('again')
    await wait(view.finished)
    assert conversation.messages[-1].content == 'next one' and conversation.messages[-1].status == COMPLETE


class FailingSet(set[Message]):
    """The runtime's checkpoint set, with a bug: adding to it fails from its `fail_at`-th call on."""

    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self.calls, self.fail_at = 0, fail_at

    def add(self, message: Message) -> None:
        self.calls += 1
        if self.calls >= self.fail_at:
            raise RuntimeError('a bug in the delivery')
        super().add(message)


async def test_a_bug_in_the_delivery_fails_the_reply_visibly_and_closes_the_upstream(
        chats: Chats, store: Store, upstream: FakeUpstream, caplog: pytest.LogCaptureFixture) -> None:
    upstream.queue(Script(tokens=['tick '] * 500, delay=0.01), Script(tokens=['next', ' one']))
    replies = capture_replies(chats)
    conversation = chats.draft(await store.user_id('browser:a'))
    view = Recorder()
    conversation.attach(view)
    chats.dirty = FailingSet(fail_at=5)
    with caplog.at_level(logging.ERROR, logger='app.chat.conversation'):
        await conversation.send('count')
        await wait(view.finished)
    assert 'reply failed: RuntimeError' in caplog.text
    reply = conversation.messages[-1]
    assert reply.status == FAILED and reply.error == 'The server failed while streaming the reply.'
    # The text delivered before the failure (its own batch included: five reads, a token or more each) is kept.
    assert reply.content == view.text and reply.content == 'tick ' * (len(reply.content) // 5) and len(view.text) >= 25
    assert not tapped(replies[0])
    assert await asyncio.to_thread(upstream.records[0].disconnected.wait, 2), 'the upstream kept generating'
    chats.dirty = set()
    view.finished.clear()
    await conversation.send('again')
    await wait(view.finished)
    assert conversation.messages[-1].content == 'next one' and conversation.messages[-1].status == COMPLETE
