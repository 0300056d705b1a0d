"""Whoosh's segment writer with a posting pool that groups postings by term.

Whoosh's own pool keeps every posting as a 5-tuple, sorts them all at commit, and when
over its memory limit writes sorted runs one ``marshal.dump`` per posting, then merges the
runs posting by posting through a heap: a third of an ingest's main-process time. A
writer adds a document's postings in document-number order (new documents, then merged
segments' documents after them), so postings kept per term are already in order: only
the terms need sorting. Each term's postings are packed records in one bytearray (31
bytes of memory per posting instead of 78 as Python objects), so a segment spills few
runs, written and read back as whole byte strings, and the merge heap moves once per term
and run. The writer adds a document's text fields a field at a time from their terms'
positions (``IndexText.positions``), and its flush hands the codec a term at a time, with
each document's field length looked up once per field rather than once per posting.

Its segments are written by ``CompactCodec``: Whoosh's own codec with its posting blocks
pickled by a protocol that stores bytes as bytes, its files counting their own positions.
"""

from __future__ import annotations

import contextlib
import copy
import heapq
import itertools
import marshal
import math
import pickle
import sys
import zlib
from collections.abc import Iterator, Mapping
from functools import partial
from operator import itemgetter
from typing import Any

from whoosh.codec.whoosh3 import WHOOSH3_HEADER_MAGIC, W3Codec, W3FieldWriter, W3PostingsWriter
from whoosh.filedb.structfile import StructFile
from whoosh.index import Index
from whoosh.reading import SegmentReader
from whoosh.util.numeric import length_to_byte
from whoosh.writing import SegmentWriter

from indexer.search.forms import DOCNUM, RECORD, FieldTerms, field_terms

__all__ = ["CompactCodec", "TermPool", "TermSegmentWriter", "postings", "tiered_merge"]

# A posting is held as one record in its term's bytearray (forms.RECORD: a header, then
# its value). Python objects per posting (a list slot, a float, a bytes) took 78 bytes of
# memory for a typical 23-byte record, so a 30-second segment spilled several runs to disk.
_TERM_BYTES = 200  # approximate memory per term held: its key, bytearray and dict entry
_TERMS_PER_DUMP = 2000  # groups written (and read back) per marshal call

Group = tuple[tuple[str, bytes], bytes]  # ((fieldname, term), its postings' records)


class TermPool:
    """Drop-in for ``whoosh.writing.PostingPool`` in a ``SegmentWriter`` (one process)."""

    def __init__(self, tempstore: Any, limitmb: float) -> None:
        self.tempstore = tempstore
        self.limit = int(limitmb * 1024 * 1024)
        self.size = 0
        self.fields: dict[str, dict[bytes, bytearray]] = {}
        self.runs: list[str] = []

    def _terms(self, fieldname: str) -> dict[bytes, bytearray]:
        terms = self.fields.get(fieldname)
        if terms is None:
            terms = self.fields[fieldname] = {}
        return terms

    def add(self, item: tuple[str, bytes, int, float, bytes | None]) -> None:
        fieldname, text, docnum, weight, value = item
        value = value or b""
        record = RECORD.pack(docnum, weight, len(value)) + value
        terms = self._terms(fieldname)
        postings = terms.get(text)
        if postings is None:
            terms[text] = bytearray(record)
            self.size += _TERM_BYTES + len(text)
        else:
            postings += record
        self.size += len(record)
        if self.size > self.limit:
            self.save()

    def add_terms(self, fieldname: str, docnum: int, terms: FieldTerms) -> int:
        """One document's field, as ``field_terms`` gives it. Returns the field's length in terms."""
        fields = self._terms(fieldname)
        get = fields.get
        keys = terms.terms()
        added = 0
        if terms.tails is None or terms.ends is None:  # each posting weighted 1, no value
            record = RECORD.pack(docnum, 1.0, 0)
            for key in keys:
                postings = get(key)
                if postings is None:
                    fields[key] = bytearray(record)
                    added += _TERM_BYTES + len(key)
                else:
                    postings += record
            added += len(record) * len(keys)
        else:
            head, tails, at = DOCNUM.pack(docnum), memoryview(terms.tails), 0
            for key, end in zip(keys, terms.ends, strict=True):
                postings = get(key)
                if postings is None:
                    postings = fields[key] = bytearray(head)
                    added += _TERM_BYTES + len(key)
                else:
                    postings += head
                postings += tails[at:end]
                at = end
            added += len(head) * len(keys) + len(tails)
        self.size += added
        if self.size > self.limit:
            self.save()
        return terms.length

    def _held(self) -> Iterator[Group]:
        """The groups held in memory, by field and term, each let go once yielded."""
        fields, self.fields, self.size = self.fields, {}, 0

        def sorted_groups() -> Iterator[Group]:
            for fieldname in sorted(fields):
                terms = fields.pop(fieldname)
                for term in sorted(terms):
                    yield (fieldname, term), bytes(terms.pop(term))

        return sorted_groups()

    def save(self) -> None:
        """Write the postings held so far as one sorted run in the temp storage."""
        if not self.fields:
            return
        name = f"{len(self.runs)}.{id(self)}.run"
        f = self.tempstore.create_file(name).raw_file()
        try:
            held = self._held()
            while chunk := list(itertools.islice(held, _TERMS_PER_DUMP)):
                marshal.dump(chunk, f)
        finally:
            f.close()
        self.runs.append(name)

    def _read_run(self, name: str) -> Iterator[Group]:
        f = self.tempstore.open_file(name).raw_file()
        try:
            while True:
                try:
                    chunk = marshal.load(f)
                except EOFError:
                    return
                yield from chunk
        finally:
            f.close()

    def groups(self) -> Iterator[Group]:
        """Every term with its postings, by field and term; a term held in several runs
        comes once per run, older runs first (its postings stay in document order)."""
        held = self._held()
        if not self.runs:
            return held
        # heapq.merge keeps equal keys in the order of its inputs.
        return heapq.merge(*(self._read_run(name) for name in self.runs), held, key=itemgetter(0))

    def iter_postings(self) -> Iterator[tuple[str, bytes, int, float, bytes]]:
        """Every posting as Whoosh's field writer takes them: by field, term, document."""
        for (fieldname, text), records in self.groups():
            for docnum, weight, value in postings(records):
                yield fieldname, text, docnum, weight, value

    def cleanup(self) -> None:
        for name in self.runs:
            with contextlib.suppress(OSError):
                self.tempstore.delete_file(name)
        self.runs = []
        self.fields = {}


