"""Engine and sessions (SQLite or PostgreSQL), schema migrations, and the leader lease.

SQLite: WAL, a busy timeout, immediate write transactions. PostgreSQL (psycopg 3): every
write transaction first takes the change-sequence row lock, so writers from every node
commit one at a time in sequence order, as they do on SQLite. The schema is Alembic's
(``indexer/db/migrations``): a fresh database is created by the migrations, an older one
is refused with one line (or upgraded, with ``auto_migrate``).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import create_engine, event, inspect, select, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from indexer.db.models import Counter
from indexer.errors import BusyError, ConfigError, MissingDatabaseError, SchemaError, StorageError

__all__ = ["Database", "SchemaState", "head_revision", "open_database"]

log = structlog.get_logger(__name__)

# Alembic logs its own set-up ("setup plugin ...", "Context impl ...") at INFO, into the
# daemon's log; the db.upgraded line says what matters.
logging.getLogger("alembic").setLevel(logging.WARNING)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

# PostgreSQL session settings, sent with every connection.
# - No query of ours comes near STATEMENT_TIMEOUT; a stuck one must not hold locks for hours.
# - A process frozen inside a transaction (SIGSTOP, a debugger) would block every writer
#   behind the sequence lock: the server ends such a session after IDLE_IN_TRANSACTION.
STATEMENT_TIMEOUT_SECONDS = 600
IDLE_IN_TRANSACTION_SECONDS = 600

# SQLSTATEs that mean "try the unit of work again": lock_not_available (our lock_timeout),
# serialization_failure, deadlock_detected.
_PG_RETRY = {"55P03", "40001", "40P01"}


def _lock_key(name: str) -> int:
    """A stable signed 64-bit key for a PostgreSQL advisory lock named ``name``."""
    return int.from_bytes(hashlib.sha256(f"indexer:{name}".encode()).digest()[:8], "big", signed=True)


def _sqlstate(error: DBAPIError) -> str:
    return getattr(error.orig, "sqlstate", None) or ""


def _is_locked(error: DBAPIError) -> bool:
    message = str(error.orig).lower()
    return "database is locked" in message or "database is busy" in message or _sqlstate(error) in _PG_RETRY


def _is_disk_full(error: DBAPIError) -> bool:
    # SQLite says "database or disk is full" for ENOSPC and "disk I/O error" when a write
    # is refused outright (EFBIG from a file-size limit, EIO); PostgreSQL's class 53 is
    # "insufficient resources" (53100 disk_full).
    message = str(error.orig).lower()
    return _sqlstate(error).startswith("53") or any(
        s in message for s in ("disk is full", "no space", "disk i/o error", "file too large")
    )


def _first_line(error: DBAPIError) -> str:
    return (str(error.orig).strip().splitlines() or ["?"])[0]


@dataclass(frozen=True)
class SchemaState:
    current: str | None  # the database's Alembic revision; None when it has none yet
    head: str  # the revision this program needs

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


# The PostgreSQL channel on which every transaction that changes documents notifies.
CHANGES_CHANNEL = "indexer_changes"
# How long listening waits before it looks whether to stop; after a failure, before trying again.
LISTEN_TICK_SECONDS = 1.0
LISTEN_RETRY_SECONDS = 5.0
# PostgreSQL's statistics are refreshed once this many documents were added since this
# process last did, or half as many as it had counted then, whichever is more.
ANALYZE_MIN_DOCUMENTS = 500
# The tables an ingest grows and whose statistics its near-duplicate lookup needs.
_ANALYZED_TABLES = "documents, doc_bands, files"


class Database:
    """One engine and its session factory; ``write()`` is one transaction per unit of work."""

    def __init__(self, engine: Engine, busy_timeout: float) -> None:
        self.engine = engine
        self.busy_timeout = busy_timeout
        self.is_sqlite = engine.dialect.name == "sqlite"
        self.is_postgres = engine.dialect.name == "postgresql"
        self._added = self._analyzed = 0  # documents added since the last ANALYZE, and up to it
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._writer = engine.execution_options(sqlite_begin="BEGIN IMMEDIATE")
        self._write_sessions = sessionmaker(self._writer, expire_on_commit=False)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._sessions() as session:
            yield session

    @contextmanager
    def write(self, exclusive: bool = True) -> Iterator[Session]:
        """A write transaction: commit on success, roll back and re-raise on error.

        ``exclusive`` (the default) makes writers take turns, as the change sequence
        needs: SQLite's BEGIN IMMEDIATE, PostgreSQL's row lock on the sequence counter
        taken first. Taken first, not only when the sequence numbers are drawn: a batch
        then also sees every earlier batch's documents (exact and near duplicates are
        found across nodes), and commits are in sequence order. ``exclusive=False``
        is for small writes that need no order (claims) on PostgreSQL.

        A lock wait past the busy timeout ("database is locked", PostgreSQL's
        lock_timeout), a deadlock or a serialization failure becomes BusyError, for
        callers that retry whole units of work.
        """
        session = self._write_sessions()
        try:
            if exclusive and self.is_postgres:
                session.execute(select(Counter.value).where(Counter.name == "seq").with_for_update())
            yield session
            session.commit()
        except DBAPIError as e:
            session.rollback()
            if _is_locked(e):
                raise BusyError(f"database is busy: {_first_line(e)}") from e
            if _is_disk_full(e):
                raise StorageError(f"database write failed: {_first_line(e)} (is the disk full?)") from e
            if e.connection_invalidated or _sqlstate(e).startswith("08"):
                raise StorageError(f"database connection lost: {_first_line(e)}") from e
            raise
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def retrying(self, fn: Any, *args: Any, attempts: int = 5, exclusive: bool = True, **kwargs: Any) -> Any:
        """Run ``fn(session, ...)`` in a write transaction, retrying when the DB is busy."""
        delay = 0.2
        for attempt in range(1, attempts + 1):
            try:
                with self.write(exclusive=exclusive) as session:
                    return fn(session, *args, **kwargs)
            except BusyError:
                if attempt == attempts:
                    raise
                log.warning("db.busy", attempt=attempt, retry_in=delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def refresh_statistics(self, added: int) -> None:
        """On PostgreSQL, ANALYZE the tables an ingest grows once ``added`` documents (summed
        over calls) reach ``ANALYZE_MIN_DOCUMENTS`` or half of those counted at the last
        ANALYZE. A new database has no statistics until autovacuum comes round (a minute
        or more), and meanwhile its planner misjudges the near-duplicate lookup of every
        batch. SQLite's planner needs none."""
        if not self.is_postgres:
            return
        self._added += added
        if self._added < max(ANALYZE_MIN_DOCUMENTS, self._analyzed // 2):
            return
        try:
            with self.engine.connect() as connection:
                connection.execute(text(f"ANALYZE {_ANALYZED_TABLES}"))
                connection.commit()
        except DBAPIError as e:  # the batch is stored; autovacuum will do it later
            log.warning("db.analyze_failed", error=_first_line(e))
            return
        self._analyzed += self._added
        self._added = 0

    def listen_for_changes(self, heard: Callable[[], None], stop: threading.Event) -> None:
        """On PostgreSQL, call ``heard()`` each time a transaction that changed documents
        commits, whichever node made it, until ``stop`` is set (once on connecting, for what
        was committed while nobody listened). Elsewhere return at once: SQLite's writers
        share one machine and the daemon's poll is enough. A lost connection is opened
        again; the caller's poll covers the gap."""
        if not self.is_postgres:
            return
        import psycopg

        conninfo = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while not stop.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as connection:
                    connection.execute(f"LISTEN {CHANGES_CHANNEL}")
                    heard()
                    while not stop.is_set():
                        for _ in connection.notifies(timeout=LISTEN_TICK_SECONDS):
                            heard()
            except psycopg.Error as e:
                log.warning("db.listen_failed", error=str(e).splitlines()[0] if str(e) else type(e).__name__)
                stop.wait(LISTEN_RETRY_SECONDS)

    @contextmanager
    def leader(self, name: str) -> Iterator[bool]:
        """Hold the cluster-wide lease ``name`` while the block runs; yields False when
        another node holds it (that node runs the job; this one skips it).

        PostgreSQL: a session advisory lock on a connection of its own, kept for the
        block. A node that dies loses its connection and the server frees the lock, so
        a lease never outlives its holder. SQLite is one machine: always the leader.
        """
        if not self.is_postgres:
            yield True
            return
        key = _lock_key(name)
        # Autocommit: the connection idles outside any transaction while the job runs.
        with self.engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
            if not conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar():
                yield False
                return
            try:
                yield True
            finally:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                except DBAPIError:  # the connection broke: the server has freed the lock
                    conn.invalidate()

    # -- schema ---------------------------------------------------------------------------

    def schema_state(self) -> SchemaState:
        from alembic.runtime.migration import MigrationContext

        with _opening(), self.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
        return SchemaState(current, head_revision())

    def upgrade(self, target: str = "head") -> SchemaState:
        """Migrate to ``target``; one process at a time, in one transaction.

        Returns the state before. SQLite's BEGIN IMMEDIATE and a PostgreSQL advisory
        lock make a second process wait, then find the work done.
        """
        return self._migrate("upgrade", target)

    def downgrade(self, target: str) -> SchemaState:
        """Migrate back to ``target`` (for going back to an older release of indexer)."""
        if target not in known_revisions():
            raise SchemaError(
                f"no schema revision {target!r}: known are {', '.join(sorted(known_revisions()))}"
            )
        return self._migrate("downgrade", target)

    def _migrate(self, direction: str, target: str) -> SchemaState:
        from alembic import command
        from alembic.runtime.migration import MigrationContext

        with (
            _opening(),
            self._writer.connect() as conn,
            _sqlite_foreign_keys_off(conn, not self.is_postgres),
            conn.begin(),
        ):
            if self.is_postgres:
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key("migrate")})
                conn.execute(text("SET LOCAL statement_timeout = 0"))  # a migration may be long
            before = SchemaState(MigrationContext.configure(conn).get_current_revision(), head_revision())
            if direction == "upgrade":
                _refuse_newer(before)
                command.upgrade(_alembic_config(conn), target)
            else:
                command.downgrade(_alembic_config(conn), target)
            if not self.is_postgres and (broken := conn.exec_driver_sql("PRAGMA foreign_key_check").first()):
                raise SchemaError(f"migration to {target} left a dangling reference in {broken[0]}")
        _restrict_sqlite_files(self)
        return before

    def ensure_schema(self, auto_migrate: bool = False) -> None:
        """Create a fresh database; refuse (or, with ``auto_migrate``, upgrade) an older one."""
        state = self.schema_state()
        if state.up_to_date:
            return
        _refuse_newer(state)
        # No revision: a fresh database, or one made before migrations existed (the first
        # revision adds only the tables it lacks). Either way the migrations create it.
        if state.current is None or auto_migrate:
            before = self.upgrade()
            if before.current != before.head:
                log.info("db.upgraded", revision_from=before.current, revision_to=before.head)
            return
        raise SchemaError(
            f"database schema is at {state.current}, this program needs {state.head}: run `indexer db upgrade`"
        )

    def dispose(self) -> None:
        self.engine.dispose()


