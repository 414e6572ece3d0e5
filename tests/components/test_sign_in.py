"""The APP_PASSWORD sign-in in front of the chat page."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from app.config import Settings


async def test_password_protects_the_page(user_factory: Any) -> None:
    user = await user_factory(APP_PASSWORD='open sesame')
    await user.open('/')
    await user.should_see('Enter the password')
    await user.should_not_see(marker='send')
    user.find('Password').type('wrong').trigger('keydown.enter')
    await user.should_see('Wrong password', retries=30)
    user.find('Password').type('open sesame')
    user.find('Sign in').click()
    await user.should_see(marker='send')  # reloaded into the chat
    await user.open('/')  # the sign-in is remembered for this browser
    await user.should_see(marker='send')


async def test_password_guesses_are_checked_one_at_a_time(user_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    delay = 0.3
    monkeypatch.setattr('components.sign_in.WRONG_PASSWORD_DELAY', delay)
    loop = asyncio.get_running_loop()
    checked_at: list[float] = []
    three_checked = asyncio.Event()
    password_ok = Settings.password_ok

    def recording(self: Settings, attempt: str) -> bool:
        checked_at.append(loop.time())
        if len(checked_at) == 3:
            three_checked.set()
        return password_ok(self, attempt)

    monkeypatch.setattr(Settings, 'password_ok', recording)
    user = await user_factory(APP_PASSWORD='open sesame')
    await user.open('/')
    await user.should_see('Enter the password')
    field = user.find('Password').type('wrong')
    for _ in range(3):  # fired together, as a script would
        field.trigger('keydown.enter')
    await asyncio.wait_for(three_checked.wait(), 5)
    gaps = [later - earlier for earlier, later in itertools.pairwise(checked_at)]
    assert all(gap >= delay * 0.95 for gap in gaps), gaps  # one wrong guess at a time, each paying the delay
