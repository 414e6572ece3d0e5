"""Upstream failures on the chat page: shown inline, the app keeps working, and no secret reaches the browser."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from nicegui.testing import User

from tests.components.chat_helpers import STREAM_RETRIES, open_chat, record_websocket, send
from tests.conftest import SECRET_KEY
from tests.fake_upstream import FakeUpstream, Script


async def test_unreachable_upstream_says_where_and_what_to_check_and_retry_resends(
        user_factory: Any, upstream: FakeUpstream) -> None:
    user = await user_factory(OPENAI_BASE_URL='http://127.0.0.1:9/v1?api-key=QUERY-SECRET-1234')  # nothing listens
    await open_chat(user)
    await send(user, 'anyone there?')
    await user.should_see('Could not connect to the model server', retries=STREAM_RETRIES)
    await user.should_see('Nothing answered at http://127.0.0.1:9/v1: check that the model server is running')
    await user.should_not_see('QUERY-SECRET-1234')
    await user.should_see('anyone there?')  # the prompt is kept in the failed turn
    await user.should_see(marker='retry')


async def test_key_never_reaches_the_browser_or_the_log(configured: FakeUpstream, user: User,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    configured.queue(Script(status=401, error_message=f'Incorrect API key provided: {SECRET_KEY}'),
                     Script(tokens=['ok'], error_after=0, error_message=f'leak {SECRET_KEY}'))
    await open_chat(user)
    sent = record_websocket(user)
    await send(user, 'one')
    await user.should_see("refused this server's credentials", retries=STREAM_RETRIES)
    await user.should_see(marker='send')
    await send(user, 'two')
    await user.should_see('leak', retries=STREAM_RETRIES)
    assert sent, 'no websocket messages were captured'
    assert SECRET_KEY not in repr(sent)
    assert SECRET_KEY not in repr(user.client.elements)
    assert caplog.records, 'no log records were captured'
    assert SECRET_KEY not in caplog.text
