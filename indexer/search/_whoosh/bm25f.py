"""BM25F scores of queries of plain words, computed from the postings as Whoosh scores them.

Scoring through Whoosh's matchers costs ~10 µs a match, and block-max skipping rarely
helps a page of hits (its bound is low against 128-posting blocks). Here a term's score is
one multiply-add per posting, from its weights and each document's length byte, with
Whoosh's own BM25F formula and parameters (a field's B is private to the weighting); arms
of OR, AND and NOT add up as Whoosh's matchers add them. The tests compare the scores
with Whoosh's own.

``Scorer.top`` finds a page without scoring every match (MaxScore): a common word's
postings are looked up only for the documents the query's rarer terms match, as long as
the page's last score is above the most the common words alone can give a document
(from each term's highest weight and shortest field length, which the term dictionary
keeps). A test compares its pages with ranking every match.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from typing import Any

from whoosh import query as wq
from whoosh import scoring
from whoosh.searching import Searcher
from whoosh.util.numeric import byte_to_length

from indexer.search._whoosh.postings import (
    length_bytes,
    postings_of,
    postings_weights,
    postings_weights_among,
)

__all__ = ["Scorer"]

Ranked = list[tuple[int, float | None]]
# A list this long or longer is worth not reading whole: below it, one pass costs less
# than the lookups of the candidates in it.
SKIPPED_MIN_DOCS = 2048
# Bounds are compared with this much room: a bound and a score are summed in other orders.
_SLACK = 1e-9


class Scorer:
    """Every matching document's score for queries of plain words, for one searcher at a
    time; ``docset(s, q)`` gives the documents a NOT leaves out."""

    def __init__(
        self, docset: Callable[[Searcher, wq.Query], set[int]], skipped_min_docs: int = SKIPPED_MIN_DOCS
    ) -> None:
        self._docset = docset
        self.skipped_min_docs = skipped_min_docs  # the shortest list ``top`` may pass over
        self._lengths_of: Searcher | None = None
        self._length_cache: dict[tuple[int, str], bytes | None] = {}
        # While ``top`` runs: the terms looked up for the candidates only, the candidates
        # (sorted global docnums), and the whole scores of the other terms.
        self.skipping: set[tuple[str, Any]] = set()
        self.among: list[int] | None = None
        self.whole: dict[tuple[str, Any], dict[int, float] | None] = {}

    def top(
        self, s: Searcher, q: wq.Query, want: int, rank: Callable[[dict[int, float]], Ranked]
    ) -> tuple[Ranked, dict[int, float] | None] | None:
        """``rank(scores)`` over every match, found without scoring every match (MaxScore):
        the postings of the commonest words are only looked up for the documents that the
        other words match, when the most those words can add to a document that has none
        of the other words is below the page's last score. ``rank`` keeps the best
        ``want`` (filtered, one per cluster). With it, every match's score when they all
        had to be scored (None if not); None for a query of other than plain words."""
        leaves: list[wq.Term] = []
        if not _plain(q, leaves):
            return None
        terms = {(t.fieldname, t.text): t for t in leaves}
        reader = s.reader()
        if any(t.fieldname not in s.schema for t in terms.values()):
            return None
        # Passed over at first: every list long enough; then, while that does not fill
        # the page above the bound, the one of highest bound is read whole again.
        skipped = [key for key in terms if _doc_frequency(reader, key) >= self.skipped_min_docs]
        bounds: dict[tuple[str, Any], float] = {}
        for key in skipped:  # (the other terms' bounds are never asked for)
            _docs, bound = _docs_and_bound(s, terms[key])
            if bound is None:
                return None
            bounds[key] = bound
        extra = float(_nots(q))  # each NOT inside an AND adds 1 to every match
        self.whole = {}
        try:
            while skipped:
                ceiling = sum(bounds[key] for key in skipped) + extra
                self.skipping, self.among = set(), None
                candidates: set[int] = set()
                for key in terms.keys() - skipped:
                    candidates.update(self.whole_scores(s, terms[key]) or ())
                self.skipping, self.among = set(skipped), sorted(candidates)
                scores = self.scores(s, q)
                if scores is None:
                    return None
                ranked = rank(scores)
                last = ranked[want - 1][1] if want and len(ranked) >= want else None
                if last is not None and last > ceiling * (1 + _SLACK) + _SLACK:
                    return ranked, None  # no document outside the candidates can reach the page
                skipped.remove(max(skipped, key=bounds.__getitem__))
            self.skipping, self.among = set(), None
            scores = self.scores(s, q)
            return None if scores is None else (rank(scores), scores)
        finally:
            self.skipping, self.among, self.whole = set(), None, {}

    def whole_scores(self, s: Searcher, q: wq.Term) -> dict[int, float] | None:
        key = (q.fieldname, q.text)
        if key not in self.whole:
            self.whole[key] = self._term_scores(s, q)
        return self.whole[key]

    def scores(self, s: Searcher, q: wq.Query) -> dict[int, float] | None:
        """Every matching document's score, for queries of plain words (terms joined by
        AND, OR, NOT), as Whoosh's BM25F scores them; None for anything else."""
        kind = type(q)
        if kind is wq.Term:
            if self.among is None:
                return self._term_scores(s, q)
            if (q.fieldname, q.text) in self.skipping:
                return self._term_scores(s, q, self.among)
            return self.whole_scores(s, q)
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

    def _term_scores(
        self, s: Searcher, q: wq.Term, among: list[int] | None = None
    ) -> dict[int, float] | None:
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
            m, deleted = postings_of(leaf, q.fieldname, text)
            if among is None:
                weights = postings_weights(m, deleted)
            else:
                end = offset + leaf.doc_count_all()
                local = [d - offset for d in among[bisect_left(among, offset) : bisect_left(among, end)]]
                weights = postings_weights_among(m, deleted, local)
            for docnum, tf in weights:
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


