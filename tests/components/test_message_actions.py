"""Message actions: regenerate and edit keep every version behind arrows, Retry resends a failed turn, stats show."""

from __future__ import annotations

import asyncio

from nicegui.testing import User

from components.message_frame import MessageFrame
from tests.components.chat_helpers import STREAM_RETRIES, conversation_link, notified, open_chat, press, send
from tests.fake_upstream import FakeUpstream, Script


async def idle(user: User) -> None:
    """Wait until no reply streams (Send is back)."""
    await user.should_not_see(marker='stop', retries=STREAM_RETRIES)
    await user.should_see(marker='send', retries=STREAM_RETRIES)


async def test_regenerate_keeps_both_answers_and_the_one_shown_goes_upstream(
        configured: FakeUpstream, user: User) -> None:
    configured.queue(Script(tokens=['First', ' answer']), Script(tokens=['Second', ' answer']),
                     Script(tokens=['Follow', ' up']), Script(tokens=['After', ' first']))
    await open_chat(user)
    await send(user, 'question')
    await user.should_see('First answer', retries=STREAM_RETRIES)
    await idle(user)
    press(user, 'regenerate')
    await user.should_see('Second answer', retries=STREAM_RETRIES)
    await idle(user)
    await user.should_not_see('First answer')
    await user.should_see(marker='version', content='2 / 2')
    assert configured.records[1].messages == [{'role': 'user', 'content': 'question'}]  # the same history

    await send(user, 'more')  # builds on the answer shown
    await user.should_see('Follow up', retries=STREAM_RETRIES)
    await idle(user)
    assert configured.records[2].messages[1] == {'role': 'assistant', 'content': 'Second answer'}

    await user.open(await conversation_link(user))  # all stored: a reload shows the same branch and versions
    await user.should_see('Follow up')
    await user.should_see(marker='version', content='2 / 2')
    press(user, 'previous-version')
    await user.should_see('First answer', retries=STREAM_RETRIES)
    await user.should_not_see('Follow up')  # that turn belongs to the other version
    await user.should_see(marker='version', content='1 / 2')
    await send(user, 'and now')
    await user.should_see('After first', retries=STREAM_RETRIES)
    assert configured.records[3].messages[:2] == [{'role': 'user', 'content': 'question'},
                                                  {'role': 'assistant', 'content': 'First answer'}]


async def test_edit_sends_a_new_version_and_cancel_restores(configured: FakeUpstream, user: User) -> None:
    configured.queue(Script(tokens=['About', ' cats']), Script(tokens=['About', ' dogs']))
    await open_chat(user)
    await send(user, 'tell me about cats')
    await user.should_see('About cats', retries=STREAM_RETRIES)
    await idle(user)
    press(user, 'edit')
    user.find(marker='edit-box').clear().type('something else')
    user.find(marker='edit-cancel').click()
    await user.should_see('tell me about cats')
    await user.should_not_see(marker='edit-box')
    assert len(configured.records) == 1

    press(user, 'edit')
    user.find(marker='edit-box').clear().type('tell me about dogs')
    user.find(marker='edit-save').click()
    await user.should_see('About dogs', retries=STREAM_RETRIES)
    await idle(user)
    await user.should_not_see('About cats')
    assert configured.records[1].messages == [{'role': 'user', 'content': 'tell me about dogs'}]
    await user.should_see(marker='version', content='2 / 2')
    press(user, 'previous-version')  # the old prompt and its answer are still there
    await user.should_see('tell me about cats', retries=STREAM_RETRIES)
    await user.should_see('About cats')


async def test_retry_resends_a_failed_turn_without_retyping(configured: FakeUpstream, user: User) -> None:
    configured.queue(Script(status=500), Script(tokens=['Worked', ' now']))
    await open_chat(user)
    await send(user, 'flaky question')
    await user.should_see('failed', retries=STREAM_RETRIES)
    await idle(user)
    press(user, 'retry')
    await user.should_see('Worked now', retries=STREAM_RETRIES)
    assert configured.records[1].messages == [{'role': 'user', 'content': 'flaky question'}]


async def test_a_finished_reply_shows_its_stats_and_escape_stops(configured: FakeUpstream, user: User) -> None:
    configured.queue(Script(tokens=['Quick', ' one']), Script(tokens=['tick '] * 500, delay=0.02))
    await open_chat(user)
    await send(user, 'stats please')
    await user.should_see('Quick one', retries=STREAM_RETRIES)
    await user.should_see(marker='stats', content='s to first token', retries=STREAM_RETRIES)
    await user.should_see(marker='stats', content='5 → 4 tokens')  # the fake upstream's usage
    await user.should_see('Reply: Quick one')  # the aria-live announcement, made once the reply ended
    await send(user, 'count')
    await user.should_see('tick', retries=STREAM_RETRIES)
    user.find(marker='prompt').trigger('keydown.escape')
    await user.should_see('Stopped', retries=STREAM_RETRIES)
    assert await asyncio.to_thread(configured.records[1].disconnected.wait, 5), 'Escape did not stop the upstream'
    await user.should_see(marker='stats', content='before it was stopped', retries=STREAM_RETRIES)



async def test_toolbar_presses_only_what_it_shows_enabled(configured: FakeUpstream, user: User) -> None:
    """The buttons are one prop of the message's frame, with one event (components/message_frame.py): a press naming
    a button it does not show, or the version text, does nothing (a page could send any name); disabled arrows are
    marked so."""
    configured.queue(Script(tokens=['One']), Script(tokens=['Two']))
    await open_chat(user)
    await send(user, 'question')
    await user.should_see('One', retries=STREAM_RETRIES)
    await idle(user)
    reply = min(user.find(marker='regenerate').elements, key=lambda element: element.id)
    assert isinstance(reply, MessageFrame) and reply.names == ['copy', 'regenerate']
    for junk in ('edit', 'next-version', 'version', 'nonsense', None, 3):
        user.find(marker='regenerate').trigger('act', junk)
    await user.should_not_see(marker='edit-box')
    press(user, 'regenerate')  # handled after the junk: had any of it asked the model, there would be 3 requests
    await user.should_see('Two', retries=STREAM_RETRIES)
    await idle(user)
    assert len(configured.records) == 2
    await user.should_see(marker='version', content='2 / 2')
    toolbar = min(user.find(marker='version').elements, key=lambda element: element.id)
    assert [(b['name'], b['disabled']) for b in toolbar.props['buttons']] == [
        ('previous-version', False), ('version', False), ('next-version', True), ('copy', False),
        ('regenerate', False)]
    press(user, 'copy')
    await notified(user, 'Copied')