def postings(records: bytes) -> Iterator[tuple[int, float, bytes]]:
    """(docnum, weight, value) of each posting in a term's records."""
    unpack = RECORD.unpack_from
    at, end = 0, len(records)
    while at < end:
        docnum, weight, size = unpack(records, at)
        at += RECORD.size
        yield docnum, weight, records[at : at + size]
        at += size


class CompactPostingsWriter(W3PostingsWriter):  # type: ignore[misc]
    """Whoosh's posting blocks, pickled by protocol 5 instead of 2.

    Protocol 2 has no opcode for bytes: each posting's value (its positions) is pickled
    as a call to ``_codecs.encode`` on a latin-1 string. With protocol 5 the postings take
    40% less disk. Whoosh's reader unpickles either, so older segments stay readable.
    """

    # The current block's bounds, which Whoosh's writer keeps (set in its _new_block).
    _maxweight: float
    _minlength: int | None
    _maxlength: int

    def _write_block(self, last: bool = False) -> None:  # Whoosh's, with the protocol changed
        if not self._blockcount:
            self._postfile.write(WHOOSH3_HEADER_MAGIC)
        self._terminfo.add_block(self)
        data = (self._mini_ids(), self._mini_weights(), self._mini_values())
        comp = self._compression
        databytes = pickle.dumps(data, 5)
        if comp:
            databytes = zlib.compress(databytes, comp)
        ids = self._ids
        lengths = (length_to_byte(self._minlength), length_to_byte(self._maxlength))
        info = (len(ids), ids[-1], self._maxweight, comp, *lengths)
        infobytes = pickle.dumps(info, 5)
        length = len(infobytes) + len(databytes)
        self._postfile.write_int(-length if last else length)  # negative: the term's last block
        self._postfile.write(infobytes)
        self._postfile.write(databytes)
        self._blockcount += 1
        self._new_block()

    def add_records(self, records: bytes, lengths: Mapping[int, int]) -> None:
        """Add a term's postings from ``TermPool``'s packed records (``lengths``: each
        document's length in the field): ``add_posting`` for each, with its state in local
        variables and without its type checks."""
        unpack, header, limit = RECORD.unpack_from, RECORD.size, self._blocklimit
        ids, weights, values = self._ids, self._weights, self._values
        maxweight, minlength, maxlength = self._maxweight, self._minlength, self._maxlength
        at, end = 0, len(records)
        while at < end:
            if len(ids) >= limit:  # a full block: written before the next posting, as Whoosh does
                self._maxweight, self._minlength, self._maxlength = maxweight, minlength, maxlength
                self._write_block()
                ids, weights, values = self._ids, self._weights, self._values
                maxweight, minlength, maxlength = self._maxweight, self._minlength, self._maxlength
            docnum, weight, size = unpack(records, at)
            at += header
            ids.append(docnum)
            weights.append(weight)
            if weight > maxweight:
                maxweight = weight
            if size:
                values.append(records[at : at + size])
                at += size
            if length := lengths[docnum]:
                if minlength is None or length < minlength:
                    minlength = length
                if length > maxlength:
                    maxlength = length
        self._maxweight, self._minlength, self._maxlength = maxweight, minlength, maxlength


