"""A Redis pub/sub channel every instance listens on: the plumbing shared by Stop requests and change notices.

`start(on_message)` calls `on_message(text)` for every message any instance publishes, until `aclose()`. The
listener survives Redis outages: it waits for the link to come back and subscribes again (a message published while
it is reconnecting is lost; each user of a channel says what covers that). A failing handler does not end it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from .link import DOWN_ERRORS, Link, end_task

log = logging.getLogger(__name__)

# Seconds the listener waits for a message before it looks again (it ends promptly on close either way).
LISTEN_TIMEOUT = 1.0


class Channel:
    """One pub/sub channel: `start(on_message)` listens, `publish(text)` sends (never raises: Redis down is noted)."""

    def __init__(self, link: Link, name: str) -> None:
        self.link, self.name = link, name
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    def start(self, on_message: Callable[[str], object]) -> None:
        """Call `on_message(text)` for every message any instance publishes on the channel, until `aclose()`."""
        self._task = asyncio.get_running_loop().create_task(self._listen(on_message), name=f'listener {self.name}')

    async def subscribed(self) -> None:
        """Wait until the listener is subscribed (a message sent before then would not reach this instance)."""
        await self._subscribed.wait()

    async def publish(self, text: str) -> None:
        """Send `text` to every instance listening (this one too); skipped while Redis is down."""
        if not self.link.up:
            return
        try:
            await self.link.redis.publish(self.name, text)
        except DOWN_ERRORS as error:
            self.link.failed(error)

    async def aclose(self) -> None:
        """Stop listening."""
        await end_task(self._task, f'the listener of {self.name}')

    async def _listen(self, on_message: Callable[[str], object]) -> None:
        while True:
            await self.link.wait_up()
            try:
                async with self.link.blocking.pubsub() as pubsub:
                    await pubsub.subscribe(self.name)
                    self._subscribed.set()
                    while True:
                        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=LISTEN_TIMEOUT)
                        if message is not None and message['type'] == 'message':
                            self._deliver(on_message, message['data'].decode())
            except DOWN_ERRORS as error:
                self._subscribed.clear()
                self.link.failed(error)
                await asyncio.sleep(0)  # the probe runs before this loop waits on it

    def _deliver(self, on_message: Callable[[str], object], text: str) -> None:
        try:
            on_message(text)
        except Exception:  # one failed handler must not end the listener for every later message
            log.exception('handling a message on %s failed', self.name)
