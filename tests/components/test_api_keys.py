"""The API keys dialog: a key's secret is shown once, listed without it, works on the live API until revoked, and
never shows up in a log or later page; each person sees and changes only their own keys."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import openai
import pytest
from nicegui import core, ui
from nicegui.testing import User

from app.store import open_store
from app.web.pages import _keys
from tests.components.chat_helpers import STREAM_RETRIES, notified, open_chat
from tests.conftest import LiveApp
from tests.fake_upstream import FakeUpstream

HELLO = [{'role': 'user', 'content': 'hello'}]


async def open_keys(user: User) -> None:
    user.find(marker='api-keys').click()
    await user.should_see(marker='create-key')


async def create_key(user: User, name: str) -> str:
    """Create a key on the open dialog; its secret, as the page shows it."""
    user.find(marker='key-name').type(name)
    user.find(marker='create-key').click()
    await user.should_see(marker='new-secret', retries=STREAM_RETRIES)
    secret = user.find(marker='new-secret').elements.pop()
    assert isinstance(secret, ui.input)
    return str(secret.value)


def page_state(user: User) -> str:
    """Everything the page holds, as NiceGUI sends it to the browser."""
    assert user.client is not None
    return json.dumps([element._to_dict() for element in user.client.elements.values()], default=str)


async def test_a_created_key_works_on_the_live_api_until_revoked_and_never_shows_again(
        live_app: LiveApp, upstream: FakeUpstream, user_factory: Any, caplog: pytest.LogCaptureFixture) -> None:
    # The page and the live server share one database, as two instances of the app would.
    user = await user_factory(DATA_DIR=str(live_app.log_path.parent / 'data'))
    await open_chat(user)
    await open_keys(user)
    await user.should_see('You have no API keys yet.')
    secret = await create_key(user, 'laptop script')
    assert secret.startswith('nck_') and len(secret) == 47
    await user.should_see('you will not see it again')
    await user.should_see(f'{secret[:12]}…', retries=STREAM_RETRIES)
    await user.should_see('last used never')
    user.find(marker='secret-done').click()
    await user.should_not_see(marker='new-secret')
    assert secret not in page_state(user)

    auth = {'Authorization': f'Bearer {secret}'}
    async with httpx.AsyncClient(base_url=live_app.url, timeout=10) as http:
        answered = await http.post('/api/chat', json={'messages': HELLO}, headers=auth)
        assert answered.status_code == 200 and json.loads(answered.text.splitlines()[-1])['type'] == 'done'
    sdk = openai.AsyncOpenAI(base_url=live_app.url + '/v1', api_key=secret, max_retries=0, timeout=10)
    async with sdk:
        stream = await sdk.chat.completions.create(model='fake-model', messages=HELLO, stream=True)
        async with stream:
            text = ''.join([chunk.choices[0].delta.content or '' async for chunk in stream if chunk.choices])
        assert text
        reply = await sdk.chat.completions.create(model='fake-model', messages=HELLO)
        assert reply.choices[0].message.content == text

    user.find(marker='close-keys').click()
    await user.should_not_see(marker='create-key')
    await open_keys(user)  # a fresh dialog: the live server noted the key's use in the shared database
    await user.should_see('laptop script')
    await user.should_not_see('last used never')
    assert secret not in page_state(user)
    user.find(marker='revoke-key').click()
    user.find(marker='confirm-revoke').click()
    await notified(user, 'Revoked “laptop script”.')
    await user.should_see('revoked ')
    await user.should_not_see(marker='revoke-key')

    async with httpx.AsyncClient(base_url=live_app.url, timeout=10) as http:
        refused = await http.post('/api/chat', json={'messages': HELLO}, headers=auth)
    assert (refused.status_code, refused.json()['error']['code']) == (401, 'unauthorized')
    async with openai.AsyncOpenAI(base_url=live_app.url + '/v1', api_key=secret, max_retries=0, timeout=10) as sdk:
        with pytest.raises(openai.AuthenticationError) as raised:
            await sdk.chat.completions.create(model='fake-model', messages=HELLO)
    for seen in (refused.text, str(raised.value), page_state(user), (await user.http_client.get('/')).text,
                 caplog.text, live_app.log()):
        assert secret not in seen and secret[12:] not in seen


async def test_each_person_sees_and_changes_only_their_own_keys(configured: FakeUpstream, user: User,
                                                                 data_dir: Path) -> None:
    await open_chat(user)
    await open_keys(user)
    user.find(marker='create-key').click()  # no name
    await notified(user, 'Give the key a name')
    alice_secret = await create_key(user, 'alice key')
    user.find(marker='rename-key').click()
    user.find(marker='rename-input').clear().type('alice CI')
    user.find(marker='save-rename').click()
    await user.should_see('alice CI', retries=STREAM_RETRIES)

    other = User(httpx.AsyncClient(transport=httpx.ASGITransport(core.app), base_url='http://test'))
    await open_chat(other)  # another browser: another person
    await open_keys(other)
    await other.should_see('You have no API keys yet.')
    bob_secret = await create_key(other, 'bob key')
    await other.should_not_see('alice CI')
    await user.should_not_see('bob key')

    store = await open_store(f'sqlite:///{data_dir / "nicechat.db"}')
    try:
        alice_key, bob_key = await store.api_key_by_secret(alice_secret), await store.api_key_by_secret(bob_secret)
        assert alice_key is not None and bob_key is not None
        bob = _keys(SimpleNamespace(store=store), bob_key.owner_id)  # type: ignore[arg-type]  # the page's binding for Bob
        assert not await bob.revoke(alice_key.id) and not await bob.rename(alice_key.id, 'mine now')
        assert [key.id for key in await bob.load()] == [bob_key.id]
        assert await store.api_key_by_secret(alice_secret) is not None
        await store.add_api_key_usage(alice_key.id, 1234)
        await store.add_api_key_usage(alice_key.id, 1)
    finally:
        await store.close()
    user.find(marker='close-keys').click()
    await user.should_not_see(marker='create-key')
    await open_keys(user)
    await user.should_see('2 requests, 1,235 tokens')
    await user.should_see('alice CI')