class _CountingFile(StructFile):  # type: ignore[misc]
    """A file being written that knows its position: the field writer asks for it several
    times per term, and a buffered file's ``tell`` is a system call each time."""

    def __init__(self, opened: StructFile) -> None:
        super().__init__(opened.file, opened._name, opened.onclose)
        self._position: int = opened.file.tell()

    def write(self, data: bytes) -> int:
        self._position += len(data)
        return self.file.write(data)  # type: ignore[no-any-return]

    def tell(self) -> int:
        return self._position

    def seek(self, *args: Any) -> int:
        self._position = int(self.file.seek(*args))
        return self._position

    def write_pickle(self, obj: Any, protocol: int = -1) -> None:
        self.write(pickle.dumps(obj, protocol))

    def write_array(self, arry: Any) -> None:
        if sys.byteorder == "little":  # Whoosh stores arrays big-endian
            arry = copy.copy(arry)
            arry.byteswap()
        self.write(arry.tobytes())


class CompactFieldWriter(W3FieldWriter):  # type: ignore[misc]
    """Whoosh's field writer, taking a term's postings as ``TermPool`` records, its terms
    and postings files counting their own positions."""

    def _create_file(self, ext: str) -> _CountingFile:
        return _CountingFile(super()._create_file(ext))

    def add_records(self, records: bytes, lengths: Mapping[int, int]) -> None:
        self._postwriter.add_records(records, lengths)


class CompactCodec(W3Codec):  # type: ignore[misc]
    """Whoosh's codec with ``CompactPostingsWriter``. Segments keep a reference to their
    codec (pickled in the index's table of contents, by module and class name): the name
    they record must stay importable, or indexes written with it cannot be opened."""

    def field_writer(self, storage: Any, segment: Any) -> CompactFieldWriter:
        return CompactFieldWriter(self, storage, segment)

    def postings_writer(self, dbfile: Any, byteids: bool = False) -> CompactPostingsWriter:
        return CompactPostingsWriter(
            dbfile,
            blocklimit=self._blocklimit,
            byteids=byteids,
            compression=self._compression,
            inlinelimit=self._inlinelimit,
        )


# The name segments record for the codec: search/pool.py holds it importable there, so that
# an index records the same bytes and opens whichever module defines the class.
CompactCodec.__module__ = "indexer.search.pool"


class TermSegmentWriter(SegmentWriter):  # type: ignore[misc]
    """Whoosh's single-process writer with a ``TermPool``, a term-at-a-time flush and
    ``CompactCodec`` segments."""

    def __init__(self, ix: Index, limitmb: float = 128, **kwargs: Any) -> None:
        kwargs.setdefault("codec", CompactCodec())
        super().__init__(ix, limitmb=limitmb, **kwargs)
        self.pool = TermPool(self._tempstorage, limitmb)
        # Fields whose documents go through Whoosh's own add_document (found once, not per document).
        self._whoosh_only = frozenset(
            name for name, field in self.schema.items() if field.vector or field.separate_spelling()
        )
        self._prepared: Mapping[str, FieldTerms] = {}  # of the document being added

    def update_prepared(self, prepared: Mapping[str, FieldTerms], **fields: Any) -> None:
        """Whoosh's ``update_document``, with the terms of the fields in ``prepared``
        already made (``field_terms`` of the same values) rather than made here."""
        self._prepared = prepared
        try:
            self.update_document(**fields)
        finally:
            self._prepared = {}

    def add_document(self, **fields: Any) -> None:
        """Whoosh's ``add_document``, with the terms of fields whose type gives them
        (``field_terms``) added to the pool a field at a time.

        Documents using what this does not handle (boosts, custom stored values, term
        vectors, spelling fields) go through Whoosh's own.
        """
        schema = self.schema
        if not self._whoosh_only.isdisjoint(fields) or any(name.startswith("_") for name in fields):
            super().add_document(**fields)
            return
        self._check_state()
        perdocwriter, pool, prepared = self.perdocwriter, self.pool, self._prepared
        docnum = self.docnum
        fieldnames = sorted(fields)
        self._check_fields(schema, fieldnames)
        perdocwriter.start_doc(docnum)
        try:
            for fieldname in fieldnames:
                value = fields[fieldname]
                if value is None:
                    continue
                field = schema[fieldname]
                length = 0
                if field.indexed:
                    terms = prepared.get(fieldname) or field_terms(field, value)
                    if terms is not None:
                        length = pool.add_terms(fieldname, docnum, terms)
                    else:
                        scorable = field.scorable
                        for term, freq, weight, value_bytes in field.index(value):
                            if scorable:
                                length += freq
                            pool.add((fieldname, term, docnum, weight, value_bytes))
                    if not field.scorable:
                        length = 0
                perdocwriter.add_field(fieldname, field, value if field.stored else None, length)
                if field.column_type:
                    perdocwriter.add_column_value(fieldname, field.column_type, field.to_column_value(value))
        except Exception:
            perdocwriter.cancel_doc()
            raise
        perdocwriter.finish_doc()
        self._added = True
        self.docnum += 1

    def _flush_segment(self) -> None:
        self.perdocwriter.close()
        lengths = self.per_document_reader()
        writer = self.fieldwriter
        add_records = getattr(writer, "add_records", None) or partial(_add_records, writer)
        field: str | None = None
        text: bytes | None = None
        try:
            for (fieldname, term), records in self.pool.groups():
                if fieldname != field:
                    if field is not None:
                        writer.finish_term()
                        writer.finish_field()
                    writer.start_field(fieldname, self.schema[fieldname])
                    field, text = fieldname, None
                    scored = self.schema[fieldname].scorable
                    field_lengths = _FieldLengths(lengths, fieldname) if scored else _NO_LENGTHS
                if term != text:  # the same term from another run continues it
                    if text is not None:
                        writer.finish_term()
                    writer.start_term(term)
                    text = term
                add_records(records, field_lengths)
            if field is not None:
                writer.finish_term()
                writer.finish_field()
            writer.close()
        finally:
            lengths.close()


