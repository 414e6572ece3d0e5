"""A password prompt shown before the chat when the server sets APP_PASSWORD.

Guessing is throttled per address, not per tab and not server-wide: one address gets one check per CHECK_INTERVAL
however many tabs it opens, its short queue of waiting attempts is bounded, and attempts past it are refused at once.
So a script hammering wrong guesses slows only its own address; everyone else's password is checked at once.
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from nicegui import ui

# Seconds between two password checks for one address: a guesser gets one try a second per address it controls.
CHECK_INTERVAL = 1.0
# Attempts one address may have being checked or waiting for its turn (a person retyping, a few tabs); more are
# refused at once instead of queueing, so a script can neither build an endless queue nor hold a tab's answer long.
MAX_PENDING_PER_ADDRESS = 3
# Addresses held at once (each for about CHECK_INTERVAL after its last attempt); bounds the memory a swarm can use.
MAX_ADDRESSES = 4096
# An IPv6 host is usually given a whole /64: its addresses count as one, or a guesser could rotate through them.
IPV6_PREFIX = 64


class Outcome(enum.Enum):
    """What an attempt came to, with the message the page shows for it."""

    SIGNED_IN = ''
    WRONG = 'Wrong password.'
    TOO_MANY = 'Too many sign-in attempts from your network. Wait a few seconds, then try again.'
    BUSY = 'Too many sign-in attempts right now. Try again in a minute.'


def create(check: Callable[[str], bool], on_success: Callable[[], None]) -> None:
    """Ask for the password; call `on_success` once `check` accepts one."""
    address = address_key(ui.context.client.ip)
    pending = False  # this tab's attempt is being checked or waiting: Enter does nothing, like the disabled button
    with ui.card().classes('absolute-center w-80 gap-3'):
        ui.label('NiceChat').classes('text-lg font-semibold')
        ui.label('This chat is protected. Enter the password to continue.').classes('text-sm text-gray-600')
        password = ui.input('Password', password=True, password_toggle_button=True).props('autofocus outlined dense') \
            .classes('w-full')
        error = ui.label().classes('text-red-700 text-sm').props('role=alert')
        error.set_visibility(False)

        async def submit() -> None:
            nonlocal pending
            if pending:
                return
            pending = True
            attempt = password.value or ''
            button.disable()
            try:
                outcome = await _gate().attempt(address, lambda: check(attempt))
            finally:
                pending = False
                button.enable()
            if outcome is Outcome.SIGNED_IN:
                on_success()
                return
            error.text = outcome.value
            error.set_visibility(True)
            if outcome is Outcome.WRONG:
                password.value = ''

        password.on('keydown.enter', submit)
        button = ui.button('Sign in', on_click=submit).classes('w-full')


def address_key(host: str) -> str:
    """The throttling key for a client address: the address itself, or its /64 for IPv6."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host  # not an IP address (no socket address known, a test client): itself
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_PREFIX), strict=False))
    return str(ip)


@dataclass
class _Hold:
    """One address's turn: when its next check may run, and how many of its attempts are pending."""

    free_at: float
    pending: int = 0


class Gate:
    """Runs password checks one at a time per address, CHECK_INTERVAL apart, and refuses past a short queue."""

    def __init__(self) -> None:
        self._holds: dict[str, _Hold] = {}

    async def attempt(self, address: str, check: Callable[[], bool]) -> Outcome:
        """Wait for `address`'s turn and run `check`, or refuse at once if too much is already pending."""
        now = asyncio.get_running_loop().time()
        hold = self._holds.get(address)
        if hold is None:
            if len(self._holds) >= MAX_ADDRESSES:
                self._forget_idle(now)
                if len(self._holds) >= MAX_ADDRESSES:
                    return Outcome.BUSY
            hold = self._holds[address] = _Hold(free_at=now)
        if hold.pending >= MAX_PENDING_PER_ADDRESS:
            return Outcome.TOO_MANY
        start = max(now, hold.free_at)
        turn_ends = hold.free_at = start + CHECK_INTERVAL  # taken before waiting: the next attempt queues behind it
        hold.pending += 1
        try:
            await asyncio.sleep(start - now)
            accepted = check()
        finally:
            hold.pending -= 1
        if accepted:
            return Outcome.SIGNED_IN
        # Answered when the address's turn ends, so the page's next try (a person retyping) is checked at once.
        await asyncio.sleep(max(0.0, turn_ends - asyncio.get_running_loop().time()))
        return Outcome.WRONG

    def _forget_idle(self, now: float) -> None:
        """Drop addresses with nothing pending whose hold has passed: they would get a check at once anyway."""
        for address in [a for a, hold in self._holds.items() if not hold.pending and hold.free_at <= now]:
            del self._holds[address]


_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Gate] = weakref.WeakKeyDictionary()


def _gate() -> Gate:
    """The server's gate (one per event loop, which is one per server; tests get a fresh one per loop)."""
    return _gates.setdefault(asyncio.get_running_loop(), Gate())
