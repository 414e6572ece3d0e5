"""The fault matrix on the chat page (docs/faults.md): every row shown inline with the text received so far, saved
with its status, no secret sent to the browser or stored, then the next prompt gets a good reply."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path
from typing import Any

import pytest
from nicegui.testing import User

from app.store import MessageRecord, open_store
from tests.components.chat_helpers import STREAM_RETRIES, conversation_link, finished, open_chat, record_websocket, send
from tests.conftest import API_TOKEN, SECRET_KEY
from tests.fake_address import FakeAddress
from tests.fake_upstream import FakeUpstream, Script
from tests.fault_matrix import BEFORE, FAULTS, Fault

# Short, so the rows that end by a timeout stay quick; the page has no header wait for it to race with.
PAGE_TIMEOUT = 0.5
# RFC 6761: never resolves, so it fails at once even with no DNS at all (CI has none).
UNRESOLVABLE_HOST = 'nicechat-fault.invalid'


@pytest.mark.parametrize('fault', FAULTS, ids=[fault.id for fault in FAULTS])
async def test_every_fault_on_the_page(fault: Fault, user_factory: Any, upstream: FakeUpstream, data_dir: Path,
                                       monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # the SDK's and the app's own logs: none may carry a secret either
    address = FakeAddress(upstream)
    try:
        {'refuse': address.refuse, 'hang': address.hang}.get(fault.network or '', address.serve)()
        host = UNRESOLVABLE_HOST if fault.network == 'unresolvable' else '127.0.0.1'
        user: User = await user_factory(OPENAI_BASE_URL=f'http://{host}:{address.port}/v1',
                                        UPSTREAM_TIMEOUT=str(PAGE_TIMEOUT))
        script = fault.fresh()
        if script is not None:
            upstream.queue(script)
        await open_chat(user)
        sent = record_websocket(user)
        await send(user, 'first try')
        if script is not None and script.gate is not None:  # each token, and the drop, once the one before is shown
            for count in range(1, len(BEFORE) + 1):
                await user.should_see(''.join(BEFORE[:count]), retries=STREAM_RETRIES)
                script.gate.release()
        reply = await saved_reply(data_dir, await conversation_link(user))
        assert (reply.status, reply.content) == ('failed' if fault.code else 'complete', fault.kept)
        await user.should_see(marker='send', retries=STREAM_RETRIES)
        if fault.code is not None:
            assert reply.error is not None and fault.words in reply.error, reply.error
            await user.should_see(fault.words)
        if fault.kept:
            await user.should_see(fault.kept)
        for record in upstream.records:  # the app closed its upstream request (or read it to its end)
            await finished(record)
        shown = repr(sent) + repr(user.client.elements if user.client else None) + repr(reply) + caplog.text
        assert not any(secret in shown for secret in (SECRET_KEY, API_TOKEN))

        if fault.network == 'unresolvable':  # the name resolves again (as when DNS comes back)
            resolve = socket.getaddrinfo
            monkeypatch.setattr(socket, 'getaddrinfo', lambda name, *rest, **kw: resolve(
                '127.0.0.1' if name == UNRESOLVABLE_HOST else name, *rest, **kw))
        address.serve()
        upstream.queue(Script(tokens=['Recovered', ' fine']))
        await send(user, 'second try')
        await user.should_see('Recovered fine', retries=STREAM_RETRIES)
        after = await saved_reply(data_dir, await conversation_link(user))
        assert (after.status, after.content) == ('complete', 'Recovered fine')
    finally:
        address.close()


async def saved_reply(data_dir: Path, link: str) -> MessageRecord:
    """The conversation's reply as the database has it, once saved with its final status."""
    store = await open_store(f'sqlite:///{data_dir}/nicechat.db')
    try:
        for _ in range(STREAM_RETRIES):
            replies = [m for m in await store.messages(link.removeprefix('/c/')) if m.role == 'assistant']
            if replies and replies[-1].status != 'streaming':
                return replies[-1]
            await asyncio.sleep(0.1)  # the final save is a background task: there is no event to await from here
        raise AssertionError(f'the reply was never saved with a final status: {replies}')
    finally:
        await store.close()


@pytest.mark.parametrize(('retry_after', 'requests', 'shown'), [
    ('30', 1, 'try again in 30 s'),  # longer than MAX_RETRY_WAIT: back to the person at once
    ('1', 2, 'Recovered fine'),  # short: the app waits and retries, unseen
])
async def test_the_app_retries_a_rate_limit_only_when_the_wait_is_short(
        user_factory: Any, upstream: FakeUpstream, retry_after: str, requests: int, shown: str) -> None:
    upstream.queue(Script(status=429, retry_after=retry_after), Script(tokens=['Recovered', ' fine']))
    user: User = await user_factory(UPSTREAM_RETRIES='2')
    await open_chat(user)
    await send(user, 'first try')
    await user.should_see(shown, retries=STREAM_RETRIES)
    assert len(upstream.records) == requests
