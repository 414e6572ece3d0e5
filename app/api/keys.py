"""The API's side of personal API keys: the caller a presented secret is, and the usage each reply adds to its key."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..store import Store
from .access import Caller


class PersonalKeys:
    """Looks secrets up in the store (Access's `lookup`) and counts finished replies (a `Usage` listener)."""

    def __init__(self, store: Callable[[], Awaitable[Store]]) -> None:
        self._store = store  # the open store, once the app has opened it

    async def caller(self, secret: str) -> Caller | None:
        """The caller of a live personal key, noting its use; None for an unknown or revoked one."""
        store = await self._store()
        key = await store.api_key_by_secret(secret)
        if key is None:
            return None
        await store.touch_api_key(key.id)  # writes at most once a minute per key
        return Caller(f'key:{key.id}', owner_id=key.owner_id, key_id=key.id)

    async def count(self, caller: Caller, completion_tokens: int) -> None:
        """Add one request and its completion tokens to the caller's key; admin tokens and demo callers have none.

        Requests are counted here, once per recorded reply, not at authentication: a request refused before its
        reply (a bad body, a limit) costs the model nothing and is not counted, and there is one write per reply.
        """
        if caller.key_id is None:
            return
        await (await self._store()).add_api_key_usage(caller.key_id, max(completion_tokens, 0))
