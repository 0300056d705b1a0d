"""job_runs.node: the node that ran each job (several daemons may share one database).

Runs recorded before this revision have no node (NULL). A table made by ``create_all`` of
a program that had the column keeps it (see 0001). SQLite drops the column by making the
table anew (batch mode); PostgreSQL drops it in place.

Revision ID: 0007_job_run_node
Revises: 0006_fast_fingerprints
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_job_run_node"
down_revision = "0006_fast_fingerprints"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "node" in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("job_runs")}:
        return  # made by create_all of a program that already had it
    op.add_column("job_runs", sa.Column("node", sa.String(100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("job_runs") as batch:
        batch.drop_column("node")
