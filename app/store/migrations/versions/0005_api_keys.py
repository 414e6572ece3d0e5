"""Personal API keys: each person's keys, stored as the SHA-256 of the secret, with last use and usage counters."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'

# Frozen copies of the column types as of this revision (tables.py moves on; a migration must not).
_ID = sa.String(32)
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create api_keys (empty: nobody has a key before this release)."""
    op.create_table(
        'api_keys',
        sa.Column('id', _ID, nullable=False),
        sa.Column('owner_id', _ID, nullable=False),
        sa.Column('name', sa.String(100), nullable=False),
        sa.Column('secret_hash', sa.String(64), nullable=False),
        sa.Column('prefix', sa.String(16), nullable=False),
        sa.Column('created_at', _WHEN, nullable=False),
        sa.Column('last_used_at', _WHEN, nullable=True),
        sa.Column('revoked_at', _WHEN, nullable=True),
        sa.Column('requests', sa.BigInteger(), nullable=False),
        sa.Column('completion_tokens', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_api_keys'),
        sa.UniqueConstraint('secret_hash', name='uq_api_keys_secret_hash'),
        sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name='fk_api_keys_owner_id', ondelete='CASCADE'),
    )
    op.create_index('ix_api_keys_owner_created', 'api_keys', ['owner_id', 'created_at'])


def downgrade() -> None:
    """Drop the table: every personal API key stops working."""
    op.drop_index('ix_api_keys_owner_created', table_name='api_keys')
    op.drop_table('api_keys')
