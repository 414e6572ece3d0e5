"""The chat runtime asks the limits before a turn: a refused turn saves nothing and never reaches the model server,
a conversation streams one reply at a time, and every way a reply ends gives its stream slot back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from app.chat.chats import Chats
from app.config import load_settings
from app.errors import ChatError
from app.limits import Limits
from app.store import Store
from app.upstream import Upstream
from tests.app.chat.conftest import Recorder
from tests.conftest import app_env
from tests.fake_upstream import FakeUpstream, Script

EVENT_TIMEOUT = 10


@pytest.fixture
async def limited(store: Store, upstream: FakeUpstream) -> AsyncIterator[Chats]:
    """A chat runtime allowing one message a minute per person and one stream in the process."""
    settings = load_settings(app_env(upstream, CHAT_RATE_LIMIT='1/minute', MAX_STREAMS='1'), env_file=None)
    model_server = Upstream(settings)
    limits = Limits(settings)
    runtime = Chats(model_server, model='fake-model', checkpoint_interval=3600, limits=limits)
    await runtime.start(store)
    yield runtime
    await runtime.shutdown()
    await model_server.aclose()
    await limits.aclose()


async def test_a_refused_turn_saves_nothing_and_never_reaches_the_model_server(
        limited: Chats, store: Store, upstream: FakeUpstream) -> None:
    owner = await store.user_id('browser:a')
    conversation = limited.draft(owner)
    view = Recorder()
    conversation.attach(view)
    await conversation.send('first')
    await asyncio.wait_for(view.finished.wait(), EVENT_TIMEOUT)
    with pytest.raises(ChatError) as refused:
        await conversation.send('second')
    assert (refused.value.code, refused.value.status) == ('rate_limited', 429)
    await limited.settle()
    assert [m.content for m in await store.messages(conversation.id)] == ['first', 'Hello, world!']
    assert len(conversation.messages) == 2 and not conversation.busy
    assert len(upstream.records) == 1
    other = limited.draft(await store.user_id('browser:b'))  # another person has a rate of their own
    await other.send('hello')
    assert (await asyncio.to_thread(upstream.wait_for_request, 2)).messages[-1]['content'] == 'hello'


async def test_one_reply_per_conversation_and_a_stopped_reply_frees_its_stream(
        limited: Chats, store: Store, upstream: FakeUpstream) -> None:
    held = Script(tokens=['Still', ' going'], hold_at=1)
    upstream.queue(held)
    conversation = limited.draft(await store.user_id('browser:a'))
    view = Recorder()
    conversation.attach(view)
    await conversation.send('first')
    await asyncio.wait_for(view.grew.wait(), EVENT_TIMEOUT)
    with pytest.raises(ChatError) as busy:
        await conversation.regenerate(conversation.messages[-1])
    assert (busy.value.code, busy.value.status) == ('busy', 409)
    other = limited.draft(await store.user_id('browser:b'))
    with pytest.raises(ChatError) as full:
        await other.send('hello')  # the process's one stream is taken
    assert (full.value.code, full.value.status) == ('server_busy', 503)
    assert limited.limits is not None and limited.limits.streams.used() == 1
    conversation.stop()
    await conversation.wait()
    assert limited.limits.streams.used() == 0
    await other.send('hello')  # refused for a busy server, it was not counted against the person's rate
    assert (await asyncio.to_thread(upstream.wait_for_request, 2)).messages == [{'role': 'user', 'content': 'hello'}]
