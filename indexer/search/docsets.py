"""The documents a query matches, unscored, as sets of document numbers.

Terms are read from their postings and combined as sets (AND, OR, NOT as set algebra);
anything else (phrases, ranges, prefixes) goes through Whoosh's matchers. ``docset_among``
looks at given documents only, as alerts match a new batch.
"""

from __future__ import annotations

from whoosh import query as wq
from whoosh.searching import Searcher

from indexer.search._whoosh.phrase import AdjacentPhrase, phrase_among
from indexer.search._whoosh.postings import term_docs, term_docs_among

__all__ = ["docset", "docset_among", "docset_between", "sizes", "windowed"]


def docset(s: Searcher, q: wq.Query) -> set[int]:
    """The document numbers matching ``q``, unscored: terms read from their postings and
    combined as sets; anything else (phrases, ranges...) through Whoosh's matchers."""
    kind = type(q)
    if kind is wq.Term:
        return term_docs(s.reader(), q.fieldname, q.text)
    if kind is wq.Or and not q.minmatch:
        docs: set[int] = set()
        for child in q.subqueries:
            docs |= docset(s, child)
        return docs
    if kind is wq.And:
        positive = [c for c in q.subqueries if not isinstance(c, wq.Not)]
        if positive:
            sets = sorted((docset(s, c) for c in positive), key=len)
            docs = sets[0].intersection(*sets[1:])
            for negative in (c.query for c in q.subqueries if isinstance(c, wq.Not)):
                if docs:
                    docs -= docset(s, negative)
            return docs
    if kind is wq.AndNot:
        return docset(s, q.a) - docset(s, q.b)
    if kind is wq.AndMaybe:
        return docset(s, q.a)
    if kind is wq.Require:
        return docset(s, q.a) & docset(s, q.b)
    if kind is wq.Prefix or kind is wq.Wildcard:
        # The terms it stands for, each read by blocks (a language filter's regional codes).
        docs = set()
        for fieldname, text in q.expanded_terms(s.reader()):
            docs |= term_docs(s.reader(), fieldname, text)
        return docs
    return set(s.docs_for_query(q))


def windowed(q: wq.Query) -> bool:
    """Whether ``docset_between`` reads only its window's postings for ``q`` (terms in
    AND, OR and NOT), not every match each time."""
    kind = type(q)
    if kind is wq.Term:
        return True
    if kind is wq.Or and not q.minmatch:
        return all(windowed(c) for c in q.subqueries)
    if kind is wq.And:
        return all(windowed(c.query if isinstance(c, wq.Not) else c) for c in q.subqueries)
    if kind is wq.AndNot or kind is wq.Require:
        return windowed(q.a) and windowed(q.b)
    if kind is wq.AndMaybe:
        return windowed(q.a)
    return False


def sizes(s: Searcher, q: wq.Query) -> tuple[int, int]:
    """A guess at the matches of a ``windowed`` query (its commonest arm's documents)
    and the most it can have, from the terms' document counts (deletions counted)."""
    kind = type(q)
    if kind is wq.Term:
        n = s.reader().doc_frequency(q.fieldname, q.text) if q.fieldname in s.schema else 0
        return n, n
    if kind is wq.Or:
        parts = [sizes(s, c) for c in q.subqueries]
        return max((g for g, _ in parts), default=0), sum(m for _, m in parts)
    if kind is wq.And:
        parts = [sizes(s, c) for c in q.subqueries if not isinstance(c, wq.Not)]
        return min((g for g, _ in parts), default=0), min((m for _, m in parts), default=0)
    if kind in (wq.AndNot, wq.AndMaybe):
        return sizes(s, q.a)
    if kind is wq.Require:
        (ga, ma), (gb, mb) = sizes(s, q.a), sizes(s, q.b)
        return min(ga, gb), min(ma, mb)
    n = s.doc_count_all()
    return n, n


def docset_between(s: Searcher, q: wq.Query, lo: int, hi: int) -> set[int]:
    """``docset(s, q)`` from document number ``lo`` to below ``hi``: a part of the
    matches, counted without reading the postings outside it (for ``windowed`` queries)."""
    kind = type(q)
    if kind is wq.Term:
        return term_docs(s.reader(), q.fieldname, q.text, lo, hi)
    if kind is wq.Or and not q.minmatch:
        docs: set[int] = set()
        for child in q.subqueries:
            docs |= docset_between(s, child, lo, hi)
        return docs
    if kind is wq.And:
        positive = [c for c in q.subqueries if not isinstance(c, wq.Not)]
        if positive:
            sets = sorted((docset_between(s, c, lo, hi) for c in positive), key=len)
            docs = sets[0].intersection(*sets[1:])
            for negative in (c.query for c in q.subqueries if isinstance(c, wq.Not)):
                if docs:
                    docs -= docset_between(s, negative, lo, hi)
            return docs
    if kind is wq.AndNot:
        return docset_between(s, q.a, lo, hi) - docset_between(s, q.b, lo, hi)
    if kind is wq.AndMaybe:
        return docset_between(s, q.a, lo, hi)
    if kind is wq.Require:
        return docset_between(s, q.a, lo, hi) & docset_between(s, q.b, lo, hi)
    return {d for d in docset(s, q) if lo <= d < hi}


def docset_among(s: Searcher, q: wq.Query, among: set[int]) -> set[int]:
    """``docset(s, q) & among``, looking at ``among`` only where that is cheaper: terms
    from their postings, as sets; phrases, ranges and the like by skipping their matcher
    to each of ``among`` (a phrase over a whole segment reads every position of its words)."""
    kind = type(q)
    if not among:
        return set()
    if kind is wq.Term:
        return term_docs_among(s.reader(), q.fieldname, q.text, among)
    if kind is wq.Or and not q.minmatch:
        docs: set[int] = set()
        for child in q.subqueries:
            docs |= docset_among(s, child, among - docs)
        return docs
    if kind is wq.And:
        positive = [c for c in q.subqueries if not isinstance(c, wq.Not)]
        if positive:
            docs = set(among)
            # Terms first (cheap), so the costly parts look at fewer documents.
            for child in sorted(positive, key=lambda c: type(c) is not wq.Term):
                docs = docset_among(s, child, docs)
            for negative in (c.query for c in q.subqueries if isinstance(c, wq.Not)):
                docs -= docset_among(s, negative, docs)
            return docs
    if kind is wq.AndNot:
        docs = docset_among(s, q.a, among)
        return docs - docset_among(s, q.b, docs)
    if kind is wq.AndMaybe:
        return docset_among(s, q.a, among)
    if kind is wq.Require:
        return docset_among(s, q.b, docset_among(s, q.a, among))
    if kind is AdjacentPhrase and (phrased := phrase_among(s, q, among)) is not None:
        return phrased
    m = q.matcher(s, s.boolean_context())
    found: set[int] = set()
    for d in sorted(among):
        if not m.is_active():
            break
        if m.id() < d:
            m.skip_to(d)
            if not m.is_active():
                break
        if m.id() == d:
            found.add(d)
    return found
