"""Conversations that last: each turn is saved, replies are checkpointed, shutdown and crashes lose nothing shown."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from app.chat.chats import Chats
from app.chat.message import COMPLETE, FAILED, INTERRUPTED, STOPPED, STREAMING, Message
from app.config import load_settings
from app.errors import ChatError
from app.store import ConversationSummary, NewMessage, Store, new_id, open_store
from app.upstream import Upstream
from tests.app.chat.conftest import Recorder
from tests.conftest import app_env
from tests.fake_upstream import FakeUpstream, Script

EVENT_TIMEOUT = 10


async def wait(event: asyncio.Event) -> None:
    await asyncio.wait_for(event.wait(), EVENT_TIMEOUT)


async def test_a_turn_is_saved_with_its_reply_stats_and_the_conversation_is_listed(
        chats: Chats, store: Store, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['Saved', ' reply']))
    owner = await store.user_id('browser:a')
    conversation = chats.draft(owner)
    view = Recorder()
    conversation.attach(view)
    await conversation.send('  First line of the prompt  \nsecond line')
    await wait(view.finished)
    await chats.settle()
    record = await store.conversation(owner, conversation.id)
    assert record is not None and record.title == 'First line of the prompt'
    user, reply = await store.messages(conversation.id)
    assert (user.role, user.content, user.parent_id) == ('user', '  First line of the prompt  \nsecond line', None)
    assert (reply.role, reply.content, reply.status, reply.parent_id) == ('assistant', 'Saved reply', COMPLETE, user.id)
    assert reply.finish_reason == 'stop' and reply.usage == {'prompt_tokens': 5, 'completion_tokens': 4,
                                                              'total_tokens': 9}
    assert reply.timing is not None and reply.timing['total_s'] is not None and reply.timing['ttft_s'] is not None
    assert [c.id for c in await chats.conversations(owner)] == [conversation.id]
    assert await chats.conversations(await store.user_id('browser:b')) == []


async def test_writes_grow_with_seconds_streamed_not_with_deltas(
        chats: Chats, store: Store, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['x'] * 400))
    conversation = chats.draft(await store.user_id('browser:a'))
    view = Recorder()
    conversation.attach(view)
    before = store.writes
    await conversation.send('go')
    await wait(view.finished)
    await chats.settle()
    assert view.text == 'x' * 400
    # the turn (conversation and both messages, one transaction), and the final save: no write per delta (no
    # checkpoint fell inside this test)
    assert store.writes - before == 2


async def test_prompts_sent_at_once_are_saved_together_and_a_bad_one_fails_alone(
        chats: Chats, store: Store, upstream: FakeUpstream) -> None:
    count = 12
    upstream.queue(*[Script(tokens=[f'reply {i}']) for i in range(count)])
    batches: list[int] = []
    add_turns = store.add_turns

    async def counted(turns: list) -> None:  # type: ignore[type-arg]
        batches.append(len(turns))
        await add_turns(turns)

    store.add_turns = counted  # type: ignore[method-assign]
    conversations = [chats.draft(await store.user_id(f'browser:{i}')) for i in range(count)]
    stranger = chats.draft('f' * 32)  # an owner the database does not know: its turn cannot be written
    views = [Recorder() for _ in conversations]
    for conversation, view in zip(conversations, views, strict=True):
        conversation.attach(view)
    results = await asyncio.gather(*(c.send(f'prompt {i}') for i, c in enumerate([*conversations, stranger])),
                                   return_exceptions=True)
    assert not any(isinstance(result, BaseException) for result in results[:count])
    assert isinstance(results[count], ValueError) and not stranger.stored
    for view in views:
        await wait(view.finished)
    await chats.settle()
    for i, conversation in enumerate(conversations):
        user, reply = await store.messages(conversation.id)
        assert (user.content, reply.content) == (f'prompt {i}', f'reply {i}')
    # All 13 queued before the writer task got the lock, in one go, which failed for the stranger: then each again on
    # its own.
    assert batches == [count + 1] + [1] * (count + 1)


async def test_a_turn_written_in_another_ones_batch_is_saved_without_waiting_for_later_writes(
        chats: Chats, store: Store, upstream: FakeUpstream) -> None:
    """Its sender goes on once the batch commits, even if another write took the lock meanwhile (senders used to
    take the lock one by one after their batch: hundreds of ms under load, bench/page_load)."""
    upstream.queue(Script(tokens=['ok']), Script(tokens=['ok']))
    owner = await store.user_id('browser:a')
    first, second = chats.draft(owner), chats.draft(owner)
    gates = [asyncio.Event(), asyncio.Event()]  # the first and the second save_messages call wait for these
    entered: list[int] = []
    save_messages = store.save_messages

    async def held(updates: list) -> None:  # type: ignore[type-arg]
        if len(entered) < len(gates):
            entered.append(1)
            await gates[len(entered) - 1].wait()
        await save_messages(updates)

    store.save_messages = held  # type: ignore[method-assign]
    lock_waiters = lambda: len(chats._writes._waiters or ())  # noqa: E731  # asyncio.Lock's queue

    async def until(condition: Callable[[], bool]) -> None:
        while not condition():  # noqa: ASYNC110  # no event marks a task reaching its await: a loop turn at a time
            await asyncio.sleep(0)

    holder = asyncio.ensure_future(chats.save_now(Message(new_id(), 'assistant', status=STREAMING)))
    await asyncio.wait_for(until(lambda: len(entered) == 1), EVENT_TIMEOUT)  # holds the write lock
    sending_first = asyncio.ensure_future(first.send('a'))
    await asyncio.wait_for(until(lambda: lock_waiters() == 1), EVENT_TIMEOUT)  # its write waits for the lock
    later = asyncio.ensure_future(chats.save_now(Message(new_id(), 'assistant', status=STREAMING)))
    await asyncio.wait_for(until(lambda: lock_waiters() == 2), EVENT_TIMEOUT)  # a checkpoint's write, after it
    sending_second = asyncio.ensure_future(second.send('b'))
    await asyncio.wait_for(until(lambda: len(chats._turns) == 2), EVENT_TIMEOUT)  # queued with the first turn
    gates[0].set()
    try:
        await asyncio.wait_for(asyncio.gather(sending_first, sending_second), EVENT_TIMEOUT)
        assert len(entered) == 2 and not later.done()  # the later write holds the lock, and both turns are stored
        assert [m.content for m in await store.messages(second.id)][:1] == ['b']
    finally:
        gates[1].set()
    await asyncio.gather(holder, later)
    await chats.settle()
    assert [m.content for m in await store.messages(second.id)] == ['b', 'ok']


async def test_a_checkpoint_saves_the_text_so_far_of_every_streaming_reply_in_one_write(
        chats: Chats, store: Store, upstream: FakeUpstream) -> None:
    upstream.queue(*[Script(tokens=['tick '] * 300, delay=0.02) for _ in range(2)])
    owner = await store.user_id('browser:a')
    views, conversations = [Recorder(wanted=25), Recorder(wanted=25)], [chats.draft(owner), chats.draft(owner)]
    for conversation, view in zip(conversations, views, strict=True):
        conversation.attach(view)
        await conversation.send('count')
    await asyncio.gather(*(wait(view.grew) for view in views))
    shown = [conversation.messages[-1].content for conversation in conversations]
    writes = store.writes
    await chats.checkpoint()
    assert store.writes == writes + 1
    for conversation, text in zip(conversations, shown, strict=True):
        saved = (await store.messages(conversation.id))[-1]
        assert saved.status == STREAMING
        assert saved.content.startswith(text) and len(saved.content) >= len(text) >= 25
    for view in views:  # and the next checkpoint saves what came since
        view.grew.clear()
        view.wanted = len(view.text) + 25
    await asyncio.gather(*(wait(view.grew) for view in views))
    shown = [conversation.messages[-1].content for conversation in conversations]
    await chats.checkpoint()
    assert store.writes == writes + 2
    for conversation, text in zip(conversations, shown, strict=True):
        assert (await store.messages(conversation.id))[-1].content.startswith(text)


async def test_shutdown_saves_replies_in_flight_as_interrupted_with_all_their_text(
        chats: Chats, store: Store, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['tick '] * 500, delay=0.02))
    conversation = chats.draft(await store.user_id('browser:a'))
    view = Recorder(wanted=20)
    conversation.attach(view)
    await conversation.send('count')
    await wait(view.grew)
    await chats.shutdown()
    assert await asyncio.to_thread(upstream.records[0].disconnected.wait, 2), 'the upstream kept generating'
    saved = (await store.messages(conversation.id))[-1]
    assert saved.status == INTERRUPTED
    assert saved.content == view.text and len(saved.content) >= 20


async def test_stop_and_failure_are_saved_with_their_outcome(
        chats: Chats, store: Store, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['tick '] * 500, delay=0.02), Script(status=500))
    conversation = chats.draft(await store.user_id('browser:a'))
    view = Recorder(wanted=10)
    conversation.attach(view)
    await conversation.send('count')
    await wait(view.grew)
    conversation.stop()
    await wait(view.finished)
    view.finished.clear()
    await conversation.send('again')
    await wait(view.finished)
    await chats.settle()
    messages = await store.messages(conversation.id)
    assert [m.status for m in messages] == [COMPLETE, STOPPED, COMPLETE, FAILED]
    assert messages[1].content == view.text
    assert messages[3].error is not None and '500' in messages[3].error
    assert conversation.history() == [{'role': 'user', 'content': 'count'},
                                      {'role': 'assistant', 'content': view.text},
                                      {'role': 'user', 'content': 'again'}]


async def test_a_reply_keeps_streaming_when_its_last_view_goes_and_is_there_on_return(
        chats: Chats, store: Store, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['word '] * 60, delay=0.01))
    owner = await store.user_id('browser:a')
    conversation = chats.draft(owner)
    view = Recorder(wanted=5)
    conversation.attach(view)
    await conversation.send('tell me')
    await wait(view.grew)
    conversation.detach(view)  # the person switched to another conversation
    assert await chats.open(owner, conversation.id) is conversation  # still live: the reply streams on
    await conversation.wait()
    await chats.settle()
    assert chats.live == {}  # nobody watching and nothing streaming: forgotten, it is all in the database
    reopened = await chats.open(owner, conversation.id)
    assert reopened is not None and reopened is not conversation
    assert reopened.messages[-1].content == 'word ' * 60 and reopened.messages[-1].status == COMPLETE
    assert not upstream.records[0].disconnected.is_set()


async def test_someone_elses_conversation_cannot_be_opened_renamed_or_deleted(
        chats: Chats, store: Store, upstream: FakeUpstream) -> None:
    alice, bob = await store.user_id('browser:alice'), await store.user_id('browser:bob')
    conversation = chats.draft(alice)
    view = Recorder()
    conversation.attach(view)
    await conversation.send('private')
    await wait(view.finished)
    assert await chats.open(bob, conversation.id) is None  # even while it is live in memory
    assert await chats.rename(bob, conversation.id, 'mine now') is False
    assert await chats.delete(bob, conversation.id) is False
    assert (await chats.open(alice, conversation.id)) is conversation
    assert await chats.delete(alice, conversation.id) is True
    assert view.deleted and await store.conversation(alice, conversation.id) is None


async def test_replies_a_crash_left_streaming_become_interrupted_at_start(store: Store, upstream: FakeUpstream) -> None:
    owner = await store.user_id('browser:a')
    record = await store.create_conversation(owner, title='t', model='fake-model')
    await store.add_messages(record.id, [NewMessage(role='user', content='q'),
                                         NewMessage(role='assistant', content='half a rep', status=STREAMING)])
    runtime = Chats(Upstream(load_settings(app_env(upstream), env_file=None)), model='fake-model')
    assert await runtime.start(store) == 1
    opened = await runtime.open(owner, record.id)
    assert opened is not None and opened.messages[-1].status == INTERRUPTED
    assert opened.messages[-1].content == 'half a rep'
    await runtime.shutdown()


async def test_memory_held_by_open_conversations_is_bounded(chats: Chats, store: Store) -> None:
    owner = await store.user_id('browser:a')
    ids = []
    for text in ('a' * 600, 'b' * 600):
        record = await store.create_conversation(owner, title='t', model='fake-model')
        await store.add_messages(record.id, [NewMessage(role='user', content=text)])
        ids.append(record.id)
    chats.max_held_chars = 1000
    first = await chats.open(owner, ids[0])
    assert first is not None and chats.held_chars == 600
    view = Recorder()
    first.attach(view)
    with pytest.raises(ChatError) as refused:
        await chats.open(owner, ids[1])
    assert refused.value.code == 'server_busy' and refused.value.status == 503
    first.detach(view)
    assert await chats.open(owner, ids[1]) is not None  # the first was released: room again


async def test_stop_while_the_turn_is_being_saved_never_reaches_the_upstream(
        chats: Chats, store: Store, upstream: FakeUpstream) -> None:
    conversation = chats.draft(await store.user_id('browser:a'))
    view = Recorder()
    conversation.attach(view)
    sending = asyncio.ensure_future(conversation.send('never mind'))
    await asyncio.sleep(0)  # one loop turn: send() is now waiting on the database
    assert conversation.busy
    conversation.stop()
    reply = await sending
    assert reply.status == STOPPED and view.finished.is_set()
    await chats.settle()
    assert [m.status for m in await store.messages(conversation.id)] == [COMPLETE, STOPPED]
    assert upstream.records == []


async def test_a_turn_that_cannot_be_saved_never_reaches_the_upstream_and_leaves_nothing_behind(
        chats: Chats, store: Store, upstream: FakeUpstream) -> None:
    conversation = chats.draft(await store.user_id('browser:a'))
    view = Recorder()
    shown: list[str] = []
    view.on_message = lambda message: shown.append(message.role)  # type: ignore[method-assign]
    conversation.attach(view)

    async def failing(turns: list) -> None:  # type: ignore[type-arg]
        raise ValueError('the database is down')

    store.add_turns = failing  # type: ignore[method-assign]
    with pytest.raises(ValueError):
        await conversation.send('doomed')
    assert upstream.records == []  # the reply is asked for only once its turn is stored
    assert shown == [] and not view.finished.is_set() and not conversation.busy
    assert conversation.replying is None and conversation.messages == [] and not chats.dirty
    await chats.settle()
    assert not conversation.stored and await store.conversation(conversation.owner_id, conversation.id) is None
    upstream.queue(Script(tokens=['second try']))  # the conversation takes the prompt again
    store.add_turns = type(store).add_turns.__get__(store)  # type: ignore[method-assign]
    await conversation.send('doomed')
    await wait(view.finished)
    assert [m.content for m in conversation.messages] == ['doomed', 'second try']


async def test_drawers_are_told_of_a_turn_only_when_it_moves_a_conversation_to_the_top(
        chats: Chats, store: Store, upstream: FakeUpstream) -> None:
    owner = await store.user_id('browser:a')
    changes: list[int] = []
    chats.watch_lists(owner, lambda: changes.append(1))
    first, second = chats.draft(owner), chats.draft(owner)
    for conversation, expected in ((first, 1), (first, 1), (second, 2), (second, 2), (first, 3)):
        view = Recorder()
        conversation.attach(view)
        await conversation.send('turn')
        await wait(view.finished)
        conversation.detach(view)
        assert len(changes) == expected



async def test_a_drawer_that_takes_the_top_gets_the_conversation_and_reloads_for_anything_else(
        chats: Chats, store: Store, upstream: FakeUpstream) -> None:
    owner = await store.user_id('browser:b')
    reloads: list[int] = []
    tops: list[ConversationSummary] = []
    unwatch = chats.watch_lists(owner, lambda: reloads.append(1), on_top=tops.append)
    conversation = chats.draft(owner)
    view = Recorder()
    conversation.attach(view)
    await conversation.send('hello there')
    await wait(view.finished)
    conversation.detach(view)
    listed = await chats.conversations(owner, query=None, limit=10, before=None)
    assert [(top.id, top.title) for top in tops] == [(listed[0].id, listed[0].title)] and reloads == []
    assert abs(tops[0].updated_at - listed[0].updated_at) < dt.timedelta(seconds=5)
    await chats.rename(owner, conversation.id, 'Renamed')  # not a move to the top: the list is read again
    assert reloads == [1] and len(tops) == 1
    unwatch()
    await chats.rename(owner, conversation.id, 'Again')
    assert reloads == [1]

async def test_a_second_start_up_waits_for_the_first_and_opens_the_database_once(
        tmp_path: Path, upstream: FakeUpstream) -> None:
    """NiceGUI's `create_user` fixture enters the app's lifespan twice: two openings of one SQLite file raced into
    'database is locked'. The second start-up now waits for the first."""
    runtime_upstream = Upstream(load_settings(app_env(upstream), env_file=None))
    runtime = Chats(runtime_upstream, model='fake-model')
    opened: list[Store] = []

    async def opener() -> Store:
        opened.append(await open_store(f'sqlite:///{tmp_path}/twice.db'))
        return opened[-1]
    try:
        await asyncio.gather(runtime.open_and_start(opener), runtime.open_and_start(opener))
        assert len(opened) == 1
        await runtime.ready()
    finally:
        await runtime.shutdown()
        await runtime_upstream.aclose()
