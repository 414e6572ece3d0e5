"""Where a finished API reply's usage goes: quotas (the limits) and each personal key's counters subscribe here."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from .access import Caller

log = logging.getLogger(__name__)

# (caller, completion tokens of one finished reply) -> None; awaited in order of subscription.
Listener = Callable[[Caller, int], Awaitable[None]]


def estimate_tokens(text: str) -> int:
    """Completion tokens of `text` when the model server sent no usage: about four characters a token."""
    return chars_to_tokens(len(text))


def chars_to_tokens(chars: int) -> int:
    """estimate_tokens for a text of which only the length was kept (a reply counted as it streamed)."""
    return (chars + 3) // 4


class Usage:
    """Fans one count per finished API reply out to its listeners; one failing listener does not stop the others."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        """Call `listener` for every reply recorded from now on."""
        self._listeners.append(listener)

    async def record(self, caller: Caller, completion_tokens: int) -> None:
        """Record the completion tokens one reply to `caller` used (from the upstream's usage, or estimated)."""
        for listener in self._listeners:
            try:
                await listener(caller, completion_tokens)
            except Exception:  # a counter must never break the reply that was already sent
                log.exception('recording usage for %s failed', caller.id)