def _nots(q: wq.Query) -> int:
    """The NOTs directly inside the ANDs of ``q`` (each adds 1 to a match's score)."""
    kind = type(q)
    if kind is wq.And:
        return sum(1 if isinstance(c, wq.Not) else _nots(c) for c in q.subqueries)
    if kind is wq.Or:
        return sum(_nots(c) for c in q.subqueries)
    if kind is wq.AndNot:
        return _nots(q.a)
    return 0


def _doc_frequency(reader: Any, key: tuple[str, Any]) -> int:
    try:
        return int(reader.doc_frequency(*key))
    except ValueError:  # not a value of its field (a word in a numeric field)
        return 0


def _plain(q: wq.Query, leaves: list[wq.Term]) -> bool:
    """Whether ``scores`` takes ``q``; its terms added to ``leaves``."""
    kind = type(q)
    if kind is wq.Term:
        leaves.append(q)
        return True
    if q.boost != 1.0:
        return False
    if kind is wq.Or and not q.minmatch:
        return all(_plain(c, leaves) for c in q.subqueries)
    if kind is wq.And:
        positive = [c for c in q.subqueries if not isinstance(c, wq.Not)]
        return bool(positive) and all(_plain(c, leaves) for c in positive)
    if kind is wq.AndNot:
        return _plain(q.a, leaves)
    return False


def _docs_and_bound(s: Searcher, q: wq.Term) -> tuple[int, float | None]:
    """The documents holding the term, and the highest score it can give one (from
    each segment's highest weight and shortest length of the term); bound None when
    it is not scored here."""
    weighting = s.weighting
    if q.fieldname not in s.schema or type(weighting) is not scoring.BM25F:
        return 0, None
    field = s.schema[q.fieldname]
    if not field.scorable:
        return 0, None
    try:
        text = field.to_bytes(q.text)
    except ValueError:
        return 0, 0.0
    reader = s.reader()
    if (q.fieldname, text) not in reader:
        return 0, 0.0
    idf = s.idf(q.fieldname, text)
    avgfl = s.avg_field_length(q.fieldname) or 1
    b = weighting._field_B.get(q.fieldname, weighting.B)
    k1 = weighting.K1
    docs, bound = 0, 0.0
    for leaf, _offset in reader.leaf_readers():
        if (q.fieldname, text) not in leaf:
            continue
        info = leaf.term_info(q.fieldname, text)
        docs += info.doc_frequency()
        tf, length = info.max_weight(), info.min_length()
        bound = max(bound, idf * ((tf * (k1 + 1)) / (tf + k1 * ((1 - b) + b * length / avgfl))))
    return docs, bound * q.boost
