"""Trigram indexes for searching message text: FTS5 on SQLite, pg_trgm GIN on PostgreSQL (where available).

Both leave out replies still streaming (search reads those few directly, through the 0002 index of them):
re-indexing a growing reply at every checkpoint would cost each checkpoint far more than the update itself.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

revision = '0003'
down_revision = '0002'

# An external-content FTS5 table: it indexes messages.content by trigram (any substring of 3+ characters) without
# a second copy of the text; rowids are messages.seq. detail=none and columnsize=0 keep it to the rowid lists a
# substring search needs (no ranking, no phrase queries). The triggers keep it in step with `messages`; removing
# needs the old text (an external-content table does not keep it). Never run FTS5's 'rebuild' on it: that would
# index streaming replies too, which the triggers would then never remove.
_INDEXED = "status <> 'streaming'"
_ADD = 'INSERT INTO messages_search (rowid, content) SELECT new.seq, new.content WHERE new.' + _INDEXED
_REMOVE = ("INSERT INTO messages_search (messages_search, rowid, content) SELECT 'delete', old.seq, old.content "
           'WHERE old.' + _INDEXED)
_SQLITE = (
    "CREATE VIRTUAL TABLE messages_search USING fts5(content, content='messages', content_rowid='seq', "
    "tokenize='trigram', detail='none', columnsize=0)",
    f'CREATE TRIGGER messages_search_insert AFTER INSERT ON messages BEGIN {_ADD}; END',
    f'CREATE TRIGGER messages_search_delete AFTER DELETE ON messages BEGIN {_REMOVE}; END',
    # One trigger for both steps, so the old text always leaves before the new one comes in.
    f'CREATE TRIGGER messages_search_update AFTER UPDATE OF content, status ON messages BEGIN {_REMOVE}; {_ADD}; END',
    f'INSERT INTO messages_search (rowid, content) SELECT seq, content FROM messages WHERE {_INDEXED}',
)


def upgrade() -> None:
    """Add the dialect's trigram index if this database can have one; search scans the text otherwise."""
    connection = op.get_bind()
    if connection.dialect.name == 'sqlite':
        _try(connection, _SQLITE)
    elif connection.dialect.name == 'postgresql':
        # pg_trgm ships with PostgreSQL and is a trusted extension (13+): the database's owner may create it.
        _try(connection, ('CREATE EXTENSION IF NOT EXISTS pg_trgm',
                          'CREATE INDEX ix_messages_content_trgm ON messages USING gin (content gin_trgm_ops) '
                          f'WHERE {_INDEXED}'))


def downgrade() -> None:
    """Drop the index (the pg_trgm extension stays: other tables may use it)."""
    connection = op.get_bind()
    if connection.dialect.name == 'sqlite':
        for trigger in ('insert', 'delete', 'update'):
            op.execute(f'DROP TRIGGER IF EXISTS messages_search_{trigger}')
        op.execute('DROP TABLE IF EXISTS messages_search')
    elif connection.dialect.name == 'postgresql':
        op.execute('DROP INDEX IF EXISTS ix_messages_content_trgm')


def _try(connection: Connection, statements: tuple[str, ...]) -> bool:
    """Run the statements in a savepoint; on an error (no FTS5 trigram, no pg_trgm, no right) undo them all."""
    try:
        with connection.begin_nested():
            for statement in statements:
                connection.exec_driver_sql(statement)
    except DBAPIError:
        return False
    return True
