"""Who a person is: a trusted proxy's user header, honoured only from TRUSTED_PROXIES; APP_PASSWORD on top."""

from __future__ import annotations

from typing import Any

import httpx
from nicegui import core
from nicegui.testing import User

from tests.components.chat_helpers import STREAM_RETRIES, conversation_link, send

HEADER = 'X-Forwarded-Email'


async def chat_as(user: User, email: str, prompt: str) -> str:
    user.http_client.headers[HEADER] = email
    await user.open('/')
    await send(user, prompt)
    await user.should_see('Hello, world!', retries=STREAM_RETRIES)
    return await conversation_link(user)


async def test_the_proxy_header_is_the_person_across_browsers(user_factory: Any) -> None:
    first = await user_factory(TRUSTED_USER_HEADER=HEADER)
    address = await chat_as(first, 'ada@example.com', 'Ada notes')
    # another browser (no cookies shared), the same person by the proxy's word
    async with httpx.AsyncClient(transport=httpx.ASGITransport(core.app), base_url='http://test') as second:
        second.headers[HEADER] = 'ADA@example.com '
        page = await second.get(address)
        assert page.status_code == 200 and 'Ada notes' in page.text
        second.headers[HEADER] = 'bob@example.com'
        assert (await second.get(address)).status_code == 404


async def test_the_header_from_an_untrusted_address_is_refused(user_factory: Any) -> None:
    user = await user_factory(TRUSTED_USER_HEADER=HEADER, TRUSTED_PROXIES='10.0.0.0/8')  # the test client is 127.0.0.1
    user.http_client.headers[HEADER] = 'ada@example.com'
    response = await user.http_client.get('/')
    assert response.status_code == 403 and 'sign-in proxy' in response.text
    del user.http_client.headers[HEADER]  # nor does leaving the header out fall back to a browser identity
    assert (await user.http_client.get('/')).status_code == 403


async def test_the_proxy_must_say_who_it_is(user_factory: Any) -> None:
    user = await user_factory(TRUSTED_USER_HEADER=HEADER)
    response = await user.http_client.get('/')
    assert response.status_code == 403 and 'did not say who you are' in response.text
