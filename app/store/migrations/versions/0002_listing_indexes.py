"""Indexes for the sidebar's newest-first listing per owner, and for finding replies left streaming at start-up."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'

_STREAMING = sa.text("status = 'streaming'")


def upgrade() -> None:
    """Replace the plain owner index by (owner, updated_at, id); add a partial index of streaming messages."""
    # The sidebar reads an owner's conversations newest first, paged by (updated_at, id): with this index it
    # walks them in order and stops after one page instead of sorting all of them.  It also serves every
    # lookup by owner alone, so the 0001 index on owner_id is redundant.
    op.create_index('ix_conversations_owner_updated', 'conversations', ['owner_id', 'updated_at', 'id'])
    op.drop_index('ix_conversations_owner_id', table_name='conversations')
    # Only replies in flight are 'streaming', so this index stays tiny however many messages are stored.
    op.create_index('ix_messages_streaming', 'messages', ['status'],
                    sqlite_where=_STREAMING, postgresql_where=_STREAMING)


def downgrade() -> None:
    """Back to the 0001 indexes."""
    op.drop_index('ix_messages_streaming', table_name='messages')
    op.create_index('ix_conversations_owner_id', 'conversations', ['owner_id'])
    op.drop_index('ix_conversations_owner_updated', table_name='conversations')
