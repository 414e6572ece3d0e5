"""Alembic environment: migrations run on the connection app.store.migrate hands over, never from a config file."""

from __future__ import annotations

from alembic import context

from app.store.search import outside_metadata
from app.store.tables import metadata

connection = context.config.attributes.get('connection')
if connection is None:
    raise RuntimeError('NiceChat migrates its database itself when it opens it (app.store.open_store); '
                       'there is no alembic.ini to run the alembic command against')

# Batch mode lets later migrations alter SQLite tables (by copying them), which plain ALTER TABLE cannot.
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                  include_name=lambda name, type_, parent: not outside_metadata(name))
with context.begin_transaction():
    context.run_migrations()
