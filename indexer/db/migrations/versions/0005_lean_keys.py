"""doc_bands without its document_id index: a document's band rows are deleted by primary
key, their (band, key) recomputed from its fingerprint, so the index (as large as the
table itself) is not needed.

Band rows of tombstones and of documents without a fingerprint are dropped first: the
program deletes rows by the keys of a live document's fingerprint only, and tombstoning
a document without files (``verify --repair``) left its rows behind before this revision.

Revision ID: 0005_lean_keys
Revises: 0004_compact_bands
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_lean_keys"
down_revision = "0004_compact_bands"
branch_labels = None
depends_on = None

documents = sa.table(
    "documents",
    sa.column("id", sa.Integer),
    sa.column("fingerprint", sa.LargeBinary),
    sa.column("deleted_at", sa.DateTime(timezone=True)),
)
bands = sa.table("doc_bands", sa.column("document_id", sa.Integer))


def upgrade() -> None:
    unbanded = sa.select(documents.c.id).where(sa.or_(documents.c.deleted_at.is_not(None),
                                                      documents.c.fingerprint.is_(None)))
    op.execute(bands.delete().where(bands.c.document_id.in_(unbanded)))  # through the index, still there
    op.drop_index("ix_doc_bands_document_id", table_name="doc_bands")


def downgrade() -> None:
    op.create_index("ix_doc_bands_document_id", "doc_bands", ["document_id"])
