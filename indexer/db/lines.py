"""doc_lines and learned_lines: the short lines counted per group, and the rules learned."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import delete, func, select, tuple_, union, update
from sqlalchemy.orm import Session

from indexer.db.common import chunks, in_roots, insert_rows, table_of
from indexer.db.documents import count_live
from indexer.db.models import Counter, DocLine, Document, LearnedLine

__all__ = [
    "DOCUMENT_ROW",
    "bump_learned_version",
    "count_lines",
    "count_stories",
    "documents_without_lines",
    "learned_lines",
    "learned_rules",
    "learned_version",
    "line_sample",
    "lines_missing",
    "replace_learned",
    "stale_furniture_documents",
    "write_lines",
]


# The doc_lines row that stands for the document itself: group sizes are its counts.
# No line's key is empty (keys are hashes).
DOCUMENT_ROW = b""


_LINE_COLUMNS = ("document_id", "line_key", "group_key", "furniture")


def _line_rows(
    doc_id: int, key: bytes, lines: Iterable[tuple[bytes, bool]]
) -> list[tuple[int, bytes, bytes, bool]]:
    return [(doc_id, DOCUMENT_ROW, key, False), *((doc_id, k, key, f) for k, f in lines)]


def lines_missing(session: Session) -> bool:
    """Whether some live document has no counted lines; two index-only counts, so the
    nightly job does not read every document to find none."""
    counted = session.scalar(
        select(func.count()).select_from(DocLine).where(DocLine.line_key == DOCUMENT_ROW)
    )
    return count_live(session) != (counted or 0)


def documents_without_lines(session: Session, after_id: int, limit: int) -> list[tuple[int, str, str, str]]:
    """(id, path, body, removed) of live documents whose lines were never counted:
    stored before learning existed, or brought back after a tombstone."""
    has_lines = (
        select(DocLine.document_id)
        .where(DocLine.document_id == Document.id, DocLine.line_key == DOCUMENT_ROW)
        .exists()
    )
    rows = session.execute(
        select(Document.id, Document.path, Document.body, Document.removed)
        .where(Document.id > after_id, Document.deleted_at.is_(None), ~has_lines)
        .order_by(Document.id)
        .limit(limit)
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


def write_lines(
    session: Session,
    documents: Sequence[tuple[int, bytes, Iterable[tuple[bytes, bool]]]],
    clear: Sequence[int] | None = None,
) -> None:
    """Replace documents' counted lines: (document id, group key, (line key, furniture) pairs).

    ``clear``: the documents whose stored lines go first (default: those of ``documents``).
    """
    for chunk in chunks(clear if clear is not None else [doc_id for doc_id, _, _ in documents]):
        session.execute(delete(DocLine).where(DocLine.document_id.in_(chunk)))
    rows = [row for doc_id, group, lines in documents for row in _line_rows(doc_id, group, lines)]
    insert_rows(session.connection(), table_of(DocLine), _LINE_COLUMNS, rows)


def count_lines(
    session: Session, min_documents: int
) -> tuple[dict[bytes, int], list[tuple[bytes, bytes, int]]]:
    """Group sizes (group key -> documents), and (group, line, documents) for every line
    in at least ``min_documents`` documents of its group. Reads only the narrow
    doc_lines table, through its (group_key, line_key) index."""
    sizes = dict(
        session.execute(
            select(DocLine.group_key, func.count())
            .where(DocLine.line_key == DOCUMENT_ROW)
            .group_by(DocLine.group_key)
        ).all()
    )
    frequent = session.execute(
        select(DocLine.group_key, DocLine.line_key, func.count())
        .where(DocLine.line_key != DOCUMENT_ROW)
        .group_by(DocLine.group_key, DocLine.line_key)
        .having(func.count() >= min_documents)
    )
    return sizes, [(g, k, n) for g, k, n in frequent]


def count_stories(session: Session, pairs: Sequence[tuple[bytes, bytes]]) -> dict[tuple[bytes, bytes], int]:
    """(group, line) -> distinct stories holding it: near-duplicates (one cluster) count once."""
    story = func.coalesce(Document.cluster_id, Document.id)
    counts: dict[tuple[bytes, bytes], int] = {}
    for part in chunks(pairs, 200):
        chunk = list(part)
        rows = session.execute(
            select(DocLine.group_key, DocLine.line_key, func.count(story.distinct()))
            .join(Document, Document.id == DocLine.document_id)
            .where(tuple_(DocLine.group_key, DocLine.line_key).in_(chunk))
            .group_by(DocLine.group_key, DocLine.line_key)
        )
        counts.update(((g, k), n) for g, k, n in rows)
    return counts


def line_sample(session: Session, group: bytes, line: bytes) -> tuple[str, str, str] | None:
    """(path, body, removed) of one live document of ``group`` holding ``line``."""
    row = session.execute(
        select(Document.path, Document.body, Document.removed)
        .join(DocLine, DocLine.document_id == Document.id)
        .where(DocLine.group_key == group, DocLine.line_key == line, Document.deleted_at.is_(None))
        .order_by(Document.id)
        .limit(1)
    ).first()
    return None if row is None else (row[0], row[1], row[2])


def learned_lines(session: Session) -> list[LearnedLine]:
    return list(session.scalars(select(LearnedLine).order_by(LearnedLine.group_name, LearnedLine.text)))


def learned_rules(session: Session) -> dict[bytes, frozenset[bytes]]:
    """group key -> its learned line keys, as analysis applies them."""
    rules: dict[bytes, set[bytes]] = {}
    for group, line in session.execute(select(LearnedLine.group_key, LearnedLine.line_key)):
        rules.setdefault(group, set()).add(line)
    return {group: frozenset(lines) for group, lines in rules.items()}


def learned_version(session: Session) -> int:
    """Moves whenever the learned rules change: ingesters reload them when it does."""
    return session.scalar(select(Counter.value).where(Counter.name == "learned")) or 0


def bump_learned_version(session: Session) -> int:
    top = session.execute(
        update(Counter)
        .where(Counter.name == "learned")
        .values(value=Counter.value + 1)
        .returning(Counter.value)
    ).scalar()
    if top is None:
        session.add(Counter(name="learned", value=1))
        return 1
    return int(top)


def replace_learned(session: Session, rules: Sequence[LearnedLine]) -> tuple[int, int]:
    """Make ``rules`` the learned lines; returns (added, dropped). Counts of lines kept
    are refreshed; the version moves only when the set of lines changes."""
    current = {(r.group_key, r.line_key): r for r in session.scalars(select(LearnedLine))}
    wanted = {(r.group_key, r.line_key): r for r in rules}
    dropped = [key for key in current if key not in wanted]
    for chunk in chunks(dropped, 200):
        session.execute(
            delete(LearnedLine).where(tuple_(LearnedLine.group_key, LearnedLine.line_key).in_(chunk))
        )
    added = 0
    for key, rule in wanted.items():
        row = current.get(key)
        if row is None:
            session.add(rule)
            added += 1
        else:
            row.documents, row.group_documents = rule.documents, rule.group_documents
    if added or dropped:
        bump_learned_version(session)
    return added, len(dropped)


def stale_furniture_documents(
    session: Session, after_id: int, limit: int, roots: Sequence[str] | None = None
) -> list[tuple[int, str]]:
    """(id, path) of live documents analysed under other learned rules than today's:
    a line now learned that their analysis kept, or one removed that is learned no more."""
    same_line = (LearnedLine.group_key == DocLine.group_key) & (LearnedLine.line_key == DocLine.line_key)
    now_furniture = (
        select(DocLine.document_id).join(LearnedLine, same_line).where(DocLine.furniture.is_(False))
    )
    no_longer = select(DocLine.document_id).where(
        DocLine.furniture.is_(True), ~select(LearnedLine.line_key).where(same_line).exists()
    )
    stale = union(now_furniture, no_longer).subquery()
    rows = session.execute(
        select(Document.id, Document.path)
        .where(
            Document.id.in_(select(stale.c.document_id)),
            Document.id > after_id,
            Document.deleted_at.is_(None),
            in_roots(Document.path, roots),
        )
        .order_by(Document.id)
        .limit(limit)
    )
    return [(doc_id, path) for doc_id, path in rows]
