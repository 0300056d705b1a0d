"""Every query indexer makes. Callers pass a Session; one write transaction per unit of work."""

from __future__ import annotations

import json
from collections import Counter as Tally
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete, func, insert, literal, or_, select, tuple_, union, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, aliased, defer

from indexer.db.models import (
    FORGOTTEN, Claim, Counter, DocBand, DocLine, Document, Failure, File, JobRun, LearnedLine,
)
from indexer.db.session import CHANGES_CHANNEL
from indexer.ingest.boilerplate import LEARNED, group_key, short_lines
from indexer.ingest.fingerprint import band_keys, similarity
from indexer.ingest.types import Analysis, FileFailure

__all__ = [
    "BatchCounts",
    "Linked",
    "apply_batch",
    "documents_after",
    "documents_by_ids",
    "file_states_of",
    "set_ingested",
    "bump_learned_version",
    "claim_paths",
    "count_lines",
    "count_stories",
    "documents_without_lines",
    "learned_lines",
    "learned_rules",
    "learned_version",
    "line_sample",
    "lines_missing",
    "lines_of_stored",
    "replace_learned",
    "stale_furniture_documents",
    "write_lines",
    "claims_by_node",
    "clear_failures",
    "db_now",
    "drop_expired_claims",
    "documents_without_files",
    "failure_paths",
    "FORGET_REASON",
    "FORGET_STAGE",
    "document_of_path",
    "forget",
    "live_document_ids",
    "live_file_states",
    "resequence",
    "retry_delay",
    "tombstone",
    "changes_since",
    "count_live",
    "current_seq",
    "first_change_after",
    "failures",
    "files_under",
    "folder_failures",
    "get_document",
    "iter_live_documents",
    "known_states",
    "last_scan_counts",
    "live_files_by_sha",
    "recently_deleted_by_sha",
    "paths_of",
    "paths_by_document",
    "release_claims",
    "renew_claims",
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
    # Paths left to another batch of this process that had them in progress: the caller
    # looks at them again once that one is stored (they may have changed since it read them).
    busy: list[str] = field(default_factory=list)

    def merge(self, other: BatchCounts) -> None:
        for name in ("added", "updated", "unchanged", "duplicates", "failed", "deleted"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.failed_paths.extend(other.failed_paths)
        self.busy.extend(other.busy)

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


# Transient failures (file vanished, permission denied, database busy) are retried after
# 5 s, 10 s, 20 s ... up to an hour; a failed file that changes is retried at once.
RETRY_FIRST_SECONDS = 5.0
RETRY_MAX_SECONDS = 3600.0


def retry_delay(attempts: int) -> float:
    return min(RETRY_FIRST_SECONDS * 2 ** max(0, attempts - 1), RETRY_MAX_SECONDS)


def known_states(
    session: Session, roots: Sequence[str] | None = None, now: datetime | None = None
) -> dict[str, tuple[int, int, bool]]:
    """path -> (size, mtime_ns, failed) for every file the DB knows under ``roots``.

    A scan skips a file whose size and mtime match; a transient failure whose retry time
    has come gets an impossible state so that it is tried again.
    """
    states: dict[str, tuple[int, int, bool]] = {}
    for path, size, mtime in session.execute(
        select(File.path, File.size, File.mtime_ns).where(_in_roots(File.path, roots))
    ):
        states[path] = (size, mtime, False)
    rows = session.execute(
        select(Failure.path, Failure.size, Failure.mtime_ns, Failure.transient, Failure.attempts,
               Failure.last_seen).where(_in_roots(Failure.path, roots))
    )
    for path, size, mtime, transient, attempts, last_seen in rows:
        due = False
        if transient and now is not None:
            last = last_seen if last_seen.tzinfo else last_seen.replace(tzinfo=now.tzinfo)
            due = (now - last).total_seconds() >= retry_delay(attempts)
        states[path] = (-1, -1, True) if due else (size or 0, mtime or 0, True)
    return states


def live_files_by_sha(session: Session, shas: Iterable[str]) -> dict[str, tuple[str, int]]:
    """sha256 -> (path, document id) of a live file with those bytes."""
    shas = list(set(shas))
    found: dict[str, tuple[str, int]] = {}
    for chunk in _chunks(shas):
        rows = session.execute(select(File.sha256, File.path, File.document_id).where(File.sha256.in_(chunk)))
        for sha, path, doc_id in rows:
            found.setdefault(sha, (path, doc_id))
    return found


def forgotten_shas(session: Session, shas: Iterable[str]) -> set[str]:
    """Which of ``shas`` are the bytes of a document `indexer forget` forgot."""
    found: set[str] = set()
    # The flag as a literal, as the partial index states it: with a bound parameter SQLite
    # cannot tell the index applies and scans every document, for every batch of new files.
    forgotten = Document.flags == literal(FORGOTTEN, literal_execute=True)
    for chunk in _chunks(list(set(shas))):
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
    for chunk in _chunks(shas):
        rows = session.execute(
            select(Document.sha256, Document.path, Document.id)
            .where(Document.deleted_at >= since, Document.sha256.in_(chunk), ~text_is_live,
                   Document.flags != FORGOTTEN)
            .order_by(Document.deleted_at.desc(), Document.id.desc())
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


# Estimated Jaccard similarity of word-trigram sets from which two texts are one story
# (rewrites of one wire story measured 0.59-0.95; distinct BBC articles at most 0.03).
NEAR_DUPLICATE_THRESHOLD = 0.5


def _clip(value: str | None, limit: int = 200) -> str | None:
    # PostgreSQL enforces String(200) where SQLite does not: an over-long lead must not
    # turn into a store failure on one database only.
    return value[:limit] if value else value


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
    # "de:0.62,en:0.38": each language of a mixed text and its share of the prose.
    shares = zip(a.languages, a.language_shares or (0.0,) * len(a.languages), strict=True)
    doc.languages = _clip(",".join(f"{lang}:{share:.2f}" for lang, share in shares)) or ""
    doc.title = a.title
    doc.title_derived = a.title_derived
    doc.source = _clip(a.source)
    doc.dateline = _clip(a.dateline)
    doc.byline = _clip(a.byline)
    doc.published = a.published
    doc.date_source = a.date_source
    doc.word_count = a.word_count
    doc.char_count = a.char_count
    doc.paragraph_count = a.paragraph_count
    doc.summary = a.summary
    doc.body = a.body
    doc.removed = json.dumps([{"rule": r.rule, "text": r.text} for r in a.removed], ensure_ascii=False)
    doc.flags = _clip(",".join(a.flags)) or ""
    doc.fingerprint = a.fingerprint
    doc.normalizer_version = a.normalizer_version
    doc.updated_at = now
    doc.deleted_at = None


def _chunks(values: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _drop_bands(session: Session, fingerprints: Mapping[int, bytes | None]) -> None:
    """Delete documents' band rows, given (document id -> fingerprint the rows were made from).

    doc_bands has no index on document_id (it was as large as the table): a document's
    rows are found by primary key, from its fingerprint's band keys. So a stored
    fingerprint changes only together with its bands, and a document without one has none.
    One statement run for each row: a primary key lookup each (IN lists of keys and of
    ids would have the database seek every key with every id).
    """
    rows = [
        {"row_band": band, "row_key": key, "row_document": doc_id}
        for doc_id, signature in fingerprints.items()
        if signature
        for band, key in enumerate(band_keys(signature))
    ]
    if rows:
        table = DocBand.__table__
        session.execute(
            delete(table).where(
                table.c.band == bindparam("row_band"),
                table.c.key == bindparam("row_key"),
                table.c.document_id == bindparam("row_document"),
            ),
            rows,
        )


def _band_rows(connection: Connection, band: int, keys: Sequence[int]) -> Iterable[tuple[int, int]]:
    """(document id, key) of the stored band rows of ``band`` having one of ``keys``. On
    SQLite as the driver's own tuples: tens of thousands of rows per batch, for which
    SQLAlchemy's result rows cost as much as the query."""
    if connection.dialect.name == "sqlite":
        marks = ", ".join("?" * len(keys))
        sql = f"SELECT document_id, key FROM doc_bands WHERE band = ? AND key IN ({marks})"
        return connection.connection.driver_connection.execute(sql, (band, *keys))  # type: ignore[union-attr]
    return connection.execute(  # type: ignore[return-value]
        select(DocBand.document_id, DocBand.key).where(DocBand.band == band, DocBand.key.in_(keys))
    )


def _insert_rows(
    connection: Connection, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """Insert many rows (tuples of ``columns``): on SQLite straight through the driver's
    executemany, twice as fast as SQLAlchemy's per-row parameter handling (doc_bands takes
    21 rows per new text); elsewhere SQLAlchemy batches them into multi-row INSERTs."""
    if not rows:
        return
    if connection.dialect.name == "sqlite":
        sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        connection.exec_driver_sql(sql, rows)
    else:
        connection.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])


class _Batch:
    """One transaction's worth of changes, with what it needs fetched in bulk up front.

    Per-file queries made ingest DB-bound (8 ms a file); three IN queries per batch and
    one flush make it a fraction of that.
    """

    def __init__(self, session: Session, now: datetime, paths: Sequence[str], bodies: Sequence[str],
                 force: bool = False, near_threshold: float = NEAR_DUPLICATE_THRESHOLD) -> None:
        self.session = session
        self.near_threshold = near_threshold
        self._analysed: set[int] = set()  # documents whose text changed in this batch
        self._created: set[int] = set()  # documents new in this batch: no rows to replace
        self._revived: set[int] = set()  # documents brought back from an earlier batch's tombstone
        # id(doc) -> the fingerprint its stored band rows were made from, kept before an
        # analysis replaces it: the rows are found by their keys (_drop_bands).
        self._banded: dict[int, bytes | None] = {}
        self._lines: dict[int, tuple[str, tuple[tuple[bytes, bool], ...]]] = {}  # id(doc) -> group, lines
        self.now = now
        self.force = force  # re-store analyses even when the bytes did not change (reprocess)
        self.counts = BatchCounts()
        self.touched: list[Document] = []  # in order; each takes the next sequence number
        self._touched_ids: set[int] = set()
        self.files: dict[str, File] = {}
        self.failures: dict[str, Failure] = {}
        self.by_body: dict[str, Document] = {}
        unique_paths = sorted(set(paths))
        for chunk in _chunks(unique_paths):
            self.files.update((f.path, f) for f in session.scalars(select(File).where(File.path.in_(chunk))))
            self.failures.update(
                (f.path, f) for f in session.scalars(select(Failure).where(Failure.path.in_(chunk)))
            )
        for chunk in _chunks(sorted(set(bodies))):
            for doc in session.scalars(
                select(Document).where(Document.body_sha256.in_(chunk), Document.deleted_at.is_(None))
            ):
                self.by_body.setdefault(doc.body_sha256, doc)

    def touch(self, doc: Document) -> None:
        if id(doc) not in self._touched_ids:
            self._touched_ids.add(id(doc))
            self.touched.append(doc)

    def _document_of(self, file: File) -> Document | None:
        return file.document if file.document is not None else self.session.get(Document, file.document_id)

    def detach(self, file: File) -> None:
        """Take ``file`` off its document; tombstone the document if no file holds it."""
        doc = self._document_of(file)
        if doc is None:
            return
        others = [f for f in self._files_of(doc) if f is not file]
        if not others:
            doc.deleted_at = self.now
            doc.updated_at = self.now
            self.by_body.pop(doc.body_sha256, None)
            self.counts.deleted += 1
        elif doc.path == file.path:
            first = others[0]
            doc.path, doc.sha256, doc.size, doc.mtime_ns = first.path, first.sha256, first.size, first.mtime_ns
        self.touch(doc)

    def _files_of(self, doc: Document) -> list[File]:
        if doc.id is None:
            return [f for f in self.files.values() if f.document is doc]
        self.session.flush()
        return list(self.session.scalars(select(File).where(File.document_id == doc.id).order_by(File.id)))

    def clear_failure(self, path: str) -> None:
        failure = self.failures.pop(path, None)
        if failure is not None:
            self.session.delete(failure)

    def _fill(self, doc: Document, a: Analysis) -> None:
        self._banded.setdefault(id(doc), doc.fingerprint)
        _fill(doc, a, self.now)
        self._analysed.add(id(doc))
        if a.line_group:  # else the learning job fills the lines in from the stored body
            self._lines[id(doc)] = (a.line_group, a.lines)

    def _write_lines(self) -> None:
        """Replace the counted lines of every re-analysed or deleted document."""
        docs = [d for d in self.touched if id(d) in self._analysed or d.deleted_at is not None]
        write_lines(
            self.session,
            [(d.id, *self._lines[id(d)]) for d in docs if d.deleted_at is None and id(d) in self._lines],
            clear=[d.id for d in docs if id(d) not in self._created],
        )

    def _new_document(self, a: Analysis) -> Document:
        doc = Document(ingested_at=self.now, seq=0)
        self._fill(doc, a)
        self.session.add(doc)
        self._created.add(id(doc))
        self.by_body[a.body_sha256] = doc
        self.touch(doc)
        return doc

    def _set_file(self, file: File | None, path: str, doc: Document, size: int, mtime_ns: int, sha: str) -> File:
        if file is None:
            file = File(path=path, document=doc, size=size, mtime_ns=mtime_ns, sha256=sha, seen_at=self.now)
            self.session.add(file)
            self.files[path] = file
        else:
            file.document = doc
            file.size, file.mtime_ns, file.sha256, file.seen_at = size, mtime_ns, sha, self.now
        return file

    def forgotten(self, path: str, size: int, mtime_ns: int) -> bool:
        """Whether ``path`` is a file `indexer forget` forgot, unchanged since (the watcher
        may see an event for it; the scans skip it by its state in ``known_states``)."""
        failure = self.failures.get(path)
        return (failure is not None and failure.stage == FORGET_STAGE
                and (failure.size, failure.mtime_ns) == (size, mtime_ns))

    def add_analysis(self, a: Analysis) -> None:
        if self.forgotten(a.path, a.size, a.mtime_ns):
            self.counts.unchanged += 1
            return
        self.clear_failure(a.path)
        file = self.files.get(a.path)
        if file is not None and file.sha256 == a.sha256:
            file.size, file.mtime_ns, file.seen_at = a.size, a.mtime_ns, self.now
            current = self._document_of(file) if self.force else None
            if current is None:
                self.counts.unchanged += 1
                return
            self._fill(current, a)  # reprocessed by newer rules: same bytes, same id
            self.touch(current)
            self.counts.updated += 1
            return
        same_body = self.by_body.get(a.body_sha256)
        if file is None:
            if same_body is not None:  # byte-identical text: one document, several paths
                self._set_file(None, a.path, same_body, a.size, a.mtime_ns, a.sha256)
                self.touch(same_body)  # the index lists every path
                self.counts.duplicates += 1
            else:
                self._set_file(None, a.path, self._new_document(a), a.size, a.mtime_ns, a.sha256)
                self.counts.added += 1
            return
        current = self._document_of(file)
        if same_body is not None and same_body is not current:
            self.detach(file)
            self._set_file(file, a.path, same_body, a.size, a.mtime_ns, a.sha256)
            self.touch(same_body)
            self.counts.duplicates += 1
            return
        if current is not None and (same_body is current or len(self._files_of(current)) <= 1):
            self._fill(current, a)  # an edit: same document id, new content
            self.by_body[a.body_sha256] = current
            self.touch(current)
            self._set_file(file, a.path, current, a.size, a.mtime_ns, a.sha256)
            self.counts.updated += 1
            return
        # The file shared its document with copies; the edited one becomes its own.
        self.detach(file)
        self._set_file(file, a.path, self._new_document(a), a.size, a.mtime_ns, a.sha256)
        self.counts.updated += 1

    def add_link(self, link: Linked, document_id: int) -> None:
        """A path whose bytes a live file already has: join that document, no analysis."""
        if self.forgotten(link.path, link.size, link.mtime_ns):
            self.counts.unchanged += 1
            return
        self.clear_failure(link.path)
        doc = self.session.get(Document, document_id)
        if doc is None:
            return
        file = self.files.get(link.path)
        if file is not None and file.document_id == document_id:
            self._set_file(file, link.path, doc, link.size, link.mtime_ns, link.sha256)
            self.counts.unchanged += 1
            return
        if doc.deleted_at is not None and id(doc) not in self._touched_ids:
            # Tombstoned by an earlier batch: a move seen as a delete, then a create. It
            # comes back unless its text has become another live document meanwhile.
            live = self.by_body.get(doc.body_sha256) or self.session.scalars(
                select(Document)
                .where(Document.body_sha256 == doc.body_sha256, Document.deleted_at.is_(None))
                .limit(1)
            ).first()
            if live is not None:
                doc = live
            else:
                self._revived.add(id(doc))  # its bands were dropped with the tombstone
        if file is not None and file.document_id == doc.id:
            self._set_file(file, link.path, doc, link.size, link.mtime_ns, link.sha256)
            self.counts.unchanged += 1
            return
        if file is not None:
            self.detach(file)
        self._set_file(file, link.path, doc, link.size, link.mtime_ns, link.sha256)
        if doc.deleted_at is not None:  # its last file was removed (this batch or lately): a move
            doc.deleted_at = None
            doc.path, doc.sha256, doc.size, doc.mtime_ns = link.path, link.sha256, link.size, link.mtime_ns
            self.by_body[doc.body_sha256] = doc
            self.touch(doc)
            if id(doc) not in self._revived:  # it was counted deleted in this batch
                self.counts.deleted -= 1 if self.counts.deleted else 0
            self.counts.added += 1
        else:
            self.touch(doc)  # a new path of the document: the index lists every path
            self.counts.duplicates += 1

    def add_failure(self, f: FileFailure) -> None:
        existing = self.failures.get(f.path)
        if (existing is not None and not f.transient and not existing.transient
                and (existing.stage, existing.reason, existing.size, existing.mtime_ns)
                == (f.stage, f.reason, f.size, f.mtime_ns)):
            # Known already (the watcher and a scan both came upon it): recorded and logged once.
            if f.stage == FORGET_STAGE:
                self.counts.unchanged += 1
            return
        if f.stage == FORGET_STAGE:  # a forgotten file found again (renamed, copied): no failure
            self.counts.unchanged += 1
        else:
            self.counts.failed += 1
            self.counts.failed_paths.append((f.path, f"{f.stage}: {f.reason}"))
        if existing is None:
            failure = Failure(path=f.path, stage=f.stage, reason=f.reason, transient=f.transient, attempts=1,
                              size=f.size, mtime_ns=f.mtime_ns, first_seen=self.now, last_seen=self.now)
            self.session.add(failure)
            self.failures[f.path] = failure
        else:
            existing.stage, existing.reason, existing.transient = f.stage, f.reason, f.transient
            existing.size, existing.mtime_ns = f.size, f.mtime_ns
            existing.attempts += 1
            existing.last_seen = self.now
        # A file that was a document and now fails (rewritten as binary, say) leaves the index.
        file = self.files.get(f.path)
        if file is not None and not f.transient:
            self.detach(file)
            self.session.delete(file)
            del self.files[f.path]

    def remove_path(self, path: str) -> None:
        file = self.files.get(path)
        if file is not None:
            self.detach(file)
            self.session.delete(file)
            del self.files[path]
        self.clear_failure(path)

    def _cluster(self) -> None:
        """Give each new or changed text the cluster of its near-duplicates (or none).

        Candidates are documents sharing an LSH band key: one indexed lookup per band for
        the whole batch (plus the batch's earlier texts, in memory); each candidate's
        estimated similarity is then checked against its fingerprint alone.
        """
        rebanded = self._analysed | self._revived
        docs = [d for d in self.touched if id(d) in rebanded or d.deleted_at is not None]
        stored = {d.id: self._banded.get(id(d), d.fingerprint) for d in docs if id(d) not in self._created}
        _drop_bands(self.session, stored)
        live = [d for d in docs if d.deleted_at is None and d.fingerprint]
        if not live:
            return
        keys = {d.id: band_keys(d.fingerprint) for d in live}
        bands = len(next(iter(keys.values())))
        # Per band: key -> ids of the stored documents having it. Read past the session
        # (no autoflush): finish() has flushed the batch's rows just before.
        banded: list[dict[int, list[int]]] = [{} for _ in range(bands)]
        connection = self.session.connection()
        for band, found in enumerate(banded):
            for chunk in _chunks(sorted({k[band] for k in keys.values()})):
                for doc_id, key in _band_rows(connection, band, chunk):
                    found.setdefault(key, []).append(doc_id)
        # The candidates' fingerprints and clusters, without loading their bodies.
        fingerprint = {d.id: d.fingerprint for d in live}
        cluster_of: dict[int, int | None] = {d.id: d.cluster_id for d in live}
        others = sorted({i for found in banded for ids in found.values() for i in ids} - fingerprint.keys())
        for chunk in _chunks(others):
            rows = connection.execute(
                select(Document.id, Document.fingerprint, Document.cluster_id)
                .where(Document.id.in_(chunk), Document.deleted_at.is_(None))
            )
            for doc_id, fp, cluster in rows:
                if fp:
                    fingerprint[doc_id], cluster_of[doc_id] = fp, cluster
        earlier: list[dict[int, list[int]]] = [{} for _ in range(bands)]  # the batch's texts so far
        joining: dict[int, int | None] = {}  # unclustered documents a new text joins
        left: list[int] = []  # clusters whose first story left them
        for doc in live:
            candidates: set[int] = set()
            for found, before, key in zip(banded, earlier, keys[doc.id], strict=True):
                candidates.update(found.get(key, ()))
                if (ids := before.get(key)) is None:
                    before[key] = [doc.id]
                else:
                    candidates.update(ids)
                    ids.append(doc.id)
            matches = sorted(
                c for c in candidates
                if c != doc.id and c in fingerprint and similarity(doc.fingerprint, fingerprint[c]) >= self.near_threshold
            )
            cluster = min((cluster_of[m] or m for m in matches), default=None)
            if doc.cluster_id != cluster:
                if doc.cluster_id == doc.id:  # a cluster's first story is not one of it now
                    left.append(doc.id)
                doc.cluster_id = cluster
            cluster_of[doc.id] = cluster
            for other_id in matches:
                if cluster_of[other_id] is None:
                    cluster_of[other_id] = joining[other_id] = cluster
        for chunk in _chunks(sorted(joining)):  # loaded together (one query, not one each), no texts
            others = select(Document).options(defer(Document.body)).where(Document.id.in_(chunk))
            for other in self.session.scalars(others):
                other.cluster_id = joining[other.id]
                if other.cluster_id != other.id:  # the index has it as its own cluster already
                    self.touch(other)
        for cluster in left:
            self._regroup(cluster)
        _insert_rows(connection, DocBand.__table__, ("band", "key", "document_id"),
                     [(b, k, doc_id) for doc_id, doc_keys in keys.items() for b, k in enumerate(doc_keys)])

    def _regroup(self, cluster: int) -> None:
        """The members of a cluster its first story has left: one cluster under the lowest
        id, or alone. The index names a lone story's own id as its cluster, so the old id
        must not stay on them: it would fold them with that story."""
        members = list(self.session.scalars(
            select(Document).options(defer(Document.body))
            .where(Document.cluster_id == cluster, Document.deleted_at.is_(None)).order_by(Document.id)
        ))
        for member in members:
            member.cluster_id = members[0].id if len(members) > 1 else None
            self.touch(member)

    def finish(self) -> BatchCounts:
        self.session.flush()
        self._cluster()
        self._write_lines()
        self.session.flush()
        for path, file in self.files.items():
            if file.document_id is not None:
                self.counts.doc_ids[path] = file.document_id
        if self.touched:
            for doc, seq in zip(self.touched, _next_seqs(self.session, len(self.touched))):
                doc.seq = seq
                doc.updated_at = self.now  # a change (its cluster's, at least): the index lag counts from it
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
    near_threshold: float = NEAR_DUPLICATE_THRESHOLD,
) -> BatchCounts:
    """Write one batch of outcomes in the caller's transaction and sequence the changes."""
    paths = [*removed, *(link.path for link, _ in links), *(a.path for a in analyses), *(f.path for f in failures)]
    batch = _Batch(session, now, paths, [a.body_sha256 for a in analyses], force, near_threshold)
    for path in removed:
        batch.remove_path(path)
    for link, doc_id in links:
        batch.add_link(link, doc_id)
    for a in analyses:
        batch.add_analysis(a)
    for f in failures:
        batch.add_failure(f)
    return batch.finish()




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




def paths_of(session: Session, doc_id: int) -> list[str]:
    return list(session.scalars(select(File.path).where(File.document_id == doc_id).order_by(File.id)))


def paths_by_document(session: Session, doc_ids: Sequence[int]) -> dict[int, list[str]]:
    """The paths of each of ``doc_ids`` that has files, oldest file first."""
    out: dict[int, list[str]] = {}
    for chunk in _chunks(sorted(set(doc_ids))):
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
    found = session.scalar(select(File.id).where(_in_roots(File.path, [root]), File.path != root).limit(1))
    return found is not None


def last_started(session: Session, job: str, node: str | None = None) -> datetime | None:
    """When ``job`` last started, on ``node`` (or by a program from before job_runs.node) when given."""
    statement = select(JobRun.started_at).where(JobRun.job == job)
    if node is not None:
        statement = statement.where(or_(JobRun.node == node, JobRun.node.is_(None)))
    return session.scalar(statement.order_by(JobRun.id.desc()).limit(1))


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
        job: (started, ended, outcome, node)
        for job, started, ended, outcome, node in session.execute(
            select(JobRun.job, JobRun.started_at, JobRun.ended_at, JobRun.outcome, JobRun.node)
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


def last_scan_counts(session: Session) -> dict[str, Any]:
    """The counts the last finished scan recorded (empty before the first one)."""
    counts = session.scalar(
        select(JobRun.counts).where(JobRun.job == "scan", JobRun.outcome == "ok").order_by(JobRun.id.desc()).limit(1)
    )
    try:
        value = json.loads(counts) if counts else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


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


def forget(
    session: Session, now: datetime, paths: Sequence[str], present: Mapping[str, tuple[int, int]],
    doc_ids: Sequence[int] = (),
) -> list[int]:
    """Remove files from their documents for good, and documents no file holds any more;
    returns the ids of the documents forgotten.

    ``present``: path -> (size, mtime_ns) of those still on disk in an inbox, kept in the
    ledger (``FORGET_STAGE``) so that they are ignored until they change. ``doc_ids``:
    documents to forget even if they had no file. A forgotten document stays as a
    tombstone (its id and a new sequence number, so that every index following the change
    sequence deletes it) with its text and hashes erased: nothing can bring it back.
    """
    batch = _Batch(session, now, paths, [])
    for path in paths:
        if path in present:
            size, mtime_ns = present[path]
            batch.add_failure(FileFailure(path, FORGET_STAGE, FORGET_REASON, size, mtime_ns))
        else:
            batch.remove_path(path)
    for doc in session.scalars(select(Document).where(Document.id.in_(list(doc_ids)))):
        if doc.deleted_at is None and not batch._files_of(doc):
            batch._banded.setdefault(id(doc), doc.fingerprint)
            doc.deleted_at = doc.updated_at = now
        batch.touch(doc)  # already a tombstone: sequenced again all the same
    batch.finish()
    gone = [doc for doc in batch.touched if doc.deleted_at is not None]
    for doc in gone:
        # The file's hash stays (``forgotten_shas``): its bytes are ignored wherever they turn up.
        doc.title = doc.summary = doc.body = doc.body_sha256 = ""
        doc.removed, doc.fingerprint, doc.cluster_id, doc.flags = "[]", None, None, FORGOTTEN
    session.flush()
    return sorted(doc.id for doc in gone)


def clear_failures(session: Session, paths: Sequence[str] | None = None) -> int:
    """Forget failures (all, or these paths) so the next ingest tries them afresh."""
    statement = delete(Failure)
    if paths is not None:
        statement = statement.where(Failure.path.in_(list(paths)))
    return session.execute(statement).rowcount or 0


def live_file_states(session: Session, after_id: int, limit: int) -> list[tuple[int, str, int, int, str, int]]:
    """(file id, path, size, mtime_ns, sha256, document id) of files, in id order."""
    rows = session.execute(
        select(File.id, File.path, File.size, File.mtime_ns, File.sha256, File.document_id)
        .where(File.id > after_id)
        .order_by(File.id)
        .limit(limit)
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


def live_document_ids(session: Session) -> set[int]:
    return set(session.scalars(select(Document.id).where(Document.deleted_at.is_(None))))


def documents_without_files(session: Session) -> list[int]:
    has_file = select(File.id).where(File.document_id == Document.id).exists()
    return list(session.scalars(select(Document.id).where(Document.deleted_at.is_(None), ~has_file)))


def tombstone(session: Session, now: datetime, doc_ids: Sequence[int]) -> int:
    docs = list(session.scalars(select(Document).where(Document.id.in_(list(doc_ids)))))
    session.execute(delete(DocLine).where(DocLine.document_id.in_(list(doc_ids))))
    _drop_bands(session, {doc.id: doc.fingerprint for doc in docs})
    for doc, seq in zip(docs, _next_seqs(session, len(docs))):
        doc.deleted_at = now
        doc.updated_at = now
        doc.seq = seq
    return len(docs)


def resequence(session: Session, doc_ids: Sequence[int]) -> int:
    """Give documents new sequence numbers so the index follower applies them again."""
    docs = list(session.scalars(select(Document).where(Document.id.in_(list(doc_ids)))))
    for doc, seq in zip(docs, _next_seqs(session, len(docs))):
        doc.seq = seq
    return len(docs)


def clusters(session: Session, min_size: int = 2) -> list[tuple[int, list[Document]]]:
    """Near-duplicate clusters with at least ``min_size`` live documents, largest first."""
    live = Document.deleted_at.is_(None)
    ids = select(Document.cluster_id).where(live, Document.cluster_id.is_not(None)).group_by(
        Document.cluster_id).having(func.count() >= min_size)
    docs = session.scalars(select(Document).where(live, Document.cluster_id.in_(ids)).order_by(
        Document.cluster_id, Document.id))
    grouped: dict[int, list[Document]] = {}
    for doc in docs:
        grouped.setdefault(doc.cluster_id, []).append(doc)  # type: ignore[arg-type]
    return sorted(grouped.items(), key=lambda item: (-len(item[1]), item[0]))


# -- learned furniture: lines counted per group, the rules learned from the counts ------

# The doc_lines row that stands for the document itself: group sizes are its counts.
# No line's key is empty (keys are hashes).
_DOCUMENT_ROW = b""


_LINE_COLUMNS = ("document_id", "line_key", "group_key", "furniture")


def _line_rows(
    doc_id: int, group: str, lines: Iterable[tuple[bytes, bool]]
) -> list[tuple[int, bytes, bytes, bool]]:
    key = group_key(group)
    return [(doc_id, _DOCUMENT_ROW, key, False), *((doc_id, k, key, f) for k, f in lines)]


def lines_of_stored(body: str, removed_json: str) -> dict[bytes, tuple[str, bool]]:
    """key -> (text, furniture) of a stored document's short lines before learned rules:
    its body's lines and the lines learned rules removed from it."""
    learned = {r["text"].strip() for r in json.loads(removed_json or "[]") if r.get("rule") == LEARNED}
    found = {k: (text, False) for k, text in short_lines(body).items()}
    for k, text in short_lines("\n".join(learned)).items():
        found[k] = (text, True)
    return found


def lines_missing(session: Session) -> bool:
    """Whether some live document has no counted lines; two index-only counts, so the
    nightly job does not read every document to find none."""
    counted = session.scalar(select(func.count()).select_from(DocLine).where(DocLine.line_key == _DOCUMENT_ROW))
    return count_live(session) != (counted or 0)


def documents_without_lines(session: Session, after_id: int, limit: int) -> list[tuple[int, str, str, str]]:
    """(id, path, body, removed) of live documents whose lines were never counted:
    stored before learning existed, or brought back after a tombstone."""
    has_lines = select(DocLine.document_id).where(
        DocLine.document_id == Document.id, DocLine.line_key == _DOCUMENT_ROW
    ).exists()
    rows = session.execute(
        select(Document.id, Document.path, Document.body, Document.removed)
        .where(Document.id > after_id, Document.deleted_at.is_(None), ~has_lines)
        .order_by(Document.id)
        .limit(limit)
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


def write_lines(
    session: Session,
    documents: Sequence[tuple[int, str, Iterable[tuple[bytes, bool]]]],
    clear: Sequence[int] | None = None,
) -> None:
    """Replace documents' counted lines: (document id, group name, (line key, furniture) pairs).

    ``clear``: the documents whose stored lines go first (default: those of ``documents``).
    """
    for chunk in _chunks(clear if clear is not None else [doc_id for doc_id, _, _ in documents]):
        session.execute(delete(DocLine).where(DocLine.document_id.in_(chunk)))
    rows = [row for doc_id, group, lines in documents for row in _line_rows(doc_id, group, lines)]
    _insert_rows(session.connection(), DocLine.__table__, _LINE_COLUMNS, rows)


def count_lines(
    session: Session, min_documents: int
) -> tuple[dict[bytes, int], list[tuple[bytes, bytes, int]]]:
    """Group sizes (group key -> documents), and (group, line, documents) for every line
    in at least ``min_documents`` documents of its group. Reads only the narrow
    doc_lines table, through its (group_key, line_key) index."""
    sizes = dict(
        session.execute(
            select(DocLine.group_key, func.count()).where(DocLine.line_key == _DOCUMENT_ROW).group_by(DocLine.group_key)
        ).all()
    )
    frequent = session.execute(
        select(DocLine.group_key, DocLine.line_key, func.count())
        .where(DocLine.line_key != _DOCUMENT_ROW)
        .group_by(DocLine.group_key, DocLine.line_key)
        .having(func.count() >= min_documents)
    )
    return sizes, [(g, k, n) for g, k, n in frequent]  # type: ignore[misc]


def count_stories(session: Session, pairs: Sequence[tuple[bytes, bytes]]) -> dict[tuple[bytes, bytes], int]:
    """(group, line) -> distinct stories holding it: near-duplicates (one cluster) count once."""
    story = func.coalesce(Document.cluster_id, Document.id)
    counts: dict[tuple[bytes, bytes], int] = {}
    for part in _chunks(pairs, 200):
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
        update(Counter).where(Counter.name == "learned").values(value=Counter.value + 1).returning(Counter.value)
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
    for chunk in _chunks(dropped, 200):
        session.execute(delete(LearnedLine).where(tuple_(LearnedLine.group_key, LearnedLine.line_key).in_(chunk)))
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
    now_furniture = select(DocLine.document_id).join(LearnedLine, same_line).where(DocLine.furniture.is_(False))
    no_longer = select(DocLine.document_id).where(
        DocLine.furniture.is_(True), ~select(LearnedLine.line_key).where(same_line).exists()
    )
    stale = union(now_furniture, no_longer).subquery()
    rows = session.execute(
        select(Document.id, Document.path)
        .where(Document.id.in_(select(stale.c.document_id)), Document.id > after_id, Document.deleted_at.is_(None),
               _in_roots(Document.path, roots))
        .order_by(Document.id)
        .limit(limit)
    )
    return [(doc_id, path) for doc_id, path in rows]


# -- claims: which node works on which file (several daemons on one database) ----------


def db_now(session: Session) -> datetime:
    """The time by the database's clock on PostgreSQL, so that nodes whose clocks differ
    agree on when a lease ends; SQLite is one machine, whose clock is ours."""
    if session.get_bind().dialect.name == "postgresql":
        return session.execute(select(func.now())).scalar_one()  # type: ignore[no-any-return]
    return datetime.now(UTC)


def claim_paths(session: Session, paths: Sequence[str], node: str, lease_seconds: float) -> set[str]:
    """Claim ``paths`` for ``node``; returns the ones it holds now.

    A path claimed by another node whose lease has not run out is left to that node.
    An expired claim (its node died or hung) is taken over; this node's own claims are
    renewed. Two nodes claiming one path at once: the primary key lets one insert win
    (INSERT ... ON CONFLICT DO NOTHING on both databases), the other sees it held.
    """
    if not paths:
        return set()
    now = db_now(session)
    expires = now + timedelta(seconds=lease_seconds)
    dialect = session.get_bind().dialect.name
    insert_for = postgresql_insert if dialect == "postgresql" else sqlite_insert
    held: set[str] = set()
    for chunk in _chunks(sorted(set(paths))):
        session.execute(
            delete(Claim).where(Claim.path.in_(chunk), or_(Claim.expires_at < now, Claim.node == node))
        )
        session.connection().execute(  # one executemany: a 500-row VALUES clause compiled each time cost more
            insert_for(Claim.__table__).on_conflict_do_nothing(index_elements=["path"]),
            [{"path": p, "node": node, "expires_at": expires} for p in chunk],
        )
        held.update(session.scalars(select(Claim.path).where(Claim.path.in_(chunk), Claim.node == node)))
    return held


def renew_claims(session: Session, paths: Sequence[str], node: str, lease_seconds: float) -> int:
    """Extend ``node``'s leases on ``paths`` (their batch is still being analysed); returns
    how many it still held."""
    expires = db_now(session) + timedelta(seconds=lease_seconds)
    renewed = 0
    for chunk in _chunks(sorted(set(paths))):
        statement = update(Claim).where(Claim.node == node, Claim.path.in_(chunk)).values(expires_at=expires)
        renewed += session.execute(statement).rowcount or 0
    return renewed


def release_claims(session: Session, paths: Sequence[str], node: str) -> int:
    """Drop ``node``'s claims on ``paths`` (their batch has committed, or was given up)."""
    released = 0
    for chunk in _chunks(sorted(set(paths))):
        released += session.execute(delete(Claim).where(Claim.node == node, Claim.path.in_(chunk))).rowcount or 0
    return released


def drop_expired_claims(session: Session) -> int:
    """Forget claims whose lease ran out (a dead node's, on files nobody took over)."""
    return session.execute(delete(Claim).where(Claim.expires_at < db_now(session))).rowcount or 0


def claims_by_node(session: Session) -> dict[str, int]:
    """node -> number of claims it holds (expired ones included)."""
    return dict(session.execute(select(Claim.node, func.count()).group_by(Claim.node)).all())  # type: ignore[arg-type]


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


def file_states_of(session: Session, doc_ids: Sequence[int]) -> dict[int, list[tuple[str, int, int, str]]]:
    """document id -> (path, size, mtime_ns, sha256) of each of its files, by path."""
    found: dict[int, list[tuple[str, int, int, str]]] = {}
    for chunk in _chunks(list(doc_ids)):
        rows = session.execute(select(File.document_id, File.path, File.size, File.mtime_ns, File.sha256)
                               .where(File.document_id.in_(chunk)).order_by(File.path))
        for doc_id, path, size, mtime_ns, sha in rows:
            found.setdefault(doc_id, []).append((path, size, mtime_ns, sha))
    return found


def set_ingested(session: Session, when: Mapping[int, datetime]) -> None:
    """Give documents the ingested time they had where they came from (`indexer import`)."""
    for doc_id, at in when.items():
        session.execute(update(Document).where(Document.id == doc_id).values(ingested_at=at))
