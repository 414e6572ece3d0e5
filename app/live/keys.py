"""Redis key names and the timings they live by (one place, so every instance agrees)."""

from __future__ import annotations

PREFIX = 'nicechat:live'
# Replies in flight (a sorted set: reply id -> start time), what the reapers scan for expired leases.
INFLIGHT = f'{PREFIX}:inflight'
# The channel Stop requests go through (every instance listens; the one holding the reply acts).
STOP_CHANNEL = f'{PREFIX}:stop'
# The channel change notices go through (notices.py): what an instance changed in a conversation (a reply started,
# renamed, deleted, another version shown, settings); the others that hold it, or show its person's list, catch up.
CHANGED_CHANNEL = f'{PREFIX}:changed'

# Milliseconds a lease lasts without a heartbeat: how long after a hard kill the reply is marked interrupted.
LEASE_TTL_MS = 5_000
# Seconds between heartbeats (a third of the lease: two may be missed, e.g. a busy event loop, before it expires).
HEARTBEAT_S = LEASE_TTL_MS / 3000
# Milliseconds a reply's stream is kept while it streams, from its last heartbeat (a writer gone silent is reaped long
# before), and after its end entry: time for followers to read the end; after that the database has the reply.
STREAM_TTL_MS = 3_600_000
ENDED_TTL_MS = 60_000
# Entries kept per reply stream (approximate trimming): a bound on memory. A batch goes out every ~80 ms or more, so
# this holds hours of streaming; a reader that finds the start trimmed away is told (LiveGap) and uses the database.
MAX_ENTRIES = 100_000


def stream(reply_id: str) -> str:
    """The Redis Stream of a reply's text: entries k=c|r (content or reasoning), o=offset, t=text; k=end, s, e."""
    return f'{PREFIX}:{{{reply_id}}}:stream'


def lease(reply_id: str) -> str:
    """The lease of the instance streaming a reply (its id as the value, with a TTL renewed by heartbeats)."""
    return f'{PREFIX}:{{{reply_id}}}:lease'
