"""Helpers the query modules share: chunked IN lists, path prefixes, bulk inserts."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, Result, Table, insert, or_

__all__ = [
    "affected",
    "chunks",
    "in_roots",
    "insert_rows",
    "table_of",
]


def table_of(model: type[Any]) -> Table:
    """A mapped class's table, as the Core statements take it."""
    return cast(Table, model.__table__)


def affected(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE changed."""
    return cast("CursorResult[Any]", result).rowcount or 0


def chunks(values: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def in_roots(column, roots: Sequence[str] | None):  # type: ignore[no-untyped-def]
    if roots is None:
        return True
    conditions = []
    for root in roots:
        conditions.append(column == root)
        conditions.append(column.startswith(root.rstrip("/") + "/", autoescape=True))
    return or_(*conditions)


def insert_rows(
    connection: Connection, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """Insert many rows (tuples of ``columns``): on SQLite straight through the driver's
    executemany, twice as fast as SQLAlchemy's per-row parameter handling (doc_bands takes
    21 rows per new text); elsewhere SQLAlchemy batches them into multi-row INSERTs."""
    if not rows:
        return
    if connection.dialect.name == "sqlite":
        sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        connection.exec_driver_sql(sql, rows)
    else:
        connection.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])
