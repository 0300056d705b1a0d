"""Exact phrases matched by position arithmetic instead of Whoosh's span objects.

Whoosh checks a phrase by building a Span object for every position of every word in
every candidate document; for a phrase with a common word ("network the") that is
hundreds of milliseconds. Here the candidates are the same (documents holding every
word), and a document matches when some position p has word i at p + i: one set
intersection per word.
"""

from __future__ import annotations

from typing import Any

from whoosh import matching
from whoosh import query as wq
from whoosh.query.spans import Span, SpanNear2

__all__ = ["AdjacentPhrase"]


class AdjacentPhrase(wq.Phrase):
    """A phrase whose words must stand next to each other, in order (Whoosh's slop 1)."""

    def matcher(self, searcher: Any, context: Any = None) -> matching.Matcher:
        field = searcher.schema[self.fieldname] if self.fieldname in searcher.schema else None
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
