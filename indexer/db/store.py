"""Every query indexer makes. Callers pass a Session; one write transaction per unit of work."""

from __future__ import annotations

import json
from collections import Counter as Tally
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from indexer.db.models import Counter, Document, Failure, File, JobRun
from indexer.ingest.types import Analysis, FileFailure

__all__ = [
    "BatchCounts",
    "Linked",
    "apply_batch",
    "changes_since",
    "count_live",
    "current_seq",
    "documents_by_ids",
    "failures",
    "get_document",
    "iter_live_documents",
    "known_states",
    "live_files_by_sha",
    "paths_of",
    "remove_missing",
    "summary",
]


@dataclass
class BatchCounts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    failed: int = 0
    deleted: int = 0
    failed_paths: list[tuple[str, str]] = field(default_factory=list)
    doc_ids: dict[str, int] = field(default_factory=dict)  # path -> document, for logging

    def merge(self, other: BatchCounts) -> None:
        for name in ("added", "updated", "unchanged", "duplicates", "failed", "deleted"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.failed_paths.extend(other.failed_paths)

    def as_dict(self) -> dict[str, int]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "duplicates": self.duplicates,
            "failed": self.failed,
            "deleted": self.deleted,
        }


@dataclass(frozen=True, slots=True)
class Linked:
    """A file whose bytes are already known: it joins that document without analysis."""

    path: str
    size: int
    mtime_ns: int
    sha256: str


def _in_roots(column, roots: Sequence[str] | None):  # type: ignore[no-untyped-def]
    if roots is None:
        return True
    conditions = []
    for root in roots:
        conditions.append(column == root)
        conditions.append(column.startswith(root.rstrip("/") + "/", autoescape=True))
    return or_(*conditions)


def known_states(session: Session, roots: Sequence[str] | None = None) -> dict[str, tuple[int, int, bool]]:
    """path -> (size, mtime_ns, failed) for every file the DB knows under ``roots``."""
    states: dict[str, tuple[int, int, bool]] = {}
    for path, size, mtime in session.execute(
        select(File.path, File.size, File.mtime_ns).where(_in_roots(File.path, roots))
    ):
        states[path] = (size, mtime, False)
    for path, size, mtime, transient in session.execute(
        select(Failure.path, Failure.size, Failure.mtime_ns, Failure.transient).where(
            _in_roots(Failure.path, roots)
        )
    ):
        # A transient failure (vanished, locked, changed while read) is retried on sight.
        states[path] = (-1, -1, True) if transient else (size or 0, mtime or 0, True)
    return states


def live_files_by_sha(session: Session, shas: Iterable[str]) -> dict[str, tuple[str, int]]:
    """sha256 -> (path, document id) of a live file with those bytes."""
    shas = list(set(shas))
    found: dict[str, tuple[str, int]] = {}
    for start in range(0, len(shas), 500):
        rows = session.execute(
            select(File.sha256, File.path, File.document_id).where(File.sha256.in_(shas[start : start + 500]))
        )
        for sha, path, doc_id in rows:
            found.setdefault(sha, (path, doc_id))
    return found


def _next_seqs(session: Session, count: int) -> range:
    # The UPDATE takes the counter's row lock until commit, so concurrent writers commit
    # in sequence order and a follower reading "seq > checkpoint" never skips a change.
    top = session.execute(
        update(Counter).where(Counter.name == "seq").values(value=Counter.value + count).returning(Counter.value)
    ).scalar_one()
    return range(top - count + 1, top + 1)


def current_seq(session: Session) -> int:
    return session.scalar(select(Counter.value).where(Counter.name == "seq")) or 0


def _fill(doc: Document, a: Analysis, now: datetime) -> None:
    doc.path = a.path
    doc.sha256 = a.sha256
    doc.size = a.size
    doc.mtime_ns = a.mtime_ns
    doc.body_sha256 = a.body_sha256
    doc.encoding = a.encoding
    doc.repaired = a.repaired
    doc.language = a.language
    doc.language_prob = a.language_prob
    doc.language_alt = a.language_alt
    doc.languages = ",".join(a.languages)
    doc.title = a.title
    doc.source = a.source
    doc.dateline = a.dateline
    doc.byline = a.byline
    doc.published = a.published
    doc.word_count = a.word_count
    doc.char_count = a.char_count
    doc.paragraph_count = a.paragraph_count
    doc.summary = a.summary
    doc.body = a.body
    doc.removed = json.dumps([{"rule": r.rule, "text": r.text} for r in a.removed], ensure_ascii=False)
    doc.flags = ",".join(a.flags)
    doc.fingerprint = a.fingerprint
    doc.normalizer_version = a.normalizer_version
    doc.updated_at = now
    doc.deleted_at = None


