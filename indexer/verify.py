"""Consistency check of inbox, database and index; repairs in batches when asked."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from whoosh import index as whoosh_index

from indexer.context import Context
from indexer.db import changes, documents, files
from indexer.ingest.discover import discover
from indexer.ingest.folders import FolderMarks, is_under, unavailable, vanished_at_once
from indexer.ingest.paths import db_path, fs_path
from indexer.ingest.read import read_file
from indexer.ingest.retry import known_states
from indexer.jobs import ingest_paths
from indexer.records import Unlisted

__all__ = ["VerifyReport", "verify"]

log = structlog.get_logger(__name__)

SAMPLE = 20  # paths or ids shown per problem kind


@dataclass
class VerifyReport:
    files_checked: int = 0
    documents_checked: int = 0
    index_documents: int | None = None
    missing: list[str] = field(default_factory=list)  # in an inbox, not in the DB
    orphaned: list[str] = field(default_factory=list)  # in the DB, gone from disk
    stale: list[str] = field(default_factory=list)  # in both, but the DB has older content
    outside: list[str] = field(default_factory=list)  # in the DB, outside every configured inbox
    outside_checked: bool = False
    empty_documents: list[int] = field(default_factory=list)  # live documents no file holds
    not_indexed: list[int] = field(default_factory=list)  # live in the DB, absent from the index
    index_orphans: list[int] = field(default_factory=list)  # in the index, not live in the DB
    index_problem: str | None = None  # missing, damaged or of another schema
    index_lag: int = 0
    # Folders that cannot be listed (missing, unreadable, unmounted): one problem each;
    # the files the database knows under them are kept, neither orphaned nor repaired.
    unavailable: list[Unlisted] = field(default_factory=list)
    repaired: dict[str, int] = field(default_factory=dict)

    @property
    def problems(self) -> int:
        return (
            len(self.missing)
            + len(self.orphaned)
            + len(self.stale)
            + len(self.outside)
            + len(self.empty_documents)
            + len(self.not_indexed)
            + len(self.index_orphans)
            + (1 if self.index_problem else 0)
            + len(self.unavailable)
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.problems == 0,
            "problems": self.problems,
            "files_checked": self.files_checked,
            "documents_checked": self.documents_checked,
            "index_documents": self.index_documents,
            "index_problem": self.index_problem,
            "index_lag": self.index_lag,
            "unavailable": [{"path": f.path, "reason": f.reason} for f in self.unavailable],
            "missing": self.missing,
            "orphaned": self.orphaned,
            "stale": self.stale,
            "outside": self.outside,
            "outside_checked": self.outside_checked,
            "empty_documents": self.empty_documents,
            "not_indexed": self.not_indexed,
            "index_orphans": self.index_orphans,
            "repaired": self.repaired,
        }


def _index_ids(live_dir: Path | None) -> tuple[set[int], int]:
    """Ids of the documents in the index (deleted ones excluded) and the document count.

    Read from the id column (the field is sortable), one value per live document: a
    posting list opened per id term costs an order of magnitude more per document.
    """
    ix = whoosh_index.open_dir(str(live_dir), readonly=True)
    try:
        with ix.reader() as reader:
            if not reader.has_column("id"):  # an empty index has no columns
                ids = {
                    int(term.decode("utf-8"))
                    for term in reader.lexicon("id")
                    if reader.postings("id", term).is_active()
                }
                return ids, reader.doc_count()
            column = reader.column_reader("id")
            return {int(column[docnum]) for docnum in reader.all_doc_ids()}, reader.doc_count()
    finally:
        ix.close()


def verify(
    ctx: Context, repair: bool = False, check_hashes: bool = False, outside: bool = False
) -> VerifyReport:
    """Compare the inbox files, the DB and the index; with ``repair``, fix what differs.

    ``outside``: also report (and repair: remove) the files the DB holds outside every
    configured inbox, for a catalog no other configuration (node) shares.
    """
    report = VerifyReport(outside_checked=outside)
    roots = [str(p) for p in ctx.config.inbox_dirs]
    # A file changed within the settle window may still be being written: the watcher or
    # the next scan takes it once it is stable; it is neither missing nor stale yet.
    settled_before = time.time_ns() - int(ctx.config.daemon.settle_seconds * 1e9)
    unlisted: list[Unlisted] = []
    on_disk = {
        db_path(c.path): c
        for c in discover(ctx.config.inbox_dirs, ctx.ingester.rules, unlisted)
        if not c.error and c.mtime_ns <= settled_before
    }
    report.files_checked = len(on_disk)
    with ctx.db.read() as session:
        known = known_states(session, roots)
        db_files: dict[str, tuple[int, int, str]] = {}
        last = 0
        while rows := files.live_file_states(session, last, 5000):
            for _, path, size, mtime, sha, _ in rows:
                db_files[path] = (size, mtime, sha)
            last = rows[-1][0]
        live_ids = documents.live_document_ids(session)
        report.empty_documents = documents.documents_without_files(session)
        seq = changes.current_seq(session)
    report.documents_checked = len(live_ids)
    inbox = [db_path(str(p.resolve())) for p in ctx.config.inbox_dirs]  # as discover names them
    report.unavailable = unavailable(
        inbox, unlisted, inbox, lambda root: any(p != root and is_under(p, [root]) for p in db_files)
    )
    kept = [f.path for f in report.unavailable]
    in_roots = {p for p in db_files if is_under(p, roots) and not is_under(p, kept)}
    report.missing = sorted(p for p in on_disk if p not in known)
    if outside:
        # Not under any inbox at all (files of an unavailable folder are under one).
        report.outside = sorted(p for p in db_files if not is_under(p, roots))
    orphaned = [p for p in in_roots if p not in on_disk and not os.path.exists(fs_path(p))]
    # As a scan: files gone all at once, or from a replaced folder, are not repaired away.
    marks = FolderMarks(ctx.ingester.marks_path)
    held = vanished_at_once(marks.folders(inbox), lambda: db_files, orphaned, marks.replaced)
    report.unavailable += held
    report.orphaned = sorted(p for p in orphaned if not is_under(p, [f.path for f in held]))
    for path in sorted(in_roots & on_disk.keys()):
        size, mtime, sha = db_files[path]
        c = on_disk[path]
        if (c.size, c.mtime_ns) != (size, mtime):
            report.stale.append(path)
        elif check_hashes:
            try:
                if (
                    read_file(
                        fs_path(path), ctx.ingester.max_bytes, ctx.ingester.rules.follow_symlinks
                    ).sha256
                    != sha
                ):
                    report.stale.append(path)
            except Exception:  # unreadable now: the next scan records why
                report.stale.append(path)
    report.index_problem = ctx.index.needs_rebuild()
    if report.index_problem is None:
        checkpoint = ctx.index.checkpoint() or 0
        report.index_lag = max(0, seq - checkpoint)
        indexed, report.index_documents = _index_ids(ctx.index.live_dir())
        if report.index_lag == 0:
            report.not_indexed = sorted(live_ids - indexed)
            report.index_orphans = sorted(indexed - live_ids)
    if repair:
        _repair(ctx, report)
    for folder in report.unavailable:
        log.warning("verify.folder_unavailable", path=folder.path, reason=folder.reason)
    log.info("verify.done", problems=report.problems, repaired=report.repaired or None)
    return report


def _repair(ctx: Context, report: VerifyReport) -> None:
    batch = ctx.config.ingest.batch_size
    repaired: dict[str, int] = {}
    to_ingest = report.missing + report.stale
    ingest_paths(ctx, [fs_path(p) for p in to_ingest])
    repaired["ingested"] = len(to_ingest)
    for start in range(0, len(report.orphaned), batch):
        ingest_paths(ctx, [], removed=[fs_path(p) for p in report.orphaned[start : start + batch]])
    repaired["removed"] = len(report.orphaned)
    for start in range(0, len(report.outside), batch):
        ingest_paths(ctx, [], removed=[fs_path(p) for p in report.outside[start : start + batch]])
    repaired["removed_outside"] = len(report.outside)
    now = datetime.now(UTC)
    if report.empty_documents:
        with ctx.db.write() as session:
            documents.tombstone(session, now, report.empty_documents)
    repaired["tombstoned"] = len(report.empty_documents)
    if report.index_problem:
        # Another process or thread may have rebuilt it meanwhile (a daemon's follow).
        if ctx.index.rebuild_if_needed(ctx.db) is not None:
            repaired["index_rebuilt"] = 1
    else:
        if report.not_indexed or report.index_orphans:
            with ctx.db.write() as session:
                # Re-sequencing makes the follower apply them again: an add for a live
                # document, a delete for one the DB has tombstoned or never had.
                changes.resequence(session, report.not_indexed + report.index_orphans)
            if report.index_orphans:
                ctx.index.delete_ids(report.index_orphans)
        ctx.index.follow(ctx.db)
    repaired["reindexed"] = len(report.not_indexed) + len(report.index_orphans)
    report.repaired = {k: v for k, v in repaired.items() if v}
