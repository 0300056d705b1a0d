"""Collapsing near-duplicates: one hit per cluster, its copies listed with it.

Every document carries its cluster in a column: its own id while it has no copy ("" in a
segment without the column). A page keeps the best document of each cluster; the counts
say how many hits the matches fold into.
"""

from __future__ import annotations

import itertools
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable
from heapq import heapify, heappop, heappush, nlargest
from typing import Any

from whoosh.searching import Searcher

from indexer.search._whoosh.collectors import ScoreCollector

__all__ = ["Clusters", "TopPerCluster", "alone", "best", "first_per_cluster", "fold"]


def alone(s: Searcher, cluster: str) -> bool:
    """Whether one live document only has this cluster (deleted ones are skipped)."""
    return len(list(itertools.islice(s.reader().postings("cluster", cluster).all_ids(), 2))) < 2


class Clusters:
    """Each document's near-duplicate cluster ("" for none), from the segments' columns.

    Read one document at a time at first: a one-shot search asks for a few hundred, and
    reading all 22k costs it ~20 ms. Once many were asked for (a long-lived engine), or
    on load_all(), they are read into a list at once.
    """

    def __init__(self, reader: Any) -> None:
        self._leaves = []
        # Per segment: a segment written without any cluster has no column at all, and
        # Whoosh's multi-segment column then silently skips its documents.
        for leaf, offset in reader.leaf_readers():
            column = leaf.column_reader("cluster") if leaf.has_column("cluster") else None
            self._leaves.append((offset, leaf.doc_count_all(), column))
        self._starts = [offset for offset, _, _ in self._leaves]
        self._all: list[str] | None = None
        self._copies: dict[int, str] | None = None
        self._asked = 0
        self._load_after = sum(count for _, count, _ in self._leaves) // 2

    def load_all(self) -> None:
        if self._all is None:
            values: list[str] = []
            for _offset, count, column in self._leaves:
                found = list(column) if column is not None else []
                values.extend(found[:count] + [""] * (count - len(found)))
            self._all = values

    def copies(self) -> dict[int, str] | None:
        """The cluster of each document whose cluster has another document (deleted ones
        too), once every document's cluster is read (None before): the only matches
        that can fold, a few in a hundred."""
        if self._all is None:
            return None
        if self._copies is None:
            counts = Counter(self._all)
            self._copies = {d: c for d, c in enumerate(self._all) if c and counts[c] > 1}
        return self._copies

    def of(self, docnums: list[int]) -> list[str]:
        if self._all is None and self._asked + len(docnums) > self._load_after:
            self.load_all()
        if self._all is not None:
            values = self._all
            return [values[d] for d in docnums]
        return [self[d] for d in docnums]

    def __getitem__(self, docnum: int) -> str:
        if self._all is None:
            self._asked += 1
            if self._asked <= self._load_after:
                offset, _count, column = self._leaves[bisect_right(self._starts, docnum) - 1]
                at = docnum - offset
                return column[at] if column is not None and at < len(column) else ""
            self.load_all()
            assert self._all is not None
        return self._all[docnum]


def best(
    scores: dict[int, float],
    want: int,
    cluster_of: Clusters | None,
    doc_id: Callable[[int], int] | None = None,
) -> list[tuple[int, float | None]]:
    """The ``want`` best (docnum, score), by score then document id (``doc_id``; the
    docnum without it), one per cluster: the best of each, the same document in every
    index generation (a rebuild or merge numbers documents anew, their ids stay)."""
    if want <= 0:
        return []
    order = doc_id or (lambda docnum: docnum)
    # Clusters at BBC x10 hold ten copies: ask for enough at once to fill the page.
    k = want * 16 if cluster_of is not None else want
    while True:
        if k < len(scores):
            # The k best scores, and every document tying with the last of them: only
            # those need their ids for the order.
            last = nlargest(k, scores.values())[-1] if k else float("inf")
            items = [(d, v) for d, v in scores.items() if v >= last]
        else:
            items = list(scores.items())
        items.sort(key=lambda item: (-item[1], order(item[0])))
        top = items[:k] if cluster_of is None else items
        if cluster_of is None:
            return list(top)
        seen: set[str] = set()
        kept: list[tuple[int, float | None]] = []
        for docnum, score in top:
            cluster = cluster_of[docnum]
            if cluster:
                if cluster in seen:
                    continue
                seen.add(cluster)
            kept.append((docnum, score))
            if len(kept) == want:
                return kept
        if k >= len(scores):
            return kept
        k *= 4


