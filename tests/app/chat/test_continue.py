"""Continue: an interrupted reply goes on from its partial text, into the same message, saved as it streams."""

from __future__ import annotations

import asyncio

import pytest

from app.chat.chats import Chats
from app.chat.continuation import CONTINUE_INSTRUCTION
from app.chat.conversation import Conversation
from app.chat.message import COMPLETE, FAILED, INTERRUPTED, STOPPED, STREAMING
from app.errors import ChatError
from app.store import NewMessage, Store, new_id
from tests.app.chat.conftest import Recorder
from tests.fake_upstream import FakeUpstream, Script

EVENT_TIMEOUT = 10
PARTIAL = 'Once upon a ti'


async def wait(event: asyncio.Event) -> None:
    await asyncio.wait_for(event.wait(), EVENT_TIMEOUT)


async def seed(store: Store, owner: str, *, partial: str = PARTIAL, status: str = INTERRUPTED) -> str:
    """A stored conversation whose second turn's reply a server left as `status` with `partial` text (as after a
    restart); returns its id."""
    record = await store.create_conversation(owner, title='Story', model='fake-model')
    ids = [new_id() for _ in range(4)]
    await store.add_messages(record.id, [
        NewMessage(role='user', content='Hi', id=ids[0]),
        NewMessage(role='assistant', content='Hello!', id=ids[1], parent_id=ids[0]),
        NewMessage(role='user', content='Tell me a story', id=ids[2], parent_id=ids[1]),
        NewMessage(role='assistant', content=partial, id=ids[3], parent_id=ids[2], status=status, model='fake-model'),
    ])
    return record.id


async def opened(chats: Chats, store: Store, **seeded: str) -> tuple[Conversation, Recorder]:
    owner = await store.user_id('browser:a')
    conversation = await chats.open(owner, await seed(store, owner, **seeded))
    assert conversation is not None
    view = Recorder()
    conversation.attach(view)
    return conversation, view


async def test_continue_sends_the_partial_reply_and_appends_the_rest_to_the_same_message(
        chats: Chats, store: Store, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['me', ' there', ' was', ' a fox.']))
    conversation, view = await opened(chats, store)
    reply = conversation.messages[-1]
    assert reply.status == INTERRUPTED
    assert await conversation.continue_reply(reply) is reply
    assert reply.status == STREAMING and conversation.busy
    await wait(view.finished)
    await chats.settle()
    assert view.text == 'me there was a fox.'  # views were sent the continuation only: nothing twice
    assert reply.content == 'Once upon a time there was a fox.' and reply.status == COMPLETE
    assert upstream.records[0].messages == [
        {'role': 'user', 'content': 'Hi'}, {'role': 'assistant', 'content': 'Hello!'},
        {'role': 'user', 'content': 'Tell me a story'},
        {'role': 'assistant', 'content': PARTIAL}, {'role': 'user', 'content': CONTINUE_INSTRUCTION}]
    saved = await store.messages(conversation.id)
    assert len(saved) == 4  # the same message, no new one
    assert (saved[-1].id, saved[-1].content, saved[-1].status) == (reply.id, 'Once upon a time there was a fox.',
                                                                   COMPLETE)
    assert saved[-1].finish_reason == 'stop' and saved[-1].usage is not None
    # later turns build on the whole reply
    assert conversation.history()[-1] == {'role': 'assistant', 'content': 'Once upon a time there was a fox.'}


async def test_a_continuing_reply_is_checkpointed_and_a_shutdown_interrupts_it_again(
        chats: Chats, store: Store, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['tick '] * 500, delay=0.02))
    conversation, view = await opened(chats, store)
    view.wanted = 20
    reply = conversation.messages[-1]
    await conversation.continue_reply(reply)
    await wait(view.grew)
    await chats.checkpoint()
    saved = (await store.messages(conversation.id))[-1]
    assert saved.status == STREAMING and saved.content.startswith(PARTIAL + 'tick ')  # a crash now: recovered later
    await chats.shutdown()
    saved = (await store.messages(conversation.id))[-1]
    assert saved.status == INTERRUPTED and saved.content == PARTIAL + view.text  # and can be continued again


async def test_stop_and_failure_while_continuing_keep_the_text(
        chats: Chats, store: Store, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['tick '] * 500, delay=0.02), Script(status=500))
    conversation, view = await opened(chats, store)
    view.wanted = 10
    reply = conversation.messages[-1]
    await conversation.continue_reply(reply)
    await wait(view.grew)
    conversation.stop()
    await wait(view.finished)
    assert await asyncio.to_thread(upstream.records[0].disconnected.wait, 2), 'Stop left the upstream generating'
    assert reply.status == STOPPED and reply.content == PARTIAL + view.text

    conversation2, view2 = await opened(chats, store)
    reply2 = conversation2.messages[-1]
    await conversation2.continue_reply(reply2)
    await wait(view2.finished)
    await chats.settle()
    assert reply2.status == FAILED and reply2.error and reply2.content == PARTIAL
    assert (await store.messages(conversation2.id))[-1].content == PARTIAL


async def test_an_interrupted_reply_with_no_text_asks_the_prompt_again(
        chats: Chats, store: Store, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['A', ' story.']))
    conversation, view = await opened(chats, store, partial='')
    await conversation.continue_reply(conversation.messages[-1])
    await wait(view.finished)
    assert conversation.messages[-1].content == 'A story.'
    assert upstream.records[0].messages[-1] == {'role': 'user', 'content': 'Tell me a story'}


async def test_only_an_interrupted_last_reply_can_be_continued_and_only_when_idle(
        chats: Chats, store: Store, upstream: FakeUpstream) -> None:
    conversation, _ = await opened(chats, store, status=STOPPED)
    with pytest.raises(ChatError, match='interrupted'):
        await conversation.continue_reply(conversation.messages[-1])  # a stopped reply: the person chose that
    with pytest.raises(ChatError, match='interrupted'):
        await conversation.continue_reply(conversation.messages[0])  # a prompt

    upstream.queue(Script(tokens=['x'] * 200, delay=0.02))
    conversation, view = await opened(chats, store)
    first_reply = conversation.messages[1]
    first_reply.status = INTERRUPTED  # an earlier reply, with a later turn built on it
    with pytest.raises(ChatError, match='last reply'):
        await conversation.continue_reply(first_reply)
    reply = conversation.messages[-1]
    await conversation.continue_reply(reply)
    with pytest.raises(ChatError) as busy:
        await conversation.continue_reply(reply)  # a second click: it is streaming, not interrupted
    assert busy.value.status == 409
    await wait(view.grew)
    conversation.stop()
    await wait(view.finished)
    assert len(upstream.records) == 1
