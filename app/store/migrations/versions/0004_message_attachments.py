"""Images attached to a message: a JSON list of references ({id, mime, size}) to files under the data folder."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'


def upgrade() -> None:
    """Add messages.attachments (NULL for the messages that have none, which is all of the older ones)."""
    op.add_column('messages', sa.Column('attachments', sa.JSON(), nullable=True))


def downgrade() -> None:
    """Drop the column (the image files stay in the data folder)."""
    with op.batch_alter_table('messages') as batch:
        batch.drop_column('attachments')
