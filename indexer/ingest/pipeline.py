"""The ordered stages, and the batch loop that takes files from disk to the database."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import structlog

from indexer.db import store
from indexer.db.session import Database
from indexer.errors import InputError
from indexer.ingest import decode, language, metadata, normalize
from indexer.ingest.discover import Rules, discover
from indexer.ingest.read import read_file
from indexer.ingest.types import Analysis, Candidate, FileFailure, RawFile

__all__ = ["AnalyzeOptions", "IngestResult", "Ingester", "analyze"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class AnalyzeOptions:
    """The settings the pure stages need, as plain values (picklable for workers)."""

    min_words: int = 1
    language_min_chars: int = 20
    language_min_probability: float = 0.7
    allowed_languages: tuple[str, ...] = ()


def analyze(raw: RawFile, options: AnalyzeOptions) -> Analysis | FileFailure:
    """Bytes to an Analysis: decode -> normalize -> language -> metadata. No I/O."""
    started = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(stage: str, t0: float) -> float:
        now = time.perf_counter()
        timings[stage] = round((now - t0) * 1000, 3)
        return now

    try:
        decoded = decode.decode(raw.data, raw.path)
    except InputError as e:
        return FileFailure(raw.path, e.stage, e.reason, raw.size, raw.mtime_ns)
    t = lap("decode", started)
    body = normalize.normalize(decoded.text)
    t = lap("normalize", t)
    if not body:
        reason = "empty file" if not raw.data else "no text (whitespace only)"
        return FileFailure(raw.path, "normalize", reason, raw.size, raw.mtime_ns)
    detection = language.detect(
        body, options.language_min_chars, options.language_min_probability, options.allowed_languages
    )
    t = lap("language", t)
    meta = metadata.extract(body)
    lap("metadata", t)
    if meta.word_count < options.min_words:
        return FileFailure(raw.path, "normalize", f"too short: {meta.word_count} words", raw.size, raw.mtime_ns)
    return Analysis(
        path=raw.path,
        size=raw.size,
        mtime_ns=raw.mtime_ns,
        sha256=raw.sha256,
        encoding=decoded.encoding,
        repaired=decoded.repaired,
        body=body,
        body_sha256=hashlib.sha256(body.encode("utf-8")).hexdigest(),
        title=meta.title,
        language=detection.language,
        language_prob=detection.probability,
        language_alt=detection.runner_up,
        source=meta.source,
        dateline=meta.dateline,
        byline=meta.byline,
        published=meta.published,
        word_count=meta.word_count,
        char_count=meta.char_count,
        paragraph_count=meta.paragraph_count,
        summary=meta.summary,
        normalizer_version=normalize.NORMALIZER_VERSION,
        ms=round((time.perf_counter() - started) * 1000, 3),
        stage_ms=timings,
    )


@dataclass
class IngestResult:
    counts: store.BatchCounts = field(default_factory=store.BatchCounts)
    seen: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {**self.counts.as_dict(), "seen": self.seen, "seconds": round(self.seconds, 3)}


def _now() -> datetime:
    return datetime.now(UTC)


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

    def scan(
        self,
        roots: Sequence[Path],
        progress: Callable[[int], None] | None = None,
        remove_missing: bool = True,
    ) -> IngestResult:
        """Bring the DB in line with the files under ``roots``: new, changed and gone."""
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
            pending.append(candidate)
            if len(pending) >= self.batch_size:
                result.counts.merge(self.ingest(pending))
                if progress:
                    progress(len(pending))
                pending = []
        if pending:
            result.counts.merge(self.ingest(pending))
            if progress:
                progress(len(pending))
        if remove_missing:
            missing = [p for p in known if p not in present and not os.path.isfile(p)]
            for start in range(0, len(missing), self.batch_size):
                chunk = missing[start : start + self.batch_size]
                result.counts.merge(self.db.retrying(store.remove_missing, self.clock(), chunk))
        result.seconds = time.monotonic() - started
        return result

    def ingest(self, candidates: Iterable[Candidate]) -> store.BatchCounts:
        """Read, analyse and store one batch of candidates in one transaction."""
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
        with self.db.read() as session:
            known = store.live_files_by_sha(session, (r.sha256 for r in raws))
        links = []
        analyses: list[Analysis] = []
        for raw in raws:
            if raw.sha256 in known:  # same bytes as a live file: a move, a copy or unchanged
                links.append((store.Linked(raw.path, raw.size, raw.mtime_ns, raw.sha256), known[raw.sha256][1]))
                continue
            outcome = analyze(raw, self.options)
            if isinstance(outcome, FileFailure):
                failures.append(outcome)
            else:
                analyses.append(outcome)
        counts: store.BatchCounts = self.db.retrying(
            store.apply_batch, self.clock(), analyses=analyses, links=links, failures=failures
        )
        for a in analyses:
            log.info("ingest.done", path=a.path, lang=a.language, words=a.word_count, ms=a.ms)
        for f in failures:
            log.warning("ingest.failed", path=f.path, stage=f.stage, reason=f.reason)
        return counts
