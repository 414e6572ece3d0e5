"""The chat page through NiceGUI's simulated user, against the fake upstream over real HTTP.

Replies are checked with `should_see` on the page's text, so these tests hold whatever renders the message.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from nicegui import ui
from nicegui.testing import User

from app.chat import conversation
from tests.components.chat_helpers import STREAM_RETRIES, conversation_link, finished, notified, open_chat, send
from tests.conftest import app_env
from tests.fake_upstream import FakeUpstream, Script


async def test_reply_streams_into_the_conversation(configured: FakeUpstream, user: User) -> None:
    configured.queue(Script(tokens=['Hello', ' from', ' the', ' model']))
    await open_chat(user)
    await send(user, 'Hi there')
    await user.should_see('Hi there')
    await user.should_see('Hello from the model', retries=STREAM_RETRIES)
    await user.should_not_see('Demo mode')
    assert configured.records[0].messages == [{'role': 'user', 'content': 'Hi there'}]
    assert user.find(marker='prompt').elements.pop().value == ''


async def test_enter_sends_and_conversation_is_multi_turn(configured: FakeUpstream, user: User) -> None:
    configured.queue(Script(tokens=['First', ' answer']), Script(tokens=['Second', ' answer']))
    await open_chat(user)
    user.find(marker='prompt').type('question one').trigger('keydown.enter')
    await user.should_see('First answer', retries=STREAM_RETRIES)
    await user.should_see(marker='send')  # the reply has finished: Send is back
    user.find(marker='prompt').type('question two').trigger('keydown.enter')
    await user.should_see('Second answer', retries=STREAM_RETRIES)
    assert configured.records[1].messages == [
        {'role': 'user', 'content': 'question one'},
        {'role': 'assistant', 'content': 'First answer'},
        {'role': 'user', 'content': 'question two'},
    ]


async def test_empty_prompt_sends_nothing(configured: FakeUpstream, user: User) -> None:
    await open_chat(user)
    user.find(marker='prompt').type('   \n ')
    user.find(marker='send').click()
    await user.should_not_see(marker='stop')
    await send(user, 'real question')  # the first request upstream must be this one, not an empty one
    await user.should_see('Hello, world!', retries=STREAM_RETRIES)
    assert [record.messages for record in configured.records] == [[{'role': 'user', 'content': 'real question'}]]


async def test_stop_cancels_the_upstream_request(configured: FakeUpstream, user: User) -> None:
    configured.queue(Script(tokens=['tick '] * 500, delay=0.02))
    await open_chat(user)
    await user.should_not_see(marker='stop')
    await send(user, 'count forever')
    await user.should_see('tick', retries=STREAM_RETRIES)
    user.find(marker='stop').click()
    record = configured.records[0]
    assert await asyncio.to_thread(record.disconnected.wait, 2), 'the upstream never saw the stop'
    assert record.tokens_sent < 500
    await user.should_see('Stopped', retries=STREAM_RETRIES)
    await user.should_see(marker='send')
    await user.should_not_see(marker='stop')


async def test_closing_the_tab_keeps_the_reply_going_and_saves_it(configured: FakeUpstream, user: User) -> None:
    configured.queue(Script(tokens=['tick '] * 40, delay=0.02))
    await open_chat(user)
    await send(user, 'count')
    await user.should_see('tick', retries=STREAM_RETRIES)
    link = await conversation_link(user)
    assert user.client is not None
    user.client.delete()  # what NiceGUI does once a closed tab has not come back within reconnect_timeout
    record = configured.records[0]
    await finished(record)
    assert not record.disconnected.is_set(), 'closing the tab cut the reply'
    await user.open(link)  # back later: the whole reply is there
    await user.should_see('tick ' * 39 + 'tick', retries=STREAM_RETRIES)


async def test_a_conversation_has_its_own_address_that_shows_it_after_a_reload(
        configured: FakeUpstream, user: User) -> None:
    configured.queue(Script(tokens=['Kept', ' across', ' reloads']))
    await open_chat(user)
    await send(user, 'remember me')
    await user.should_see('Kept across reloads', retries=STREAM_RETRIES)
    await finished(configured.records[0])
    link = await conversation_link(user)
    await user.open(link)
    await user.should_see('remember me')
    await user.should_see('Kept across reloads')


async def test_new_chat_starts_an_empty_conversation(configured: FakeUpstream, user: User) -> None:
    configured.queue(Script(tokens=['Answer', ' the first']), Script(tokens=['Answer', ' the second']))
    await open_chat(user)
    await send(user, 'old topic')
    await user.should_see('Answer the first', retries=STREAM_RETRIES)
    await user.should_see(marker='send')
    user.find(marker='new-chat').click()
    await user.should_not_see('Answer the first', retries=STREAM_RETRIES)  # the new page replaced the old one
    await user.should_see(marker='send')
    await send(user, 'new topic')
    await user.should_see('Answer the second', retries=STREAM_RETRIES)
    assert configured.records[1].messages == [{'role': 'user', 'content': 'new topic'}]


async def test_demo_mode_says_so(user_factory: Any) -> None:
    user = await user_factory(**app_env(None))
    await open_chat(user)
    await user.should_see('Demo mode')
    await user.should_see('OPENAI_API_KEY')


async def test_reasoning_shows_apart_and_never_goes_back_upstream(configured: FakeUpstream, user: User) -> None:
    configured.queue(Script(reasoning=['Let me ', 'think.'], tokens=['The', ' answer']),
                     Script(tokens=['Fine', ' then']))
    await open_chat(user)
    await send(user, 'hard question')
    await user.should_see('The answer', retries=STREAM_RETRIES)
    await user.should_see(marker='reasoning')
    await user.should_see('Let me think.')
    await user.should_see(marker='send')
    await send(user, 'follow-up')
    await user.should_see('Fine then', retries=STREAM_RETRIES)  # (not a short word: the stats line says "tokens")
    assert configured.records[1].messages[1] == {'role': 'assistant', 'content': 'The answer'}


async def test_settings_choose_the_model_system_prompt_and_parameters_sent_upstream(
        user_factory: Any, upstream: FakeUpstream) -> None:
    user = await user_factory(ALLOWED_MODELS='fast-model,fake-model,big-model')
    await open_chat(user)
    user.find(marker='settings').click()
    picker = user.find(marker='settings-model').elements.pop()
    assert isinstance(picker, ui.select) and picker.value == 'fake-model'  # OPENAI_MODEL is the default
    picker.value = 'big-model'
    user.find(marker='system-prompt').type('Answer in French.')
    user.find(marker='temperature-default').elements.pop().value = False
    user.find(marker='temperature').elements.pop().value = 0.3
    user.find(marker='max-tokens').elements.pop().value = 77
    user.find(marker='settings-save').click()
    await user.should_see(kind=ui.badge, content='big-model')  # saved: the header shows the model
    await send(user, 'which model?')
    await user.should_see('Hello, world!', retries=STREAM_RETRIES)
    body = upstream.records[0].body
    assert (body['model'], body['temperature'], body['max_tokens']) == ('big-model', 0.3, 77)
    assert body['messages'][0] == {'role': 'system', 'content': 'Answer in French.'}
    await user.open(await conversation_link(user))  # stored with the conversation
    user.find(marker='settings').click()
    assert user.find(marker='settings-model').elements.pop().value == 'big-model'
    assert user.find(marker='system-prompt').elements.pop().value == 'Answer in French.'
    assert user.find(marker='max-tokens').elements.pop().value == 77
    user.find(marker='max-tokens').elements.pop().value = 10_000_000  # past MAX_TOKENS_LIMIT: the API's own rule
    user.find(marker='settings-save').click()
    await notified(user, 'must be a whole number from 1 to')
    await user.open('/')  # a new chat starts from the person's last choices
    await send(user, 'and now?')
    await user.should_see('Hello, world!', retries=STREAM_RETRIES)
    body = upstream.records[1].body
    assert (body['model'], body['temperature'], body['max_tokens']) == ('big-model', 0.3, 77)
    assert body['messages'][0] == {'role': 'system', 'content': 'Answer in French.'}


async def test_a_new_chat_starts_with_the_default_system_prompt(user_factory: Any, upstream: FakeUpstream) -> None:
    user = await user_factory(DEFAULT_SYSTEM_PROMPT='You are terse.')
    await open_chat(user)
    await send(user, 'hi')
    await user.should_see('Hello, world!', retries=STREAM_RETRIES)
    assert upstream.records[0].messages[0] == {'role': 'system', 'content': 'You are terse.'}


async def test_two_tabs_on_one_conversation_both_follow_the_reply(configured: FakeUpstream, create_user: Any) -> None:
    configured.queue(Script(tokens=['shared'] + [' word'] * 30, delay=0.02))
    first = create_user()
    await open_chat(first)
    await send(first, 'hello')
    await first.should_see('shared', retries=STREAM_RETRIES)
    second = create_user()
    second.http_client.cookies = first.http_client.cookies  # the same browser, a second tab
    await second.open(await conversation_link(first))
    await second.should_see('shared' + ' word' * 30, retries=STREAM_RETRIES)
    await first.should_see('shared' + ' word' * 30, retries=STREAM_RETRIES)
    assert len(configured.records) == 1


async def test_stop_right_after_send_ends_cleanly(configured: FakeUpstream, user: User) -> None:
    configured.queue(Script(tokens=['tick '] * 500, delay=0.02))
    await open_chat(user)
    user.find(marker='prompt').type('never mind')
    user.find(marker='send').click()
    await user.should_see(marker='stop')  # shown as soon as Send is handled, while the turn is being saved
    user.find(marker='stop').click()
    await user.should_see('Stopped', retries=STREAM_RETRIES)
    await user.should_see(marker='send')
    await user.should_not_see(marker='stop')


async def test_too_long_conversation_is_refused_and_the_prompt_kept(
        configured: FakeUpstream, user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conversation, 'MAX_CONVERSATION_CHARS', 50)
    await open_chat(user)
    await send(user, 'x' * 30)
    await user.should_see('Hello, world!', retries=STREAM_RETRIES)  # 30 + 13 characters so far
    await user.should_see(marker='send')
    await send(user, 'y' * 10)
    await notified(user, 'grown too long')
    assert user.find(marker='prompt').elements.pop().value == 'y' * 10  # nothing typed is lost
    assert len(configured.records) == 1


async def test_any_model_lists_the_model_servers_own_models(user_factory: Any, upstream: FakeUpstream) -> None:
    upstream.models = ['alpha-model', 'beta-model']
    user = await user_factory(ALLOWED_MODELS='*')
    await open_chat(user)
    user.find(marker='settings').click()
    picker = user.find(marker='settings-model').elements.pop()
    assert isinstance(picker, ui.select)
    for _ in range(STREAM_RETRIES):  # the list is asked of the model server once the panel is open
        if 'beta-model' in picker.options:
            break
        await asyncio.sleep(0.1)  # polled like should_see: the list arrives in a background task
    assert list(picker.options) == ['fake-model', 'alpha-model', 'beta-model']
    picker.value = 'beta-model'
    user.find(marker='settings-save').click()
    await user.should_see(kind=ui.badge, content='beta-model')
    await send(user, 'which?')
    await user.should_see('Hello, world!', retries=STREAM_RETRIES)
    assert upstream.records[0].body['model'] == 'beta-model'


async def test_a_model_server_without_a_model_list_says_so(user_factory: Any, upstream: FakeUpstream) -> None:
    upstream.models = None
    user = await user_factory(ALLOWED_MODELS='*')
    await open_chat(user)
    user.find(marker='settings').click()
    await user.should_see(marker='models-problem', content='did not list its models', retries=STREAM_RETRIES)
