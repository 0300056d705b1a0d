"""One batch of ingest outcomes written in the caller's transaction, and `indexer forget`."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from indexer.db.bands import band_rows, drop_bands
from indexer.db.changes import next_seqs
from indexer.db.common import chunks, insert_rows, table_of
from indexer.db.files import FORGET_REASON, FORGET_STAGE
from indexer.db.lines import write_lines
from indexer.db.models import FORGOTTEN, DocBand, Document, Failure, File
from indexer.lsh import band_keys
from indexer.records import Analysis, BatchCounts, ClusterAssignment, ClusterInput, FileFailure, Linked

__all__ = [
    "BatchWriter",
    "forget",
]


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


class BatchWriter:
    """One transaction's worth of changes, with what it needs fetched in bulk up front.

    Per-file queries would make ingest DB-bound; three IN queries per batch and one
    flush cost a fraction of them.
    """

    def __init__(
        self,
        session: Session,
        now: datetime,
        paths: Sequence[str],
        bodies: Sequence[str],
        force: bool = False,
    ) -> None:
        self.session = session
        self._analysed: set[int] = set()  # documents whose text changed in this batch
        self._created: set[int] = set()  # documents new in this batch: no rows to replace
        self._revived: set[int] = set()  # documents brought back from an earlier batch's tombstone
        # id(doc) -> the fingerprint its stored band rows were made from, kept before an
        # analysis replaces it: the rows are found by their keys (drop_bands).
        self._banded: dict[int, bytes | None] = {}
        self._lines: dict[
            int, tuple[bytes, tuple[tuple[bytes, bool], ...]]
        ] = {}  # id(doc) -> group key, lines
        # The batch's new or changed texts and their band keys, once the candidates are fetched.
        self._texts: list[Document] | None = None
        self._keys: dict[int, list[int]] = {}
        self.now = now
        self.force = force  # re-store analyses even when the bytes did not change (reprocess)
        self.counts = BatchCounts()
        self.touched: list[Document] = []  # in order; each takes the next sequence number
        self._touched_ids: set[int] = set()
        self.files: dict[str, File] = {}
        self.failures: dict[str, Failure] = {}
        self.by_body: dict[str, Document] = {}
        unique_paths = sorted(set(paths))
        for chunk in chunks(unique_paths):
            self.files.update((f.path, f) for f in session.scalars(select(File).where(File.path.in_(chunk))))
            self.failures.update(
                (f.path, f) for f in session.scalars(select(Failure).where(Failure.path.in_(chunk)))
            )
        for chunk in chunks(sorted(set(bodies))):
            for doc in session.scalars(
                select(Document).where(Document.body_sha256.in_(chunk), Document.deleted_at.is_(None))
            ):
                self.by_body.setdefault(doc.body_sha256, doc)

    def touch(self, doc: Document) -> None:
        if id(doc) not in self._touched_ids:
            self._touched_ids.add(id(doc))
            self.touched.append(doc)

    def _document_of(self, file: File) -> Document | None:
        # A new File has no document until it is given one (its relationship is None).
        loaded: Document | None = file.document
        return loaded if loaded is not None else self.session.get(Document, file.document_id)

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
            doc.path, doc.sha256, doc.size, doc.mtime_ns = (
                first.path,
                first.sha256,
                first.size,
                first.mtime_ns,
            )
        self.touch(doc)

    def _files_of(self, doc: Document) -> list[File]:
        doc_id: int | None = doc.id  # None until the session flushes a new document
        if doc_id is None:
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
        if a.line_group_key:  # else the learning job fills the lines in from the stored body
            self._lines[id(doc)] = (a.line_group_key, a.lines)

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

    def _set_file(
        self, file: File | None, path: str, doc: Document, size: int, mtime_ns: int, sha: str
    ) -> File:
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
        return (
            failure is not None
            and failure.stage == FORGET_STAGE
            and (failure.size, failure.mtime_ns) == (size, mtime_ns)
        )

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
            live = (
                self.by_body.get(doc.body_sha256)
                or self.session.scalars(
                    select(Document)
                    .where(Document.body_sha256 == doc.body_sha256, Document.deleted_at.is_(None))
                    .limit(1)
                ).first()
            )
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
        if (
            existing is not None
            and not f.transient
            and not existing.transient
            and (existing.stage, existing.reason, existing.size, existing.mtime_ns)
            == (f.stage, f.reason, f.size, f.mtime_ns)
        ):
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
            failure = Failure(
                path=f.path,
                stage=f.stage,
                reason=f.reason,
                transient=f.transient,
                attempts=1,
                size=f.size,
                mtime_ns=f.mtime_ns,
                first_seen=self.now,
                last_seen=self.now,
            )
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

    def near_duplicate_candidates(self) -> ClusterInput:
        """Flush the batch, drop the band rows of its changed and deleted texts, and fetch
        what clustering its new or changed texts needs (``ingest.cluster``).

        Candidates are documents sharing an LSH band key: one indexed lookup per band for
        the whole batch; their fingerprints and clusters are read without their bodies.
        """
        self.session.flush()
        rebanded = self._analysed | self._revived
        docs = [d for d in self.touched if id(d) in rebanded or d.deleted_at is not None]
        stored = {d.id: self._banded.get(id(d), d.fingerprint) for d in docs if id(d) not in self._created}
        drop_bands(self.session, stored)
        live = [d for d in docs if d.deleted_at is None and d.fingerprint]
        self._texts = live
        if not live:
            return ClusterInput((), {}, (), {})
        self._keys = keys = {d.id: band_keys(d.fingerprint) for d in live}  # type: ignore[arg-type]
        bands = len(next(iter(keys.values())))
        # Per band: key -> ids of the stored documents having it. Read past the session
        # (no autoflush): the batch's rows were flushed just before.
        banded: list[dict[int, list[int]]] = [{} for _ in range(bands)]
        connection = self.session.connection()
        for band, found in enumerate(banded):
            for chunk in chunks(sorted({k[band] for k in keys.values()})):
                for doc_id, key in band_rows(connection, band, chunk):
                    found.setdefault(key, []).append(doc_id)
        others = sorted({i for found in banded for ids in found.values() for i in ids} - keys.keys())
        candidates: dict[int, tuple[bytes, int | None]] = {}
        for chunk in chunks(others):
            rows = connection.execute(
                select(Document.id, Document.fingerprint, Document.cluster_id).where(
                    Document.id.in_(chunk), Document.deleted_at.is_(None)
                )
            )
            for doc_id, fp, cluster in rows:
                if fp:
                    candidates[doc_id] = (fp, cluster)
        texts = [(d.id, d.fingerprint, d.cluster_id) for d in live]
        return ClusterInput(texts, keys, banded, candidates)  # type: ignore[arg-type]

    def _write_clusters(self, assignment: ClusterAssignment) -> None:
        """Write what clustering decided: the texts' clusters, the documents that join
        them, the clusters whose first story left regrouped; then the texts' band rows."""
        texts = self._texts or []
        if not texts:
            return
        by_id = {d.id: d for d in texts}
        for doc_id, cluster in assignment.texts:
            by_id[doc_id].cluster_id = cluster
        joining = assignment.joining
        for chunk in chunks(sorted(joining)):  # loaded together (one query, not one each), no texts
            others = select(Document).options(defer(Document.body)).where(Document.id.in_(chunk))
            for other in self.session.scalars(others):
                other.cluster_id = joining[other.id]
                if other.cluster_id != other.id:  # the index has it as its own cluster already
                    self.touch(other)
        for cluster in assignment.left:
            self._regroup(cluster)
        insert_rows(
            self.session.connection(),
            table_of(DocBand),
            ("band", "key", "document_id"),
            [(b, k, doc_id) for doc_id, doc_keys in self._keys.items() for b, k in enumerate(doc_keys)],
        )

    def _regroup(self, cluster: int) -> None:
        """The members of a cluster its first story has left: one cluster under the lowest
        id, or alone. The index names a lone story's own id as its cluster, so the old id
        must not stay on them: it would fold them with that story."""
        members = list(
            self.session.scalars(
                select(Document)
                .options(defer(Document.body))
                .where(Document.cluster_id == cluster, Document.deleted_at.is_(None))
                .order_by(Document.id)
            )
        )
        for member in members:
            member.cluster_id = members[0].id if len(members) > 1 else None
            self.touch(member)

    def finish(self, clusters: ClusterAssignment | None = None) -> BatchCounts:
        """Write the clusters decided for ``near_duplicate_candidates()`` (a batch without
        new or changed texts needs none), the counted lines, and sequence the changes."""
        if self._texts is None:
            self.near_duplicate_candidates()
        if self._texts and clusters is None:
            raise ValueError("the batch's new or changed texts were not clustered")
        self._write_clusters(clusters or ClusterAssignment())
        self._write_lines()
        self.session.flush()
        for path, file in self.files.items():
            if file.document_id is not None:
                self.counts.doc_ids[path] = file.document_id
        if self.touched:
            for doc, seq in zip(self.touched, next_seqs(self.session, len(self.touched)), strict=True):
                doc.seq = seq
                doc.updated_at = self.now  # a change (its cluster's, at least): the index lag counts from it
            self.session.flush()
        return self.counts


def forget(
    session: Session,
    now: datetime,
    paths: Sequence[str],
    present: Mapping[str, tuple[int, int]],
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
    batch = BatchWriter(session, now, paths, [])
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
