"""doc_bands: the LSH band rows by which near-duplicate candidates are found."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import Connection, bindparam, delete, select
from sqlalchemy.orm import Session

from indexer.db.common import table_of
from indexer.db.models import DocBand
from indexer.lsh import band_keys

__all__ = [
    "band_rows",
    "drop_bands",
]


def drop_bands(session: Session, fingerprints: Mapping[int, bytes | None]) -> None:
    """Delete documents' band rows, given (document id -> fingerprint the rows were made from).

    doc_bands has no index on document_id (it would be as large as the table): a document's
    rows are found by primary key, from its fingerprint's band keys. So a stored
    fingerprint changes only together with its bands, and a document without one has none.
    One statement run for each row: a primary key lookup each (IN lists of keys and of
    ids would have the database seek every key with every id).
    """
    rows = [
        {"row_band": band, "row_key": key, "row_document": doc_id}
        for doc_id, signature in fingerprints.items()
        if signature
        for band, key in enumerate(band_keys(signature))
    ]
    if rows:
        table = table_of(DocBand)
        session.execute(
            delete(table).where(
                table.c.band == bindparam("row_band"),
                table.c.key == bindparam("row_key"),
                table.c.document_id == bindparam("row_document"),
            ),
            rows,
        )


def band_rows(connection: Connection, band: int, keys: Sequence[int]) -> Iterable[tuple[int, int]]:
    """(document id, key) of the stored band rows of ``band`` having one of ``keys``. On
    SQLite as the driver's own tuples: tens of thousands of rows per batch, for which
    SQLAlchemy's result rows cost as much as the query."""
    if connection.dialect.name == "sqlite":
        marks = ", ".join("?" * len(keys))
        sql = f"SELECT document_id, key FROM doc_bands WHERE band = ? AND key IN ({marks})"
        return connection.connection.driver_connection.execute(sql, (band, *keys))  # type: ignore[union-attr,no-any-return]
    return connection.execute(
        select(DocBand.document_id, DocBand.key).where(DocBand.band == band, DocBand.key.in_(keys))
    )
