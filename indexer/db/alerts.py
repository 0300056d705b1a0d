"""Queries of alerts: stored definitions, high-water marks, matches. Nothing here decides."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from indexer.db.common import affected
from indexer.db.models import Alert, AlertMark, AlertMatch, Document

__all__ = [
    "MATCHING",
    "add_alert",
    "all_marks",
    "changed_documents",
    "copies_of",
    "count_notices",
    "document_states",
    "documents_ingested_since",
    "ensure_mark",
    "failing_marks",
    "get_alert",
    "insert_matches",
    "known_matches",
    "latest_notices",
    "marks_of",
    "notices_of_clusters",
    "pending_notices",
    "recent_notices",
    "record_delivered",
    "record_failure",
    "remove_alert",
    "set_marks",
    "stored_alerts",
]

MATCHING = ""  # the mark of matching itself, beside one per delivery


def stored_alerts(session: Session) -> list[Alert]:
    return list(session.scalars(select(Alert).order_by(Alert.name)))


def get_alert(session: Session, name: str) -> Alert | None:
    return session.scalar(select(Alert).where(Alert.name == name))


def add_alert(session: Session, alert: Alert) -> None:
    session.add(alert)
    session.flush()


def remove_alert(session: Session, name: str) -> bool:
    """Remove a stored alert with its marks and matches; False when there is none."""
    found = affected(session.execute(delete(Alert).where(Alert.name == name)))
    session.execute(delete(AlertMark).where(AlertMark.alert == name))
    session.execute(delete(AlertMatch).where(AlertMatch.alert == name))
    return bool(found)


def marks_of(session: Session, alert: str) -> dict[str, AlertMark]:
    """The alert's marks by delivery (MATCHING for matching)."""
    return {m.delivery: m for m in session.scalars(select(AlertMark).where(AlertMark.alert == alert))}


def ensure_mark(session: Session, alert: str, delivery: str, seq: int) -> AlertMark:
    """The mark, made at ``seq`` when it does not exist yet."""
    mark = session.get(AlertMark, (alert, delivery))
    if mark is None:
        mark = AlertMark(alert=alert, delivery=delivery, seq=seq, delivered=0, failures=0)
        session.add(mark)
        session.flush()
    return mark


def set_marks(session: Session, alerts: Sequence[str], delivery: str, seq: int) -> None:
    """Move these alerts' existing marks of ``delivery`` up to ``seq`` (one statement)."""
    for start in range(0, len(alerts), 500):
        session.execute(
            update(AlertMark)
            .where(
                AlertMark.alert.in_(alerts[start : start + 500]),
                AlertMark.delivery == delivery,
                AlertMark.seq < seq,
            )
            .values(seq=seq)
            .execution_options(synchronize_session=False)
        )


def record_delivered(
    session: Session, alert: str, delivery: str, seq: int, count: int, now: datetime
) -> None:
    mark = ensure_mark(session, alert, delivery, seq)
    mark.seq = max(mark.seq, seq)
    mark.delivered += count
    mark.failures, mark.last_error, mark.retry_at, mark.last_attempt_at = 0, None, None, now


def record_failure(
    session: Session, alert: str, delivery: str, error: str, now: datetime, retry_at: datetime
) -> int:
    """Count a failed attempt; returns the failures in a row."""
    mark = ensure_mark(session, alert, delivery, 0)
    mark.failures += 1
    mark.last_error, mark.last_attempt_at, mark.retry_at = error[:2000], now, retry_at
    return mark.failures


def failing_marks(session: Session) -> list[AlertMark]:
    return list(session.scalars(select(AlertMark).where(AlertMark.failures > 0).order_by(AlertMark.alert)))


def changed_documents(session: Session, after: int, upto: int, limit: int) -> list[tuple[int, int, int]]:
    """(id, seq, cluster) of the first ``limit`` live documents whose last change is in
    (after, upto], in sequence order; the cluster is the document's own id when it has none."""
    rows = session.execute(
        select(Document.id, Document.seq, Document.cluster_id)
        .where(Document.seq > after, Document.seq <= upto, Document.deleted_at.is_(None))
        .order_by(Document.seq)
        .limit(limit)
    )
    return [(doc_id, seq, cluster or doc_id) for doc_id, seq, cluster in rows]


def document_states(session: Session, ids: Sequence[int]) -> list[tuple[int, int, int]]:
    """(id, seq, cluster) of these live documents, in sequence order."""
    found: list[tuple[int, int, int]] = []
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(Document.id, Document.seq, Document.cluster_id).where(
                Document.id.in_(ids[start : start + 500]), Document.deleted_at.is_(None)
            )
        )
        found += [(doc_id, seq, cluster or doc_id) for doc_id, seq, cluster in rows]
    return sorted(found, key=lambda row: row[1])


