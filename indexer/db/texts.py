"""documents.body_zlib by id, for a search: through sqlite3 read-only, or SQLAlchemy.

Imports no SQLAlchemy until a database other than SQLite is read, so that a search on
SQLite never loads it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

__all__ = ["engine_bodies", "open_engine", "sqlite_bodies"]


def sqlite_bodies(path: Path, ids: list[int]) -> list[tuple[int, bytes]]:
    """(id, compressed body) of those ``ids`` the SQLite file at ``path`` holds."""
    # A connection per call: cheap (~0.1 ms) and safe from any thread.
    if not path.is_file():
        raise sqlite3.OperationalError("no such file")
    connection = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        marks = ",".join("?" * len(ids))
        return connection.execute(
            f"SELECT id, body_zlib FROM documents WHERE id IN ({marks})", ids
        ).fetchall()
    finally:
        connection.close()


def open_engine(url: str) -> Any:
    """An SQLAlchemy engine for ``engine_bodies``."""
    from sqlalchemy import create_engine

    # An unreachable server fails the search in seconds, not after TCP's minutes.
    timeout = {"connect_timeout": 10} if url.startswith("postgresql") else {}
    return create_engine(url, pool_pre_ping=True, connect_args=timeout)


def engine_bodies(engine: Any, ids: list[int]) -> list[tuple[int, bytes]]:
    """(id, compressed body) of those ``ids`` the database of ``engine`` holds."""
    from sqlalchemy import bindparam, text

    query = text("SELECT id, body_zlib FROM documents WHERE id IN :ids").bindparams(
        bindparam("ids", expanding=True)
    )
    with engine.connect() as connection:
        return [(row[0], bytes(row[1])) for row in connection.execute(query, {"ids": ids})]
