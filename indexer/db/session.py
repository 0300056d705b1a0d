"""Engine and sessions: SQLite (WAL, busy timeout, immediate write transactions) or PostgreSQL."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from indexer.db.models import DB_SCHEMA_VERSION, Base, Counter, Meta
from indexer.errors import BusyError, ConfigError, StorageError

__all__ = ["Database", "open_database"]

log = structlog.get_logger(__name__)


def _is_locked(error: OperationalError) -> bool:
    text = str(error.orig).lower()
    return "database is locked" in text or "database is busy" in text


def _is_disk_full(error: OperationalError) -> bool:
    # SQLite says "database or disk is full" for ENOSPC and "disk I/O error" when a write
    # is refused outright (EFBIG from a file-size limit, EIO).
    text = str(error.orig).lower()
    return any(s in text for s in ("disk is full", "no space", "disk i/o error", "file too large"))


class Database:
    """One engine and its session factory; ``write()`` is one transaction per unit of work."""

    def __init__(self, engine: Engine, busy_timeout: float) -> None:
        self.engine = engine
        self.busy_timeout = busy_timeout
        self.is_sqlite = engine.dialect.name == "sqlite"
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._writer = engine.execution_options(sqlite_begin="BEGIN IMMEDIATE")
        self._write_sessions = sessionmaker(self._writer, expire_on_commit=False)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._sessions() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction: commit on success, roll back and re-raise on error.

        SQLite's own busy timeout covers most waits; a "database is locked" that still
        escapes (a reader upgrading, a checkpoint) is turned into BusyError for callers
        that retry whole units of work.
        """
        session = self._write_sessions()
        try:
            yield session
            session.commit()
        except OperationalError as e:
            session.rollback()
            if _is_locked(e):
                raise BusyError(f"database is busy: {e.orig}") from e
            if _is_disk_full(e):
                raise StorageError(f"database write failed: {e.orig} (is the disk full?)") from e
            raise
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def retrying(self, fn: Any, *args: Any, attempts: int = 5, **kwargs: Any) -> Any:
        """Run ``fn(session, ...)`` in a write transaction, retrying when the DB is busy."""
        delay = 0.2
        for attempt in range(1, attempts + 1):
            try:
                with self.write() as session:
                    return fn(session, *args, **kwargs)
            except BusyError:
                if attempt == attempts:
                    raise
                log.warning("db.busy", attempt=attempt, retry_in=delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_setup(engine: Engine, busy_timeout: float) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event decide how transactions start (pysqlite's own
        # implicit BEGIN is deferred, which turns read-then-write into instant "locked").
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        # WAL is a property of the file: set it once. Switching needs the file to itself,
        # which fails at once (no busy wait) when another process has it open.
        if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql(connection.get_execution_options().get("sqlite_begin", "BEGIN"))


def open_database(url: str, data_dir: Path, busy_timeout: float = 30.0, create: bool = True) -> Database:
    """Open (and if needed create) the database at ``url``."""
    if url.startswith("sqlite"):
        try:
            data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as e:
            raise ConfigError(f"cannot create data dir {data_dir}: {e.strerror}") from e
        if not os.access(data_dir, os.W_OK):
            raise ConfigError(f"data dir is not writable: {data_dir}")
        engine = create_engine(url, connect_args={"timeout": busy_timeout})
        _sqlite_setup(engine, busy_timeout)
    else:
        try:
            engine = create_engine(url, pool_pre_ping=True)
        except Exception as e:  # a bad URL or a missing driver
            raise ConfigError(f"database url: {e}") from e
    db = Database(engine, busy_timeout)
    if create:
        _create_schema(db)
    return db


def _create_schema(db: Database) -> None:
    """Create tables and seed rows; two processes starting at once may race here."""
    deadline = time.monotonic() + db.busy_timeout
    while True:
        try:
            return _create_schema_once(db)
        except (StorageError, BusyError) as e:
            if "locked" not in str(e) and "busy" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _create_schema_once(db: Database) -> None:
    try:
        Base.metadata.create_all(db.engine)
        with db.write() as session:
            if session.get(Counter, "seq") is None:
                session.add(Counter(name="seq", value=0))
            version = session.scalar(select(Meta.value).where(Meta.key == "schema_version"))
            if version is None:
                session.add(Meta(key="schema_version", value=str(DB_SCHEMA_VERSION)))
            elif int(version) > DB_SCHEMA_VERSION:
                raise ConfigError(
                    f"database schema {version} is newer than this program ({DB_SCHEMA_VERSION}): upgrade indexer"
                )
    except OperationalError as e:
        raise StorageError(f"cannot open database: {e.orig}") from e
    _restrict_sqlite_files(db)


def _restrict_sqlite_files(db: Database) -> None:
    if not db.is_sqlite or not db.engine.url.database:
        return
    for suffix in ("", "-wal", "-shm"):
        path = Path(db.engine.url.database + suffix)
        if path.exists():
            path.chmod(0o600)
