"""SQLAlchemy models: documents, the files that hold them, failures, job runs, counters."""

from __future__ import annotations

import zlib
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "Alert",
    "AlertMark",
    "AlertMatch",
    "Base",
    "Claim",
    "Counter",
    "DocBand",
    "DocLine",
    "Document",
    "Failure",
    "File",
    "JobRun",
    "LearnedLine",
    "Meta",
]


class Base(DeclarativeBase):
    pass


class ZlibText(TypeDecorator[str]):
    """Text stored zlib-compressed: prose takes about 40% of its size. str in, str out."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> bytes | None:
        return None if value is None else zlib.compress(value.encode("utf-8"), 6)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else zlib.decompress(value).decode("utf-8")


class Document(Base):
    """One normalized text. Several byte-identical files share one document."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The change sequence: every insert, update and tombstone takes the next value, so
    # the index can follow "everything above my checkpoint" in commit order.
    seq: Mapped[int] = mapped_column(BigInteger, index=True, default=0)
    path: Mapped[str] = mapped_column(Text)  # primary path: the first file still holding it
    sha256: Mapped[str] = mapped_column(String(64))  # of the primary file's bytes
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    body_sha256: Mapped[str] = mapped_column(String(64))  # indexed with deleted_at, below
    encoding: Mapped[str] = mapped_column(String(32))
    repaired: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str] = mapped_column(String(16), index=True)
    language_prob: Mapped[float] = mapped_column(Float, default=0.0)
    language_alt: Mapped[str | None] = mapped_column(String(16))
    # Mixed texts: "de:0.62,en:0.38", each language and its share of the prose, largest
    # first (documents stored before analysis version 3: "de,en", no shares).
    languages: Mapped[str] = mapped_column(String(200), default="")
    title: Mapped[str] = mapped_column(Text, default="")
    # No headline: the title was cut from the lede.
    title_derived: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    source: Mapped[str | None] = mapped_column(String(200), index=True)
    dateline: Mapped[str | None] = mapped_column(String(200))
    byline: Mapped[str | None] = mapped_column(String(200))
    published: Mapped[date | None] = mapped_column(Date)
    # Where published was read: "text line", "dateline", "file name"; NULL when undated or
    # stored by an indexer from before migration 0009.
    date_source: Mapped[str | None] = mapped_column(String(16))
    word_count: Mapped[int] = mapped_column(Integer, default=0)
    char_count: Mapped[int] = mapped_column(Integer, default=0)
    paragraph_count: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column("body_zlib", ZlibText)
    removed: Mapped[str] = mapped_column(Text, default="[]")  # JSON: what normalization dropped, why
    flags: Mapped[str] = mapped_column(String(200), default="")  # comma list
    fingerprint: Mapped[bytes | None] = mapped_column(LargeBinary)  # MinHash, 256 bytes
    cluster_id: Mapped[int | None] = mapped_column(Integer, index=True)
    normalizer_version: Mapped[int] = mapped_column(Integer, default=0)
    ingested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)


class File(Base):
    """A path in an inbox whose bytes became (or joined) a document."""

    __tablename__ = "files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text, unique=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    document: Mapped[Document] = relationship()


class DocBand(Base):
    """LSH band keys of a document's MinHash: candidates for near-duplicates are the
    documents sharing a band key, found with an indexed equality query on any database.

    No index on document_id: a document's rows are deleted by primary key, recomputed
    from its fingerprint (bands.drop_bands).
    """

    __tablename__ = "doc_bands"
    # The table is its own (band, key) index on SQLite: no rowid, no second copy.
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012 (SQLAlchemy declares it, not a shared mutable)

    band: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    key: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), primary_key=True)


class DocLine(Base):
    """The short lines of a live document, as learned furniture counts them: one row per
    distinct line (its boilerplate.line_key) and one row with an empty line_key that stands
    for the document itself, so group sizes come from this narrow table as well.

    Written with the document in its transaction, from the text before learned rules
    ran: what is learned never changes what is counted. ``furniture`` says whether the
    learned rules of the document's analysis took the line for furniture; a row that
    disagrees with ``learned_lines`` marks the document for re-analysis.
    """

    __tablename__ = "doc_lines"
    # The table is its own (document_id, line_key) index on SQLite: no rowid, no second copy.
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012 (SQLAlchemy declares it, not a shared mutable)

    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), primary_key=True)
    line_key: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)  # 16 bytes
    group_key: Mapped[bytes] = mapped_column(LargeBinary)
    furniture: Mapped[bool] = mapped_column(Boolean, default=False)


