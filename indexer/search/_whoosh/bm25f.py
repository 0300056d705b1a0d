"""BM25F scores of queries of plain words, computed from the postings as Whoosh scores them.

Scoring through Whoosh's matchers costs ~10 µs a match, and block-max skipping rarely
helps a page of hits (its bound is low against 128-posting blocks). Here a term's score is
one multiply-add per posting, from its weights and each document's length byte, with
Whoosh's own BM25F formula and parameters (a field's B is private to the weighting); arms
of OR, AND and NOT add up as Whoosh's matchers add them. The tests compare the scores
with Whoosh's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from whoosh import query as wq
from whoosh import scoring
from whoosh.searching import Searcher
from whoosh.util.numeric import byte_to_length

from indexer.search._whoosh.postings import length_bytes, postings_weights

__all__ = ["Scorer"]


class Scorer:
    """Every matching document's score for queries of plain words, for one searcher at a
    time; ``docset(s, q)`` gives the documents a NOT leaves out."""

    def __init__(self, docset: Callable[[Searcher, wq.Query], set[int]]) -> None:
        self._docset = docset
        self._lengths_of: Searcher | None = None
        self._length_cache: dict[tuple[int, str], bytes | None] = {}

    def scores(self, s: Searcher, q: wq.Query) -> dict[int, float] | None:
        """Every matching document's score, for queries of plain words (terms joined by
        AND, OR, NOT), as Whoosh's BM25F scores them; None for anything else."""
        kind = type(q)
        if kind is wq.Term:
            return self._term_scores(s, q)
        if q.boost != 1.0:
            return None
        if kind is wq.Or and not q.minmatch:
            parts = [self.scores(s, child) for child in q.subqueries]
            if any(part is None for part in parts):
                return None
            scored = sorted((part for part in parts if part is not None), key=len, reverse=True)
            total = dict(scored[0]) if scored else {}
            for part in scored[1:]:
                for docnum, score in part.items():
                    # Whoosh adds the scores of the arms on a document; a word's title
                    # and body arms add up the same in either order.
                    total[docnum] = total[docnum] + score if docnum in total else score
            return total
        if kind is wq.And:
            positive = [c for c in q.subqueries if not isinstance(c, wq.Not)]
            parts = [self.scores(s, c) for c in positive]
            if not parts or any(part is None for part in parts):
                return None
            scored = [part for part in parts if part is not None]
            smallest = min(scored, key=len)
            keys = set(smallest).intersection(*scored)
            negatives = [c.query for c in q.subqueries if isinstance(c, wq.Not)]
            for negative in negatives:
                if keys:
                    keys -= self._docset(s, negative)
            # Whoosh intersects with each NOT's inverse, whose every document scores 1.
            extra = float(len(negatives))
            return {d: sum(part[d] for part in scored) + extra for d in keys}
        if kind is wq.AndNot:
            base = self.scores(s, q.a)
            if base is None:
                return None
            drop = self._docset(s, q.b)
            return {d: score for d, score in base.items() if d not in drop}
        return None

    def _term_scores(self, s: Searcher, q: wq.Term) -> dict[int, float] | None:
        weighting = s.weighting
        if q.fieldname not in s.schema or type(weighting) is not scoring.BM25F:
            return None
        field = s.schema[q.fieldname]
        if not field.scorable:
            return None
        try:
            text = field.to_bytes(q.text)
        except ValueError:
            return {}
        scores: dict[int, float] = {}
        reader = s.reader()
        if (q.fieldname, text) not in reader:
            return scores
        idf = s.idf(q.fieldname, text)
        avgfl = s.avg_field_length(q.fieldname) or 1
        b = weighting._field_B.get(q.fieldname, weighting.B)
        k1 = weighting.K1
        k1p1 = k1 + 1
        # whoosh.scoring.bm25 is idf * ((tf * (K1 + 1)) / (tf + K1 * ((1 - B) + B * fl / avgfl)));
        # the length takes 256 values, so the right-hand term is one table (same floats).
        norms = [k1 * ((1 - b) + b * (byte_to_length(n) if n else 0) / avgfl) for n in range(256)]
        boost = q.boost
        for leaf, offset in reader.leaf_readers():
            if (q.fieldname, text) not in leaf:
                continue
            lengths = self._lengths(s, leaf, q.fieldname)
            if lengths is None:
                return None
            for docnum, tf in postings_weights(leaf.postings(q.fieldname, text)):
                score = idf * ((tf * k1p1) / (tf + norms[lengths[docnum]]))
                scores[offset + docnum] = score * boost if boost != 1.0 else score
        return scores

    def _lengths(self, s: Searcher, leaf: Any, fieldname: str) -> bytes | None:
        """``length_bytes``, kept while the searcher is the same one."""
        if self._lengths_of is not s:
            self._lengths_of, self._length_cache = s, {}
        key = (id(leaf), fieldname)
        if key not in self._length_cache:
            self._length_cache[key] = length_bytes(leaf, fieldname)
        return self._length_cache[key]
