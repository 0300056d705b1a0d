"""Documents out and back in: `indexer export` streams records (JSON lines or CSV) in id
order with flat memory; `indexer import` stores an export made with its text again.

An export with the text holds what the catalog knows of each document (metadata, cluster,
its files' paths, sizes, mtimes and hashes), so an import into an empty data dir gives
the same documents, ids aside, and a later scan of the same files finds them unchanged.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, TextIO

from indexer.db import documents, files
from indexer.errors import ConfigError, InputError
from indexer.ingest.fingerprint import fingerprint
from indexer.ingest.outcomes import apply_batch
from indexer.records import Analysis, BatchCounts

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from indexer.context import Context
    from indexer.db.models import Document
    from indexer.search.engine import SearchOptions

__all__ = [
    "FIELDS",
    "ImportResult",
    "check_fields",
    "export_ids",
    "import_records",
    "read_jsonl",
    "records",
    "write",
]

# Every field of a record, in output order; "text" only with --with-text, "files" only in
# JSON lines with the text (what an import needs to restore the files' states).
FIELDS = (
    "id",
    "title",
    "path",
    "paths",
    "language",
    "languages",
    "source",
    "published",
    "ingested",
    "updated",
    "cluster",
    "dateline",
    "byline",
    "summary",
    "word_count",
    "char_count",
    "paragraph_count",
    "encoding",
    "repaired",
    "flags",
    "sha256",
    "size",
    "mtime_ns",
    "text",
    "files",
)
DEFAULT_FIELDS = tuple(f for f in FIELDS if f not in ("text", "files"))
CHUNK = 500  # documents read per query: memory stays flat however many are exported


def check_fields(names: Sequence[str] | None, with_text: bool, fmt: str) -> tuple[str, ...]:
    """The fields to write: the named ones (ConfigError for one that does not exist), or
    all (and the text and files with ``with_text``)."""
    if names:
        unknown = [n for n in names if n not in FIELDS]
        if unknown:
            raise ConfigError(f"unknown field {unknown[0]!r}: fields are {', '.join(FIELDS)}")
        chosen = tuple(names)
    else:
        chosen = DEFAULT_FIELDS
    if with_text:
        chosen += tuple(f for f in ("text", "files") if f not in chosen and (f == "text" or fmt == "jsonl"))
    return chosen


def export_ids(ctx: Context, query: str | None, options: SearchOptions) -> list[int] | None:
    """The ids of the documents to export (every one the query matches, as `search`
    counts them), or None for all live documents."""
    if query is None:
        return None
    from indexer.search.engine import SearchEngine

    with SearchEngine(ctx.config.data_dir, ctx.config.database_url) as engine:
        return engine.matching_ids(query, options)


def _iso(value: date | datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def _record(doc: Document, files: list[tuple[str, int, int, str]], fields: Sequence[str]) -> dict[str, Any]:
    values: dict[str, Any] = {
        "id": doc.id,
        "title": doc.title,
        "path": doc.path,
        "paths": [f[0] for f in files],
        "language": doc.language,
        "languages": [x for x in doc.languages.split(",") if x],
        "source": doc.source,
        "published": _iso(doc.published),
        "ingested": _iso(doc.ingested_at),
        "updated": _iso(doc.updated_at),
        "cluster": doc.cluster_id,
        "dateline": doc.dateline,
        "byline": doc.byline,
        "summary": doc.summary,
        "word_count": doc.word_count,
        "char_count": doc.char_count,
        "paragraph_count": doc.paragraph_count,
        "encoding": doc.encoding,
        "repaired": doc.repaired,
        "flags": [x for x in doc.flags.split(",") if x],
        "sha256": doc.sha256,
        "size": doc.size,
        "mtime_ns": doc.mtime_ns,
    }
    if "text" in fields:
        values["text"] = doc.body
    if "files" in fields:
        values["files"] = [{"path": p, "size": s, "mtime_ns": m, "sha256": h} for p, s, m, h in files]
    return {f: values[f] for f in fields}


def records(ctx: Context, ids: list[int] | None, fields: Sequence[str]) -> Iterator[dict[str, Any]]:
    """The records of these documents (all live ones when None), in id order, read
    ``CHUNK`` at a time (bodies only when the text is asked for)."""
    with_body = "text" in fields
    after = 0
    position = 0
    while True:
        with ctx.db.read() as session:
            if ids is None:
                docs = documents.documents_after(session, after, CHUNK, with_body)
            else:
                chunk = ids[position : position + CHUNK]
                position += CHUNK
                if not chunk:
                    return
                docs = documents.documents_by_ids(session, chunk, with_body)
            if not docs and ids is None:
                return
            states = files.file_states_of(session, [d.id for d in docs])
            for doc in docs:
                yield _record(doc, states.get(doc.id, []), fields)
        if docs:
            after = docs[-1].id


def _csv_value(value: Any) -> Any:
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return "" if value is None else value


def write(
    rows: Iterable[dict[str, Any]],
    fields: Sequence[str],
    fmt: str,
    out: TextIO,
    progress: Callable[[int], None] = lambda n: None,
) -> int:
    """Write the records as JSON lines or CSV (a header line first); returns how many."""
    count = 0
    writer = csv.DictWriter(out, fieldnames=list(fields), extrasaction="ignore") if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()
    for row in rows:
        if writer is not None:
            writer.writerow({k: _csv_value(v) for k, v in row.items()})
        else:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        count += 1
        progress(1)
    return count


# -- import ---------------------------------------------------------------------------------


@dataclass
class ImportResult:
    records: int = 0
    documents: int = 0  # stored as new documents
    paths: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"records": self.records, "documents": self.documents, "paths": self.paths}


def read_jsonl(lines: Iterable[str], where: str) -> Iterator[dict[str, Any]]:
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as e:
            raise InputError(where, "import", f"line {n}: not JSON: {e}") from None
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise InputError(where, "import", f"line {n}: no text (export with --with-text)")
        if not (record.get("files") or record.get("paths") or record.get("path")):
            raise InputError(where, "import", f"line {n}: no path")
        yield record


def _date(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) and value else None


def _analyses(record: dict[str, Any]) -> list[Analysis]:
    """One analysis per file of the record: the same text, so one document holds them all."""
    body = record["text"]
    files = record.get("files") or [
        {
            "path": p,
            "size": record.get("size", 0),
            "mtime_ns": record.get("mtime_ns", 0),
            "sha256": record.get("sha256", ""),
        }
        for p in record.get("paths") or [record["path"]]
    ]
    signature = fingerprint(body)
    common = dict(
        encoding=record.get("encoding") or "utf-8",
        repaired=bool(record.get("repaired")),
        body=body,
        body_sha256=hashlib.sha256(body.encode("utf-8")).hexdigest(),
        title=record.get("title") or "",
        language=record.get("language") or "und",
        language_prob=1.0,
        languages=tuple(record.get("languages") or ()),
        source=record.get("source"),
        dateline=record.get("dateline"),
        byline=record.get("byline"),
        published=_date(record.get("published")),
        word_count=int(record.get("word_count") or len(body.split())),
        char_count=int(record.get("char_count") or len(body)),
        paragraph_count=int(record.get("paragraph_count") or 0),
        summary=record.get("summary") or "",
        flags=tuple(record.get("flags") or ()),
        fingerprint=signature,
    )
    return [
        Analysis(
            path=f["path"],
            size=int(f.get("size") or 0),
            mtime_ns=int(f.get("mtime_ns") or 0),
            sha256=f.get("sha256") or "",
            **common,
        )
        for f in files
    ]


def import_records(
    ctx: Context, rows: Iterable[dict[str, Any]], progress: Callable[[int], None] = lambda n: None
) -> ImportResult:
    """Store the records, a batch (one transaction) at a time, then bring the index up to
    date. Each keeps its ingested time; clusters are found again as the ingest finds them."""
    from indexer import jobs

    result = ImportResult()
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        analyses: list[Analysis] = []
        ingested: dict[str, datetime] = {}
        for record in batch:
            for a in _analyses(record):
                analyses.append(a)
                if record.get("ingested"):
                    ingested[a.path] = datetime.fromisoformat(record["ingested"])

        def apply(session: Session) -> BatchCounts:
            counts = apply_batch(
                session,
                datetime.now(UTC),
                analyses=analyses,
                near_threshold=ctx.config.ingest.near_duplicate_threshold,
            )
            documents.set_ingested(
                session, {counts.doc_ids[p]: when for p, when in ingested.items() if p in counts.doc_ids}
            )
            return counts

        counts = ctx.db.retrying(apply)
        result.records += len(batch)
        result.documents += counts.added
        result.paths += len(analyses)
        progress(len(batch))
        batch.clear()

    for record in rows:
        batch.append(record)
        if len(batch) >= ctx.config.ingest.batch_size:
            flush()
    if batch:
        flush()
    jobs.follow(ctx)
    return result
