"""The Continue button: on interrupted replies only; it streams the rest into the same message; Stop works during it.

The interrupted reply is put in the database the page uses, as a server stopped mid-reply leaves it, for the person
the simulated browser is; the page then opens it like any stored conversation.
"""

from __future__ import annotations

import asyncio

from nicegui import ElementFilter
from nicegui.testing import User

from app.config import load_settings
from app.store import NewMessage, new_id, open_store
from components.streaming_markdown import StreamingMarkdown
from tests.components.chat_helpers import STREAM_RETRIES, open_chat, press
from tests.fake_upstream import FakeUpstream, Script

PARTIAL = 'Once upon a ti'


async def open_interrupted(user: User) -> str:
    """Store a conversation for this browser's person whose last reply was interrupted (a complete one before it),
    open it, and return its id."""
    await open_chat(user)
    assert user.client is not None
    key = f'browser:{user.client.request.session["id"]}'
    store = await open_store(load_settings(env_file=None).database)  # the app's own file, a connection of our own
    try:
        record = await store.create_conversation(await store.user_id(key), title='Story', model='fake-model')
        ids = [new_id() for _ in range(4)]
        await store.add_messages(record.id, [
            NewMessage(role='user', content='Hi', id=ids[0]),
            NewMessage(role='assistant', content='Hello there!', id=ids[1], parent_id=ids[0]),
            NewMessage(role='user', content='Tell me a story', id=ids[2], parent_id=ids[1]),
            NewMessage(role='assistant', content=PARTIAL, id=ids[3], parent_id=ids[2], status='interrupted',
                       model='fake-model')])
    finally:
        await store.close()
    await user.open(f'/c/{record.id}')
    await user.should_see('Interrupted')
    return record.id


async def stored_reply(conversation_id: str, status: str) -> str:
    """The last message's text in the database, once it has been saved with `status` (the final save is queued)."""
    store = await open_store(load_settings(env_file=None).database)
    try:
        for _ in range(STREAM_RETRIES):
            last = (await store.messages(conversation_id))[-1]
            if last.status == status:
                return last.content
            await asyncio.sleep(0.1)  # polled: the app's save offers no event to a test outside it
    finally:
        await store.close()
    raise AssertionError(f'the reply was never saved as {status}')


def replies(user: User) -> list[str]:
    """The text of every assistant message on the page, in order."""
    assert user.client is not None
    with user.client:
        return [element.text for element in ElementFilter(kind=StreamingMarkdown)]


async def test_continue_shows_on_interrupted_replies_only_and_streams_into_the_same_message(
        configured: FakeUpstream, user: User) -> None:
    configured.queue(Script(tokens=['me', ' there', ' was', ' a fox.'], delay=0.05))
    conversation_id = await open_interrupted(user)
    assert len(user.find(marker='continue').elements) == 1  # not on 'Hello there!', which is complete
    assert len(user.find(marker='regenerate').elements) == 2
    press(user, 'continue')
    await user.should_see('Once upon a time there was a fox.', retries=STREAM_RETRIES)
    await user.should_see(marker='send', retries=STREAM_RETRIES)
    await user.should_not_see('Interrupted')
    await user.should_not_see(marker='continue')
    assert replies(user) == ['Hello there!', 'Once upon a time there was a fox.']  # one message, nothing twice
    assert configured.records[0].messages[-2] == {'role': 'assistant', 'content': PARTIAL}
    assert await stored_reply(conversation_id, 'complete') == 'Once upon a time there was a fox.'


async def test_stop_works_while_a_reply_continues(configured: FakeUpstream, user: User) -> None:
    configured.queue(Script(tokens=['tick '] * 500, delay=0.02))
    await open_interrupted(user)
    press(user, 'continue')
    await user.should_see('ti' + 'tick', retries=STREAM_RETRIES)
    await user.should_see(marker='stop')
    user.find(marker='stop').click()
    await user.should_see('Stopped', retries=STREAM_RETRIES)
    assert await asyncio.to_thread(configured.records[0].disconnected.wait, 5), 'Stop did not close the upstream'
    await user.should_not_see(marker='continue')  # a stopped reply is the person's choice: Regenerate, not Continue
    text = replies(user)[-1]
    assert text.startswith(PARTIAL + 'tick ') and text.count(PARTIAL) == 1
