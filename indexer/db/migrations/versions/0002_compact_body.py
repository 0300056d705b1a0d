"""Bodies kept zlib-compressed (``documents.body_zlib``); a redundant index dropped.

Prose compresses to about 40% of its size, and the body is most of a document row.
``ix_documents_live_body`` (body_sha256, deleted_at) already serves every lookup that
``ix_documents_body_sha256`` did.

Revision ID: 0002_compact_body
Revises: 0001_initial
Create Date: 2026-11-26
"""

from __future__ import annotations

import zlib

import sqlalchemy as sa
from alembic import op

revision = "0002_compact_body"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

BATCH = 1000
LEVEL = 6  # as indexer.db.models.ZlibText

documents = sa.table(
    "documents",
    sa.column("id", sa.Integer),
    sa.column("body", sa.Text),
    sa.column("body_zlib", sa.LargeBinary),
)


def _convert(source: str, target: str, convert) -> None:  # type: ignore[no-untyped-def]
    """Fill ``target`` from ``source`` in batches of rows, in id order."""
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(
            sa.select(documents.c.id, documents.c[source])
            .where(documents.c.id > last)
            .order_by(documents.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        bind.execute(
            documents.update()
            .where(documents.c.id == sa.bindparam("doc_id"))
            .values({target: sa.bindparam("value")}),
            [{"doc_id": doc_id, "value": convert(value)} for doc_id, value in rows],
        )
        last = rows[-1][0]


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if "ix_documents_body_sha256" in {i["name"] for i in inspector.get_indexes("documents")}:
        op.drop_index("ix_documents_body_sha256", table_name="documents")
    if "body" not in {c["name"] for c in inspector.get_columns("documents")}:
        return  # made by create_all of a program that already had this form (see 0001)
    op.add_column("documents", sa.Column("body_zlib", sa.LargeBinary, nullable=True))
    _convert("body", "body_zlib", lambda text: zlib.compress(text.encode("utf-8"), LEVEL))
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("body")
        batch.alter_column("body_zlib", existing_type=sa.LargeBinary, nullable=False)


def downgrade() -> None:
    op.add_column("documents", sa.Column("body", sa.Text, nullable=True))
    _convert("body_zlib", "body", lambda blob: zlib.decompress(blob).decode("utf-8"))
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("body_zlib")
        batch.alter_column("body", existing_type=sa.Text, nullable=False)
    op.create_index("ix_documents_body_sha256", "documents", ["body_sha256"])
