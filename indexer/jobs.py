"""Plain functions the scheduler and the CLI call: scan, follow, reindex, optimize; runs recorded."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.orm import Session

from indexer.alerts.runner import alerts_running
from indexer.context import INGEST_COMMIT_SECONDS, Context, open_context
from indexer.db import changes, documents, files, lines, runs
from indexer.db.batch import forget as forget_paths
from indexer.db.files import FORGET_STAGE
from indexer.errors import NotFoundError
from indexer.ingest import learned
from indexer.ingest.discover import OUTSIDE, named_path, refusal
from indexer.ingest.folders import inbox_problem, is_under
from indexer.ingest.ingester import NO_HOOKS, IngestResult, ScanHooks, candidate_for
from indexer.ingest.normalize import NORMALIZER_VERSION
from indexer.ingest.outcomes import apply_batch
from indexer.ingest.paths import db_path, fs_path, printable
from indexer.records import BatchCounts, Candidate, FileFailure, Unlisted
from indexer.search.index import FollowResult, RebuildResult

if TYPE_CHECKING:
    from indexer.verify import VerifyReport

# Context and open_context live in indexer/context.py; they are named here too for the
# callers that import them from jobs.
__all__ = [
    "Context",
    "ForgetResult",
    "LearnResult",
    "apply_learned",
    "follow",
    "forget",
    "ingest_paths",
    "last_run",
    "learn",
    "open_context",
    "optimize",
    "prune_runs",
    "recorded",
    "reindex",
    "reindex_if_needed",
    "reprocess",
    "retry",
    "scan",
    "unavailable_folders",
    "verify",
]

log = structlog.get_logger(__name__)

# Interval jobs run thousands of times a day; their records are kept this long.
KEEP_RUNS = timedelta(days=7)
# During a long scan the index follows between batches at most this often: each follow is
# a Whoosh commit (a segment to merge later), and documents are searchable soon enough.
FOLLOW_EVERY_SECONDS = 10.0
# An index caught up with the change sequence whose document count still differs from
# the database's has lost changes that following cannot bring back: rebuilt. The counts
# are compared only while no change commits (a busy daemon gets these many tries).
DRIFT_TRIES = 3


class RunCounts(dict[str, Any]):
    """What a job run did, recorded with it; ``skip(reason)`` when it had nothing to do."""

    skipped: str | None = None

    def skip(self, reason: str) -> None:
        self.skipped = reason


@contextmanager
def recorded(
    ctx: Context, job: str, quiet_when: Callable[[dict[str, Any]], bool] | None = None
) -> Iterator[RunCounts]:
    """Record one run in ``job_runs`` and log one canonical line for it.

    A job that finds nothing to do calls ``counts.skip(reason)``: the run's outcome is
    "skipped", with that reason.

    ``quiet_when(counts)`` lets a frequent job (the safety scan) log at debug level when
    it found nothing to do, so an idle daemon's log stays readable.
    """
    counts = RunCounts()
    started = datetime.now(UTC)
    t0 = time.monotonic()
    run_id = None
    try:
        with ctx.db.write() as session:
            run_id = runs.start_run(session, job, started, ctx.config.node_name)
    except Exception as e:
        if not ctx.read_only:
            raise
        # A command that only reads still works on a read-only data dir or a full disk.
        log.warning("job.record_failed", job=job, error=str(e))
    outcome, error = "ok", None
    try:
        yield counts
        if counts.skipped is not None:
            outcome = "skipped"
            counts["reason"] = counts.skipped
    except BaseException as e:
        outcome, error = ("cancelled", None) if type(e).__name__ == "Cancelled" else ("failed", f"{e}")
        raise
    finally:
        ms = round((time.monotonic() - t0) * 1000, 1)
        if run_id is not None:
            try:
                with ctx.db.write() as session:
                    runs.end_run(
                        session, run_id, datetime.now(UTC), outcome, json.dumps(counts, default=str), error
                    )
            except Exception as e:  # the job's own outcome matters more than its record
                log.warning("job.record_failed", job=job, error=str(e))
        if outcome == "failed":
            log.error(f"job.{job}", outcome=outcome, ms=ms, error=error, **counts)
        elif quiet_when is not None and quiet_when(counts):
            log.debug(f"job.{job}", outcome=outcome, ms=ms, **counts)
        else:
            log.info(f"job.{job}", outcome=outcome, ms=ms, **counts)


def _nothing_changed(counts: dict[str, Any]) -> bool:
    return not any(counts.get(k) for k in ("added", "updated", "duplicates", "deleted", "failed"))


def scan(
    ctx: Context,
    roots: list[Path] | None = None,
    hooks: ScanHooks = NO_HOOKS,
    follow_each_batch: bool = False,
) -> IngestResult:
    """Ingest what is new or changed under ``roots`` (the inbox by default).

    ``follow_each_batch`` updates the index between batches (at most every
    ``FOLLOW_EVERY_SECONDS``, as ``hooks.after_batch``), while the next batch is being
    analysed: documents become searchable as a large ingest goes. The caller follows once
    more at the end.
    """
    if follow_each_batch:
        hooks = dataclasses.replace(hooks, after_batch=_every(FOLLOW_EVERY_SECONDS, lambda: follow(ctx)))
    return _scan(ctx, roots, hooks)


def ingest(
    ctx: Context,
    roots: list[Path],
    progress: Callable[[int], None] | None = None,
    on_wait: Callable[[int | None], None] | None = None,
    accept_vanished: bool = False,
) -> IngestResult:
    """`indexer ingest`: a scan of ``roots`` that indexes each batch once it is stored.

    ``accept_vanished``: files gone from an inbox folder all at once (or the folder
    emptied or replaced) are taken for deleted, not kept as a scan otherwise keeps them.

    One index writer stays open across batches and commits every
    ``INGEST_COMMIT_SECONDS``: this process indexes while the workers analyse the next
    batches (a follow every few seconds left them idle meanwhile), documents become
    searchable as the ingest goes, and the index gets few segments. Others waiting for the
    writer lock (a daemon's follow) allow for that interval (see ``open_context``).
    """
    named, refused = _named_roots(ctx, roots)
    _record_refused(ctx, refused)
    result = IngestResult()
    if named:
        _build_if_missing(ctx)
        # Alerts are matched as the index commits (in a thread: deliveries never hold up
        # the batches), and once more after the last commit.
        with alerts_running(ctx):
            with ctx.index.following(
                ctx.db, commit_seconds=INGEST_COMMIT_SECONDS, on_wait=on_wait
            ) as follower:
                hooks = ScanHooks(progress=progress, after_batch=follower.step)
                result = _scan(ctx, named, hooks, accept_vanished=accept_vanished)
            _log_follow(follower.result())
    result.refused = refused
    return result


def _named_roots(ctx: Context, paths: list[Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """The paths named on a command line that obey the scan's rules, and (path, reason)
    for those refused: outside every inbox, or a symlink the scan would not follow."""
    named: list[Path] = []
    refused: list[tuple[str, str]] = []
    for path in map(named_path, paths):
        if os.path.realpath(path) in ctx.ingester.rules.inboxes:
            path = os.path.realpath(
                path
            )  # an inbox named by a symlink to it: its paths as the scans store them
        reason = refusal(path, ctx.ingester.rules)
        if reason is not None:
            refused.append((path, reason))
            log.warning("ingest.refused", path=path, reason=reason)
        else:
            named.append(Path(path))
    return named, refused


def _record_refused(ctx: Context, refused: list[tuple[str, str]]) -> None:
    """Record named paths refused whole in the failure ledger (`failures`, `status`). No
    scan looks at them again; `retry --all` clears those outside every inbox unread."""
    with ctx.db.read() as session:
        # A file of the catalog named under a narrower config is not this run's to judge
        # (a failure would take it out of the index): refused, not recorded.
        failures = [
            FileFailure(db_path(path), "read", reason)
            for path, reason in refused
            if reason != OUTSIDE or files.document_of_path(session, db_path(path)) is None
        ]
    if failures:
        ctx.db.retrying(apply_batch, datetime.now(UTC), failures=failures)


def _scan(
    ctx: Context, roots: list[Path] | None, hooks: ScanHooks, accept_vanished: bool = False
) -> IngestResult:
    """``Ingester.scan`` recorded as a "scan" job run."""
    with recorded(ctx, "scan", quiet_when=_nothing_changed) as counts:
        result = ctx.ingester.scan(roots or ctx.config.inbox_dirs, hooks, accept_vanished)
        counts.update(result.as_dict())
        if result.deferred:
            counts["deferred"] = result.deferred
    return result


def _every(seconds: float, fn: Callable[[], object]) -> Callable[[], None]:
    """``fn``, run when called at least ``seconds`` after its previous run (or the start)."""
    last = time.monotonic()

    def run() -> None:
        nonlocal last
        if time.monotonic() - last >= seconds:
            fn()
            last = time.monotonic()

    return run


def follow(ctx: Context, on_wait: Callable[[int | None], None] | None = None) -> FollowResult:
    _build_if_missing(ctx)
    result = ctx.index.follow(ctx.db, on_wait=on_wait)
    _log_follow(result)
    return result


def _build_if_missing(ctx: Context) -> None:
    """A missing live index (deleted, lost with its disk) of a database that holds changes
    is rebuilt as a recorded reindex run (`status`: last reindex). The first, empty index
    of a new install is built by following, unrecorded."""
    if not ctx.index.missing():
        return
    with ctx.db.read() as session:
        if not changes.current_seq(session):
            return
    with recorded(ctx, "reindex") as counts:
        result = ctx.index.rebuild_if_needed(ctx.db)
        if result is not None:
            counts.update(
                documents=result.documents,
                generation=result.generation,
                seconds=round(result.seconds, 2),
                reason="no index",
            )


def _log_follow(result: FollowResult) -> None:
    if result.applied:
        log.info("index.follow", applied=result.applied, checkpoint=result.checkpoint, commits=result.commits)


def reprocess(
    ctx: Context,
    should_stop: Callable[[], bool] = lambda: False,
    store_lock: AbstractContextManager[object] | None = None,
) -> int:
    """Re-run decoding, normalization and tagging for documents made by older rules.

    ``store_lock`` is held around each batch (the daemon's watcher takes turns with it).
    """

    def outdated(session: Session, after_id: int, limit: int) -> list[tuple[int, str]]:
        return files.outdated_files(session, NORMALIZER_VERSION, after_id, limit)

    done = _reanalyse(ctx, outdated, should_stop, store_lock)
    with store_lock or nullcontext():
        return done + apply_learned(ctx, should_stop)


def _reanalyse(
    ctx: Context,
    fetch: Callable[[Session, int, int], list[tuple[int, str]]],
    should_stop: Callable[[], bool],
    store_lock: AbstractContextManager[object] | None = None,
) -> int:
    """Analyse again, one batch (one transaction) at a time, the (id, path) rows ``fetch``
    returns after an id; returns how many documents were stored."""
    done = last_id = 0
    while not should_stop():
        with ctx.db.read() as session:
            batch = fetch(session, last_id, ctx.config.ingest.batch_size)
        if not batch:
            break
        last_id = batch[-1][0]
        with store_lock or nullcontext():
            counts = ingest_paths(ctx, [fs_path(path) for _, path in batch], force=True)
        done += counts.updated + counts.added
    return done


@dataclass
class LearnResult:
    """What a learning run did: lines counted for older documents, rules, re-analyses."""

    filled_in: int = 0  # documents whose lines were counted from their stored text
    groups: int = 0  # groups with learned lines
    lines: int = 0  # learned lines now
    added: int = 0
    dropped: int = 0
    reanalysed: int = 0

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def learn(
    ctx: Context, learn_rules: bool = True, should_stop: Callable[[], bool] = lambda: False
) -> LearnResult:
    """Learn furniture from lines repeated across a group's documents, then re-analyse
    the documents whose text the new rules change.

    ``learn_rules=False`` only re-analyses (a node that is not the cluster's leader, for
    the documents in its own inbox). Every step is its own transaction and idempotent:
    after a crash, the next run finds what is still to do in the database.
    """
    result = LearnResult()
    with recorded(ctx, "learn") as counts:
        if learn_rules:
            # Its own run record: the cluster's other nodes tell by it whether the node
            # that learned for all got to the end (see Daemon._learn).
            with recorded(ctx, "learn-rules") as rule_counts:
                settings = ctx.config.ingest
                result.filled_in = learned.fill_in_lines(
                    ctx.db, ctx.config.source_map, settings.batch_size, should_stop
                )
                result.added, result.dropped = learned.learn_rules(
                    ctx.db,
                    ctx.config.source_map,
                    settings.learn_min_documents,
                    settings.learn_min_fraction,
                    datetime.now(UTC),
                )
                rule_counts.update(filled_in=result.filled_in, added=result.added, dropped=result.dropped)
        with ctx.db.read() as session:
            rules = lines.learned_rules(session)
        result.groups, result.lines = len(rules), sum(len(lines) for lines in rules.values())
        result.reanalysed = apply_learned(ctx, should_stop)
        counts.update(result.as_dict())
    return result


def apply_learned(ctx: Context, should_stop: Callable[[], bool] = lambda: False) -> int:
    """Re-analyse, batch by batch, the documents in this node's inbox that were analysed
    under other learned rules than the current ones; returns how many were stored."""
    roots = [str(p) for p in ctx.config.inbox_dirs]

    def stale(session: Session, after_id: int, limit: int) -> list[tuple[int, str]]:
        return lines.stale_furniture_documents(session, after_id, limit, roots)

    return _reanalyse(ctx, stale, should_stop)


def reindex(
    ctx: Context,
    progress: Callable[[int, int], None] | None = None,
    reprocess_first: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
    store_lock: AbstractContextManager[object] | None = None,
) -> RebuildResult:
    """Rebuild the index from the DB beside the live one and swap it in."""
    with recorded(ctx, "reindex") as counts:
        return _rebuild(ctx, counts, progress, reprocess_first, should_stop, store_lock)


def _rebuild(
    ctx: Context,
    counts: dict[str, Any],
    progress: Callable[[int, int], None] | None,
    reprocess_first: bool,
    should_stop: Callable[[], bool],
    store_lock: AbstractContextManager[object] | None,
) -> RebuildResult:
    if reprocess_first:
        counts["reprocessed"] = reprocess(ctx, should_stop, store_lock)
    result = ctx.index.rebuild(ctx.db, progress, should_stop)
    counts.update(documents=result.documents, generation=result.generation, seconds=round(result.seconds, 2))
    return result


def reindex_if_needed(
    ctx: Context,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    store_lock: AbstractContextManager[object] | None = None,
) -> RebuildResult | None:
    """The scheduled reindex and `indexer reindex --if-needed`: rebuild only when
    following the change sequence cannot make the index right; None when it was not needed.

    Needed when the live index is missing, does not open or has another schema version
    (fields or analysis, ``SCHEMA_VERSION``), when documents were analysed by an older
    normalizer (re-analysed first, as ``--reprocess`` does), when this node's last verify
    found documents out of step with the index and did not repair them, or when, caught up
    with the sequence, it holds another number of documents than the database. Otherwise
    it only catches up: a few stats, a few small queries and the changes since the last
    follow, and the run is recorded as skipped, "up to date".
    """
    with recorded(ctx, "reindex") as counts:
        reason = ctx.index.needs_rebuild()
        reprocess_first = False
        if reason is None:
            with ctx.db.read() as session:
                if documents.made_by_older_normalizer(session, NORMALIZER_VERSION):
                    reason = f"documents analysed by a normalizer older than version {NORMALIZER_VERSION}"
                    reprocess_first = True
        if reason is None:
            reason = _verify_found_drift(ctx)
        if reason is None:
            reason = _drift(ctx, counts, should_stop)
        if reason is None:
            counts.skip("up to date")
            return None
        counts["reason"] = reason
        log.info("index.rebuild_needed", reason=reason)
        return _rebuild(ctx, counts, progress, reprocess_first, should_stop, store_lock)


def _verify_found_drift(ctx: Context) -> str | None:
    """Why this node's last verify calls for a rebuild: it found documents the index
    lacks or should not hold, did not repair them, and the index was not built since."""
    with ctx.db.read() as session:
        last = runs.last_finished(session, "verify", ctx.config.node_name)
    if last is None:
        return None
    ended, counts = last
    drift = counts.get("index_drift") or 0
    if not drift or (counts.get("repaired") or {}).get("reindexed"):
        return None
    live = ctx.index.live_dir()
    built = ctx.index.read_state(live).get("built_at") if live is not None else None
    ended = ended if ended.tzinfo is not None else ended.replace(tzinfo=UTC)  # SQLite: naive UTC
    if built is not None and datetime.fromisoformat(built) >= ended:
        return None
    return f"verify found {drift} documents the index lacks or should not hold"


def _drift(ctx: Context, counts: RunCounts, should_stop: Callable[[], bool]) -> str | None:
    """Follow, then compare the index's document count with the database's live
    documents; why they differ, or None. When changes kept committing meanwhile, the run
    records ``unsettled`` (not compared: the next night's run compares)."""
    for _ in range(DRIFT_TRIES):
        if should_stop():
            return None
        follow(ctx)
        # Any change committed while we look moves the sequence (and comes before any index
        # commit that would add it): compared only when nothing moved.
        before = ctx.index.checkpoint()
        with ctx.db.read() as session:
            seq = changes.current_seq(session)
            live = documents.count_live(session)
        indexed = ctx.index.stats()["documents"]
        with ctx.db.read() as session:
            after = changes.current_seq(session)
        if before == seq == after == ctx.index.checkpoint():
            if indexed is not None and indexed != live:
                return f"index holds {indexed} documents, the database {live}"
            return None
    counts["unsettled"] = True
    return None


def optimize(ctx: Context) -> int:
    with recorded(ctx, "optimize") as counts:
        counts["segments_before"] = ctx.index.optimize()
        prune_runs(ctx)
    return int(counts["segments_before"])


def verify(
    ctx: Context, repair: bool = False, check_hashes: bool = False, outside: bool | None = None
) -> VerifyReport:
    """``outside``: also check for files outside the configured inboxes; by default on
    SQLite only, for on PostgreSQL other nodes' inboxes hold files of the same catalog."""
    from indexer.verify import verify as run_verify

    if outside is None:
        outside = ctx.db.is_sqlite
    with recorded(ctx, "verify") as counts:
        report = run_verify(ctx, repair=repair, check_hashes=check_hashes, outside=outside)
        counts.update(problems=report.problems, files=report.files_checked, repaired=report.repaired)
        # The nightly reindex rebuilds an index that a verify found out of step and did
        # not repair (see reindex_if_needed).
        counts["index_drift"] = len(report.not_indexed) + len(report.index_orphans)
        if report.unavailable:
            counts["unavailable"] = [f.path for f in report.unavailable]
    return report


def unavailable_folders(ctx: Context) -> list[Unlisted]:
    """Inbox folders that cannot be scanned now (missing, unreadable, unmounted), and the
    folders inside them a scan recorded as unlistable (the failure ledger's "folder" stage)."""
    with ctx.db.read() as session:
        found = [
            Unlisted(root, reason, missing=not os.path.isdir(root))
            for root in ctx.ingester.inbox
            if (reason := inbox_problem(root, lambda r: files.files_under(session, r))) is not None
        ]
        for failure in files.folder_failures(session):
            if not is_under(failure.path, [f.path for f in found]):
                found.append(Unlisted(failure.path, failure.reason))
    return found


def retry(ctx: Context, paths: list[str] | None) -> BatchCounts:
    """Forget recorded failures (all, or these paths) and ingest those files now."""
    counts = BatchCounts()
    if paths is not None:
        named, refused = _named_roots(ctx, [Path(p) for p in paths])
        _record_refused(ctx, refused)
        paths = [db_path(str(p)) for p in named]
        counts.failed += len(refused)
        counts.failed_paths.extend(refused)
    with ctx.db.write() as session:
        # Files `indexer forget` forgot are not failures to retry; naming one retries it.
        targets = files.failure_paths(session, skip_stages=[FORGET_STAGE]) if paths is None else paths
        files.clear_failures(session, targets)
    # A folder that could not be listed is scanned again (its failure comes back if it
    # still cannot be); a file is read again.
    # Never a folder outside the inboxes (a refused path's ledger row): cleared, not read.
    folders = [
        Path(fs_path(p))
        for p in targets
        if os.path.isdir(fs_path(p)) and refusal(fs_path(p), ctx.ingester.rules) is None
    ]
    named_files = [fs_path(p) for p in targets if not os.path.isdir(fs_path(p))]
    gone = [p for p in named_files if not os.path.lexists(p)]
    counts.merge(ingest_paths(ctx, named_files, removed=gone, named=True))
    if folders:
        counts.merge(_scan(ctx, folders, NO_HOOKS).counts)
    follow(ctx)
    return counts


def ingest_paths(
    ctx: Context, paths: Sequence[str], removed: Sequence[str] = (), force: bool = False, named: bool = False
) -> BatchCounts:
    """Read, analyse and store the files at ``paths`` and take ``removed`` out of the
    database (file system paths), ``batch_size`` files per batch, one transaction each;
    ``removed`` go with the first batch, so that a move's two halves are one change.

    A path that is gone by now is passed over (a scan or the watcher sees it go). What the
    daemon's watcher, ``retry``, re-analysis and ``verify --repair`` ingest all comes here.
    ``force``: store new analyses even of unchanged bytes (re-analysis by newer rules).
    ``named``: the paths were named (by a person, or the failure ledger) and are judged as
    named (see ``_named_candidate``), not as a scan finds them.
    """
    counts = BatchCounts()
    if not paths and not removed:
        return counts
    rules, inbox = ctx.ingester.rules, ctx.config.inbox_dirs
    candidates = [
        c
        for p in paths
        if (c := _named_candidate(ctx, p) if named else candidate_for(p, rules, inbox)) is not None
    ]
    size = ctx.config.ingest.batch_size
    for start in range(0, max(len(candidates), 1), size):
        chunk = candidates[start : start + size]
        counts.merge(ctx.ingester.ingest(chunk, removed=removed if start == 0 else (), force=force))
    return counts


def _named_candidate(ctx: Context, path: str) -> Candidate | None:
    """``candidate_for(path)``, or one carrying the scan's reason for a symlink it would
    not follow (never opened: candidate_for's stat follows the link)."""
    reason = refusal(path, ctx.ingester.rules)
    if reason == OUTSIDE:  # a ledger row from another configuration: cleared, not read
        return None
    if reason is not None and os.path.lexists(path):
        st = os.lstat(path)
        return Candidate(path, st.st_size, st.st_mtime_ns, st.st_ino, error=reason)
    return candidate_for(path, ctx.ingester.rules, ctx.config.inbox_dirs)


@dataclass
class ForgetResult:
    """What `indexer forget` removed: documents gone for good, and paths taken off theirs."""

    documents: list[int] = dataclasses.field(default_factory=list)  # forgotten (tombstoned, erased)
    paths: list[str] = dataclasses.field(default_factory=list)  # file paths removed
    ignored: list[str] = dataclasses.field(default_factory=list)  # of those, on disk: skipped until changed
    kept: list[int] = dataclasses.field(default_factory=list)  # documents other files still hold

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def forget(
    ctx: Context,
    targets: list[str],
    all_paths: bool = False,
    on_wait: Callable[[int | None], None] | None = None,
) -> ForgetResult:
    """Forget documents (a target that is a whole number is a document id, with all its
    paths) and paths (a file's path only, or with ``all_paths`` its whole document), then
    bring the index up to date. Raises NotFoundError, before changing anything, for a
    target the database does not know."""
    result = ForgetResult()
    rules = ctx.ingester.rules
    with recorded(ctx, "forget") as counts, ctx.db.write() as session:
        doc_ids: list[int] = []
        paths: list[str] = []
        for target in targets:
            if target.isdigit():
                doc = documents.get_document(session, int(target))
                if doc is None or "forgotten" in doc.flags.split(","):
                    raise NotFoundError(f"no document with id {target}")
                doc_ids.append(doc.id)
                paths.extend(files.paths_of(session, doc.id))
                continue
            path = db_path(named_path(target))
            doc_id = files.document_of_path(session, path)
            if doc_id is None:
                raise NotFoundError(f"no document has the file {printable(path)}")
            if all_paths:
                doc_ids.append(doc_id)
                paths.extend(files.paths_of(session, doc_id))
            else:
                paths.append(path)
        paths = list(dict.fromkeys(paths))
        present: dict[str, tuple[int, int]] = {}
        for path in paths:
            if refusal(path, dataclasses.replace(rules, follow_symlinks=True)) == OUTSIDE:
                continue  # no scan looks there: nothing to keep ignoring
            try:
                st = os.stat(fs_path(path)) if rules.follow_symlinks else os.lstat(fs_path(path))
            except OSError:
                continue
            present[path] = (st.st_size, st.st_mtime_ns)
        before = {doc_id for path in paths if (doc_id := files.document_of_path(session, path)) is not None}
        result.documents = forget_paths(session, datetime.now(UTC), paths, present, doc_ids)
        result.paths, result.ignored = paths, [p for p in paths if p in present]
        result.kept = sorted(before - set(result.documents))
        counts.update(result.as_dict())
    log.info("forget.done", **result.as_dict())
    follow(ctx, on_wait=on_wait)
    return result


def prune_runs(ctx: Context, now: datetime | None = None) -> None:
    cutoff = (now or datetime.now(UTC)) - KEEP_RUNS
    with ctx.db.write() as session:
        runs.prune_runs(session, "scan", cutoff)


def last_run(ctx: Context, job: str, node: str | None = None) -> datetime | None:
    """When ``job`` last started (on ``node`` only, for a job each node runs for itself)."""
    with ctx.db.read() as session:
        value = runs.last_started(session, job, node)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # SQLite returns naive datetimes
    return value
