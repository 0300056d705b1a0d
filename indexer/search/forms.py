"""A document's text fields as the index writer files them, made wherever the text is.

Making the terms of a document's text (tokens, folding, stems, positions) is most of what
indexing costs. ``index_form`` makes them in an ingest's analysis workers, beside the rest
of the analysis; the one process that writes the index then only files the records
(``TermPool.add_terms``). The form travels with the analysis, waits in ``RecentForms``
until the follower reaches its document, and is used only when the stored document still
has the text it was made from: otherwise the follower makes the terms itself. Either way
the same function (``field_terms``) makes them, so the index holds the same postings.

This module imports only the schema (no database, no Whoosh writer): workers import it.
"""

from __future__ import annotations

import struct
import threading
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from whoosh.fields import Schema

from indexer.search.schema import WORDS_FIELD, build_schema, index_language

if TYPE_CHECKING:
    from indexer.db.models import Document

__all__ = [
    "DOCNUM",
    "RECORD",
    "FieldTerms",
    "IndexForm",
    "RecentForms",
    "field_terms",
    "index_form",
    "text_fields",
]

# A posting as the writer's pool holds it: docnum, weight, value length, then the value.
RECORD = struct.Struct(">IdI")
DOCNUM = struct.Struct(">I")  # a record's head, which only the writer knows ...
TAIL = struct.Struct(">dI")  # ... and the rest of its header: a record is head + tail + value
# Index forms of just stored documents held for the follower: a few batches' worth.
RECENT_FORMS = 2000


def text_fields(language: str, title: str, body: str) -> dict[str, str]:
    """The index fields made from a document's text (their terms: most of indexing's work)."""
    lang = index_language(language)
    return {WORDS_FIELD: body, f"t_{lang}": title, f"b_{lang}": body}


@dataclass(frozen=True, slots=True)
class FieldTerms:
    """One document's field as ``TermPool.add_terms`` takes it, without a document number:
    its terms' keys and, for a field with values, the rest of each posting's record
    (``TAIL``, then the value). Kept as a few byte strings, not one object per term, so
    that a form costs little memory and pickles fast on its way from a worker."""

    length: int  # the field's length in terms
    keys: bytes  # the terms, NUL-separated (no term holds one: they are words)
    tails: bytes | None  # the records' tails one after the other; None: each posting
    # weighted 1 with no value (Existence)
    ends: array[int] | None  # where each term's tail ends in ``tails``

    def terms(self) -> list[bytes]:
        return self.keys.split(b"\0") if self.keys else []


def field_terms(field: Any, value: Any) -> FieldTerms | None:
    """``value`` in ``field`` as ``FieldTerms``, or None when the field's type does not give
    its terms directly (``IndexText.positions``, ``WordsText.words``): Whoosh's own ``index``
    takes those."""
    if not field.indexed:
        return None
    terms = field.positions(value) if hasattr(field, "positions") else None
    if terms is not None:
        fmt = field.format
        boost, encode, pack = fmt.field_boost, fmt.encode, TAIL.pack
        tails, ends, length, end = [], array("I"), 0, 0
        for at in terms.values():
            freq = len(at)
            encoded = encode(at)
            tail = pack(freq * boost, len(encoded)) + encoded
            tails.append(tail)
            end += len(tail)
            ends.append(end)
            length += freq
        return FieldTerms(length, "\0".join(terms).encode("utf-8"), b"".join(tails), ends)
    words = field.words(value) if hasattr(field, "words") else None
    if words is not None:
        return FieldTerms(len(words), "\0".join(words).encode("utf-8"), None, None)
    return None


@dataclass(frozen=True)
class IndexForm:
    """A document's text fields as the index writer files them (``text_fields``), made
    by ``index_form`` where the text was analysed: in an ingest's worker processes, so
    that the one process writing the index does not also make every term."""

    language: str
    title: str
    body: str
    fields: dict[str, FieldTerms]

    def fits(self, doc: Document) -> bool:
        """Whether ``doc`` as stored has the text this was made from."""
        return (
            doc.body == self.body
            and doc.title == self.title
            and index_language(doc.language) == index_language(self.language)
        )


@cache
def _schema() -> Schema:
    return build_schema()


def index_form(language: str, title: str, body: str) -> IndexForm:
    schema = _schema()
    made = {
        name: field_terms(schema[name], value) for name, value in text_fields(language, title, body).items()
    }
    return IndexForm(
        language, title, body, {name: terms for name, terms in made.items() if terms is not None}
    )


class RecentForms:
    """Index forms of documents just stored, by document id, until the follower files
    them: at most ``limit`` (the oldest go first; a follower without one makes the terms
    itself). Shared by the threads of one process (a daemon's watcher, scan and follow)."""

    def __init__(self, limit: int = RECENT_FORMS) -> None:
        self.limit = limit
        self._forms: dict[int, IndexForm] = {}
        self._lock = threading.Lock()

    def put(self, forms: Iterable[tuple[int, IndexForm]]) -> None:
        with self._lock:
            for doc_id, form in forms:
                self._forms.pop(doc_id, None)
                self._forms[doc_id] = form  # last: a dict keeps its keys in insertion order
            while len(self._forms) > self.limit:
                del self._forms[next(iter(self._forms))]

    def take(self, doc_id: int) -> IndexForm | None:
        with self._lock:
            return self._forms.pop(doc_id, None)