class _NoLengths(dict[int, int]):
    """The lengths of a field that keeps none (not scored): 0 for every document."""

    def __missing__(self, docnum: int) -> int:
        return 0


_NO_LENGTHS = _NoLengths()


class _FieldLengths(dict[int, int]):
    """Each document's length in one field, read from the segment's per-document data the
    first time it is asked for."""

    def __init__(self, lengths: Any, fieldname: str) -> None:
        super().__init__()
        self.lengths = lengths
        self.fieldname = fieldname

    def __missing__(self, docnum: int) -> int:
        self[docnum] = length = self.lengths.doc_field_length(docnum, self.fieldname) or 0
        return length


def _add_records(writer: Any, records: bytes, lengths: Mapping[int, int]) -> None:
    """A term's postings from ``TermPool`` records, through any codec's field writer."""
    for docnum, weight, value in postings(records):
        writer.add(docnum, weight, value, lengths[docnum])


# The merge policy of the index's commits (``tiered_merge``): a segment's tier is how many
# times MERGE_FACTOR its document count is above MERGE_FLOOR_DOCS; MERGE_FACTOR segments of
# one tier merge into one of the next, and never into one of more than MERGE_MAX_DOCS.
MERGE_FACTOR = 10
MERGE_FLOOR_DOCS = 1000
MERGE_MAX_DOCS = 250_000


def _tier(docs: int) -> int:
    return int(math.log(docs / MERGE_FLOOR_DOCS, MERGE_FACTOR)) if docs > MERGE_FLOOR_DOCS else 0


def tiered_merge(writer: SegmentWriter, segments: list[Any]) -> list[Any]:
    """A Whoosh merge policy (``commit(mergetype=...)``): the segments it leaves; those it
    merges go into the writer's new segment.

    Whoosh's own (``MERGE_SMALL``) merges by a Fibonacci rule that, at a million
    documents, now and then merges most of the index into the commit of a few new ones:
    minutes in which nothing else is indexed. Here each commit merges at most one tier's
    MERGE_FACTOR smallest segments, as Lucene's tiered policy does: a document is
    rewritten about once per tier (a few times in all), a commit's merge is bounded by
    MERGE_MAX_DOCS, and the index keeps at most about MERGE_FACTOR segments per tier. The
    weekly optimize merges them all into one.
    """
    tiers: dict[int, list[Any]] = {}
    for segment in segments:
        tiers.setdefault(_tier(segment.doc_count_all()), []).append(segment)
    for tier in sorted(tiers):
        group = sorted(tiers[tier], key=lambda s: s.doc_count_all())[:MERGE_FACTOR]
        if len(group) == MERGE_FACTOR and sum(s.doc_count_all() for s in group) <= MERGE_MAX_DOCS:
            for segment in group:
                reader = SegmentReader(writer.storage, writer.schema, segment)
                writer.add_reader(reader)
                reader.close()
            merged = {id(s) for s in group}
            return [s for s in segments if id(s) not in merged]
    return segments
