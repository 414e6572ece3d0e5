"""One instance's share of the live state: what the chat runtime holds when REDIS_URL is set."""

from __future__ import annotations

import logging
from collections.abc import Callable

from . import keys
from .channel import Channel
from .lease import Interrupted, Reaper
from .link import DOWN_ERRORS, Link
from .notices import ALL, Kind, Notice
from .stop import StopChannel
from .stream import ReplyReader, ReplyWriter

log = logging.getLogger(__name__)


class Live:
    """Writers and readers of reply streams, Stop requests and the reaper, over one Link."""

    def __init__(self, url: str, *, instance_id: str | None = None, lease_ttl_ms: int = keys.LEASE_TTL_MS) -> None:
        self.link = Link(url, instance_id=instance_id)
        self.lease_ttl_ms = lease_ttl_ms
        self.stops = StopChannel(self.link)
        self.changes = Channel(self.link, keys.CHANGED_CHANNEL)
        self.reaper: Reaper | None = None

    def start(self, *, on_stop: Callable[[str], object], on_interrupted: Interrupted,
              on_notice: Callable[[Notice], object] = lambda notice: None) -> None:
        """Act on Stop requests and on the other instances' change notices, and sweep for replies whose instance
        died."""
        self.stops.start(on_stop)
        self.changes.start(lambda text: self._noticed(text, on_notice))
        self.reaper = Reaper(self.link, on_interrupted, interval=self.lease_ttl_ms / 2000)
        self.reaper.start()

    def writer(self, reply_id: str, content: str = '', reasoning: str = '') -> ReplyWriter:
        """A writer for a reply this instance streams, which has `content` and `reasoning` already (call `start()`)."""
        return ReplyWriter(self.link, reply_id, lease_ttl_ms=self.lease_ttl_ms, content=content, reasoning=reasoning)

    def reader(self, reply_id: str, offset: int = 0, reasoning_offset: int = 0) -> ReplyReader:
        """A reader that follows a reply from `offset`; it claims the reply if its writer died."""
        return ReplyReader(self.link, reply_id, offset, reasoning_offset=reasoning_offset, reaper=self.reaper)

    async def known(self, reply_id: str) -> bool | None:
        """Whether Redis has the reply: its lease (an instance streams it) or its stream (it ended moments ago, and
        its holder's final save may not be in the database yet: the end entry has the outcome); None when Redis
        cannot say (it is down)."""
        if not self.link.up:
            return None
        try:
            return bool(await self.link.redis.exists(keys.lease(reply_id), keys.stream(reply_id)))
        except DOWN_ERRORS as error:
            self.link.failed(error)
            return None

    async def reap(self, reply_id: str) -> bool:
        """Claim a reply whose writer is gone (see Reaper.reap); False if another instance did, or Redis is down."""
        if self.reaper is None or not self.link.up:
            return False
        try:
            return await self.reaper.reap(reply_id)
        except DOWN_ERRORS as error:
            self.link.failed(error)
            return False

    async def announce(self, kind: Kind, owner_id: str, conversation_id: str = ALL, reply_id: str = '') -> None:
        """Tell the other instances what changed here in the owner's conversation (they may hold an older copy of it
        in memory, or show the owner's list); see notices.py. Skipped while Redis is down."""
        await self.changes.publish(Notice(kind, self.link.instance_id, owner_id, conversation_id, reply_id).encode())

    def _noticed(self, text: str, on_notice: Callable[[Notice], object]) -> None:
        notice = Notice.decode(text)
        if notice is not None and notice.instance_id != self.link.instance_id:  # its own: it has the change already
            on_notice(notice)

    async def stop(self, reply_id: str) -> bool:
        """Ask the instance holding the reply to stop it; False if none does."""
        return await self.stops.request(reply_id)

    async def aclose(self) -> None:
        """Stop listening and sweeping; close the connections."""
        await self.stops.aclose()
        await self.changes.aclose()
        if self.reaper is not None:
            await self.reaper.aclose()
        await self.link.aclose()
