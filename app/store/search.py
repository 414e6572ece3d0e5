"""Search: which of an owner's conversations have the words in their title or in any message's text."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, Connection, column, exists, inspect, or_, select, table

from app.store.tables import conversations, messages

# The trigram index made by migration 0003 (SQLite: an FTS5 table; PostgreSQL: a GIN index the planner uses itself).
SQLITE_INDEX = 'messages_search'
POSTGRES_INDEX = 'ix_messages_content_trgm'
_FTS = table(SQLITE_INDEX, column('rowid'), column('content'))
TRIGRAM = 3  # the index can only narrow a search by a literal piece at least this long
_WILDCARDS = re.compile(r'[%_]')


def outside_metadata(name: str | None, _type: str = '', _parent: object = None) -> bool:
    """Whether `name` is part of the trigram index (made by 0003 per dialect, so not in tables.metadata)."""
    return name is not None and (name.startswith(SQLITE_INDEX) or name == POSTGRES_INDEX)


def has_index(connection: Connection) -> bool:
    """Whether this database got its trigram index (FTS5 with the trigram tokenizer, or pg_trgm, may be missing)."""
    inspector = inspect(connection)
    if connection.dialect.name == 'sqlite':
        return inspector.has_table(SQLITE_INDEX)
    return any(index['name'] == POSTGRES_INDEX for index in inspector.get_indexes('messages'))


def contains(dialect: str, column: Any, text: str) -> ColumnElement[bool]:
    """Case-insensitive substring match, LIKE wildcards in `text` taken literally."""
    if dialect == 'sqlite':  # SQLite's LIKE already ignores case (ASCII only, like its lower())
        return column.contains(text, autoescape=True)  # type: ignore[no-any-return]
    return column.icontains(text, autoescape=True)  # type: ignore[no-any-return]


def matching(dialect: str, indexed: bool, text: str) -> ColumnElement[bool]:
    """The condition on `conversations` for a search of `text`."""
    in_title = contains(dialect, conversations.c.title, text)
    in_message = contains(dialect, messages.c.content, text)
    piece = max(_WILDCARDS.split(text), key=len)
    if indexed and len(piece) >= TRIGRAM:
        # The index finds the few messages with the text wherever they are, and the owner's conversations among
        # them are kept. It holds no reply still streaming (migration 0003): those few are read as they are.
        if dialect == 'sqlite':
            # FTS5 uses its index only for LIKE without ESCAPE, so ask it for a wildcard-free piece of the text:
            # the rows it returns are a superset, which the exact condition then narrows (reading only those).
            candidates = select(_FTS.c.rowid).where(_FTS.c.content.like(f'%{piece}%'))
            settled = select(messages.c.conversation_id).where(messages.c.seq.in_(candidates), in_message)
        else:  # the same condition as the partial index's, so PostgreSQL's planner can use it
            settled = select(messages.c.conversation_id).where(messages.c.status != 'streaming', in_message)
        streaming = select(messages.c.conversation_id).where(messages.c.status == 'streaming', in_message)
        return or_(in_title, conversations.c.id.in_(settled), conversations.c.id.in_(streaming))
    # Too short for trigrams (or no index): walk the owner's conversations newest first, each checked through its
    # own messages, and stop at a page of hits; short text is usually common, so that is soon. OFFSET 0 is
    # PostgreSQL's planner fence: without it, it turns an EXISTS in an OR into one scan of every owner's messages.
    return or_(in_title, exists(select(messages.c.seq).where(messages.c.conversation_id == conversations.c.id,
                                                             in_message).offset(0)))
