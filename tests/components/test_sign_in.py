"""The APP_PASSWORD sign-in in front of the chat page."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from nicegui import core, ui
from nicegui.testing import User

from components import sign_in

PASSWORD = 'open sesame'
# Where the attacking script's tabs come from; the `user` fixture itself is at 127.0.0.1.
ATTACKER = '203.0.113.66'
# should_see polls every 0.1 s: wait up to 5 s for an answer on a loaded machine (a wrong one takes CHECK_INTERVAL).
RETRIES = 50
# Float slack for comparing loop times.
EPS = 1e-6


async def test_password_protects_the_page(user_factory: Any) -> None:
    user = await user_factory(APP_PASSWORD=PASSWORD)
    await user.open('/')
    await user.should_see('Enter the password')
    await user.should_not_see(marker='send')
    user.find('Password').type('wrong').trigger('keydown.enter')
    await user.should_see('Wrong password', retries=RETRIES)
    user.find('Password').type(PASSWORD)
    user.find('Sign in').click()
    await user.should_see(marker='send', retries=RETRIES)  # reloaded into the chat
    await user.open('/')  # the sign-in is remembered for this browser
    await user.should_see(marker='send')


class Checks:
    """The `check` passed to the sign-in, recording when each attempt was checked."""

    def __init__(self) -> None:
        self.wrong_at: list[float] = []
        self.signed_in = asyncio.Event()

    def __call__(self, attempt: str) -> bool:
        if attempt != PASSWORD:
            self.wrong_at.append(asyncio.get_running_loop().time())
        return attempt == PASSWORD

    def serve(self) -> None:
        @ui.page('/')
        def page() -> None:
            sign_in.create(self, on_success=self.signed_in.set)


@pytest.fixture
async def tabs_at() -> AsyncIterator[Callable[[str], User]]:
    """Make simulated users (browser tabs) whose requests come from a given address."""
    async with AsyncExitStack() as stack:
        def make(address: str) -> User:
            transport = httpx.ASGITransport(core.app, client=(address, 40000))
            http = httpx.AsyncClient(transport=transport, base_url='http://test')
            stack.push_async_callback(http.aclose)
            return User(http)

        yield make


async def open_sign_in(tab: User) -> User:
    await tab.open('/')
    await tab.should_see('Enter the password')
    return tab


@pytest.mark.nicegui_main_file('')
async def test_right_password_gets_in_while_a_script_hammers_wrong_ones(
        user: User, tabs_at: Callable[[str], User]) -> None:
    checks = Checks()
    checks.serve()
    attackers = [await open_sign_in(tabs_at(ATTACKER)) for _ in range(5)]
    loop = asyncio.get_running_loop()
    attack_started = loop.time()
    for tab, _ in itertools.product(attackers, range(5)):  # 25 wrong guesses fired at once, from five tabs
        tab.find('Password').type('guess').trigger('keydown.enter')
    await open_sign_in(user)
    started = loop.time()
    user.find('Password').type(PASSWORD)
    user.find('Sign in').click()
    await asyncio.wait_for(checks.signed_in.wait(), 5)
    assert loop.time() - started < 1.0, 'the right password waited behind the wrong ones'
    assert len(checks.wrong_at) <= 1 + (loop.time() - attack_started) / sign_in.CHECK_INTERVAL, \
        'the script got more guesses checked than one per interval'
    await attackers[-1].should_see('Too many sign-in attempts', retries=RETRIES)  # the queue is bounded


@pytest.mark.nicegui_main_file('')
async def test_one_address_is_checked_one_guess_at_a_time_however_many_tabs(
        user: User, tabs_at: Callable[[str], User], monkeypatch: pytest.MonkeyPatch) -> None:
    interval = 0.3
    monkeypatch.setattr(sign_in, 'CHECK_INTERVAL', interval)
    checks = Checks()
    checks.serve()
    # Different addresses in one IPv6 /64 count as one: a host is usually given the whole /64.
    tabs = [await open_sign_in(tabs_at(f'2001:db8::{i + 1}')) for i in range(sign_in.MAX_PENDING_PER_ADDRESS + 1)]
    first_try = asyncio.get_running_loop().time()
    for tab, _ in itertools.product(tabs, range(3)):  # Enter pressed three times in each tab, as a script would
        tab.find('Password').type('wrong').trigger('keydown.enter')
    await tabs[-1].should_see('Too many sign-in attempts', retries=RETRIES)  # refused, past the per-address queue
    for tab in tabs[:-1]:
        await tab.should_see('Wrong password', retries=RETRIES)
    assert len(checks.wrong_at) == sign_in.MAX_PENDING_PER_ADDRESS, 'a tab got a second guess in while one was pending'
    earliest = [first_try + turn * interval for turn in range(len(checks.wrong_at))]  # one turn per interval
    assert all(at >= due - EPS for at, due in zip(checks.wrong_at, earliest, strict=True)), checks.wrong_at
    await open_sign_in(user)  # another address is not held up
    user.find('Password').type(PASSWORD).trigger('keydown.enter')
    await asyncio.wait_for(checks.signed_in.wait(), 5)


def test_address_groups_ipv6_by_prefix() -> None:
    assert sign_in.address_key('203.0.113.9') == '203.0.113.9'
    assert sign_in.address_key('::ffff:203.0.113.9') == '203.0.113.9'
    assert sign_in.address_key('2001:db8:1:2:aaaa::1') == sign_in.address_key('2001:db8:1:2:bbbb::9') \
        == '2001:db8:1:2::/64'
    assert sign_in.address_key('2001:db8:1:3::1') != sign_in.address_key('2001:db8:1:2::1')
    assert sign_in.address_key('testclient') == 'testclient'


async def test_a_swarm_of_addresses_is_bounded_and_idle_ones_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sign_in, 'MAX_ADDRESSES', 2)
    monkeypatch.setattr(sign_in, 'CHECK_INTERVAL', 0.05)
    gate = sign_in.Gate()
    held = [asyncio.create_task(gate.attempt(address, lambda: False)) for address in ('10.0.0.1', '10.0.0.2')]
    await asyncio.sleep(0)  # one pass of the loop: both tasks start and take their address's turn
    assert await gate.attempt('10.0.0.3', lambda: True) is sign_in.Outcome.BUSY  # two held already: refused at once
    assert await asyncio.gather(*held) == [sign_in.Outcome.WRONG] * 2
    assert await gate.attempt('10.0.0.3', lambda: True) is sign_in.Outcome.SIGNED_IN  # their holds have passed
