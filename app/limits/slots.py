"""Caps on things in use at once (streams), per key, in this process; a Lease gives back what one reply took."""

from __future__ import annotations


class Slots:
    """How many of each key are in use, up to `limit` per key (None: no cap).

    Plain counters, not the `limits` library: it counts events in time windows, while a stream slot is held until
    the stream ends. Taking one never awaits, so two requests cannot both pass the check for the last slot.
    """

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._used: dict[str, int] = {}

    def used(self, key: str = '') -> int:
        """How many of `key` are in use."""
        return self._used.get(key, 0)

    def take(self, key: str = '') -> bool:
        """Take one of `key`; False (and nothing taken) when all `limit` are in use."""
        used = self._used.get(key, 0)
        if self.limit is not None and used >= self.limit:
            return False
        self._used[key] = used + 1
        return True

    def give(self, key: str = '') -> None:
        """Give one of `key` back."""
        used = self._used.get(key, 0) - 1
        if used > 0:
            self._used[key] = used
        else:  # a key nobody holds is forgotten: callers come and go, the dict must not grow with them
            self._used.pop(key, None)


class Lease:
    """The slots one reply holds; `release()` gives them back once, however and however often the reply ends."""

    def __init__(self, held: list[tuple[Slots, str]] | None = None) -> None:
        self._held = held or []

    def add(self, held: tuple[Slots, str]) -> None:
        """Hold one more slot (already taken) under this lease."""
        self._held.append(held)

    def release(self) -> None:
        """Give every slot back (a second call does nothing)."""
        held, self._held = self._held, []
        for slots, key in held:
            slots.give(key)
