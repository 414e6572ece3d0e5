"""The schema at head, as SQLAlchemy Core tables: what the queries use and what the migrations must produce."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    text,
)

# The longest external user key (a browser id, or a trusted header value such as an e-mail address).
KEY_LENGTH = 255
ID_LENGTH = 32  # uuid4 hex
# Longest model name kept; OpenAI-compatible servers use names like 'org/Model-Name-7B-Instruct-GGUF:Q4_K_M'.
MODEL_LENGTH = 200
# Longest name a person gives one of their API keys ('laptop script', 'CI for repo x').
KEY_NAME_LENGTH = 100


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and returned timezone-aware on every dialect (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Aware datetimes to UTC; SQLite stores them without the zone, so strip it there."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError('naive datetime given to the store; use timezone-aware UTC')
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == 'sqlite' else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Every timestamp comes back as aware UTC."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY (the rowid); PostgreSQL gets a bigint.
_SEQUENCE = BigInteger().with_variant(Integer(), 'sqlite')


def _json() -> JSON:
    return JSON(none_as_null=True)


_STREAMING = text("status = 'streaming'")

# Constraint names fixed here and spelled out in the migrations, so both dialects name them alike.
metadata = MetaData(naming_convention={
    'pk': 'pk_%(table_name)s',
    'uq': 'uq_%(table_name)s_%(column_0_name)s',
    'fk': 'fk_%(table_name)s_%(column_0_name)s',
})

users = Table(
    'users', metadata,
    Column('id', String(ID_LENGTH), primary_key=True),
    Column('key', String(KEY_LENGTH), nullable=False, unique=True),
    Column('created_at', UTCDateTime(), nullable=False),
)

conversations = Table(
    'conversations', metadata,
    Column('id', String(ID_LENGTH), primary_key=True),
    Column('owner_id', String(ID_LENGTH), ForeignKey('users.id', ondelete='CASCADE'), nullable=False),
    Column('title', Text(), nullable=False),
    Column('model', String(MODEL_LENGTH), nullable=False),
    Column('system_prompt', Text(), nullable=True),
    Column('settings', _json(), nullable=False),
    Column('created_at', UTCDateTime(), nullable=False),
    Column('updated_at', UTCDateTime(), nullable=False),
    # The sidebar: one owner's conversations, newest activity first, paged by (updated_at, id) (migration 0002).
    Index('ix_conversations_owner_updated', 'owner_id', 'updated_at', 'id'),
)

# Migration 0003 adds a trigram search index of `content` per dialect, outside this metadata (app/store/search.py).
# On SQLite it is an FTS5 table kept by triggers on this table: a later migration that rebuilds `messages` in
# batch mode (copy and rename) must create those triggers again.
messages = Table(
    'messages', metadata,
    # Internal order: increasing with every insert, never shown; the public id is `id`.
    Column('seq', _SEQUENCE, primary_key=True, autoincrement=True),
    Column('id', String(ID_LENGTH), nullable=False, unique=True),
    Column('conversation_id', String(ID_LENGTH), ForeignKey('conversations.id', ondelete='CASCADE'),
           nullable=False),
    # The message this one answers or follows, for branches later; no foreign key, so deleting needs no lookup.
    Column('parent_id', String(ID_LENGTH), nullable=True),
    Column('role', String(16), nullable=False),
    Column('content', Text(), nullable=False),
    Column('reasoning', Text(), nullable=False),
    Column('status', String(16), nullable=False),
    Column('error', Text(), nullable=True),
    Column('finish_reason', String(32), nullable=True),
    Column('usage', _json(), nullable=True),
    Column('timing', _json(), nullable=True),
    Column('model', String(MODEL_LENGTH), nullable=True),
    Column('created_at', UTCDateTime(), nullable=False),
    Column('attachments', _json(), nullable=True),  # migration 0004: images, [{id, mime, size}]
    Index('ix_messages_conversation_seq', 'conversation_id', 'seq'),
    # Start-up recovery finds replies left 'streaming' without scanning every message (migration 0002).
    Index('ix_messages_streaming', 'status', sqlite_where=_STREAMING, postgresql_where=_STREAMING),
)

# A person's API keys (migration 0005). Only the SHA-256 of each secret is kept: a lost database gives no usable key.
api_keys = Table(
    'api_keys', metadata,
    Column('id', String(ID_LENGTH), primary_key=True),
    Column('owner_id', String(ID_LENGTH), ForeignKey('users.id', ondelete='CASCADE'), nullable=False),
    Column('name', String(KEY_NAME_LENGTH), nullable=False),
    Column('secret_hash', String(64), nullable=False, unique=True),  # hex; the unique index is the lookup
    Column('prefix', String(16), nullable=False),  # the secret's first characters, shown to tell keys apart
    Column('created_at', UTCDateTime(), nullable=False),
    Column('last_used_at', UTCDateTime(), nullable=True),
    Column('revoked_at', UTCDateTime(), nullable=True),
    Column('requests', BigInteger(), nullable=False),
    Column('completion_tokens', BigInteger(), nullable=False),
    # The keys page: one owner's keys, newest first.
    Index('ix_api_keys_owner_created', 'owner_id', 'created_at'),
)
