"""Personal API keys: made with a secret shown once, found by the secret's SHA-256, renamed, revoked and counted.

Only the SHA-256 of a secret is stored. A slow password hash (bcrypt, argon2) protects guessable passwords; a secret
of 32 random bytes (256 bits) cannot be guessed, so a fast hash is as safe against a stolen database and lets a
request find its key with one indexed lookup instead of checking every key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import asdict
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.store.base import Database, now
from app.store.records import ApiKeyRecord, CreatedKey, is_id, new_id
from app.store.tables import KEY_NAME_LENGTH, api_keys

# What every secret starts with, so a leaked one is recognisable (secret scanners, logs) and cannot be confused with
# an admin token or the model server's key.
SECRET_MARKER = 'nck_'
# Characters of the secret after the marker shown on the keys page: enough to tell keys apart, far too few to use.
PREFIX_CHARS = 8
# Live keys one person may have: a key per integration is plenty; revoke one to make room.
MAX_LIVE_KEYS = 100
# last_used_at is written at most this often per key: a busy integration would otherwise write once per request.
TOUCH_INTERVAL = timedelta(minutes=1)
# Keys whose last write this process remembers; beyond this, forget the stale ones.
_TOUCHED_KEPT = 10_000
# The longest bearer value worth hashing: secrets are 47 characters; anything much longer is not one of ours.
_SECRET_MAX = 100

_RECORD = tuple(column for column in api_keys.c if column.name != 'secret_hash')


def new_secret() -> str:
    """A fresh secret: the marker and 32 random bytes, URL-safe base64 (43 characters)."""
    return SECRET_MARKER + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    """The stored form of a secret: its SHA-256, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def check_key_name(name: str) -> str:
    """The name, trimmed, if it has 1 to KEY_NAME_LENGTH characters, else ValueError."""
    name = ' '.join(name.split())
    if not name:
        raise ValueError('Give the key a name, e.g. what will use it.')
    if len(name) > KEY_NAME_LENGTH:
        raise ValueError(f'A key name can have at most {KEY_NAME_LENGTH} characters.')
    return name


class KeyQueries(Database):
    """A person's API keys; every change is checked against the owner, so someone else's key id acts as missing."""

    def __init__(self, engine: AsyncEngine, *, search_index: bool = False) -> None:
        super().__init__(engine, search_index=search_index)
        self._touched: dict[str, datetime] = {}  # key id -> when this process last wrote its last_used_at

    async def create_api_key(self, owner_id: str, name: str) -> CreatedKey:
        """A new key of `owner_id` with its secret (returned here only); ValueError for a bad name or too many keys."""
        name = check_key_name(name)
        secret = new_secret()
        record = ApiKeyRecord(id=new_id(), owner_id=owner_id, name=name,
                              prefix=secret[:len(SECRET_MARKER) + PREFIX_CHARS], created_at=now(),
                              last_used_at=None, revoked_at=None, requests=0, completion_tokens=0)
        try:
            async with self._write() as connection:
                live = (await connection.execute(select(func.count()).select_from(api_keys).where(
                    api_keys.c.owner_id == owner_id, api_keys.c.revoked_at.is_(None)))).scalar_one()
                if live >= MAX_LIVE_KEYS:
                    raise ValueError(f'You have {MAX_LIVE_KEYS} API keys; revoke one you no longer use first.')
                await connection.execute(insert(api_keys).values(**asdict(record), secret_hash=secret_hash(secret)))
        except IntegrityError:
            raise ValueError('cannot create the key: unknown owner') from None
        return CreatedKey(record, secret)

    async def api_keys(self, owner_id: str) -> list[ApiKeyRecord]:
        """All keys of `owner_id`, newest first; revoked ones too (marked by revoked_at), with their usage."""
        rows = await self._read(select(*_RECORD).where(api_keys.c.owner_id == owner_id)
                                .order_by(api_keys.c.created_at.desc(), api_keys.c.id.desc()))
        return [ApiKeyRecord(**row._mapping) for row in rows]

    async def rename_api_key(self, owner_id: str, key_id: str, name: str) -> bool:
        """Give the key a new name; False if it is not the owner's; ValueError for a bad name."""
        return await self._change(owner_id, key_id, {'name': check_key_name(name)})

    async def revoke_api_key(self, owner_id: str, key_id: str) -> bool:
        """Stop the key working, at once and for good; False if it is not the owner's or already revoked."""
        self._touched.pop(key_id, None)
        return await self._change(owner_id, key_id, {'revoked_at': now()}, api_keys.c.revoked_at.is_(None))

    async def api_key_by_secret(self, secret: str) -> ApiKeyRecord | None:
        """The live (not revoked) key with this secret, else None."""
        if not secret.startswith(SECRET_MARKER) or len(secret) > _SECRET_MAX:
            return None  # an admin token or noise: not worth a query
        digest = secret_hash(secret)
        rows = await self._read(select(*_RECORD, api_keys.c.secret_hash)
                                .where(api_keys.c.secret_hash == digest, api_keys.c.revoked_at.is_(None)))
        # The index found the row by the hash, whose bytes a guesser cannot steer without knowing a secret; the
        # final comparison is in constant time all the same.
        if not rows or not hmac.compare_digest(rows[0].secret_hash, digest):
            return None
        return ApiKeyRecord(**{name: value for name, value in rows[0]._mapping.items() if name != 'secret_hash'})

    async def touch_api_key(self, key_id: str) -> bool:
        """Note that the key was just used, writing at most once per TOUCH_INTERVAL; whether it wrote."""
        stamp = now()
        last = self._touched.get(key_id)
        if last is not None and stamp - last < TOUCH_INTERVAL:
            return False
        self._touched[key_id] = stamp  # before the write, so requests arriving meanwhile do not write too
        if len(self._touched) > _TOUCHED_KEPT:
            self._touched = {key: when for key, when in self._touched.items() if stamp - when < TOUCH_INTERVAL}
        # The condition also holds across processes: another instance may have written it a moment ago.
        async with self._write() as connection:
            result = await connection.execute(
                update(api_keys).where(api_keys.c.id == key_id, or_(api_keys.c.last_used_at.is_(None),
                                                                    api_keys.c.last_used_at <= stamp - TOUCH_INTERVAL))
                .values(last_used_at=stamp))
        return result.rowcount > 0

    async def add_api_key_usage(self, key_id: str, completion_tokens: int, requests: int = 1) -> None:
        """Add to the key's counters (a revoked key still counts what it was used for); ValueError if negative."""
        if completion_tokens < 0 or requests < 0:
            raise ValueError('usage cannot be negative')
        async with self._write() as connection:
            await connection.execute(update(api_keys).where(api_keys.c.id == key_id).values(
                requests=api_keys.c.requests + requests,
                completion_tokens=api_keys.c.completion_tokens + completion_tokens))

    async def _change(self, owner_id: str, key_id: str, values: dict[str, object],
                      *conditions: ColumnElement[bool]) -> bool:
        if not is_id(key_id):
            return False
        async with self._write() as connection:
            result = await connection.execute(update(api_keys).where(
                api_keys.c.id == key_id, api_keys.c.owner_id == owner_id, *conditions).values(**values))
        return result.rowcount > 0
