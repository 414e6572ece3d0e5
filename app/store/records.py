"""What the store hands out and takes in: plain frozen records, the allowed values, ids and the one error type."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

STATUSES = ('complete', 'streaming', 'stopped', 'failed', 'interrupted')
ROLES = ('system', 'user', 'assistant')
# A public id: uuid4 as 32 lowercase hex digits (122 random bits, so ids cannot be guessed or enumerated).
_ID = re.compile(r'[0-9a-f]{32}')


class StoreError(Exception):
    """The database cannot be opened or migrated; the message is one line, safe to print (password redacted)."""


def new_id() -> str:
    """A fresh unguessable public id (uuid4 hex)."""
    return uuid.uuid4().hex


def is_id(value: object) -> bool:
    """Whether `value` has the shape of a public id (anything else cannot name a stored row)."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def check_status(status: str) -> str:
    """`status` if it is one of STATUSES, else ValueError."""
    if status not in STATUSES:
        raise ValueError(f'unknown message status {status!r}; expected one of {", ".join(STATUSES)}')
    return status


def check_role(role: str) -> str:
    """`role` if it is one of ROLES, else ValueError."""
    if role not in ROLES:
        raise ValueError(f'unknown message role {role!r}; expected one of {", ".join(ROLES)}')
    return role


def check_new_id(value: str | None) -> str:
    """A caller-chosen id if well-formed, a fresh one for None, else ValueError."""
    if value is None:
        return new_id()
    if not is_id(value):
        raise ValueError(f'malformed id {value!r}; expected 32 lowercase hex digits')
    return value


@dataclass(frozen=True)
class ConversationRecord:
    """One conversation's header (its messages are loaded separately)."""

    id: str
    owner_id: str
    title: str
    model: str
    system_prompt: str | None
    settings: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ConversationSummary:
    """What the sidebar lists; (updated_at, id) of the last one is the `before` of the next page."""

    id: str
    title: str
    updated_at: datetime


@dataclass(frozen=True)
class MessageRecord:
    """One stored message."""

    id: str
    conversation_id: str
    parent_id: str | None
    role: str
    content: str
    reasoning: str
    status: str
    error: str | None
    finish_reason: str | None
    usage: dict[str, int] | None
    timing: dict[str, float | None] | None
    model: str | None
    created_at: datetime
    attachments: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class NewMessage:
    """A message to add; `id` None means a fresh one."""

    role: str
    content: str = ''
    parent_id: str | None = None
    status: str = 'complete'
    model: str | None = None
    id: str | None = None
    reasoning: str = ''
    error: str | None = None
    attachments: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class NewTurn:
    """Messages to add to one conversation, which is created first when `new_conversation` is given.

    `new_conversation` holds create_conversation's arguments (owner_id, title, model, system_prompt, settings).
    """

    conversation_id: str
    messages: Sequence[NewMessage]
    new_conversation: dict[str, Any] | None = None


@dataclass(frozen=True)
class MessageUpdate:
    """The new state of a message being streamed (a checkpoint) or just finished."""

    id: str
    content: str
    reasoning: str = ''
    status: str = 'streaming'
    error: str | None = None
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    timing: dict[str, Any] | None = None


@dataclass(frozen=True)
class ApiKeyRecord:
    """One of a person's API keys as the keys page shows it: never its secret, nor the secret's hash."""

    id: str
    owner_id: str
    name: str
    prefix: str  # the first characters of the secret, e.g. 'nck_AbCdEfGh', to tell keys apart
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    requests: int
    completion_tokens: int


@dataclass(frozen=True)
class CreatedKey:
    """A new key and its secret: the only time the secret exists outside the person's hands (left out of repr)."""

    record: ApiKeyRecord
    secret: str = field(repr=False)
