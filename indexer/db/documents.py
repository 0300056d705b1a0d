"""documents: reads of the document rows, tombstones, clusters, the status summary."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, literal, select, update
from sqlalchemy.orm import Session, aliased, defer

from indexer.db.bands import drop_bands
from indexer.db.changes import current_seq, next_seqs
from indexer.db.common import chunks
from indexer.db.models import FORGOTTEN, DocLine, Document, Failure, File, JobRun

__all__ = [
    "clusters",
    "count_live",
    "documents_after",
    "documents_by_ids",
    "documents_without_files",
    "forgotten_shas",
    "get_document",
    "iter_live_documents",
    "live_document_ids",
    "made_by_older_normalizer",
    "recently_deleted_by_sha",
    "set_ingested",
    "summary",
    "tombstone",
]


def forgotten_shas(session: Session, shas: Iterable[str]) -> set[str]:
    """Which of ``shas`` are the bytes of a document `indexer forget` forgot."""
    found: set[str] = set()
    # The flag as a literal, as the partial index states it: with a bound parameter SQLite
    # cannot tell the index applies and scans every document, for every batch of new files.
    forgotten = Document.flags == literal(FORGOTTEN, literal_execute=True)
    for chunk in chunks(list(set(shas))):
        found.update(session.scalars(select(Document.sha256).where(forgotten, Document.sha256.in_(chunk))))
    return found


def recently_deleted_by_sha(
    session: Session, shas: Iterable[str], since: datetime
) -> dict[str, tuple[str, int]]:
    """sha256 -> (last path, document id) of a document tombstoned since ``since`` whose
    last file had those bytes, unless a live document holds its text now."""
    shas = list(set(shas))
    found: dict[str, tuple[str, int]] = {}
    live = aliased(Document)
    text_is_live = (
        select(live.id).where(live.body_sha256 == Document.body_sha256, live.deleted_at.is_(None)).exists()
    )
    for chunk in chunks(shas):
        rows = session.execute(
            select(Document.sha256, Document.path, Document.id)
            .where(
                Document.deleted_at >= since,
                Document.sha256.in_(chunk),
                ~text_is_live,
                Document.flags != FORGOTTEN,
            )
            .order_by(Document.deleted_at.desc(), Document.id.desc())
        )
        for sha, path, doc_id in rows:
            found.setdefault(sha, (path, doc_id))
    return found


def get_document(session: Session, doc_id: int) -> Document | None:
    return session.get(Document, doc_id)


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


def documents_after(session: Session, after_id: int, limit: int, with_body: bool) -> list[Document]:
    """Live documents with ids above ``after_id``, in id order (keyset pagination)."""
    query = select(Document).where(Document.id > after_id, Document.deleted_at.is_(None))
    if not with_body:
        query = query.options(defer(Document.body))
    return list(session.scalars(query.order_by(Document.id).limit(limit)))


def documents_by_ids(session: Session, ids: Sequence[int], with_body: bool) -> list[Document]:
    """These live documents, in id order."""
    query = select(Document).where(Document.id.in_(ids), Document.deleted_at.is_(None))
    if not with_body:
        query = query.options(defer(Document.body))
    return list(session.scalars(query.order_by(Document.id)))


def count_live(session: Session) -> int:
    return (
        session.scalar(select(func.count()).select_from(Document).where(Document.deleted_at.is_(None))) or 0
    )


def made_by_older_normalizer(session: Session, version: int) -> bool:
    """Whether a live document was analysed by a normalizer older than ``version``: one
    pass over the documents table when none was (no index holds the version)."""
    older = select(Document.id).where(Document.normalizer_version < version, Document.deleted_at.is_(None))
    return session.scalar(older.limit(1)) is not None


def live_document_ids(session: Session) -> set[int]:
    return set(session.scalars(select(Document.id).where(Document.deleted_at.is_(None))))


def documents_without_files(session: Session) -> list[int]:
    has_file = select(File.id).where(File.document_id == Document.id).exists()
    return list(session.scalars(select(Document.id).where(Document.deleted_at.is_(None), ~has_file)))


def tombstone(session: Session, now: datetime, doc_ids: Sequence[int]) -> int:
    docs = list(session.scalars(select(Document).where(Document.id.in_(list(doc_ids)))))
    session.execute(delete(DocLine).where(DocLine.document_id.in_(list(doc_ids))))
    drop_bands(session, {doc.id: doc.fingerprint for doc in docs})
    for doc, seq in zip(docs, next_seqs(session, len(docs)), strict=True):
        doc.deleted_at = now
        doc.updated_at = now
        doc.seq = seq
    return len(docs)


def clusters(session: Session, min_size: int = 2) -> list[tuple[int, list[Document]]]:
    """Near-duplicate clusters with at least ``min_size`` live documents, largest first."""
    live = Document.deleted_at.is_(None)
    ids = (
        select(Document.cluster_id)
        .where(live, Document.cluster_id.is_not(None))
        .group_by(Document.cluster_id)
        .having(func.count() >= min_size)
    )
    docs = session.scalars(
        select(Document).where(live, Document.cluster_id.in_(ids)).order_by(Document.cluster_id, Document.id)
    )
    grouped: dict[int, list[Document]] = {}
    for doc in docs:
        grouped.setdefault(doc.cluster_id, []).append(doc)  # type: ignore[arg-type]
    return sorted(grouped.items(), key=lambda item: (-len(item[1]), item[0]))


def set_ingested(session: Session, when: Mapping[int, datetime]) -> None:
    """Give documents the ingested time they had where they came from (`indexer import`)."""
    for doc_id, at in when.items():
        session.execute(update(Document).where(Document.id == doc_id).values(ingested_at=at))


def summary(session: Session) -> dict[str, Any]:
    live = Document.deleted_at.is_(None)
    by_language = dict(
        session.execute(
            select(Document.language, func.count())
            .where(live)
            .group_by(Document.language)
            .order_by(func.count().desc())
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
    failed_stages = Tally(
        dict(session.execute(select(Failure.stage, func.count()).group_by(Failure.stage)).all())
    )
    last_runs = {
        job: (started, ended, outcome, node)
        for job, started, ended, outcome, node in session.execute(
            select(JobRun.job, JobRun.started_at, JobRun.ended_at, JobRun.outcome, JobRun.node).where(
                JobRun.id.in_(select(func.max(JobRun.id)).group_by(JobRun.job))
            )
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
