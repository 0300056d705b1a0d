"""An index of the bytes of forgotten documents: a forgotten file renamed, moved or copied
inside the inbox is still forgotten (its hash is kept on the tombstone, its text is not).

Only forgotten documents are in it (a partial index), so it costs next to nothing.

Revision ID: 0010_forgotten_bytes
Revises: 0009_title_derived
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_forgotten_bytes"
down_revision = "0009_title_derived"
branch_labels = None
depends_on = None

_WHERE = sa.text("flags = 'forgotten'")


def upgrade() -> None:
    if "ix_documents_forgotten_sha" in {
        i["name"] for i in sa.inspect(op.get_bind()).get_indexes("documents")
    }:
        return  # made by create_all of a program that already had it
    op.create_index(
        "ix_documents_forgotten_sha", "documents", ["sha256"], sqlite_where=_WHERE, postgresql_where=_WHERE
    )


def downgrade() -> None:
    op.drop_index("ix_documents_forgotten_sha", table_name="documents")