def _refuse_newer(state: SchemaState) -> None:
    if state.current is not None and state.current not in known_revisions():
        raise SchemaError(
            f"database schema is at {state.current}, newer than this program ({state.head}): upgrade indexer"
        )


@contextmanager
def _opening() -> Iterator[None]:
    """Database errors while opening or migrating, as one-line errors."""
    try:
        yield
    except DBAPIError as e:
        if _is_locked(e):
            raise BusyError(f"database is busy: {_first_line(e)}") from e
        raise StorageError(f"cannot open database: {_first_line(e)}") from e


def _alembic_config(connection: Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


@functools.cache
def _script() -> Any:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config)


def head_revision() -> str:
    """The schema revision this program needs."""
    head = _script().get_current_head()
    assert head is not None, "no migrations found"
    return str(head)


def known_revisions() -> set[str]:
    return {script.revision for script in _script().walk_revisions()}


SQLITE_PAGE_SIZE = 16384


@contextmanager
def _sqlite_foreign_keys_off(conn: Connection, sqlite: bool) -> Iterator[None]:
    """SQLite migrations rebuild tables (copy, drop, rename); with foreign keys enforced,
    dropping a table that others reference fails. SQLite's own procedure for this turns
    enforcement off around the transaction (it cannot change inside one) and checks the
    references before committing (``PRAGMA foreign_key_check``, in ``_migrate``)."""
    if not sqlite:
        yield
        return
    raw = conn.connection.dbapi_connection
    assert raw is not None
    raw.execute("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        raw.execute("PRAGMA foreign_keys = ON")


def _sqlite_setup(engine: Engine, busy_timeout: float) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event decide how transactions start (pysqlite's own
        # implicit BEGIN is deferred, which turns read-then-write into instant "locked").
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        if cursor.execute("PRAGMA page_count").fetchone()[0] == 0:
            # A new file. A document row (compressed body and all) is 2-3 KB: on the
            # default 4 KB pages one fits where two would, a third of the file wasted.
            cursor.execute(f"PRAGMA page_size = {SQLITE_PAGE_SIZE}")
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


def _postgres_engine(url: str, busy_timeout: float) -> Engine:
    options = " ".join(
        [
            # How long a writer waits for the sequence lock (or any lock): the busy timeout.
            f"-c lock_timeout={max(1, int(busy_timeout * 1000))}",
            f"-c statement_timeout={STATEMENT_TIMEOUT_SECONDS * 1000}",
            f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_SECONDS * 1000}",
        ]
    )
    engine = create_engine(
        url,
        # A node outlives server restarts and idle-connection reapers: test before use.
        pool_pre_ping=True,
        connect_args={"options": options, "application_name": "indexer", "connect_timeout": 10},
    )

    @event.listens_for(engine, "connect")
    def _utc(dbapi_connection: Any, _record: Any) -> None:
        # timestamptz values come back in the session's time zone; in UTC they are what
        # SQLite's naive values mean (the index stores them without a zone). Set after
        # connecting: libpq applies PGTZ after the startup options, so "-c timezone"
        # would not hold.
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")
        dbapi_connection.commit()

    return engine


def open_database(
    url: str,
    data_dir: Path,
    busy_timeout: float = 30.0,
    create: bool = True,
    auto_migrate: bool = False,
    read_only: bool = False,
) -> Database:
    """Open the database at ``url``; with ``create``, create or check its schema.

    The data dir is made here whatever the database: it holds the index and the locks.
    ``read_only``: for commands that only read. Nothing is created (no data dir, no file,
    no schema: MissingDatabaseError instead, for a missing SQLite file, and with ``create``
    for a database without tables), and a data dir that is not writable is fine.
    """
    if read_only:
        return _open_read_only(url, busy_timeout, create, auto_migrate)
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as e:
        raise ConfigError(f"cannot create data dir {data_dir}: {e.strerror}") from e
    if not os.access(data_dir, os.W_OK):
        raise ConfigError(f"data dir is not writable: {data_dir}")
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": busy_timeout})
        _sqlite_setup(engine, busy_timeout)
    else:
        try:
            if url.startswith("postgresql"):
                engine = _postgres_engine(url, busy_timeout)
            else:
                engine = create_engine(url, pool_pre_ping=True)
        except Exception as e:  # a bad URL or a missing driver
            raise ConfigError(f"database url: {e}") from e
    db = Database(engine, busy_timeout)
    if create:
        _check_schema(db, auto_migrate)
    return db


def _open_read_only(url: str, busy_timeout: float, check: bool, auto_migrate: bool) -> Database:
    if url.startswith("sqlite"):
        path = make_url(url).database or ""
        if path and path != ":memory:" and not os.path.isfile(path):
            raise MissingDatabaseError(f"no database at {path}")
        wal = Path(path + "-wal")
        if path and not os.access(os.path.dirname(path) or ".", os.W_OK) and not wal.exists():
            # A WAL database cannot be opened where its -shm file cannot be created; with
            # no -wal file and a folder nobody can create one in, nobody is writing to it.
            uri = f"{Path(path).as_uri()}?mode=ro&immutable=1"

            def connect() -> sqlite3.Connection:
                return sqlite3.connect(uri, uri=True, timeout=busy_timeout, check_same_thread=False)

            engine = create_engine("sqlite://", creator=connect)
        else:
            engine = create_engine(url, connect_args={"timeout": busy_timeout})
        _sqlite_setup(engine, busy_timeout)
    else:
        try:
            engine = (
                _postgres_engine(url, busy_timeout) if url.startswith("postgresql") else create_engine(url)
            )
        except Exception as e:  # a bad URL or a missing driver
            raise ConfigError(f"database url: {e}") from e
    db = Database(engine, busy_timeout)
    if not check:
        return db
    try:
        with _opening(), engine.connect() as conn:
            empty = not inspect(conn).get_table_names()
        if empty:
            raise MissingDatabaseError(
                f"no tables in the database {engine.url.render_as_string(hide_password=True)}"
            )
        db.ensure_schema(auto_migrate)  # an existing database: upgraded only if so configured
    except BaseException:
        db.dispose()
        raise
    return db


def _check_schema(db: Database, auto_migrate: bool) -> None:
    """Create or check the schema; processes starting at once may race here (SQLite's
    WAL switch, for one, fails at once rather than waiting)."""
    deadline = time.monotonic() + db.busy_timeout
    while True:
        try:
            db.ensure_schema(auto_migrate)
            _restrict_sqlite_files(db)
            return
        except (StorageError, BusyError) as e:
            if ("locked" not in str(e) and "busy" not in str(e)) or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _restrict_sqlite_files(db: Database) -> None:
    if not db.is_sqlite or not db.engine.url.database:
        return
    for suffix in ("", "-wal", "-shm"):
        path = Path(db.engine.url.database + suffix)
        if path.exists():
            path.chmod(0o600)
