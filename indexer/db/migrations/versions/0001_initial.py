"""The initial schema: documents, files, doc_bands, claims, failures, job_runs, counters, meta.

Databases made before migrations existed (by ``create_all``, unversioned) already hold
some of these tables: each is created only when missing, so upgrading such a database
adds what it lacks and stamps it.

Revision ID: 0001_initial
Revises:
Create Date: 2026-03-02
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def _create(
    name: str, *columns: sa.Column[Any] | sa.Constraint, indexes: tuple[tuple[str, list[str]], ...] = ()
) -> None:
    if sa.inspect(op.get_bind()).has_table(name):
        return
    op.create_table(name, *columns)
    for index_name, index_columns in indexes:
        op.create_index(index_name, name, index_columns)


def upgrade() -> None:
    _create(
        "documents",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("mtime_ns", sa.BigInteger, nullable=False),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("encoding", sa.String(32), nullable=False),
        sa.Column("repaired", sa.Boolean, nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("language_prob", sa.Float, nullable=False),
        sa.Column("language_alt", sa.String(16), nullable=True),
        sa.Column("languages", sa.String(200), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("source", sa.String(200), nullable=True),
        sa.Column("dateline", sa.String(200), nullable=True),
        sa.Column("byline", sa.String(200), nullable=True),
        sa.Column("published", sa.Date, nullable=True),
        sa.Column("word_count", sa.Integer, nullable=False),
        sa.Column("char_count", sa.Integer, nullable=False),
        sa.Column("paragraph_count", sa.Integer, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("removed", sa.Text, nullable=False),
        sa.Column("flags", sa.String(200), nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=True),
        sa.Column("cluster_id", sa.Integer, nullable=True),
        sa.Column("normalizer_version", sa.Integer, nullable=False),
        sa.Column("ingested_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.Column("deleted_at", UTC_TIME, nullable=True),
        indexes=(
            ("ix_documents_seq", ["seq"]),
            ("ix_documents_body_sha256", ["body_sha256"]),
            ("ix_documents_language", ["language"]),
            ("ix_documents_source", ["source"]),
            ("ix_documents_cluster_id", ["cluster_id"]),
            ("ix_documents_deleted_at", ["deleted_at"]),
            ("ix_documents_live_body", ["body_sha256", "deleted_at"]),
        ),
    )
    _create(
        "files",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id"), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("mtime_ns", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("seen_at", UTC_TIME, nullable=False),
        sa.UniqueConstraint("path"),
        indexes=(("ix_files_document_id", ["document_id"]), ("ix_files_sha256", ["sha256"])),
    )
    _create(
        "doc_bands",
        sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id"), primary_key=True),
        sa.Column("band", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(32), nullable=False),
        indexes=(("ix_doc_bands_band_key", ["band", "key"]),),
    )
    _create(
        "claims",
        sa.Column("path", sa.Text, primary_key=True),
        sa.Column("node", sa.String(100), nullable=False),
        sa.Column("expires_at", UTC_TIME, nullable=False),
        indexes=(("ix_claims_expires_at", ["expires_at"]),),
    )
    _create(
        "failures",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("transient", sa.Boolean, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=True),
        sa.Column("mtime_ns", sa.BigInteger, nullable=True),
        sa.Column("first_seen", UTC_TIME, nullable=False),
        sa.Column("last_seen", UTC_TIME, nullable=False),
        sa.UniqueConstraint("path"),
    )
    _create(
        "job_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("job", sa.String(40), nullable=False),
        sa.Column("started_at", UTC_TIME, nullable=False),
        sa.Column("ended_at", UTC_TIME, nullable=True),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("counts", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        indexes=(("ix_job_runs_job", ["job"]),),
    )
    _create(
        "counters",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    _create(
        "meta",
        sa.Column("key", sa.String(40), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    bind = op.get_bind()
    # The change sequence starts at 0; the row's lock is what orders writers' commits.
    if bind.execute(sa.text("SELECT 1 FROM counters WHERE name = 'seq'")).first() is None:
        op.execute("INSERT INTO counters (name, value) VALUES ('seq', 0)")
    # Read by programs from before migrations: they refuse a database newer than they know.
    if bind.execute(sa.text("SELECT 1 FROM meta WHERE key = 'schema_version'")).first() is None:
        op.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")


def downgrade() -> None:
    for name in ("doc_bands", "files", "claims", "failures", "job_runs", "counters", "meta", "documents"):
        op.drop_table(name)
