"""Stop across instances: a Stop pressed on any instance reaches the one holding the reply's upstream.

One Redis pub/sub channel (STOP_CHANNEL) for all instances; a message is a reply id. Every instance listens, and
the one streaming that reply cancels it (its `on_stop` finds it; the others find nothing). Pub/sub delivers in well
under a millisecond on loopback, so the 200 ms budget is the holder's own cancel. A message published while the
holder's listener is reconnecting is lost, which is why `request` also says whether the reply is still held: a
caller can ask again. The listener (channel.py) survives Redis outages: it subscribes again when the link is back.
"""

from __future__ import annotations

from . import keys
from .channel import Channel
from .link import DOWN_ERRORS, Link


class StopChannel(Channel):
    """`start(on_stop)` listens for Stop requests (reply ids); `request(reply_id)` sends one from this instance."""

    def __init__(self, link: Link) -> None:
        super().__init__(link, keys.STOP_CHANNEL)

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
