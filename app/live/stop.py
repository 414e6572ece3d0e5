"""Stop across instances: a Stop pressed on any instance reaches the one holding the reply's upstream.

One Redis pub/sub channel (STOP_CHANNEL) for all instances; a message is a reply id. Every instance listens, and
the one streaming that reply cancels it (its `on_stop` finds it; the others find nothing). Pub/sub delivers in well
under a millisecond on loopback, so the 200 ms budget is the holder's own cancel. A message published while the
holder's listener is reconnecting is lost, which is why `request` also says whether the reply is still held: a
caller can ask again. The listener survives Redis outages: it waits for the link to come back and subscribes again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from . import keys
from .link import DOWN_ERRORS, Link

log = logging.getLogger(__name__)

# Seconds the listener waits for a message before it looks again (it ends promptly on close either way).
LISTEN_TIMEOUT = 1.0


class StopChannel:
    """`start(on_stop)` listens for Stop requests; `request(reply_id)` sends one from this instance."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    def start(self, on_stop: Callable[[str], object]) -> None:
        """Call `on_stop(reply_id)` for every Stop request any instance sends, until `aclose()`."""
        self._task = asyncio.get_running_loop().create_task(self._listen(on_stop), name='live stop listener')

    async def subscribed(self) -> None:
        """Wait until the listener is subscribed (a request sent before then would not reach this instance)."""
        await self._subscribed.wait()

    async def request(self, reply_id: str) -> bool:
        """Ask the instance holding `reply_id` to stop it; False if no instance holds it (or Redis is down)."""
        try:
            async with self.link.redis.pipeline(transaction=False) as pipe:
                pipe.exists(keys.lease(reply_id))
                pipe.publish(keys.STOP_CHANNEL, reply_id)
                held, _ = await pipe.execute()
        except DOWN_ERRORS as error:
            self.link.failed(error)
            return False
        return bool(held)

    async def aclose(self) -> None:
        """Stop listening."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _listen(self, on_stop: Callable[[str], object]) -> None:
        while True:
            await self.link.wait_up()
            try:
                async with self.link.blocking.pubsub() as pubsub:
                    await pubsub.subscribe(keys.STOP_CHANNEL)
                    self._subscribed.set()
                    while True:
                        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=LISTEN_TIMEOUT)
                        if message is not None and message['type'] == 'message':
                            self._deliver(on_stop, message['data'].decode())
            except DOWN_ERRORS as error:
                self._subscribed.clear()
                self.link.failed(error)
                await asyncio.sleep(0)  # the probe runs before this loop waits on it

    @staticmethod
    def _deliver(on_stop: Callable[[str], object], reply_id: str) -> None:
        try:
            on_stop(reply_id)
        except Exception:  # one failed stop must not end the listener for every later one
            log.exception('stopping reply %s failed', reply_id)
