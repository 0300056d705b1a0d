"""Whoosh's segment writer with a posting pool that groups postings by term.

Whoosh's own pool keeps every posting as a 5-tuple, sorts them all at commit, and when
over its memory limit writes sorted runs one ``marshal.dump`` per posting, then merges the
runs posting by posting through a heap: a third of an ingest's main-process time. A
writer adds a document's postings in document-number order (new documents, then merged
segments' documents after them), so postings kept per term are already in order: only
the terms need sorting, runs are written a chunk of terms per ``marshal.dump``, and the
merge heap moves once per term and run, not once per posting. The writer's flush then
hands the codec a term at a time, with each document's field length looked up once per
field rather than once per posting.

Its segments are written by ``CompactCodec``: Whoosh's own codec with its posting blocks
pickled by a protocol that stores bytes as bytes.
"""

from __future__ import annotations

import heapq
import marshal
import pickle
import zlib
from collections.abc import Iterator
from operator import itemgetter
from typing import Any

from whoosh.codec.whoosh3 import WHOOSH3_HEADER_MAGIC, W3Codec, W3PostingsWriter
from whoosh.index import Index
from whoosh.util.numeric import length_to_byte
from whoosh.writing import SegmentWriter

__all__ = ["CompactCodec", "TermPool", "TermSegmentWriter"]

# Approximate bytes held per posting kept (three list slots, a float, a bytes object
# without its data) and per term kept (its key, list and dict entry), for the limit.
_POSTING_BYTES = 24 + 24 + 33
_TERM_BYTES = 250
_TERMS_PER_DUMP = 2000  # groups written (and read back) per marshal call

Group = tuple[tuple[str, bytes], list[Any]]  # ((fieldname, term), [docnum, weight, value, ...])


class TermPool:
    """Drop-in for ``whoosh.writing.PostingPool`` in a ``SegmentWriter`` (one process)."""

    def __init__(self, tempstore: Any, limitmb: float) -> None:
        self.tempstore = tempstore
        self.limit = int(limitmb * 1024 * 1024)
        self.size = 0
        self.terms: dict[tuple[str, bytes], list[Any]] = {}
        self.runs: list[str] = []
        self.fieldnames: set[str] = set()

    def add(self, item: tuple[str, bytes, int, float, bytes | None]) -> None:
        fieldname, text, docnum, weight, value = item
        key = (fieldname, text)
        postings = self.terms.get(key)
        if postings is None:
            self.terms[key] = postings = []
            self.fieldnames.add(fieldname)
            self.size += _TERM_BYTES + len(text)
        postings += (docnum, weight, value)
        self.size += _POSTING_BYTES + (len(value) if value else 0)
        if self.size > self.limit:
            self.save()

    def save(self) -> None:
        """Write the postings held so far as one sorted run in the temp storage."""
        if not self.terms:
            return
        groups = sorted(self.terms.items(), key=itemgetter(0))
        self.terms, self.size = {}, 0
        name = f"{len(self.runs)}.{id(self)}.run"
        f = self.tempstore.create_file(name).raw_file()
        try:
            for start in range(0, len(groups), _TERMS_PER_DUMP):
                marshal.dump(groups[start : start + _TERMS_PER_DUMP], f)
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
        held = sorted(self.terms.items(), key=itemgetter(0))
        self.terms = {}
        if not self.runs:
            return iter(held)
        # heapq.merge keeps equal keys in the order of its inputs.
        return heapq.merge(*(self._read_run(name) for name in self.runs), held, key=itemgetter(0))

    def iter_postings(self) -> Iterator[tuple[str, bytes, int, float, bytes | None]]:
        """Every posting as Whoosh's field writer takes them: by field, term, document."""
        for (fieldname, text), postings in self.groups():
            for i in range(0, len(postings), 3):
                yield fieldname, text, postings[i], postings[i + 1], postings[i + 2]

    def cleanup(self) -> None:
        for name in self.runs:
            try:
                self.tempstore.delete_file(name)
            except OSError:
                pass
        self.runs = []
        self.terms = {}


class CompactPostingsWriter(W3PostingsWriter):  # type: ignore[misc]
    """Whoosh's posting blocks, pickled by protocol 5 instead of 2.

    Protocol 2 has no opcode for bytes: each posting's value (its positions) is pickled
    as a call to ``_codecs.encode`` on a latin-1 string. With protocol 5 the postings take
    40% less disk. Whoosh's reader unpickles either, so older segments stay readable.
    """

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
        info = (len(ids), ids[-1], self._maxweight, comp, length_to_byte(self._minlength), length_to_byte(self._maxlength))
        infobytes = pickle.dumps(info, 5)
        length = len(infobytes) + len(databytes)
        self._postfile.write_int(-length if last else length)  # negative: the term's last block
        self._postfile.write(infobytes)
        self._postfile.write(databytes)
        self._blockcount += 1
        self._new_block()


class CompactCodec(W3Codec):  # type: ignore[misc]
    """Whoosh's codec with ``CompactPostingsWriter``. Segments keep a reference to their
    codec (pickled in the index's table of contents): this class must keep its name and
    module, or indexes written with it cannot be opened."""

    def postings_writer(self, dbfile: Any, byteids: bool = False) -> CompactPostingsWriter:
        return CompactPostingsWriter(
            dbfile,
            blocklimit=self._blocklimit,
            byteids=byteids,
            compression=self._compression,
            inlinelimit=self._inlinelimit,
        )


class TermSegmentWriter(SegmentWriter):  # type: ignore[misc]
    """Whoosh's single-process writer with a ``TermPool``, a term-at-a-time flush and
    ``CompactCodec`` segments."""

    def __init__(self, ix: Index, limitmb: float = 128, **kwargs: Any) -> None:
        kwargs.setdefault("codec", CompactCodec())
        super().__init__(ix, limitmb=limitmb, **kwargs)
        self.pool = TermPool(self._tempstorage, limitmb)

    def _flush_segment(self) -> None:
        self.perdocwriter.close()
        lengths = self.per_document_reader()
        writer = self.fieldwriter
        field: str | None = None
        text: bytes | None = None
        field_lengths: dict[int, int] = {}
        try:
            for (fieldname, term), postings in self.pool.groups():
                if fieldname != field:
                    if field is not None:
                        writer.finish_term()
                        writer.finish_field()
                    writer.start_field(fieldname, self.schema[fieldname])
                    field, text, field_lengths = fieldname, None, {}
                if term != text:  # the same term from another run continues it
                    if text is not None:
                        writer.finish_term()
                    writer.start_term(term)
                    text = term
                for i in range(0, len(postings), 3):
                    docnum = postings[i]
                    length = field_lengths.get(docnum)
                    if length is None:
                        field_lengths[docnum] = length = lengths.doc_field_length(docnum, fieldname) or 0
                    writer.add(docnum, postings[i + 1], postings[i + 2] or b"", length)
            if field is not None:
                writer.finish_term()
                writer.finish_field()
            writer.close()
        finally:
            lengths.close()
