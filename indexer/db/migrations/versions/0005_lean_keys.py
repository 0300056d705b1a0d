"""Leaner keys: doc_bands without its document_id index, line keys as 16 raw bytes.

- A document's band rows are deleted by primary key, their (band, key) recomputed from
  its fingerprint, so ``ix_doc_bands_document_id`` (as large as the table) goes. Band
  rows of tombstones and of documents without a fingerprint are dropped first: the
  program deletes rows by the keys of a live document's fingerprint only, and
  tombstoning a document without files (``verify --repair``) left them behind before.
- doc_lines and learned_lines keep line and group keys as the 16 bytes their 32 hex
  digits spell (the same hash, half the size), and doc_lines is its own
  (document_id, line_key) index on SQLite (no rowid, no second copy). Its index on the
  boolean ``furniture`` goes: the one query that filters on it (documents analysed under
  other learned rules, after learning) reads nearly every row either way, as most rows
  are not furniture.

SQLite cannot change a column's type: those two tables are made anew and filled from
the old ones. PostgreSQL converts the columns in place.

Revision ID: 0005_lean_keys
Revises: 0004_compact_bands
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
KEYS = ("line_key", "group_key")


def _doc_lines(name: str, key: Any, **kwargs: Any) -> None:
    op.create_table(
        name,
        sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id"), primary_key=True),
        sa.Column("line_key", key, primary_key=True),
        sa.Column("group_key", key, nullable=False),
        sa.Column("furniture", sa.Boolean, nullable=False),
        **kwargs,
    )


def _learned_lines(name: str, key: Any) -> None:
    op.create_table(
        name,
        sa.Column("group_key", key, primary_key=True),
        sa.Column("line_key", key, primary_key=True),
        sa.Column("group_name", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("documents", sa.Integer, nullable=False),
        sa.Column("group_documents", sa.Integer, nullable=False),
        sa.Column("learned_at", sa.DateTime(timezone=True), nullable=False),
    )


def _sqlite_copy(name: str, make: Callable[[str], None], convert: str) -> None:
    """Make table ``name`` anew (``make``), fill it from the old one with ``convert``
    (SQL, ``{}`` the column) applied to its keys, and give it the old one's name."""
    columns = [c["name"] for c in sa.inspect(op.get_bind()).get_columns(name)]
    make(f"{name}_new")
    values = ", ".join(convert.format(c) if c in KEYS else c for c in columns)
    op.execute(f"INSERT INTO {name}_new ({', '.join(columns)}) SELECT {values} FROM {name}")
    op.drop_table(name)  # and its indexes
    op.rename_table(f"{name}_new", name)


def _postgresql_convert(key: Any, existing: Any, using: str) -> None:
    for table in ("doc_lines", "learned_lines"):
        for column in KEYS:
            op.alter_column(
                table,
                column,
                type_=key,
                existing_type=existing,
                existing_nullable=False,
                postgresql_using=using.format(column),
            )


def _indexes(table: str) -> set[str]:
    return {i["name"] for i in sa.inspect(op.get_bind()).get_indexes(table) if i["name"] is not None}


def _hex_keys(table: str) -> bool:
    """Whether ``table`` keeps hex keys (else create_all of this form made it, see 0001)."""
    column = next(c for c in sa.inspect(op.get_bind()).get_columns(table) if c["name"] == "line_key")
    return not isinstance(column["type"], sa.LargeBinary)


def upgrade() -> None:
    if "ix_doc_bands_document_id" in _indexes("doc_bands"):
        unbanded = sa.select(documents.c.id).where(
            sa.or_(documents.c.deleted_at.is_not(None), documents.c.fingerprint.is_(None))
        )
        op.execute(bands.delete().where(bands.c.document_id.in_(unbanded)))  # through the index, still there
        op.drop_index("ix_doc_bands_document_id", table_name="doc_bands")
    if "ix_doc_lines_furniture" in _indexes("doc_lines"):
        op.drop_index("ix_doc_lines_furniture", table_name="doc_lines")
    if not _hex_keys("doc_lines"):
        return
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        _postgresql_convert(sa.LargeBinary, sa.String(32), "decode({}, 'hex')")
        return
    raw = bind.connection.dbapi_connection
    assert raw is not None
    raw.create_function("indexer_unhex", 1, bytes.fromhex, deterministic=True)  # unhex() is SQLite 3.41+
    _sqlite_copy(
        "doc_lines",
        lambda name: _doc_lines(name, sa.LargeBinary, sqlite_with_rowid=False),
        "indexer_unhex({})",
    )
    op.create_index("ix_doc_lines_group_line", "doc_lines", ["group_key", "line_key"])
    _sqlite_copy("learned_lines", lambda name: _learned_lines(name, sa.LargeBinary), "indexer_unhex({})")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        _postgresql_convert(sa.String(32), sa.LargeBinary, "encode({}, 'hex')")
    else:
        _sqlite_copy("doc_lines", lambda name: _doc_lines(name, sa.String(32)), "lower(hex({}))")
        op.create_index("ix_doc_lines_group_line", "doc_lines", ["group_key", "line_key"])
        _sqlite_copy("learned_lines", lambda name: _learned_lines(name, sa.String(32)), "lower(hex({}))")
    op.create_index("ix_doc_lines_furniture", "doc_lines", ["furniture"])
    op.create_index("ix_doc_bands_document_id", "doc_bands", ["document_id"])