def documents_ingested_since(session: Session, since: datetime | None) -> list[int]:
    query = select(Document.id).where(Document.deleted_at.is_(None))
    if since is not None:
        query = query.where(Document.ingested_at >= since)
    return list(session.scalars(query.order_by(Document.id)))


def known_matches(session: Session, alerts: Sequence[str], doc_ids: Sequence[int]) -> set[tuple[str, int]]:
    """(alert, document) for each of these documents that one of these alerts matched before."""
    known: set[tuple[str, int]] = set()
    for start in range(0, len(doc_ids), 500):
        rows = session.execute(
            select(AlertMatch.alert, AlertMatch.document_id).where(
                AlertMatch.alert.in_(alerts), AlertMatch.document_id.in_(doc_ids[start : start + 500])
            )
        )
        known.update((alert, doc_id) for alert, doc_id in rows)
    return known


def notices_of_clusters(
    session: Session, alerts: Sequence[str], clusters: Sequence[int]
) -> dict[tuple[str, int], int]:
    """(alert, cluster) -> the id of the alert's first notice (a match not folded) of that
    cluster: one notified in it, or of a document in it now (clusters regroup as copies
    come and go)."""
    found: dict[tuple[str, int], int] = {}
    current = func.coalesce(Document.cluster_id, Document.id)
    for start in range(0, len(clusters), 500):
        chunk = clusters[start : start + 500]
        notified = (
            select(AlertMatch.alert, AlertMatch.cluster, func.min(AlertMatch.id))
            .where(
                AlertMatch.alert.in_(alerts), AlertMatch.folded_into.is_(None), AlertMatch.cluster.in_(chunk)
            )
            .group_by(AlertMatch.alert, AlertMatch.cluster)
        )
        now_in = (
            select(AlertMatch.alert, current, func.min(AlertMatch.id))
            .join(Document, Document.id == AlertMatch.document_id)
            .where(AlertMatch.alert.in_(alerts), AlertMatch.folded_into.is_(None), current.in_(chunk))
            .group_by(AlertMatch.alert, current)
        )
        for query in (notified, now_in):
            for alert, cluster, match_id in session.execute(query):
                key = (alert, cluster)
                found[key] = min(match_id, found.get(key, match_id))
    return found


def insert_matches(session: Session, rows: Sequence[dict[str, Any]], ids: bool = False) -> list[int]:
    """Insert matches (AlertMatch's columns, without ``id``) in few statements (an ORM
    object per match costs more than the query, and a large ingest makes tens of thousands); ``ids``: return their ids,
    in order (SQLite then takes a statement a row)."""
    if not rows:
        return []
    if not ids:
        session.execute(insert(AlertMatch), rows)
        return []
    return list(
        session.scalars(insert(AlertMatch).returning(AlertMatch.id, sort_by_parameter_order=True), rows)
    )


def pending_notices(session: Session, alert: str, after: int, upto: int) -> list[AlertMatch]:
    """The alert's notices (not folded copies) with seq in (after, upto], in sequence order."""
    return list(
        session.scalars(
            select(AlertMatch)
            .where(
                AlertMatch.alert == alert,
                AlertMatch.folded_into.is_(None),
                AlertMatch.seq > after,
                AlertMatch.seq <= upto,
            )
            .order_by(AlertMatch.seq)
        )
    )


def recent_notices(session: Session, alert: str, limit: int) -> list[AlertMatch]:
    return list(
        session.scalars(
            select(AlertMatch)
            .where(AlertMatch.alert == alert, AlertMatch.folded_into.is_(None))
            .order_by(AlertMatch.seq.desc())
            .limit(limit)
        )
    )


def copies_of(session: Session, match_ids: Sequence[int]) -> dict[int, list[int]]:
    """notice id -> the document ids folded into it."""
    found: dict[int, list[int]] = {}
    for start in range(0, len(match_ids), 500):
        rows = session.execute(
            select(AlertMatch.folded_into, AlertMatch.document_id)
            .where(AlertMatch.folded_into.in_(match_ids[start : start + 500]))
            .order_by(AlertMatch.document_id)
        )
        for notice, doc_id in rows:
            if notice is not None:  # always: the query asks for these notices
                found.setdefault(notice, []).append(doc_id)
    return found


def all_marks(session: Session) -> dict[tuple[str, str], AlertMark]:
    return {(m.alert, m.delivery): m for m in session.scalars(select(AlertMark))}


def latest_notices(session: Session) -> dict[str, int]:
    """alert -> the seq of its latest notice."""
    rows = session.execute(
        select(AlertMatch.alert, func.max(AlertMatch.seq))
        .where(AlertMatch.folded_into.is_(None))
        .group_by(AlertMatch.alert)
    )
    return {alert: seq for alert, seq in rows}


def count_notices(session: Session, alert: str, after: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(AlertMatch)
            .where(AlertMatch.alert == alert, AlertMatch.folded_into.is_(None), AlertMatch.seq > after)
        )
        or 0
    )
