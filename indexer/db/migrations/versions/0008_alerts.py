"""Alerts: standing queries stored from the CLI, their high-water marks on the change
sequence (matching, and each delivery), and the documents they matched.

Revision ID: 0008_alerts
Revises: 0007_job_run_node
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_alerts"
down_revision = "0007_job_run_node"
branch_labels = None
depends_on = None


def upgrade() -> None:
    tables = set(sa.inspect(op.get_bind()).get_table_names())
    if "alerts" not in tables:
        op.create_table(
            "alerts",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("name", sa.String(100), nullable=False, unique=True),
            sa.Column("query", sa.Text, nullable=False),
            sa.Column("langs", sa.String(200), nullable=False),
            sa.Column("sources", sa.Text, nullable=False),
            sa.Column("every_copy", sa.Boolean, nullable=False),
            sa.Column("deliveries", sa.Text, nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        )
    if "alert_marks" not in tables:
        op.create_table(
            "alert_marks",
            sa.Column("alert", sa.String(100), primary_key=True),
            sa.Column("delivery", sa.String(1000), primary_key=True),
            sa.Column("seq", sa.BigInteger, nullable=False),
            sa.Column("delivered", sa.Integer, nullable=False),
            sa.Column("failures", sa.Integer, nullable=False),
            sa.Column("last_error", sa.Text, nullable=True),
            sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True),
        )
    if "alert_matches" not in tables:
        op.create_table(
            "alert_matches",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("alert", sa.String(100), nullable=False),
            sa.Column("document_id", sa.Integer, nullable=False),
            sa.Column("seq", sa.BigInteger, nullable=False),
            sa.Column("cluster", sa.Integer, nullable=False),
            sa.Column("folded_into", sa.Integer, nullable=True),
            sa.Column("matched_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("payload", sa.Text, nullable=False),
        )
        op.create_index(
            "ix_alert_matches_alert_document", "alert_matches", ["alert", "document_id"], unique=True
        )
        op.create_index("ix_alert_matches_alert_seq", "alert_matches", ["alert", "seq"])
        op.create_index("ix_alert_matches_alert_cluster", "alert_matches", ["alert", "cluster"])


def downgrade() -> None:
    op.drop_table("alert_matches")
    op.drop_table("alert_marks")
    op.drop_table("alerts")
