"""files and failures: which paths the DB holds, their states, the failure ledger."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from indexer.db.common import affected, chunks, in_roots
from indexer.db.models import Document, Failure, File

__all__ = [
    "FORGET_REASON",
    "FORGET_STAGE",
    "clear_failures",
    "document_of_path",
    "failure_paths",
    "failure_states",
    "failures",
    "file_states",
    "file_states_of",
    "files_under",
    "folder_failures",
    "live_file_states",
    "live_files_by_sha",
    "outdated_files",
    "paths_by_document",
    "paths_of",
]


def file_states(session: Session, roots: Sequence[str] | None = None) -> Iterable[tuple[str, int, int]]:
    """(path, size, mtime_ns) of every file the DB knows under ``roots``."""
    return session.execute(select(File.path, File.size, File.mtime_ns).where(in_roots(File.path, roots)))


def failure_states(
    session: Session, roots: Sequence[str] | None = None
) -> Iterable[tuple[str, int | None, int | None, bool, int, datetime]]:
    """(path, size, mtime_ns, transient, attempts, last seen) of every recorded failure
    under ``roots``."""
    return session.execute(
        select(
            Failure.path,
            Failure.size,
            Failure.mtime_ns,
            Failure.transient,
            Failure.attempts,
            Failure.last_seen,
        ).where(in_roots(Failure.path, roots))
    )


def live_files_by_sha(session: Session, shas: Iterable[str]) -> dict[str, tuple[str, int]]:
    """sha256 -> (path, document id) of a live file with those bytes."""
    shas = list(set(shas))
    found: dict[str, tuple[str, int]] = {}
    for chunk in chunks(shas):
        rows = session.execute(select(File.sha256, File.path, File.document_id).where(File.sha256.in_(chunk)))
        for sha, path, doc_id in rows:
            found.setdefault(sha, (path, doc_id))
    return found


def paths_of(session: Session, doc_id: int) -> list[str]:
    return list(session.scalars(select(File.path).where(File.document_id == doc_id).order_by(File.id)))


def paths_by_document(session: Session, doc_ids: Sequence[int]) -> dict[int, list[str]]:
    """The paths of each of ``doc_ids`` that has files, oldest file first."""
    out: dict[int, list[str]] = {}
    for chunk in chunks(sorted(set(doc_ids))):
        rows = session.execute(
            select(File.document_id, File.path).where(File.document_id.in_(chunk)).order_by(File.id)
        )
        for doc_id, path in rows:
            out.setdefault(doc_id, []).append(path)
    return out


def failures(session: Session) -> list[Failure]:
    return list(session.scalars(select(Failure).order_by(Failure.last_seen.desc(), Failure.path)))


def folder_failures(session: Session) -> list[Failure]:
    """Folders a scan could not list (stage "folder"): their files are kept meanwhile."""
    return list(session.scalars(select(Failure).where(Failure.stage == "folder").order_by(Failure.path)))


def files_under(session: Session, root: str) -> bool:
    """Whether the database holds any file under the folder ``root``."""
    found = session.scalar(select(File.id).where(in_roots(File.path, [root]), File.path != root).limit(1))
    return found is not None


def failure_paths(session: Session, skip_stages: Sequence[str] = ()) -> list[str]:
    statement = select(Failure.path).order_by(Failure.path)
    if skip_stages:
        statement = statement.where(Failure.stage.not_in(list(skip_stages)))
    return list(session.scalars(statement))


# A file `indexer forget` removed stays in the failure ledger under this stage, with its
# size and mtime: scans skip it until it changes (known_states), then it is new again.
FORGET_STAGE = "forget"


FORGET_REASON = "forgotten by indexer forget"


def document_of_path(session: Session, path: str) -> int | None:
    return session.scalar(select(File.document_id).where(File.path == path))


def clear_failures(session: Session, paths: Sequence[str] | None = None) -> int:
    """Forget failures (all, or these paths) so the next ingest tries them afresh."""
    statement = delete(Failure)
    if paths is not None:
        statement = statement.where(Failure.path.in_(list(paths)))
    return affected(session.execute(statement))


def live_file_states(
    session: Session, after_id: int, limit: int
) -> list[tuple[int, str, int, int, str, int]]:
    """(file id, path, size, mtime_ns, sha256, document id) of files, in id order."""
    rows = session.execute(
        select(File.id, File.path, File.size, File.mtime_ns, File.sha256, File.document_id)
        .where(File.id > after_id)
        .order_by(File.id)
        .limit(limit)
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


def file_states_of(session: Session, doc_ids: Sequence[int]) -> dict[int, list[tuple[str, int, int, str]]]:
    """document id -> (path, size, mtime_ns, sha256) of each of its files, by path."""
    found: dict[int, list[tuple[str, int, int, str]]] = {}
    for chunk in chunks(list(doc_ids)):
        rows = session.execute(
            select(File.document_id, File.path, File.size, File.mtime_ns, File.sha256)
            .where(File.document_id.in_(chunk))
            .order_by(File.path)
        )
        for doc_id, path, size, mtime_ns, sha in rows:
            found.setdefault(doc_id, []).append((path, size, mtime_ns, sha))
    return found


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
