"""The index on disk: generations, the writer lock, following the DB, rebuild and swap.

Layout in the data dir::

    index            symlink to the live generation (swapped atomically with rename)
    index.<gen>/     Whoosh files + state.json {schema_version, checkpoint, complete}
    index.lock       flock held by whoever writes the live index
    reindex.lock     flock held by whoever builds a new generation

The checkpoint is the DB change sequence the index has applied. It is written after each
Whoosh commit; a crash in between only means the next run applies a few changes again,
which is harmless (update by id, delete by id).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from whoosh import index as whoosh_index
from whoosh.filedb.filestore import FileStorage
from whoosh.index import EmptyIndexError, Index
from whoosh.writing import IndexWriter

from indexer.db import changes, documents, files
from indexer.db.models import Document
from indexer.db.session import Database
from indexer.errors import Cancelled, StorageError
from indexer.locks import held_by, locked
from indexer.search._whoosh.storage import segment_count
from indexer.search._whoosh.writer import TermSegmentWriter, tiered_merge
from indexer.search.forms import RecentForms, text_fields
from indexer.search.schema import SCHEMA_VERSION, build_schema, folder_of

__all__ = [
    "FollowResult",
    "Follower",
    "Generations",
    "RebuildResult",
]

log = structlog.get_logger(__name__)

STATE_FILE = "state.json"
FOLLOW_BATCH = 1000  # changes fetched from the DB at a time
COMMIT_EVERY = 10_000  # changes per Whoosh commit when catching up: each commit is a segment
# Whoosh's in-memory posting buffer before it spills a run to disk: a rebuild gets more,
# the follower (which also merges small segments as it commits) less, so that a daemon
# stays small.
WRITER_LIMIT_MB = 64
# A rebuild commits a segment every this many documents (merged by tiers as it goes).
REBUILD_SEGMENT_DOCS = 20_000
FOLLOW_LIMIT_MB = 32


@dataclass(frozen=True)
class FollowResult:
    applied: int
    checkpoint: int
    commits: int


@dataclass(frozen=True)
class RebuildResult:
    documents: int
    checkpoint: int
    generation: str
    seconds: float


def _now() -> datetime:
    return datetime.now(UTC)


def document_fields(doc: Document, paths: list[str] | None = None) -> dict[str, Any]:
    """The index entry of ``doc``; ``paths``: all its files' paths (the primary one first)."""
    others = [p for p in paths or [] if p != doc.path]
    fields: dict[str, Any] = {
        "id": str(doc.id),
        "path": [doc.path, *others],
        "folder": folder_of(doc.path),
        "byline": doc.byline,
        "byline_facet": doc.byline,
        "dateline": doc.dateline,
        "title": doc.title,
        "lang": doc.language,
        "ingested": doc.ingested_at.replace(tzinfo=None),
        # A document without near-duplicates is its own cluster: the one it founds when a
        # near-duplicate arrives (clustering gives it its own id then), so it keeps this entry.
        "cluster": str(doc.cluster_id if doc.cluster_id is not None else doc.id),
        **text_fields(doc.language, doc.title, doc.body),
    }
    if doc.title_derived:
        fields["title_derived"] = True
    if doc.source:
        fields["source"] = doc.source
    if doc.published:
        fields["published"] = datetime(doc.published.year, doc.published.month, doc.published.day)
    return {k: v for k, v in fields.items() if v is not None}