class _Batch:
    """One transaction's worth of changes; collects touched documents for sequencing."""

    def __init__(self, session: Session, now: datetime, force: bool = False) -> None:
        self.session = session
        self.now = now
        self.force = force  # re-store analyses even when the bytes did not change (reprocess)
        self.counts = BatchCounts()
        self.touched: dict[int, Document] = {}
        self.paths: list[str] = []

    def touch(self, doc: Document) -> None:
        if doc.id is None:
            self.session.flush()  # assigns the id
        self.touched[doc.id] = doc

    def live_doc_by_body(self, body_sha: str) -> Document | None:
        return self.session.scalars(
            select(Document).where(Document.body_sha256 == body_sha, Document.deleted_at.is_(None)).limit(1)
        ).first()

    def detach(self, file: File) -> None:
        """Take ``file`` off its document; tombstone the document if no file holds it."""
        doc = self.session.get(Document, file.document_id)
        if doc is None:
            return
        others = self.session.scalars(
            select(File).where(File.document_id == doc.id, File.id != file.id).order_by(File.id).limit(1)
        ).first()
        if others is None:
            doc.deleted_at = self.now
            doc.updated_at = self.now
            self.counts.deleted += 1
        elif doc.path == file.path:
            doc.path, doc.sha256, doc.size, doc.mtime_ns = others.path, others.sha256, others.size, others.mtime_ns
        self.touch(doc)

    def clear_failure(self, path: str) -> None:
        self.session.execute(delete(Failure).where(Failure.path == path))

    def add_analysis(self, a: Analysis) -> None:
        self.paths.append(a.path)
        self.clear_failure(a.path)
        file = self.session.scalars(select(File).where(File.path == a.path)).first()
        if file is not None and file.sha256 == a.sha256:
            file.size, file.mtime_ns, file.seen_at = a.size, a.mtime_ns, self.now
            current = self.session.get(Document, file.document_id) if self.force else None
            if current is None:
                self.counts.unchanged += 1
                return
            _fill(current, a, self.now)  # reprocessed by newer rules: same bytes, same id
            self.touch(current)
            self.counts.updated += 1
            return
        same_body = self.live_doc_by_body(a.body_sha256)
        if file is not None:
            current = self.session.get(Document, file.document_id)
            file.size, file.mtime_ns, file.sha256, file.seen_at = a.size, a.mtime_ns, a.sha256, self.now
            if same_body is not None and (current is None or same_body.id != current.id):
                self.detach(file)
                file.document_id = same_body.id
                self.counts.duplicates += 1
                return
            if same_body is not None:  # same text, new bytes (say, another encoding)
                _fill(same_body, a, self.now)
                self.touch(same_body)
                self.counts.updated += 1
                return
            shared = current is not None and self.session.scalar(
                select(func.count()).select_from(File).where(File.document_id == current.id)
            ) > 1
            if current is not None and not shared:
                _fill(current, a, self.now)  # an edit: same document id, new content
                self.touch(current)
                self.counts.updated += 1
                return
            self.detach(file)
            doc = Document(ingested_at=self.now)
            _fill(doc, a, self.now)
            self.session.add(doc)
            self.touch(doc)
            file.document_id = doc.id
            self.counts.updated += 1
            return
        if same_body is not None:
            self.session.add(
                File(path=a.path, document_id=same_body.id, size=a.size, mtime_ns=a.mtime_ns,
                     sha256=a.sha256, seen_at=self.now)
            )
            self.counts.duplicates += 1
            return
        doc = Document(ingested_at=self.now)
        _fill(doc, a, self.now)
        self.session.add(doc)
        self.touch(doc)
        self.session.add(
            File(path=a.path, document_id=doc.id, size=a.size, mtime_ns=a.mtime_ns, sha256=a.sha256, seen_at=self.now)
        )
        self.counts.added += 1

    def add_link(self, link: Linked, document_id: int) -> None:
        """A path whose bytes a live file already has: join that document, no analysis."""
        self.clear_failure(link.path)
        file = self.session.scalars(select(File).where(File.path == link.path)).first()
        if file is not None:
            if file.document_id == document_id:
                file.size, file.mtime_ns, file.sha256, file.seen_at = link.size, link.mtime_ns, link.sha256, self.now
                self.counts.unchanged += 1
                return
            self.detach(file)
            file.document_id = document_id
            file.size, file.mtime_ns, file.sha256, file.seen_at = link.size, link.mtime_ns, link.sha256, self.now
        else:
            self.session.add(
                File(path=link.path, document_id=document_id, size=link.size, mtime_ns=link.mtime_ns,
                     sha256=link.sha256, seen_at=self.now)
            )
        doc = self.session.get(Document, document_id)
        if doc is not None and doc.deleted_at is not None:  # the file came back
            doc.deleted_at = None
            doc.path = link.path
            self.touch(doc)
            self.counts.added += 1
        else:
            self.counts.duplicates += 1

    def add_failure(self, f: FileFailure) -> None:
        self.counts.failed += 1
        self.counts.failed_paths.append((f.path, f"{f.stage}: {f.reason}"))
        existing = self.session.scalars(select(Failure).where(Failure.path == f.path)).first()
        if existing is None:
            self.session.add(
                Failure(path=f.path, stage=f.stage, reason=f.reason, transient=f.transient, attempts=1,
                        size=f.size, mtime_ns=f.mtime_ns, first_seen=self.now, last_seen=self.now)
            )
        else:
            existing.stage, existing.reason, existing.transient = f.stage, f.reason, f.transient
            existing.size, existing.mtime_ns = f.size, f.mtime_ns
            existing.attempts += 1
            existing.last_seen = self.now
        # A file that was a document and now fails (rewritten as binary, say) leaves the index.
        file = self.session.scalars(select(File).where(File.path == f.path)).first()
        if file is not None and not f.transient:
            self.detach(file)
            self.session.delete(file)

    def remove_path(self, path: str) -> None:
        file = self.session.scalars(select(File).where(File.path == path)).first()
        if file is not None:
            self.detach(file)
            self.session.delete(file)
        self.clear_failure(path)

    def finish(self) -> BatchCounts:
        self.session.flush()
        if self.paths:
            rows = self.session.execute(select(File.path, File.document_id).where(File.path.in_(self.paths)))
            self.counts.doc_ids.update({path: doc_id for path, doc_id in rows})
        if self.touched:
            for doc, seq in zip(self.touched.values(), _next_seqs(self.session, len(self.touched))):
                doc.seq = seq
            self.session.flush()
        return self.counts