class TopPerCluster(ScoreCollector):
    """The best ``limit`` documents by score (then lower document id, ``doc_id``), at
    most one per near-duplicate cluster when ``cluster_of`` is given, and every match in
    ``seen``.

    The heap holds one entry per cluster, so copies of a story (ten of each at BBC x10)
    do not crowd the page and need no second pass. Every match is scored: Whoosh's
    block-quality skipping and mid-search matcher swaps (replace) lose matches, even
    top ones ("(oil OR gas) AND prices" missed documents scoring as high as its second hit).
    """

    def __init__(
        self, limit: int, cluster_of: Clusters | None, doc_id: Callable[[int], int] | None = None
    ) -> None:
        super().__init__(limit=limit, usequality=False, replace=0)
        self.cluster_of = cluster_of
        self.doc_id = doc_id or (lambda docnum: docnum)
        self.best: dict[str, tuple[float, int, str, int]] = {}
        self.seen: set[int] = set()

    def take(self, global_docnum: int, score: float) -> float:
        self.seen.add(global_docnum)
        items = self.items
        if len(items) >= self.limit and score < items[0][0]:
            return 0  # below every entry: whatever its cluster, it cannot make the page
        # Only a document that may make the page needs its id (for ties).
        entry = (score, -self.doc_id(global_docnum), "", global_docnum)
        if len(items) >= self.limit and entry[:2] <= items[0][:2]:
            return 0
        cluster = self.cluster_of[global_docnum] if self.cluster_of is not None else ""
        entry = (score, entry[1], cluster, global_docnum)
        if cluster and (held := self.best.get(cluster)) is not None:
            if entry[:2] <= held[:2]:
                return 0
            items.remove(held)
            heapify(items)
        elif len(items) >= self.limit:
            if entry[:2] <= items[0][:2]:
                return 0
            dropped = heappop(items)
            if dropped[2]:
                del self.best[dropped[2]]
        heappush(items, entry)
        if cluster:
            self.best[cluster] = entry
        if len(items) >= self.limit:
            self.minscore = items[0][0]
        return 0 - score

    def ranked(self) -> list[tuple[int, float | None]]:
        return [(docnum, score) for score, _negid, _cluster, docnum in sorted(self.items, reverse=True)]


def first_per_cluster(
    ranked: list[tuple[int, float | None]], cluster_of: Clusters
) -> list[tuple[int, float | None]]:
    """``ranked`` with each cluster's first hit only."""
    seen: set[str] = set()
    kept = []
    for docnum, score in ranked:
        cluster = cluster_of[docnum]
        if cluster and cluster in seen:
            continue
        seen.add(cluster)
        kept.append((docnum, score))
    return kept


def fold(matches: set[int], cluster_of: Clusters) -> tuple[dict[str, list[int]], int]:
    """The clusters of two or more matches (cluster -> its matches, sorted), and the hits
    the matches fold into."""
    members: dict[str, list[int]] = {}
    copies = cluster_of.copies()
    if copies is not None:
        for docnum in (
            matches & copies.keys() if len(copies) < len(matches) else (m for m in matches if m in copies)
        ):
            members.setdefault(copies[docnum], []).append(docnum)
    else:
        docnums = list(matches)
        for docnum, cluster in zip(docnums, cluster_of.of(docnums), strict=True):
            if cluster:
                members.setdefault(cluster, []).append(docnum)
    clusters = {c: sorted(docnums) for c, docnums in members.items() if len(docnums) > 1}
    return clusters, len(matches) - sum(len(docnums) - 1 for docnums in clusters.values())
