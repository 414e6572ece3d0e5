"""Limits on the chat page: CHAT_RATE_LIMIT and MAX_STREAMS refuse a message before it reaches the model server,
say why next to the prompt box (which keeps the prompt) until the wait is over, and one reply streams per
conversation."""

from __future__ import annotations

from typing import Any

from nicegui.testing import User

from tests.components.chat_helpers import STREAM_RETRIES, conversation_link, open_chat, send
from tests.fake_upstream import FakeUpstream, Script


def prompt_value(user: User) -> str:
    return str(next(iter(user.find(marker='prompt').elements)).value)


async def test_too_many_messages_are_refused_inline_keeping_the_prompt_until_the_window_frees(
        user_factory: Any, upstream: FakeUpstream) -> None:
    upstream.queue(Script(), Script(), Script(tokens=['Answer', ' three']))
    user: User = await user_factory(CHAT_RATE_LIMIT='2/2 seconds')
    await open_chat(user)
    for text in ('one', 'two'):
        await send(user, text)
        await user.should_see(marker='send', retries=STREAM_RETRIES)  # the reply ended: Send is back
    user.find(marker='prompt').type('three')
    user.find(marker='send').click()
    await user.should_see('You are sending messages faster than this server allows (2 per 2 seconds). Send again in',
                          retries=STREAM_RETRIES)
    assert prompt_value(user) == 'three'
    assert not user.notify.messages  # said next to the box, not in a toast that disappears
    assert len(upstream.records) == 2
    await user.should_not_see(marker='notice', retries=STREAM_RETRIES)  # hidden once the wait it named is over
    user.find(marker='send').click()
    await user.should_see('Answer three', retries=STREAM_RETRIES)
    assert (len(upstream.records), prompt_value(user)) == (3, '')
    assert upstream.records[2].messages[-1] == {'role': 'user', 'content': 'three'}


async def test_a_busy_server_refuses_a_new_reply_inline_and_takes_it_once_a_stream_ends(
        user_factory: Any, upstream: FakeUpstream) -> None:
    held = Script(tokens=['Slow', ' reply'], hold_at=1)
    upstream.queue(held)
    user: User = await user_factory(MAX_STREAMS='1')
    await open_chat(user)
    await send(user, 'first')
    await user.should_see('Slow', retries=STREAM_RETRIES)
    first = await conversation_link(user)
    await user.open('/')  # a new chat while the first reply still streams
    await user.should_see(marker='send')
    user.find(marker='prompt').type('second')
    user.find(marker='send').click()
    await user.should_see('The server is busy', retries=STREAM_RETRIES)
    assert prompt_value(user) == 'second'
    assert len(upstream.records) == 1
    await user.open(first)
    held.release.set()
    await user.should_see(marker='send', retries=STREAM_RETRIES)  # that reply ended, and its slot was given back
    await user.open('/')
    await send(user, 'second')
    await user.should_see('Hello, world!', retries=STREAM_RETRIES)
    assert upstream.records[1].messages == [{'role': 'user', 'content': 'second'}]


async def test_one_reply_streams_per_conversation(user_factory: Any, upstream: FakeUpstream) -> None:
    held = Script(tokens=['Still', ' going'], hold_at=1)
    upstream.queue(held)
    user: User = await user_factory()
    await open_chat(user)
    await send(user, 'first')
    await user.should_see('Still', retries=STREAM_RETRIES)
    await user.should_not_see(marker='send')  # Stop instead, until the reply ends
    user.find(marker='prompt').type('second').trigger('keydown.enter')
    assert prompt_value(user) == 'second'  # Enter while a reply streams keeps the text and sends nothing
    held.release.set()
    await user.should_see('Still going', retries=STREAM_RETRIES)
    assert len(upstream.records) == 1
