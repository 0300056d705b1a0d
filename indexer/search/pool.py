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
"""

from __future__ import annotations

import heapq
import marshal
from collections.abc import Iterator
from operator import itemgetter
from typing import Any

from whoosh.index import Index
from whoosh.writing import SegmentWriter

__all__ = ["TermPool", "TermSegmentWriter"]

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


class TermSegmentWriter(SegmentWriter):  # type: ignore[misc]
    """Whoosh's single-process writer with a ``TermPool`` and a term-at-a-time flush."""

    def __init__(self, ix: Index, limitmb: float = 128, **kwargs: Any) -> None:
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
