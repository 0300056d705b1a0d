"""The change sequence: numbers given to documents as they change, which the index follows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from indexer.db.models import Counter, Document
from indexer.db.session import CHANGES_CHANNEL

__all__ = [
    "changes_since",
    "current_seq",
    "first_change_after",
    "next_seqs",
    "resequence",
]


def next_seqs(session: Session, count: int) -> range:
    # The UPDATE takes the counter's row lock until commit, so concurrent writers commit
    # in sequence order and a follower reading "seq > checkpoint" never skips a change.
    top = session.execute(
        update(Counter)
        .where(Counter.name == "seq")
        .values(value=Counter.value + count)
        .returning(Counter.value)
    ).scalar_one()
    if session.get_bind().dialect.name == "postgresql":
        # Heard by every node's daemon when this transaction commits (db/session.py:
        # listen_for_changes); several in one transaction arrive as one.
        session.execute(select(func.pg_notify(CHANGES_CHANNEL, "")))
    return range(top - count + 1, top + 1)


def current_seq(session: Session) -> int:
    return session.scalar(select(Counter.value).where(Counter.name == "seq")) or 0


def first_change_after(session: Session, seq: int) -> datetime | None:
    """When the oldest change above ``seq`` was made (None: there is none), in UTC."""
    query = select(Document.updated_at).where(Document.seq > seq).order_by(Document.seq).limit(1)
    when = session.scalar(query)
    return when.replace(tzinfo=UTC) if when is not None and when.tzinfo is None else when


def changes_since(session: Session, seq: int, limit: int) -> list[Document]:
    return list(
        session.scalars(select(Document).where(Document.seq > seq).order_by(Document.seq).limit(limit))
    )


def resequence(session: Session, doc_ids: Sequence[int]) -> int:
    """Give documents new sequence numbers so the index follower applies them again."""
    docs = list(session.scalars(select(Document).where(Document.id.in_(list(doc_ids)))))
    for doc, seq in zip(docs, next_seqs(session, len(docs)), strict=True):
        doc.seq = seq
    return len(docs)