def apply_batch(
    session: Session,
    now: datetime,
    analyses: Sequence[Analysis] = (),
    links: Sequence[tuple[Linked, int]] = (),
    failures: Sequence[FileFailure] = (),
    removed: Sequence[str] = (),
    force: bool = False,
) -> BatchCounts:
    """Write one batch of outcomes in the caller's transaction and sequence the changes."""
    batch = _Batch(session, now, force)
    for path in removed:
        batch.remove_path(path)
    for link, doc_id in links:
        batch.add_link(link, doc_id)
    for a in analyses:
        batch.add_analysis(a)
    for f in failures:
        batch.add_failure(f)
    return batch.finish()


def remove_missing(session: Session, now: datetime, paths: Sequence[str]) -> BatchCounts:
    return apply_batch(session, now, removed=paths)


def changes_since(session: Session, seq: int, limit: int) -> list[Document]:
    return list(session.scalars(select(Document).where(Document.seq > seq).order_by(Document.seq).limit(limit)))


def iter_live_documents(session: Session, batch: int = 500) -> Iterator[list[Document]]:
    """All live documents in id order, ``batch`` at a time (keyset pagination: flat memory)."""
    last = 0
    while True:
        rows = list(
            session.scalars(
                select(Document)
                .where(Document.id > last, Document.deleted_at.is_(None))
                .order_by(Document.id)
                .limit(batch)
            )
        )
        if not rows:
            return
        yield rows
        last = rows[-1].id
        session.expunge_all()


def count_live(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Document).where(Document.deleted_at.is_(None))) or 0


def get_document(session: Session, doc_id: int) -> Document | None:
    return session.get(Document, doc_id)


def documents_by_ids(session: Session, ids: Sequence[int]) -> dict[int, Document]:
    if not ids:
        return {}
    return {d.id: d for d in session.scalars(select(Document).where(Document.id.in_(list(ids))))}


def paths_of(session: Session, doc_id: int) -> list[str]:
    return list(session.scalars(select(File.path).where(File.document_id == doc_id).order_by(File.id)))


def failures(session: Session) -> list[Failure]:
    return list(session.scalars(select(Failure).order_by(Failure.last_seen.desc(), Failure.path)))


def summary(session: Session) -> dict[str, object]:
    live = Document.deleted_at.is_(None)
    by_language = dict(
        session.execute(
            select(Document.language, func.count()).where(live).group_by(Document.language).order_by(func.count().desc())
        ).all()
    )
    by_source = dict(
        session.execute(
            select(func.coalesce(Document.source, ""), func.count())
            .where(live)
            .group_by(Document.source)
            .order_by(func.count().desc())
            .limit(20)
        ).all()
    )
    failed_stages = Tally(dict(session.execute(select(Failure.stage, func.count()).group_by(Failure.stage)).all()))
    last_runs = {
        job: (started, ended, outcome)
        for job, started, ended, outcome in session.execute(
            select(JobRun.job, JobRun.started_at, JobRun.ended_at, JobRun.outcome)
            .where(JobRun.id.in_(select(func.max(JobRun.id)).group_by(JobRun.job)))
        )
    }
    return {
        "documents": sum(by_language.values()),
        "by_language": by_language,
        "by_source": {k or "(none)": v for k, v in by_source.items()},
        "files": session.scalar(select(func.count()).select_from(File)) or 0,
        "failures": sum(failed_stages.values()),
        "failures_by_stage": dict(failed_stages),
        "seq": current_seq(session),
        "last_runs": last_runs,
    }


def outdated_files(session: Session, version: int, after_id: int, limit: int) -> list[tuple[int, str]]:
    """(file id, path) of files whose document was made by an older normalizer."""
    rows = session.execute(
        select(File.id, File.path)
        .join(Document, Document.id == File.document_id)
        .where(Document.normalizer_version < version, Document.deleted_at.is_(None), File.id > after_id)
        .order_by(File.id)
        .limit(limit)
    )
    return [(file_id, path) for file_id, path in rows]
