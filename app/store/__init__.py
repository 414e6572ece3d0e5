"""The database: users, their conversations, messages and API keys, migrated on open (SQLite file or PostgreSQL)."""

from app.store.connect import open_store
from app.store.records import (
    ROLES,
    STATUSES,
    ApiKeyRecord,
    ConversationRecord,
    ConversationSummary,
    CreatedKey,
    MessageRecord,
    MessageUpdate,
    NewMessage,
    NewTurn,
    StoreError,
    new_id,
)
from app.store.store import Store
from app.store.urls import database_display

__all__ = [
    'ROLES',
    'STATUSES',
    'ApiKeyRecord',
    'ConversationRecord',
    'ConversationSummary',
    'CreatedKey',
    'MessageRecord',
    'MessageUpdate',
    'NewMessage',
    'NewTurn',
    'Store',
    'StoreError',
    'database_display',
    'new_id',
    'open_store',
]
