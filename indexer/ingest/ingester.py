"""The batch loop: candidates on disk -> read -> analyse -> one DB transaction per batch."""

from __future__ import annotations

import dataclasses
import itertools
import multiprocessing
import os
import socket
import stat
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from indexer.db import claims, documents, files
from indexer.db.files import FORGET_REASON, FORGET_STAGE
from indexer.db.session import Database
from indexer.errors import BusyError, Cancelled, InputError, StorageError
from indexer.ingest.cluster import NEAR_DUPLICATE_THRESHOLD
from indexer.ingest.discover import Rules, discover, named_path, symlink_problem
from indexer.ingest.folders import FolderMarks, is_under, unavailable, vanished_at_once
from indexer.ingest.learned import rules_if_changed
from indexer.ingest.outcomes import apply_batch
from indexer.ingest.paths import db_path, fs_path
from indexer.ingest.pipeline import AnalyzeOptions, analyze, warm_up
from indexer.ingest.read import read_file
from indexer.ingest.retry import known_states
from indexer.records import Analysis, BatchCounts, Candidate, FileFailure, Linked, RawFile, Unlisted

__all__ = ["NO_HOOKS", "IngestResult", "Ingester", "ScanHooks", "candidate_for"]

log = structlog.get_logger(__name__)

# Starting the workers costs about a second (a fresh interpreter each, language profiles):
# a batch smaller than this is analysed in-process unless they are already running, and
# then a batch of a few files still is (a single dropped file should be searchable fast).
POOL_THRESHOLD = 200
POOL_RUNNING_THRESHOLD = 16
# Batches being analysed while this process commits an older one (and indexes it): enough
# to keep both workers busy through an index commit, which takes seconds at a time.
IN_FLIGHT = 6
# A file whose bytes were a document's last file, tombstoned this recently, takes that
# document back (same id, no analysis): a move the watcher or a scan saw as a delete and
# then a create (a move whose halves settle apart, a folder renamed, a restart between).
REJOIN_SECONDS = 600.0
# A scan's known state of a file it has found (failed or not): no size or time matches it.
_SEEN = (-2, -2, False)
_SEEN_FAILED = (-2, -2, True)


@dataclass(frozen=True)
class ScanHooks:
    """What the caller of a scan lends it, each optional.

    ``progress(files)`` after each batch is stored; ``defer(candidate)`` may claim a
    changed candidate (True: the caller takes it, as the daemon does with files still being
    written); ``should_stop()`` is asked between batches; ``after_batch()`` runs after each
    batch is stored (the index follower); ``store_lock`` is held around each batch's
    transaction and ``after_batch``, not around the whole scan.
    """

    progress: Callable[[int], None] | None = None
    defer: Callable[[Candidate], bool] | None = None
    should_stop: Callable[[], bool] = lambda: False
    after_batch: Callable[[], object] | None = None
    store_lock: AbstractContextManager[object] | None = None


NO_HOOKS = ScanHooks()


@dataclass
class IngestResult:
    counts: BatchCounts = field(default_factory=BatchCounts)
    seen: int = 0
    deferred: int = 0
    skipped: int = 0  # files the include/exclude patterns left out
    seconds: float = 0.0
    # Folders that could not be listed: their known files were kept, not taken for deleted.
    unavailable: list[Unlisted] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (path, reason): named, not taken

    def as_dict(self) -> dict[str, object]:
        counts: dict[str, object] = {
            **self.counts.as_dict(),
            "seen": self.seen,
            "skipped": self.skipped,
            "seconds": round(self.seconds, 3),
        }
        if self.unavailable:
            counts["unavailable"] = [f.path for f in self.unavailable]
        return counts


def _now() -> datetime:
    return datetime.now(UTC)


