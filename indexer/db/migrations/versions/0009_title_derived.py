"""documents.title_derived and documents.date_source: how the title and the date were found.

``title_derived`` is true when a text had no headline and its title was cut from the lede;
``date_source`` says where ``published`` was read ("text line", "dateline", "file name").
Documents stored before this revision get false and NULL (not known) until they are
analysed again (`indexer reindex --reprocess`: the analysis version moved with it). A
table made by ``create_all`` of a program that had the columns keeps them (see 0001).

Revision ID: 0009_title_derived
Revises: 0007_job_run_node
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_title_derived"
down_revision = "0008_alerts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("documents")}
    if "title_derived" not in columns:
        op.add_column(
            "documents", sa.Column("title_derived", sa.Boolean, nullable=False, server_default=sa.false())
        )
    if "date_source" not in columns:
        op.add_column("documents", sa.Column("date_source", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("date_source")
        batch.drop_column("title_derived")
