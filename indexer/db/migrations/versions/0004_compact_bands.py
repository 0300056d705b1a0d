"""Fingerprints as 256 raw bytes, and LSH band keys as 64-bit integers in a table that is
its own (band, key) index: about half the database's size beside the bodies.

Band keys are recomputed from the fingerprints (the key function is copied here, as a
migration must not change when the program does).

Revision ID: 0004_compact_bands
Revises: 0003_learned_lines
Create Date: 2026-11-26
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004_compact_bands"
down_revision = "0003_learned_lines"
branch_labels = None
depends_on = None

BANDS, ROWS = 21, 3
BATCH = 1000

documents = sa.table(
    "documents",
    sa.column("id", sa.Integer),
    sa.column("fingerprint", sa.LargeBinary),
    sa.column("fingerprint_hex", sa.Text),
    sa.column("deleted_at", sa.DateTime(timezone=True)),
)


def _keys(signature: bytes) -> list[int]:
    size = ROWS * 4
    return [
        int.from_bytes(
            hashlib.blake2b(signature[b * size : (b + 1) * size], digest_size=8).digest(),
            "little",
            signed=True,
        )
        for b in range(BANDS)
    ]


def _old_keys(signature: str) -> list[str]:
    values = [signature[i : i + 8] for i in range(0, len(signature), 8)]
    return [
        hashlib.blake2b("".join(values[b * ROWS : (b + 1) * ROWS]).encode(), digest_size=8).hexdigest()
        for b in range(BANDS)
    ]


def _batches(column: str, live_only: bool = False) -> Any:
    """(id, value) of documents with a fingerprint, BATCH at a time, in id order."""
    bind = op.get_bind()
    last = 0
    while True:
        query = sa.select(documents.c.id, documents.c[column]).where(
            documents.c.id > last, documents.c[column].is_not(None)
        )
        if live_only:  # tombstones keep no band keys
            query = query.where(documents.c.deleted_at.is_(None))
        rows = bind.execute(query.order_by(documents.c.id).limit(BATCH)).all()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def _convert_fingerprints(source: str, target: str, convert: Callable[[Any], Any]) -> None:
    bind = op.get_bind()
    for rows in _batches(source):
        bind.execute(
            documents.update()
            .where(documents.c.id == sa.bindparam("doc_id"))
            .values({target: sa.bindparam("value")}),
            [{"doc_id": doc_id, "value": convert(value)} for doc_id, value in rows],
        )


def _fill_bands(bands: sa.Table, column: str, keys: Callable[[Any], list[Any]]) -> None:
    bind = op.get_bind()
    for rows in _batches(column, live_only=True):
        bind.execute(
            bands.insert(),
            [
                {"document_id": doc_id, "band": b, "key": k}
                for doc_id, value in rows
                for b, k in enumerate(keys(value))
            ],
        )


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    fingerprint = next(c for c in inspector.get_columns("documents") if c["name"] == "fingerprint")
    if not isinstance(fingerprint["type"], sa.LargeBinary):  # else made by create_all of this form
        with op.batch_alter_table("documents") as batch:
            batch.alter_column("fingerprint", new_column_name="fingerprint_hex", existing_type=sa.Text)
        op.add_column("documents", sa.Column("fingerprint", sa.LargeBinary, nullable=True))
        _convert_fingerprints("fingerprint_hex", "fingerprint", bytes.fromhex)
        with op.batch_alter_table("documents") as batch:
            batch.drop_column("fingerprint_hex")
    op.drop_table("doc_bands")
    bands = op.create_table(
        "doc_bands",
        sa.Column("band", sa.SmallInteger, primary_key=True),
        sa.Column("key", sa.BigInteger, primary_key=True),
        sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id"), primary_key=True),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_doc_bands_document_id", "doc_bands", ["document_id"])
    _fill_bands(bands, "fingerprint", _keys)


def downgrade() -> None:
    op.drop_index("ix_doc_bands_document_id", table_name="doc_bands")
    op.drop_table("doc_bands")
    with op.batch_alter_table("documents") as batch:
        batch.alter_column("fingerprint", new_column_name="fingerprint_hex", existing_type=sa.LargeBinary)
    op.add_column("documents", sa.Column("fingerprint", sa.Text, nullable=True))
    documents_back = sa.table(
        "documents",
        sa.column("id", sa.Integer),
        sa.column("fingerprint", sa.Text),
        sa.column("fingerprint_hex", sa.LargeBinary),
    )
    bind = op.get_bind()
    for rows in _batches("fingerprint_hex"):
        bind.execute(
            documents_back.update()
            .where(documents_back.c.id == sa.bindparam("doc_id"))
            .values(fingerprint=sa.bindparam("value")),
            [{"doc_id": doc_id, "value": bytes(value).hex()} for doc_id, value in rows],
        )
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("fingerprint_hex")
    bands = op.create_table(
        "doc_bands",
        sa.Column("document_id", sa.Integer, sa.ForeignKey("documents.id"), primary_key=True),
        sa.Column("band", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(32), nullable=False),
    )
    op.create_index("ix_doc_bands_band_key", "doc_bands", ["band", "key"])
    _fill_bands(bands, "fingerprint", _old_keys)