def candidate_for(
    path: str, rules: Rules | None = None, roots: Iterable[str | Path] = ()
) -> Candidate | None:
    """A Candidate from a fresh stat, or None when the path (a file system path) is gone.

    A symlink is judged as discover judges it (``rules``, the inbox ``roots``): the watcher
    and retries record the same reason a scan does, and never follow one out of the inbox.
    """
    try:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            resolved = [str(Path(r).resolve()) for r in roots]
            if reason := symlink_problem(path, resolved, rules.follow_symlinks if rules else False):
                return Candidate(path, st.st_size, st.st_mtime_ns, st.st_ino, error=reason)
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        return Candidate(path, 0, 0, 0, error=e.strerror or str(e))
    if not os.path.isfile(path):
        return Candidate(path, 0, st.st_mtime_ns, st.st_ino, error="not a regular file")
    return Candidate(path, st.st_size, st.st_mtime_ns, st.st_ino)


class Ingester:
    """Takes candidates to the database in batches: one transaction per batch."""

    def __init__(
        self,
        db: Database,
        rules: Rules,
        options: AnalyzeOptions,
        max_bytes: int,
        batch_size: int = 500,
        workers: int = 1,
        clock: Callable[[], datetime] = _now,
        near_threshold: float = NEAR_DUPLICATE_THRESHOLD,
        node: str | None = None,
        lease_seconds: float = 60.0,
        inbox: Sequence[str | Path] = (),
        marks_path: Path | None = None,
        worker_nice: int = 0,
        on_stored: Callable[[list[tuple[int, Analysis]]], None] | None = None,
    ) -> None:
        self.db = db
        # Told (document id, analysis) of each batch's stored texts, after its transaction.
        self.on_stored = on_stored
        self.rules = rules
        self.options = options
        self.max_bytes = max_bytes
        self.batch_size = batch_size
        self.clock = clock
        self.workers = workers if workers > 0 else (os.cpu_count() or 1)
        self.worker_nice = worker_nice  # the analysis workers' niceness
        self.near_threshold = near_threshold
        # Several nodes may see one file (a shared inbox): each claims a batch's paths
        # before reading them, and leaves alone those another node holds.
        self.node = node or f"{socket.gethostname()}:{os.getpid()}"
        self.lease_seconds = lease_seconds
        # The configured inbox folders: one that is missing or unmounted stands for all
        # the files under it, which a scan keeps until it is back.
        self.inbox = tuple(str(Path(p).resolve()) for p in inbox)
        # Which folder each of them was when its files were last taken as they are.
        self.marks_path = marks_path
        self.should_stop: Callable[[], bool] = lambda: False
        self._pool: ProcessPoolExecutor | None = None
        self._pool_lock = threading.Lock()  # the daemon's scan and watcher share the pool
        self._pool_used = 0.0  # when a batch last finished with it
        self._in_use = 0  # batches being analysed by it now
        self._learned_version = -1  # of the learned furniture rules in self.options
        # Paths in a started, not yet stored batch: the daemon's watcher and its scan may
        # both come upon a file; the second leaves it to the batch that has it.
        self._in_progress: set[str] = set()
        self._in_progress_lock = threading.Lock()
        # Claims held by batches not yet stored, renewed while they are analysed: a batch
        # that takes longer than a lease must not be taken over and done twice.
        self._claimed: set[str] = set()
        self._claims_lock = threading.Lock()
        self._renewer: threading.Thread | None = None
        self._closing = threading.Event()

    # -- analysis workers ------------------------------------------------------------

    def _executor(self, files: int) -> ProcessPoolExecutor | None:
        """The worker pool for a batch of ``files``, or None to analyse it in-process.

        Started on first need; the daemon stops it when idle. forkserver, not fork: the
        daemon has threads (scheduler, watcher) and forking a threaded process can copy a
        held lock into the child.
        """
        if self.workers <= 1:
            return None
        with self._pool_lock:
            if files < (POOL_RUNNING_THRESHOLD if self._pool is not None else POOL_THRESHOLD):
                return None
            self._in_use += 1
            return self._pool or self._start_pool()

    def _done_with_pool(self) -> None:
        with self._pool_lock:
            self._in_use -= 1
            self._pool_used = time.monotonic()

    def _start_pool(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["indexer.ingest.pipeline", "indexer.search.forms"])
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=context,
            initializer=warm_up,
            initargs=(self.options, self.worker_nice),
        )
        return self._pool

    def close(self) -> None:
        self._closing.set()
        if self._renewer is not None:
            self._renewer.join()
            self._renewer = None
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None

    def close_if_idle(self, seconds: float) -> bool:
        """Stop the workers when no batch has used them for ``seconds``: a daemon holds
        them (and their memory) only while a large scan or drop is being ingested."""
        with self._pool_lock:
            if self._pool is None or self._in_use or time.monotonic() - self._pool_used < seconds:
                return False
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        log.info("ingest.workers_stopped", idle_seconds=seconds)
        return True

    def _analyze_all(self, raws: list[RawFile]) -> Callable[[], list[Analysis | FileFailure]]:
        """Start analysing ``raws``; the returned function waits for the outcomes."""
        pool = self._executor(len(raws))
        if pool is None:
            return lambda: [analyze(raw, self.options) for raw in raws]
        try:
            results = pool.map(analyze, raws, itertools.repeat(self.options), chunksize=8)
        except BrokenProcessPool:
            self._pool = None
            self._done_with_pool()
            return lambda: [analyze(raw, self.options) for raw in raws]

        def wait() -> list[Analysis | FileFailure]:
            try:
                return list(results)
            except BrokenProcessPool:  # a worker died (OOM killer?): redo this batch here
                log.warning("ingest.pool_broken", files=len(raws))
                self._pool = None
                return [analyze(raw, self.options) for raw in raws]
            finally:
                self._done_with_pool()

        return wait

    # -- one batch: start (read, submit analysis), then finish (wait, one transaction) --

    def refresh_learned(self) -> None:
        """Take up the learned furniture rules when they changed (learned by this node's
        job or another's): one small query per batch, the rules only when they moved."""
        changed = rules_if_changed(self.db, self._learned_version)
        if changed is None:
            return
        self._learned_version, rules = changed
        self.options = dataclasses.replace(self.options, learned=rules)

    def _start(
        self, candidates: Iterable[Candidate], removed: Sequence[str] = (), force: bool = False
    ) -> _PendingBatch:
        """Start a batch of ``candidates`` (file system paths) and ``removed`` (database paths)."""
        batch = _PendingBatch(removed=list(removed), force=force)
        # From here on a path is its database form; read_file gets the file system one back.
        candidates = [
            c if (p := db_path(c.path)) == c.path else dataclasses.replace(c, path=p) for c in candidates
        ]
        with self._in_progress_lock:
            fresh = {c.path: c for c in candidates if c.path not in self._in_progress}
            self._in_progress.update(fresh)
        batch.taken = set(fresh)
        batch.left = [c.path for c in candidates if c.path not in fresh]
        if batch.left:
            log.info("ingest.in_progress", files=len(batch.left))
        try:
            self._begin(batch, list(fresh.values()))
        except BaseException:
            self._release(batch)
            raise
        return batch

    def _begin(self, batch: _PendingBatch, candidates: list[Candidate]) -> None:
        """Claim, read and look up the batch's files, and submit their analysis."""
        self.refresh_learned()
        batch.claimed = self._claim([c.path for c in candidates])
        raws: list[RawFile] = []
        for c in candidates:
            if c.path not in batch.claimed:
                batch.elsewhere += 1  # another node has it; the next scan finds it done
                continue
            if c.error:
                batch.failures.append(FileFailure(c.path, "read", c.error, c.size, c.mtime_ns))
                continue
            try:
                raw = read_file(fs_path(c.path), self.max_bytes, self.rules.follow_symlinks)
            except InputError as e:
                batch.failures.append(FileFailure(c.path, "read", e.reason, c.size, c.mtime_ns, e.transient))
                continue
            raws.append(raw if raw.path == c.path else dataclasses.replace(raw, path=c.path))
        known: dict[str, tuple[str, int]] = {}
        forgotten: set[str] = set()
        if raws and not batch.force:
            since = self.clock() - timedelta(seconds=REJOIN_SECONDS)
            with self.db.read() as session:
                known = files.live_files_by_sha(session, (r.sha256 for r in raws))
                if unknown := [r.sha256 for r in raws if r.sha256 not in known]:
                    # A forgotten file renamed or copied is still forgotten.
                    forgotten = documents.forgotten_shas(session, unknown)
                    known.update(documents.recently_deleted_by_sha(session, unknown, since))
        to_analyze = []
        for raw in raws:
            if raw.sha256 in forgotten:
                batch.failures.append(
                    FileFailure(raw.path, FORGET_STAGE, FORGET_REASON, raw.size, raw.mtime_ns)
                )
            elif raw.sha256 in known:  # bytes of a live or just deleted file: a move, a copy, unchanged
                batch.links.append(
                    (Linked(raw.path, raw.size, raw.mtime_ns, raw.sha256), known[raw.sha256][1])
                )
            else:
                to_analyze.append(raw)
        batch.outcomes = self._analyze_all(to_analyze)

    def _claim(self, paths: list[str]) -> set[str]:
        if not paths:
            return set()
        held: set[str] = self.db.retrying(
            claims.claim_paths, paths, self.node, self.lease_seconds, exclusive=False
        )
        with self._claims_lock:
            self._claimed |= held
            if held and self._renewer is None:
                self._closing.clear()
                self._renewer = threading.Thread(target=self._renew_claims, name="claim-renewer", daemon=True)
                self._renewer.start()
        return held

    def _renew_claims(self) -> None:
        """Every third of a lease, extend the leases of the claims batches still hold."""
        while not self._closing.wait(self.lease_seconds / 3):
            with self._claims_lock:
                paths = sorted(self._claimed)
            if not paths:
                continue
            try:
                self.db.retrying(claims.renew_claims, paths, self.node, self.lease_seconds, exclusive=False)
            except Exception as e:  # the next round tries again; a lease lost is a batch done twice, no more
                log.warning("ingest.claim_renewal_failed", error=str(e), files=len(paths))

    def _release(self, batch: _PendingBatch) -> None:
        with self._in_progress_lock:
            self._in_progress -= batch.taken
        if batch.elsewhere:
            log.info("ingest.claimed_elsewhere", files=batch.elsewhere)
        if not batch.claimed:
            return
        with self._claims_lock:
            self._claimed -= batch.claimed
        try:
            self.db.retrying(claims.release_claims, sorted(batch.claimed), self.node, exclusive=False)
        except Exception as e:  # the leases run out on their own
            log.warning("ingest.release_failed", error=str(e), files=len(batch.claimed))

    def _finish(self, batch: _PendingBatch) -> BatchCounts:
        try:
            counts = self._store(batch)
        finally:
            self._release(batch)  # after the commit (or the give-up): others may take them
        counts.in_other_batch.extend(batch.left)
        return counts

    def _abandon(self, batches: Iterable[_PendingBatch]) -> None:
        """Let go of started batches that will not be stored (the scan stopped on an error)."""
        for batch in batches:
            self._release(batch)

    def _store(self, batch: _PendingBatch) -> BatchCounts:
        analyses: list[Analysis] = []
        failures = batch.failures
        for outcome in batch.outcomes():
            if isinstance(outcome, FileFailure):
                failures.append(outcome)
            else:
                analyses.append(outcome)
        if self.should_stop():
            raise Cancelled("stopping: batch abandoned before its transaction")
        if not (analyses or batch.links or failures or batch.removed):
            return BatchCounts()
        try:
            counts: BatchCounts = self.db.retrying(
                apply_batch,
                self.clock(),
                analyses=analyses,
                links=batch.links,
                failures=failures,
                removed=batch.removed,
                force=batch.force,
                near_threshold=self.near_threshold,
            )
        except (BusyError, StorageError):
            raise  # the whole batch waits for better times; nothing is recorded against files
        except Exception as e:  # one poisoned file must not sink its batch: store one by one
            log.warning("ingest.batch_split", error=str(e), files=len(analyses) + len(batch.links))
            counts = self._one_by_one(analyses, batch, failures)
        self.db.refresh_statistics(counts.added)
        if self.on_stored is not None:
            self.on_stored([(i, a) for a in analyses if (i := counts.doc_ids.get(a.path)) is not None])
        for a in analyses:
            log.info(
                "ingest.done",
                path=a.path,
                doc_id=counts.doc_ids.get(a.path),
                lang=a.language,
                words=a.word_count,
                ms=a.ms,
            )
        for link, doc_id in batch.links:
            log.info("ingest.linked", path=link.path, doc_id=doc_id)
        recorded = {path for path, _ in counts.failed_paths}  # not those known already
        for f in failures:
            if f.path in recorded:
                log.warning("ingest.failed", path=f.path, stage=f.stage, reason=f.reason)
        for path in batch.removed:
            log.info("ingest.removed", path=path)
        return counts

    def _one_by_one(
        self, analyses: list[Analysis], batch: _PendingBatch, failures: list[FileFailure]
    ) -> BatchCounts:
        """Store a failed batch file by file; a file whose own write fails is recorded."""
        counts = BatchCounts()
        units: list[tuple[str | None, dict[str, Any]]] = [(a.path, {"analyses": [a]}) for a in analyses]
        units += [(link.path, {"links": [(link, doc_id)]}) for link, doc_id in batch.links]
        units.append((None, {"failures": failures, "removed": batch.removed}))
        for path, unit in units:
            try:
                counts.merge(
                    self.db.retrying(
                        apply_batch,
                        self.clock(),
                        force=batch.force,
                        near_threshold=self.near_threshold,
                        **unit,
                    )
                )
            except (BusyError, StorageError):
                raise
            except Exception as e:
                if path is None:
                    raise
                failure = FileFailure(path, "store", f"{type(e).__name__}: {e}".splitlines()[0][:300])
                counts.merge(self.db.retrying(apply_batch, self.clock(), failures=[failure]))
        return counts

    def _held(
        self,
        scanned: list[str],
        known: dict[str, tuple[int, int, bool]],
        missing: list[str],
        marks: FolderMarks,
    ) -> list[Unlisted]:
        """The inbox folders of this scan whose missing files vanished at once (see
        ``vanished_at_once``)."""
        return vanished_at_once(
            marks.folders(self._scanned_inboxes(scanned)),
            lambda: (p for p, state in known.items() if not state[2]),
            [p for p in missing if not known[p][2]],
            marks.replaced,
        )

    def _scanned_inboxes(self, scanned: list[str]) -> list[str]:
        return [
            root for root in self.inbox if any(is_under(s, [root]) or is_under(root, [s]) for s in scanned)
        ]

    def _folder_failures(
        self, folders: list[Unlisted], known: dict[str, tuple[int, int, bool]]
    ) -> list[FileFailure]:
        """Failures to record for unavailable folders: new ones, and those whose retry
        is due (every scan tries to list them; the ledger counts the attempts by the
        backoff of transient failures)."""
        due = []
        for folder in folders:
            state = known.get(folder.path)
            if state is None or state[0] == -1:
                log.warning("scan.folder_unavailable", path=folder.path, reason=folder.reason)
                due.append(FileFailure(folder.path, "folder", folder.reason, transient=True))
        return due

    def ingest(
        self, candidates: Iterable[Candidate], removed: Sequence[str] = (), force: bool = False
    ) -> BatchCounts:
        """Read, analyse and store one batch in one transaction (with paths gone): file
        system paths, as discover, the watcher and ``fs_path`` give them."""
        return self._finish(self._start(candidates, [db_path(p) for p in removed], force))

    def scan(
        self, roots: Sequence[Path], hooks: ScanHooks = NO_HOOKS, accept_vanished: bool = False
    ) -> IngestResult:
        """Bring the DB in line with the files under ``roots``: new, changed and gone.

        Only stats files whose size and mtime the DB already has; ``hooks.defer`` may
        claim a changed candidate instead of ingesting it. While the workers analyse one
        batch, this process stores the previous one and runs ``hooks.after_batch`` (the
        index follower), so both cores stay busy. ``hooks.store_lock`` is held around each
        batch's transaction and follow only, so that others (the daemon's watcher) get
        their turn between batches of a long scan.

        Files that vanish all at once from an inbox folder, or from one that was
        replaced, are kept (that folder is reported unavailable) unless
        ``accept_vanished``: the user says they are gone for good.
        """
        started = time.monotonic()
        marks = FolderMarks(self.marks_path)
        root_strs = [db_path(named_path(r)) for r in roots]
        with self.db.read() as session:
            known = known_states(session, root_strs, now=self.clock())
        result = IngestResult()
        in_flight: list[tuple[_PendingBatch, int]] = []
        passed_over: dict[str, int] = {}  # discover's counts

        def advance(batch: _PendingBatch | None, size: int = 0) -> None:
            """Queue ``batch`` (None: the end) and commit the oldest ones beyond the
            number kept in flight, so that the workers never wait for this process."""
            if batch is not None:
                in_flight.append((batch, size))
            while len(in_flight) > (IN_FLIGHT if batch is not None else 0):
                oldest, count = in_flight.pop(0)
                with hooks.store_lock or nullcontext():
                    result.counts.merge(self._finish(oldest))
                    if hooks.after_batch is not None:
                        hooks.after_batch()
                if hooks.progress:
                    hooks.progress(count)

        try:
            pending: list[Candidate] = []
            stopped = False
            unlisted: list[Unlisted] = []
            for candidate in discover(roots, self.rules, unlisted, passed_over):
                result.seen += 1
                path = db_path(candidate.path)
                state = known.get(path)
                if state is not None:
                    # Marked seen in place: a set of the paths found would hold a second
                    # copy of every path (hundreds of MB at a million files).
                    known[path] = _SEEN_FAILED if state[2] else _SEEN
                if state is not None and state[0] == candidate.size and state[1] == candidate.mtime_ns:
                    result.counts.unchanged += 1
                    continue
                if hooks.defer is not None and hooks.defer(candidate):
                    result.deferred += 1
                    continue
                pending.append(candidate)
                if len(pending) >= self.batch_size:
                    advance(self._start(pending), len(pending))
                    pending = []
                    if hooks.should_stop():
                        stopped = True
                        break
            missing: list[str] = []
            folder_failures: list[FileFailure] = []
            if not stopped:
                # An empty inbox folder is unmounted, not emptied, unless the user says so.
                result.unavailable = unavailable(
                    root_strs,
                    unlisted,
                    self.inbox,
                    lambda root: (
                        not accept_vanished and any(p != root and is_under(p, [root]) for p in known)
                    ),
                )
                kept = [f.path for f in result.unavailable]
                # A folder's failure whose folder lists again is "missing" here: removing
                # it clears the failure, and the files under it are compared as usual.
                missing = [
                    p
                    for p, state in known.items()
                    if state is not _SEEN
                    and state is not _SEEN_FAILED
                    and not os.path.isfile(fs_path(p))
                    and not is_under(p, kept)
                ]
                if not accept_vanished:
                    held = self._held(root_strs, known, missing, marks)
                    result.unavailable += held
                    missing = [p for p in missing if not is_under(p, [f.path for f in held])]
                marks.mark(self._scanned_inboxes(root_strs), [f.path for f in result.unavailable])
                folder_failures = self._folder_failures(result.unavailable, known)
            # Moves: the new paths and the old ones go in one transaction.
            first_removed, missing = missing[: self.batch_size], missing[self.batch_size :]
            if pending or first_removed or folder_failures:
                batch = self._start(pending, removed=first_removed)
                batch.failures.extend(folder_failures)
                advance(batch, len(pending))
            for start in range(0, len(missing), self.batch_size):
                advance(self._start([], removed=missing[start : start + self.batch_size]))
            advance(None)
        except BaseException:
            self._abandon(batch for batch, _ in in_flight)  # their claims and paths
            raise
        result.skipped = passed_over.get("skipped", 0)
        result.seconds = time.monotonic() - started
        return result


@dataclass
class _PendingBatch:
    """One unit of work between its start (reads, analysis submitted) and its commit."""

    removed: list[str]
    force: bool
    failures: list[FileFailure] = field(default_factory=list)
    links: list[tuple[Linked, int]] = field(default_factory=list)
    claimed: set[str] = field(default_factory=set)  # paths this node holds claims on
    taken: set[str] = field(default_factory=set)  # candidates no other batch may start meanwhile
    left: list[str] = field(default_factory=list)  # candidates another batch had in progress
    elsewhere: int = 0  # candidates skipped: another node holds their claims
    outcomes: Callable[[], list[Analysis | FileFailure]] = lambda: []
