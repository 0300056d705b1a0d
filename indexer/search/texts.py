"""Documents' text, read from the database for snippets, ``similar`` and spelling.

The index does not store bodies: the database holds each text once, compressed, and a
search reads the few it shows. SQLite is read through the standard library, read-only,
so that a search imports no SQLAlchemy; another database goes through SQLAlchemy
(the queries are in db/texts.py).
"""

from __future__ import annotations

import zlib
from collections.abc import Collection
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from indexer.db.texts import engine_bodies, open_engine, sqlite_bodies
from indexer.errors import StorageError

__all__ = ["DocumentTexts"]

_SQLITE_PREFIX = "sqlite:///"
_CHUNK = 500  # ids per query (SQLite's limit on bound parameters is far above)


class DocumentTexts:
    """The normalized text of documents, by id, from the database at ``url``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Any = None

    def get(self, ids: Collection[int]) -> dict[int, str]:
        """The texts of the ``ids`` that the database holds (a purged document has none)."""
        wanted = sorted(set(ids))
        rows: list[tuple[int, bytes]] = []
        try:
            for start in range(0, len(wanted), _CHUNK):
                rows += self._rows(wanted[start : start + _CHUNK])
        except Exception as e:  # sqlite3 or SQLAlchemy: the search reports it in one line
            where = (
                f" {self._sqlite_path()}" if self.url.startswith(_SQLITE_PREFIX) else ""
            )  # no password shown
            raise StorageError(
                f"cannot read document texts from the database{where}: {_first_line(e)}"
            ) from e
        return {int(doc_id): zlib.decompress(body).decode("utf-8") for doc_id, body in rows}

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def _rows(self, ids: list[int]) -> list[tuple[int, bytes]]:
        if self.url.startswith(_SQLITE_PREFIX):
            return sqlite_bodies(self._sqlite_path(), ids)
        if self._engine is None:
            self._engine = open_engine(self.url)
        return engine_bodies(self._engine, ids)

    def _sqlite_path(self) -> Path:
        return Path(
            unquote(self.url[len(_SQLITE_PREFIX) :].split("?", 1)[0])
        ).resolve()  # as SQLAlchemy reads it


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