class Generations:
    """The index generations under one data dir."""

    def __init__(self, data_dir: Path, writer_timeout: float = 30.0) -> None:
        self.data_dir = data_dir
        self.link = data_dir / "index"
        self.writer_timeout = writer_timeout
        # flock is per open file: threads of one process must also queue among themselves.
        self._thread_lock = threading.Lock()
        self.forms = RecentForms()  # of documents this process stored, for its followers

    # -- state ------------------------------------------------------------------------

    def live_dir(self) -> Path | None:
        try:
            target = os.readlink(self.link)
        except (FileNotFoundError, OSError):
            return None
        path = self.data_dir / target
        return path if path.is_dir() else None

    @staticmethod
    def read_state(directory: Path) -> dict[str, Any]:
        try:
            state: dict[str, Any] = json.loads((directory / STATE_FILE).read_text())
        except (OSError, ValueError):
            return {}
        return state

    @staticmethod
    def _write_state(directory: Path, state: dict[str, Any]) -> None:
        tmp = directory / f".{STATE_FILE}.tmp"
        with open(tmp, "w") as f:
            json.dump(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, directory / STATE_FILE)

    def missing(self) -> bool:
        """Whether the live index is gone (a cheap look: no opening, unlike needs_rebuild)."""
        live = self.live_dir()
        return live is None or not (live / STATE_FILE).exists()

    def checkpoint(self) -> int | None:
        live = self.live_dir()
        if live is None:
            return None
        return self.read_state(live).get("checkpoint")

    def needs_rebuild(self) -> str | None:
        """Why the live index cannot be used as it is, or None when it can."""
        live = self.live_dir()
        if live is None:
            return "no index yet"
        state = self.read_state(live)
        if state.get("schema_version") != SCHEMA_VERSION:
            return f"schema version {state.get('schema_version')} != {SCHEMA_VERSION}"
        try:
            whoosh_index.open_dir(str(live)).close()
        except Exception as e:  # any damage at all: the DB can rebuild it
            return f"index does not open: {e}"
        return None

    # -- reading ----------------------------------------------------------------------

    def open_reader_index(self) -> Index:
        """Open the live generation for searching: read-only, no lock, retried once.

        A writer may delete merged segment files between our reading the table of
        contents and opening them; a second try sees the new table of contents.
        """
        from indexer.search.engine import missing_index

        for attempt in range(3):
            live = self.live_dir()
            if live is None:
                raise missing_index(self.data_dir)
            try:
                return whoosh_index.open_dir(str(live), readonly=True)
            except EmptyIndexError:
                raise missing_index(self.data_dir) from None
            except OSError:
                if attempt == 2:
                    raise
                time.sleep(0.05)
        raise AssertionError("unreachable")

    # -- writing ----------------------------------------------------------------------

    def writer_pid(self) -> int | None:
        """The pid of the process writing the live index now, or None."""
        return held_by(self.data_dir / "index.lock")

    @contextmanager
    def writer_lock(self, on_wait: Callable[[int | None], None] | None = None) -> Iterator[None]:
        with self._thread_lock, locked(self.data_dir / "index.lock", self.writer_timeout, on_wait):
            yield

    def follow(
        self,
        db: Database,
        batch: int = FOLLOW_BATCH,
        on_wait: Callable[[int | None], None] | None = None,
    ) -> FollowResult:
        """Apply every DB change above the checkpoint: one Whoosh commit per
        ``COMMIT_EVERY`` changes."""
        with self.following(db, batch=batch, on_wait=on_wait) as follower:
            follower.step()
        return follower.result()

    @contextmanager
    def following(
        self,
        db: Database,
        commit_seconds: float = math.inf,
        batch: int = FOLLOW_BATCH,
        on_wait: Callable[[int | None], None] | None = None,
    ) -> Iterator[Follower]:
        """A ``Follower`` of the live index, committed on leaving (cancelled on an error).

        A missing or outdated index is rebuilt from the DB first.
        """
        if self.needs_rebuild() is not None:
            self.rebuild_if_needed(db)
        with Follower(
            db, lambda: self._live_generation(on_wait), commit_seconds, batch, self.forms
        ) as follower:
            yield follower

    @contextmanager
    def _live_generation(self, on_wait: Callable[[int | None], None] | None) -> Iterator[Path]:
        """The live generation's folder, with the writer lock held."""
        with self.writer_lock(on_wait):
            live = self.live_dir()
            assert live is not None
            yield live

    def rebuild(
        self,
        db: Database,
        progress: Callable[[int, int], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> RebuildResult:
        """Build a new generation from the DB beside the live one, then swap it in.

        Searches go on against the old generation until the rename. Changes made during
        the build carry sequence numbers above the new checkpoint, so the follower (or the
        catch-up below, under the writer lock) applies them: nothing is lost.
        """
        result = self._rebuild(db, progress, should_stop, only_if_needed=False)
        assert result is not None
        return result

    def rebuild_if_needed(self, db: Database) -> RebuildResult | None:
        """Rebuild when the live index cannot be used (``needs_rebuild``), looked at again
        under the lock: threads that all found no index (the daemon's follow, a job) wait
        for the first one's build instead of each building another. None when not needed."""
        return self._rebuild(db, None, lambda: False, only_if_needed=True)

    def _rebuild(
        self,
        db: Database,
        progress: Callable[[int, int], None] | None,
        should_stop: Callable[[], bool],
        only_if_needed: bool,
    ) -> RebuildResult | None:
        started = time.monotonic()
        with locked(self.data_dir / "reindex.lock", self.writer_timeout):
            if only_if_needed:
                reason = self.needs_rebuild()
                if reason is None:
                    return None
                log.info("index.rebuild_needed", reason=reason)
            self._remove_abandoned()
            generation = f"index.{_now().strftime('%Y%m%dT%H%M%S%f')}.{os.getpid()}"
            directory = self.data_dir / generation
            directory.mkdir(mode=0o700)
            self._write_state(directory, {"schema_version": SCHEMA_VERSION, "complete": False})
            ix = FileStorage(str(directory), supports_mmap=False).create_index(build_schema())
            count = 0
            try:
                with db.read() as session:
                    checkpoint = changes.current_seq(session)
                    total = documents.count_live(session)
                    batches = documents.iter_live_documents(session)
                    exhausted = False
                    while not exhausted:
                        # A segment at a time: one writer's postings spill into temporary
                        # runs larger than the index they become (whoosh#475).
                        added = 0
                        with _writer(ix, limitmb=WRITER_LIMIT_MB) as writer:
                            for docs in batches:
                                if should_stop():
                                    raise Cancelled("rebuild cancelled")
                                paths = files.paths_by_document(session, [doc.id for doc in docs])
                                for doc in docs:
                                    writer.add_document(**document_fields(doc, paths.get(doc.id)))
                                added += len(docs)
                                if progress is not None:
                                    progress(count + added, total)
                                if added >= REBUILD_SEGMENT_DOCS:
                                    break
                            else:
                                exhausted = True
                        count += added
            except BaseException:
                ix.close()
                shutil.rmtree(directory, ignore_errors=True)  # the live index stays in service
                raise
            ix.close()
            self._write_state(
                directory,
                {
                    "schema_version": SCHEMA_VERSION,
                    "checkpoint": checkpoint,
                    "complete": True,
                    "built_at": _now().isoformat(),
                },
            )
            with self.writer_lock():
                with Follower(db, lambda: nullcontext(directory)) as follower:
                    follower.step()
                self._swap(generation)
            self._remove_old(keep={generation})
        seconds = time.monotonic() - started
        log.info("index.rebuilt", documents=count, generation=generation, seconds=round(seconds, 2))
        return RebuildResult(count, checkpoint, generation, seconds)

    def delete_ids(self, ids: list[int]) -> None:
        """Delete documents from the live index by id (verify's repair of index orphans)."""
        with self.writer_lock():
            live = self.live_dir()
            if live is None:
                return
            ix = _open_for_writing(live)
            try:
                with _writer(ix) as writer:
                    for doc_id in ids:
                        writer.delete_by_term("id", str(doc_id))
            finally:
                ix.close()

    def optimize(self) -> int:
        """Merge the live index's segments into one; returns the segment count before."""
        with self.writer_lock():
            live = self.live_dir()
            if live is None:
                return 0
            ix = _open_for_writing(live)
            try:
                before = segment_count(ix)
                if before > 1:
                    # Through our writer, not ix.optimize(): Whoosh's own would rewrite the
                    # whole index with its default codec, undoing CompactCodec's postings.
                    _commit(TermSegmentWriter(ix), optimize=True)
                return before
            finally:
                ix.close()

    def stats(self) -> dict[str, Any]:
        live = self.live_dir()
        if live is None:
            return {"path": None, "documents": None, "segments": None, "size_bytes": 0, "checkpoint": None}
        state = self.read_state(live)
        documents = segments = None
        try:
            ix = whoosh_index.open_dir(str(live), readonly=True)
            try:
                documents, segments = ix.doc_count(), segment_count(ix)
            finally:
                ix.close()
        except Exception:  # a damaged index still reports what it can; verify says more
            pass
        return {
            "path": str(live),
            "documents": documents,
            "segments": segments,
            "size_bytes": self.size_bytes(),
            "checkpoint": state.get("checkpoint"),
            "schema_version": state.get("schema_version"),
            "built_at": state.get("built_at"),
        }

    def _swap(self, generation: str) -> None:
        previous = self.live_dir()
        tmp = self.data_dir / f".index.{os.getpid()}.tmp"
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(generation, tmp)
        os.replace(tmp, self.link)
        _fsync_dir(self.data_dir)
        if previous is not None:
            # Readers that opened the previous generation may still be reading it; it
            # stays until the next rebuild removes it.
            (self.data_dir / "index.previous").unlink(missing_ok=True)
            os.symlink(previous.name, self.data_dir / "index.previous")

    def _generations(self) -> list[Path]:
        return [p for p in self.data_dir.glob("index.*") if p.is_dir() and not p.is_symlink()]

    def _remove_abandoned(self) -> None:
        """Remove generations a killed rebuild left half-built (we hold reindex.lock)."""
        live = self.live_dir()
        for tmp in self.data_dir.glob(".index.*.tmp"):  # a symlink a killed swap left
            tmp.unlink(missing_ok=True)
        for path in self._generations():
            if path != live and not self.read_state(path).get("complete"):
                log.info("index.remove_abandoned", generation=path.name)
                shutil.rmtree(path, ignore_errors=True)

    def _remove_old(self, keep: set[str]) -> None:
        previous = None
        with suppress(OSError):
            previous = os.readlink(self.data_dir / "index.previous")
        for path in self._generations():
            if path.name not in keep and path.name != previous:
                shutil.rmtree(path, ignore_errors=True)

    def size_bytes(self) -> int:
        live = self.live_dir()
        if live is None:
            return 0
        return sum(f.stat().st_size for f in live.iterdir() if f.is_file())


@dataclass
class _OpenWriter:
    stack: ExitStack  # closes the index and releases the writer lock
    directory: Path
    state: dict[str, Any]
    ix: Index
    writer: IndexWriter | None = None  # made for the first change: none, no segment files


class Follower:
    """Applies the DB's changes to an index generation through one open Whoosh writer.

    ``step`` adds every change the DB has above the checkpoint. The writer commits (a new
    segment, then the checkpoint saved) every ``COMMIT_EVERY`` changes, when a document
    changes again before its first change is committed (Whoosh cannot replace a document
    it has not committed), at the first step ``commit_seconds`` after the previous commit,
    and on ``commit``. `indexer ingest` steps after every batch: it indexes as it goes,
    while the workers analyse the next batches, and still commits seldom (few segments to
    merge). The writer lock is held from a step to the next commit. As a context manager
    it commits on leaving, or cancels on an error.
    """

    def __init__(
        self,
        db: Database,
        open_generation: Callable[[], AbstractContextManager[Path]],
        commit_seconds: float = math.inf,
        batch: int = FOLLOW_BATCH,
        forms: RecentForms | None = None,
    ) -> None:
        self.db = db
        self.forms = forms
        self.open_generation = open_generation  # the folder to write, its lock held
        self.commit_seconds = commit_seconds
        self.batch = batch
        self.applied = self.commits = 0
        self.checkpoint: int | None = None  # as last read or written
        self._open: _OpenWriter | None = None
        self._seq = 0  # of the last change added to the open writer
        self._pending: set[int] = set()  # documents added to it
        self._last_commit = time.monotonic()

    def result(self) -> FollowResult:
        return FollowResult(self.applied, self.checkpoint or 0, self.commits)

    def __enter__(self) -> Follower:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            self.commit()
        else:
            self.cancel()

    def step(self) -> None:
        if self._open is None:
            self._start()
        while docs := self._fetch():
            for doc, paths in docs:
                if doc.id in self._pending or len(self._pending) >= COMMIT_EVERY:
                    self.commit()
                    self._start()
                assert self._open is not None
                writer = self._open.writer
                if writer is None:
                    writer = self._open.writer = TermSegmentWriter(self._open.ix, limitmb=FOLLOW_LIMIT_MB)
                form = self.forms.take(doc.id) if self.forms is not None else None
                if doc.deleted_at is not None:
                    writer.delete_by_term("id", str(doc.id))
                elif form is not None and form.fits(doc):
                    writer.update_prepared(form.fields, **document_fields(doc, paths))
                else:
                    writer.update_document(**document_fields(doc, paths))
                self._pending.add(doc.id)
                self._seq = doc.seq
        if time.monotonic() - self._last_commit >= self.commit_seconds:
            self.commit()

    def _start(self) -> None:
        with ExitStack() as stack:
            directory = stack.enter_context(self.open_generation())
            state = Generations.read_state(directory)
            ix = _open_for_writing(directory)
            stack.callback(ix.close)
            self._open = _OpenWriter(stack.pop_all(), directory, state, ix)
        self._seq = self.checkpoint = int(state.get("checkpoint", 0))

    def _fetch(self) -> list[tuple[Document, list[str]]]:
        with self.db.read() as session:
            docs = changes.changes_since(session, self._seq, self.batch)
            paths = files.paths_by_document(session, [doc.id for doc in docs if doc.deleted_at is None])
            return [(doc, paths.get(doc.id, [])) for doc in docs]

    def commit(self) -> None:
        """Commit what was added, save the checkpoint, release the writer lock."""
        opened, self._open = self._open, None
        if opened is None:
            return
        with opened.stack:
            if opened.writer is None:
                return
            _commit(opened.writer)
            opened.state["checkpoint"] = self.checkpoint = self._seq
            Generations._write_state(opened.directory, opened.state)
        self.applied += len(self._pending)
        self.commits += 1
        self._pending.clear()
        self._last_commit = time.monotonic()

    def cancel(self) -> None:
        """Drop what was added since the last commit (the next follow applies it again)."""
        opened, self._open = self._open, None
        if opened is not None:
            with opened.stack:
                if opened.writer is not None:
                    opened.writer.cancel()
            self._pending.clear()


def _open_for_writing(directory: Path) -> Index:
    """The index opened for a writer, reading its segments with plain file reads.

    A writer reads every segment when it merges; through mmap those pages would count in
    the process's resident memory (hundreds of MB on a large index) for no gain.
    """
    return FileStorage(str(directory), supports_mmap=False).open_index()


@contextmanager
def _writer(ix: Index, **kwargs: Any) -> Iterator[IndexWriter]:
    """A Whoosh writer that commits on success and cancels on error (never swallows)."""
    writer = TermSegmentWriter(ix, **kwargs)
    try:
        yield writer
    except BaseException:
        writer.cancel()
        raise
    _commit(writer)


def _commit(writer: IndexWriter, **kwargs: Any) -> None:
    """Commit, or on failure (a full disk) cancel: a failed writer must not keep Whoosh's
    write lock, or every later follow of a long-running daemon would fail too.

    Segments merge by ``tiered_merge`` unless the commit optimizes (merges them all).
    """
    if not kwargs.get("optimize"):
        kwargs.setdefault("mergetype", tiered_merge)
    try:
        writer.commit(**kwargs)
    except BaseException as e:
        with suppress(Exception):
            writer.cancel()
        lock = getattr(writer, "writelock", None)  # a cancel that failed half-way
        if lock is not None:
            with suppress(Exception):
                lock.release()
        if isinstance(e, OSError):
            raise StorageError(f"index commit failed: {e.strerror or e}") from e
        raise


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
