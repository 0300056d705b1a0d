"""Alembic's entry point: migrate on the connection indexer hands over (never from a URL).

``indexer.db.session`` opens the connection, takes the migration lock and begins the
transaction; Alembic runs inside it, so a failed upgrade leaves the schema as it was
(both SQLite and PostgreSQL have transactional DDL).
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `indexer db upgrade`, not the alembic command")

# render_as_batch: SQLite cannot ALTER most things; batch mode copies the table instead.
context.configure(connection=connection, render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
