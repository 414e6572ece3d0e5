"""Base schema: users, their conversations, and the conversations' messages."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None

# Frozen copies of the column types as of this revision (tables.py moves on; a migration must not).
_ID = sa.String(32)
_MODEL = sa.String(200)
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the three tables with their keys and the index that orders a conversation's messages."""
    op.create_table(
        'users',
        sa.Column('id', _ID, nullable=False),
        sa.Column('key', sa.String(255), nullable=False),
        sa.Column('created_at', _WHEN, nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_users'),
        sa.UniqueConstraint('key', name='uq_users_key'),
    )
    op.create_table(
        'conversations',
        sa.Column('id', _ID, nullable=False),
        sa.Column('owner_id', _ID, nullable=False),
        sa.Column('title', sa.Text(), nullable=False),
        sa.Column('model', _MODEL, nullable=False),
        sa.Column('system_prompt', sa.Text(), nullable=True),
        sa.Column('settings', sa.JSON(), nullable=False),
        sa.Column('created_at', _WHEN, nullable=False),
        sa.Column('updated_at', _WHEN, nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_conversations'),
        sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name='fk_conversations_owner_id', ondelete='CASCADE'),
    )
    op.create_index('ix_conversations_owner_id', 'conversations', ['owner_id'])
    op.create_table(
        'messages',
        sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False, autoincrement=True),
        sa.Column('id', _ID, nullable=False),
        sa.Column('conversation_id', _ID, nullable=False),
        sa.Column('parent_id', _ID, nullable=True),
        sa.Column('role', sa.String(16), nullable=False),
        sa.Column('content', sa.Text(), nullable=False),
        sa.Column('reasoning', sa.Text(), nullable=False),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('finish_reason', sa.String(32), nullable=True),
        sa.Column('usage', sa.JSON(), nullable=True),
        sa.Column('timing', sa.JSON(), nullable=True),
        sa.Column('model', _MODEL, nullable=True),
        sa.Column('created_at', _WHEN, nullable=False),
        sa.PrimaryKeyConstraint('seq', name='pk_messages'),
        sa.UniqueConstraint('id', name='uq_messages_id'),
        sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name='fk_messages_conversation_id',
                                ondelete='CASCADE'),
    )
    op.create_index('ix_messages_conversation_seq', 'messages', ['conversation_id', 'seq'])


def downgrade() -> None:
    """Drop everything (all stored conversations are lost)."""
    op.drop_table('messages')
    op.drop_table('conversations')
    op.drop_table('users')
