"""Learned furniture: doc_lines (the short lines of each document) and learned_lines.

Documents stored before this revision have no doc_lines rows; the learning job fills
them in from the stored bodies (`indexer boilerplate --learn`, or the daemon's
``learn_cron``), so no file is read again. Like 0001, each table is created only when
missing: a database made by ``create_all`` of a program that had them is adopted.

Revision ID: 0003_learned_lines
Revises: 0002_compact_body
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_learned_lines"
down_revision = "0002_compact_body"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    if not inspector.has_table("doc_lines"):
        op.create_table(
            "doc_lines",
            sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id"), primary_key=True),
            sa.Column("line_key", sa.String(32), primary_key=True),
            sa.Column("group_key", sa.String(32), nullable=False),
            sa.Column("furniture", sa.Boolean, nullable=False),
        )
        op.create_index("ix_doc_lines_group_line", "doc_lines", ["group_key", "line_key"])
        op.create_index("ix_doc_lines_furniture", "doc_lines", ["furniture"])
    if not inspector.has_table("learned_lines"):
        op.create_table(
            "learned_lines",
            sa.Column("group_key", sa.String(32), primary_key=True),
            sa.Column("line_key", sa.String(32), primary_key=True),
            sa.Column("group_name", sa.Text, nullable=False),
            sa.Column("text", sa.Text, nullable=False),
            sa.Column("documents", sa.Integer, nullable=False),
            sa.Column("group_documents", sa.Integer, nullable=False),
            sa.Column("learned_at", sa.DateTime(timezone=True), nullable=False),
        )
    # The learned rules' version: ingesters reload the rules when it moves.
    if bind.execute(sa.text("SELECT 1 FROM counters WHERE name = 'learned'")).first() is None:
        op.execute("INSERT INTO counters (name, value) VALUES ('learned', 0)")


def downgrade() -> None:
    op.execute("DELETE FROM counters WHERE name = 'learned'")
    op.drop_table("learned_lines")
    op.drop_table("doc_lines")