class LearnedLine(Base):
    """A line learned as furniture of one group (a source or a folder), with its counts."""

    __tablename__ = "learned_lines"

    group_key: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    line_key: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    group_name: Mapped[str] = mapped_column(Text)  # "folder:/srv/inbox/bugle" or "source:Tempo"
    text: Mapped[str] = mapped_column(Text)
    documents: Mapped[int] = mapped_column(Integer)  # stories of the group holding the line
    group_documents: Mapped[int] = mapped_column(Integer)
    learned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Claim(Base):
    """A path a node is working on; a lease that expires so a dead node's work is redone."""

    __tablename__ = "claims"

    path: Mapped[str] = mapped_column(Text, primary_key=True)
    node: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class Failure(Base):
    """The failure ledger: a file that did not become a document, and why."""

    __tablename__ = "failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text, unique=True)
    stage: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    transient: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    size: Mapped[int | None] = mapped_column(BigInteger)
    mtime_ns: Mapped[int | None] = mapped_column(BigInteger)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class JobRun(Base):
    """One run of a scheduled or command-line job."""

    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job: Mapped[str] = mapped_column(String(40), index=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str] = mapped_column(String(20), default="running")
    counts: Mapped[str] = mapped_column(Text, default="{}")  # JSON
    error: Mapped[str | None] = mapped_column(Text)
    node: Mapped[str | None] = mapped_column(String(100))  # the node that ran it (Config.node_name)


class Counter(Base):
    """Named counters; 'seq' is the change sequence. Its row lock orders writers' commits."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class Meta(Base):
    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Alert(Base):
    """A standing query stored from the CLI (`indexer alerts add`): every node sees it.
    Alerts from config.toml are not stored; both kinds keep their marks and matches below."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    query: Mapped[str] = mapped_column(Text)
    langs: Mapped[str] = mapped_column(String(200), default="")  # comma list
    sources: Mapped[str] = mapped_column(Text, default="")  # comma list
    every_copy: Mapped[bool] = mapped_column(Boolean, default=False)
    deliveries: Mapped[str] = mapped_column(
        Text, default="[]"
    )  # JSON: ["file:/x.jsonl", "webhook:http://..."]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AlertMark(Base):
    """A high-water mark on the change sequence, per alert: ``delivery`` "" for matching
    (every change up to ``seq`` has been matched and its matches recorded), else one per
    delivery (every match up to ``seq`` has been delivered there), with its failures."""

    __tablename__ = "alert_marks"

    alert: Mapped[str] = mapped_column(String(100), primary_key=True)
    delivery: Mapped[str] = mapped_column(String(1000), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    delivered: Mapped[int] = mapped_column(Integer, default=0)  # matches delivered, ever
    failures: Mapped[int] = mapped_column(Integer, default=0)  # in a row; 0 once one succeeds
    last_error: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retry_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AlertMatch(Base):
    """A document an alert matched, once: a notice, or (``folded_into`` set) a copy of a
    story already notified, folded into that notice. ``payload`` is what deliveries send."""

    __tablename__ = "alert_matches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert: Mapped[str] = mapped_column(String(100))
    document_id: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(BigInteger)  # the document's change when it matched
    cluster: Mapped[int] = mapped_column(Integer)  # its cluster, or its own id when alone
    folded_into: Mapped[int | None] = mapped_column(Integer)  # the notice's match id
    matched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    payload: Mapped[str] = mapped_column(Text)  # JSON


Index("ix_alert_matches_alert_document", AlertMatch.alert, AlertMatch.document_id, unique=True)
Index("ix_alert_matches_alert_seq", AlertMatch.alert, AlertMatch.seq)
Index("ix_alert_matches_alert_cluster", AlertMatch.alert, AlertMatch.cluster)
Index("ix_documents_live_body", Document.body_sha256, Document.deleted_at)
# The bytes of forgotten documents (few): a file with them is ignored wherever it turns up.
FORGOTTEN = "forgotten"
Index(
    "ix_documents_forgotten_sha",
    Document.sha256,
    sqlite_where=Document.flags == FORGOTTEN,
    postgresql_where=Document.flags == FORGOTTEN,
)
Index("ix_doc_lines_group_line", DocLine.group_key, DocLine.line_key)
