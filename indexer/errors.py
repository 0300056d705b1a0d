"""The one exception tree of indexer.

    IndexerError                 anything indexer raises on purpose
    ├── ConfigError              a bad or unreadable setting (names the key and file)
    ├── InputError               one file could not become a document (path, stage, reason)
    ├── QueryError               a malformed search query
    ├── NoIndexError             search before anything was indexed
    ├── NotFoundError            an id or path that is not in the database
    │   └── MissingDatabaseError a read-only command found no database (it creates none)
    ├── BusyError                another process holds a lock we need (exit 75)
    │   └── AlreadyRunningError  a daemon already runs on this data dir
    ├── StorageError             the database or index could not be written (disk full, ...)
    ├── SchemaError              the database schema is older or newer than this program
    ├── DeliveryError            an alert's match could not be delivered (recorded, retried)
    └── Cancelled                a long job stopped because the daemon is stopping

The CLI maps each family to one line on stderr and an exit code; the core never prints.
An error that crosses a process boundary (the search socket) goes as ``{type, message,
hint}`` (to_dict) and is raised again on the other side as the same class (from_dict).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "AlreadyRunningError",
    "BusyError",
    "Cancelled",
    "ConfigError",
    "DeliveryError",
    "IndexerError",
    "InputError",
    "MissingDatabaseError",
    "NoIndexError",
    "NotFoundError",
    "QueryError",
    "SchemaError",
    "StorageError",
    "from_dict",
    "to_dict",
]


class IndexerError(Exception):
    """Base of every error indexer raises on purpose."""

    exit_code = 1
    hint = ""  # what to do about it, when there is something to say (QueryError's)


class ConfigError(IndexerError):
    exit_code = 2


class InputError(IndexerError):
    """A file that could not be turned into a document.

    Expected per-file failures (binary content, too large, vanished) carry the stage
    they happened in so the failure ledger can say where things went wrong.
    """

    def __init__(self, path: str, stage: str, reason: str, *, transient: bool = False) -> None:
        super().__init__(f"{path}: {stage}: {reason}")
        self.path = path
        self.stage = stage
        self.reason = reason
        self.transient = transient


class QueryError(IndexerError):
    exit_code = 2

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


class NoIndexError(IndexerError):
    pass


class NotFoundError(IndexerError):
    pass


class MissingDatabaseError(NotFoundError):
    """No database (file, or tables) where a command that only reads looked for one."""


class BusyError(IndexerError):
    exit_code = 75  # EX_TEMPFAIL: cron and systemd understand "try again later"


class AlreadyRunningError(BusyError):
    exit_code = 1

    def __init__(self, pid: int | None) -> None:
        super().__init__(f"already running (pid {pid})" if pid else "already running")
        self.pid = pid


class StorageError(IndexerError):
    pass


class SchemaError(IndexerError):
    """The database was made by another version: `indexer db upgrade` (or a newer indexer)."""


class DeliveryError(IndexerError):
    """A file, exec or webhook delivery failed: what happened, for the alert's record."""


class Cancelled(IndexerError):
    pass


# Every class of the tree above, by name: what from_dict raises again.
_BY_NAME: dict[str, type[IndexerError]] = {
    name: value
    for name, value in globals().items()
    if isinstance(value, type) and issubclass(value, IndexerError)
}


def to_dict(error: IndexerError) -> dict[str, str]:
    """``error`` as it crosses a process boundary: its class's name, message and hint."""
    return {"type": type(error).__name__, "message": str(error), "hint": error.hint}


def from_dict(data: Mapping[str, object]) -> IndexerError:
    """The error that to_dict gave ``data`` for: the same class, message and hint (so the
    same line and exit code); a class of another version's tree comes back as IndexerError.

    Only the message and the hint cross: fields of a class's own (InputError's path, stage
    and reason, AlreadyRunningError's pid) are not set.
    """
    cls = _BY_NAME.get(str(data.get("type")), IndexerError)
    error = cls.__new__(cls)
    Exception.__init__(error, str(data.get("message", "")))
    error.hint = str(data.get("hint") or "")
    return error
