"""The batch loop: candidates on disk -> read -> analyse -> one DB transaction per batch."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import structlog

from indexer.db import store
from indexer.db.session import Database
from indexer.errors import Cancelled, InputError
from indexer.ingest.discover import Rules, discover
from indexer.ingest.pipeline import AnalyzeOptions, analyze
from indexer.ingest.read import read_file
from indexer.ingest.types import Analysis, Candidate, FileFailure, RawFile

__all__ = ["IngestResult", "Ingester", "candidate_for"]

log = structlog.get_logger(__name__)


@dataclass
class IngestResult:
    counts: store.BatchCounts = field(default_factory=store.BatchCounts)
    seen: int = 0
    deferred: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {**self.counts.as_dict(), "seen": self.seen, "seconds": round(self.seconds, 3)}


def _now() -> datetime:
    return datetime.now(UTC)


def candidate_for(path: str) -> Candidate | None:
    """A Candidate from a fresh lstat, or None when the path is gone."""
    try:
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
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.db = db
        self.rules = rules
        self.options = options
        self.max_bytes = max_bytes
        self.batch_size = batch_size
        self.clock = clock
        self.should_stop: Callable[[], bool] = lambda: False

    def scan(
        self,
        roots: Sequence[Path],
        progress: Callable[[int], None] | None = None,
        defer: Callable[[Candidate], bool] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> IngestResult:
        """Bring the DB in line with the files under ``roots``: new, changed and gone.

        Only stats files whose size and mtime the DB already has; ``defer`` may claim a
        changed candidate (the daemon waits for it to be stable) instead of ingesting it.
        """
        started = time.monotonic()
        root_strs = [str(r.resolve()) for r in roots]
        with self.db.read() as session:
            known = store.known_states(session, root_strs)
        result = IngestResult()
        pending: list[Candidate] = []
        present: set[str] = set()
        for candidate in discover(roots, self.rules):
            result.seen += 1
            present.add(candidate.path)
            state = known.get(candidate.path)
            if state is not None and state[0] == candidate.size and state[1] == candidate.mtime_ns:
                result.counts.unchanged += 1
                continue
            if defer is not None and defer(candidate):
                result.deferred += 1
                continue
            pending.append(candidate)
            if len(pending) >= self.batch_size:
                result.counts.merge(self.ingest(pending))
                if progress:
                    progress(len(pending))
                pending = []
                if should_stop():
                    break
        else:
            missing = [p for p in known if p not in present and not os.path.isfile(p)]
            for start in range(0, len(missing), self.batch_size):
                if start and should_stop():
                    break
                chunk = missing[start : start + self.batch_size]
                if start == 0 and pending:
                    # Moves: the new path and the old one in one transaction.
                    result.counts.merge(self.ingest(pending, removed=chunk))
                    pending = []
                else:
                    result.counts.merge(self.ingest([], removed=chunk))
        if pending:
            result.counts.merge(self.ingest(pending))
            if progress:
                progress(len(pending))
        result.seconds = time.monotonic() - started
        return result

    def ingest(
        self, candidates: Iterable[Candidate], removed: Sequence[str] = (), force: bool = False
    ) -> store.BatchCounts:
        """Read, analyse and store one batch in one transaction (with paths gone)."""
        raws: list[RawFile] = []
        failures: list[FileFailure] = []
        for c in candidates:
            if c.error:
                failures.append(FileFailure(c.path, "read", c.error, c.size, c.mtime_ns))
                continue
            try:
                raws.append(read_file(c.path, self.max_bytes, self.rules.follow_symlinks))
            except InputError as e:
                failures.append(FileFailure(c.path, "read", e.reason, c.size, c.mtime_ns, e.transient))
        known: dict[str, tuple[str, int]] = {}
        if raws and not force:
            with self.db.read() as session:
                known = store.live_files_by_sha(session, (r.sha256 for r in raws))
        links = []
        analyses: list[Analysis] = []
        for raw in raws:
            if self.should_stop():
                raise Cancelled("stopping: batch abandoned before its transaction")
            if raw.sha256 in known:  # same bytes as a live file: a move, a copy or unchanged
                links.append((store.Linked(raw.path, raw.size, raw.mtime_ns, raw.sha256), known[raw.sha256][1]))
                continue
            outcome = analyze(raw, self.options)
            if isinstance(outcome, FileFailure):
                failures.append(outcome)
            else:
                analyses.append(outcome)
        if not (analyses or links or failures or removed):
            return store.BatchCounts()
        counts: store.BatchCounts = self.db.retrying(
            store.apply_batch, self.clock(), analyses=analyses, links=links, failures=failures,
            removed=removed, force=force,
        )
        for a in analyses:
            log.info("ingest.done", path=a.path, doc_id=counts.doc_ids.get(a.path), lang=a.language,
                     words=a.word_count, ms=a.ms)
        for link, doc_id in links:
            log.info("ingest.linked", path=link.path, doc_id=doc_id)
        for f in failures:
            log.warning("ingest.failed", path=f.path, stage=f.stage, reason=f.reason)
        for path in removed:
            log.info("ingest.removed", path=path)
        return counts
