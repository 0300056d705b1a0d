"""Exact phrases matched by position arithmetic instead of Whoosh's span objects.

Whoosh checks a phrase by building a Span object for every position of every word in
every candidate document; for a phrase with a common word ("network the") that is
hundreds of milliseconds. Here the candidates are the same (documents holding every
word), and a document matches when some position p has word i at p + i: one set
intersection per word. ``phrase_among`` does the same for a few given documents.
"""

from __future__ import annotations

from typing import Any

from whoosh import matching
from whoosh import query as wq
from whoosh.query.spans import Span, SpanNear2

from indexer.search._whoosh.postings import term_docs

__all__ = ["AdjacentPhrase", "phrase_among"]


class AdjacentPhrase(wq.Phrase):  # type: ignore[misc]
    """A phrase whose words must stand next to each other, in order (Whoosh's slop 1)."""

    def matcher(self, searcher: Any, context: Any = None) -> matching.Matcher:
        field = searcher.schema[self.fieldname] if self.fieldname in searcher.schema else None  # noqa: SIM401 (a Schema has no get)
        if self.slop != 1 or field is None or not field.format or not field.format.supports("positions"):
            return super().matcher(searcher, context)
        reader = searcher.reader()
        terms = []
        for word in self.words:
            try:
                btext = field.to_bytes(word)
            except ValueError:
                return matching.NullMatcher()
            if (self.fieldname, btext) not in reader:
                return matching.NullMatcher()  # a word the field never holds
            terms.append(wq.Term(self.fieldname, btext))
        m: matching.Matcher = _AdjacentMatcher([t.matcher(searcher, context) for t in terms], len(terms))
        if self.boost != 1.0:
            m = matching.WrappingMatcher(m, boost=self.boost)
        return m


class _AdjacentMatcher(SpanNear2.SpanNear2Matcher):  # type: ignore[misc]
    def __init__(self, ms: list[matching.Matcher], length: int) -> None:
        self.length = length
        super().__init__(ms, slop=1, ordered=True, mindist=1)

    def copy(self) -> _AdjacentMatcher:
        return _AdjacentMatcher([m.copy() for m in self.ms], self.length)

    def _get_spans(self) -> list[Span]:
        starts = set(self.ms[0].value_as("positions"))
        for offset, m in enumerate(self.ms[1:], start=1):
            if not starts:
                return []
            starts.intersection_update(p - offset for p in m.value_as("positions"))
        return [Span(p, p + self.length - 1) for p in sorted(starts)]


def phrase_among(s: Any, q: AdjacentPhrase, among: set[int]) -> set[int] | None:
    """The documents of ``among`` with the phrase, by its words' positions in each one that
    has all the words (None: let the matcher decide). Whoosh's phrase matcher, skipped to
    each of ``among``, reads the positions of every document up to the next match, and at
    its start up to the first: for a phrase of common words, most of the segment."""
    field = s.schema[q.fieldname] if q.fieldname in s.schema else None  # noqa: SIM401 (a Schema has no get)
    if q.slop != 1 or field is None or not field.format or not field.format.supports("positions"):
        return None
    reader = s.reader()
    try:
        words = [field.to_bytes(word) for word in q.words]
    except ValueError:
        return set()
    if not words or any((q.fieldname, word) not in reader for word in words):
        return set()
    # The rarest word's documents among ``among``; the other words' postings are skipped to
    # each of them, not read whole (a common word's are most of the segment).
    order = sorted(range(len(words)), key=lambda i: reader.doc_frequency(q.fieldname, words[i]))
    candidates = term_docs(reader, q.fieldname, words[order[0]]) & among
    matchers = [reader.postings(q.fieldname, word) for word in words]
    found: set[int] = set()
    for d in sorted(candidates):
        starts: set[int] | None = None
        for i in order:
            m = matchers[i]
            if m.is_active() and m.id() < d:
                m.skip_to(d)
            if not m.is_active():
                return found  # this word is in no later document
            if m.id() != d:
                break
            shifted = {p - i for p in m.value_as("positions")}
            starts = shifted if starts is None else starts & shifted
            if not starts:
                break
        else:
            found.add(d)
    return found
