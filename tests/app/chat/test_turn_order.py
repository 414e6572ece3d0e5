"""The order of a turn's work once it is stored: the reply's request first, then the page's work (drawers, views).

Many people pressing Enter at once have their turns committed in one batch (Chats.save_turn); each turn's page work
(~3 ms: two message views, a drawer entry) used to run for the whole batch before any reply was asked for, so the
last turn of a batch waited for all of it (bench/page_load's turn steps).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from app.chat.chats import Chats
from app.chat.message import STOPPED, Message
from app.config import load_settings
from app.store import Store
from app.upstream import Upstream
from tests.app.chat.conftest import Recorder
from tests.conftest import app_env
from tests.fake_upstream import FakeUpstream, Script

EVENT_TIMEOUT = 10


class PageLike(Recorder):
    """A view that, like the page, builds a reply's element when told of it, from the text the reply has by then,
    and ignores deltas of a reply it does not show yet; it logs what it was told, in order, into `log`."""

    def __init__(self, log: list[tuple[str, str]], name: str) -> None:
        super().__init__()
        self.log, self.name, self.shown = log, name, ''

    def on_message(self, message: Message) -> None:
        self.log.append(('shown', f'{self.name} {message.role}'))
        if message.role == 'assistant':
            self.shown, self.text = message.id, message.content

    def on_delta(self, message: Message, text: str) -> None:
        if message.id == self.shown:
            super().on_delta(message, text)

    def on_finish(self, message: Message) -> None:
        self.log.append(('finished', self.name))
        super().on_finish(message)


async def test_every_reply_of_a_batch_is_asked_for_before_any_turn_of_it_is_shown(
        chats: Chats, store: Store, upstream: FakeUpstream) -> None:
    count = 4
    upstream.queue(*[Script(tokens=[f'reply {i}', ' and more']) for i in range(count)])
    log: list[tuple[str, str]] = []
    batches: list[int] = []
    add_turns, stream = store.add_turns, chats.upstream.stream

    async def counted(turns: list) -> None:  # type: ignore[type-arg]
        batches.append(len(turns))
        await add_turns(turns)

    def asked(messages: list[dict[str, Any]], **kwargs: Any) -> Any:  # the reply task's request, as it starts
        log.append(('asked', messages[-1]['content']))
        return stream(messages, **kwargs)

    store.add_turns = counted  # type: ignore[method-assign]
    chats.upstream.stream = asked  # type: ignore[method-assign]
    conversations = [chats.draft(await store.user_id(f'browser:{i}')) for i in range(count)]
    views = [PageLike(log, f'prompt {i}') for i in range(count)]
    for conversation, view in zip(conversations, views, strict=True):
        conversation.attach(view)
    await asyncio.gather(*(c.send(f'prompt {i}') for i, c in enumerate(conversations)))
    for view in views:
        await asyncio.wait_for(view.finished.wait(), EVENT_TIMEOUT)
    assert batches == [count]  # one batch: all committed together
    steps = [step for step, _ in log]
    assert steps[:count] == ['asked'] * count, log  # every request started before the first view of the batch
    assert sorted(name for step, name in log if step == 'asked') == [f'prompt {i}' for i in range(count)]
    # Each view shows its whole reply, though text may have been read before it was told of the reply (the fake
    # answers requests in the order they arrive).
    for i, (conversation, view) in enumerate(zip(conversations, views, strict=True)):
        prompt, reply = conversation.messages
        assert prompt.content == f'prompt {i}' and view.text == reply.content
    assert sorted(view.text for view in views) == [f'reply {i} and more' for i in range(count)]


async def test_a_reply_that_ends_before_its_turn_is_shown_is_shown_then_ended(
        store: Store, upstream: FakeUpstream) -> None:
    """Its task runs from the commit, so it can end before its sender resumes: the views still hear of the turn
    first, and of the reply's end after."""

    def cancelled_at_once(coroutine: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coroutine, name=name)
        if name == 'chat reply':
            task.cancel()  # done before its first step: before the sender of the turn resumes
        return task

    runtime_upstream = Upstream(load_settings(app_env(upstream), env_file=None))
    chats = Chats(runtime_upstream, model='fake-model', checkpoint_interval=3600, spawn=cancelled_at_once)
    await chats.start(store)
    try:
        owner = await store.user_id('browser:a')
        conversation = chats.draft(owner)
        log: list[tuple[str, str]] = []
        view = PageLike(log, 'it')
        conversation.attach(view)
        tops: list[str] = []
        chats.watch_lists(owner, lambda: None, on_top=lambda top: tops.append(top.id))
        reply = await conversation.send('never answered')
        await asyncio.wait_for(view.finished.wait(), EVENT_TIMEOUT)
        assert log == [('shown', 'it user'), ('shown', 'it assistant'), ('finished', 'it')]
        assert reply.status == STOPPED and not conversation.busy and tops == [conversation.id]
        await chats.settle()
        assert [m.status for m in await store.messages(conversation.id)] == ['complete', STOPPED]
        assert upstream.records == []
    finally:
        await chats.shutdown()
        await runtime_upstream.aclose()
