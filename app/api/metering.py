"""Every API reply passes here: admitted by the limits before it reaches the model server, its tokens counted after.

A route makes a `Meter` for its caller and enters it, together with the upstream stream, inside the generator that
writes the reply: so a refusal is an exception before the first frame (the response turns it into the route's
HTTP error with Retry-After), and the meter's exit (done, failed, client gone, cancelled) always gives the stream
slots back and records the reply's tokens.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from types import TracebackType
from typing import TypeVar

import orjson

from ..limits import Lease, Limits
from ..upstream.reply import Reply
from .access import Caller
from .held_response import Last
from .usage import Usage, chars_to_tokens

T = TypeVar('T')


class Metering:
    """The limits and the usage counter the API routes share (both optional: without them, nothing is counted)."""

    def __init__(self, limits: Limits | None = None, usage: Usage | None = None) -> None:
        self.limits = limits
        self.usage = usage

    def meter(self, caller: Caller) -> Meter:
        """A meter for one reply to `caller` (nothing is checked or taken until it is entered)."""
        return Meter(self, caller)

    async def admit(self, caller: Caller) -> Meter:
        """A meter entered already: for a stored conversation's turn, whose reply the chat runtime streams (the
        refusal must come before the turn is saved). Give it to `counted`, or `release` it if the turn fails."""
        meter = Meter(self, caller)
        await meter.__aenter__()
        return meter


class Meter:
    """One API reply: its admission and stream slots, the text it received, and the model server's usage if sent."""

    __slots__ = ('_lease', '_metering', '_settled', 'caller', 'chars', 'reply')

    def __init__(self, metering: Metering | None = None, caller: Caller | None = None) -> None:
        self._metering = metering
        self.caller = caller
        self._lease: Lease | None = None
        self.chars = 0  # characters of content, reasoning and tool-call names and arguments received
        self.reply: Reply | None = None  # set once the upstream answered: its `usage` is read at the end
        self._settled = False  # the reply's tokens are recorded already

    def add(self, batch: Iterable[tuple[str, str]]) -> None:
        """Count a batch of deltas received from the model server."""
        for kind, text in batch:
            self.chars += _tool_call_chars(text) if kind == 'tool_calls' else len(text)

    @property
    def completion_tokens(self) -> int:
        """The model server's count when it sent usage, else an estimate from the text received."""
        usage = self.reply.usage if self.reply is not None else None
        if usage and 'completion_tokens' in usage:
            return usage['completion_tokens']
        return chars_to_tokens(self.chars)

    async def __aenter__(self) -> Meter:
        if self._metering is not None and self._metering.limits is not None and self.caller is not None:
            self._lease = await self._metering.limits.admit_api(self.caller.id)
        return self

    def release(self) -> None:
        """Give the slots back without counting a reply (the turn was refused after admission)."""
        if self._lease is not None:
            self._lease.release()
            self._lease = None

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        if self._lease is not None:
            self._lease.release()
            self._lease = None
        await self.settle()

    async def settle(self) -> None:
        """Record the reply's tokens now, once: a route calls it before the frame that completes the response, so
        the caller's next request (sent as soon as it has that frame) is already checked against them."""
        if self._settled:
            return
        self._settled = True
        if self._metering is not None and self._metering.usage is not None and self.caller is not None:
            # Shielded: a second cancellation (a server shutting down) must not lose the count of a reply sent.
            await asyncio.shield(self._metering.usage.record(self.caller, self.completion_tokens))


async def counted(frames: AsyncIterator[T], meter: Meter, received: Callable[[], int]) -> AsyncGenerator[T]:
    """`frames` of a stored conversation's reply; at the end (or when the client leaves) the meter's slots go back
    and the reply is counted: the model server's usage is not at hand here, so `received()` characters are
    estimated. A client that leaves early is counted for the text produced by then (the reply may go on)."""
    try:
        async for frame in frames:
            if isinstance(frame, Last):  # the caller may send its next request once it has this: count first
                meter.chars = received()
                await meter.settle()
            yield frame
    finally:
        meter.chars = received()
        await meter.__aexit__(None, None, None)


def _tool_call_chars(text: str) -> int:
    """Characters of the names and arguments in a 'tool_calls' delta (its JSON's keys and brackets are not text)."""
    try:
        calls = orjson.loads(text)
    except orjson.JSONDecodeError:
        return len(text)
    chars = 0
    for call in calls if isinstance(calls, list) else ():
        function = call.get('function') if isinstance(call, dict) else None
        if isinstance(function, dict):
            chars += sum(len(value) for value in (function.get('name'), function.get('arguments'))
                         if isinstance(value, str))
    return chars
