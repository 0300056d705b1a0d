"""Known-item retrieval: can a document be found again by its title, or by a few of its words?

For a sample of documents: query with the title's words, and with the 8 rarest words of
the first sentence of the body against the body only (``body:(w1 ... w8)``); a query
succeeds at rank r when the document (or another of its near-duplicate cluster) is the
r-th hit. Reported as success@1 and MRR@10, the measures of issue 5.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from indexer.search.engine import Hit, SearchEngine, SearchOptions
from indexer.search.schema import TOKEN, index_language, plain_analyzer, stem_word

__all__ = ["KnownItem", "Retrieval", "known_item"]

_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s")
DISTINCTIVE_WORDS = 8
TOP = 10


@dataclass(frozen=True)
class Retrieval:
    queries: int
    success_at_1: float
    mrr_at_10: float

    @classmethod
    def of(cls, ranks: list[int | None]) -> Retrieval:
        n = len(ranks)
        if not n:
            return cls(0, 0.0, 0.0)
        return cls(n, sum(r == 1 for r in ranks) / n, sum(1 / r for r in ranks if r) / n)


@dataclass(frozen=True)
class KnownItem:
    title: Retrieval
    body: Retrieval
    misses: list[tuple[int, str]]  # (document id, query) of queries that missed the top 10


def _words(text: str) -> list[str]:
    """The query words of ``text``: lower-cased, so that no word reads as an operator."""
    return [w.lower() for w in TOKEN.findall(text)]


def _same(hit: Hit, stored: dict[str, Any]) -> bool:
    if hit.id == int(stored["id"]):
        return True
    cluster = stored.get("cluster")
    return bool(cluster) and hit.cluster == int(cluster)


def known_item(
    engine: SearchEngine,
    sample: int = 200,
    seed: int = 5,
    same: Callable[[Hit, dict[str, Any]], bool] = _same,
    collapse: bool = False,
) -> KnownItem:
    """Sample ``sample`` documents of the live index and query for each of them twice.

    ``same(hit, stored_fields)`` says whether a hit is the wanted document; by default the
    same id or the same near-duplicate cluster (a benchmark whose corpus holds copies can
    pass its own notion of a copy).
    """
    searcher = engine.searcher()
    reader = searcher.reader()
    live = [n for n in range(reader.doc_count_all()) if not reader.is_deleted(n)]
    chosen = random.Random(seed).sample(live, min(sample, len(live)))
    options = SearchOptions(limit=TOP, snippets=False, collapse=collapse)
    title_ranks: list[int | None] = []
    body_ranks: list[int | None] = []
    misses: list[tuple[int, str]] = []

    def rank(query: str, stored: dict[str, Any]) -> int | None:
        hits = engine.search(query, options).hits
        found = next((i for i, hit in enumerate(hits, start=1) if same(hit, stored)), None)
        if found is None:
            misses.append((int(stored["id"]), query))
        return found

    for docnum in chosen:
        stored = dict(searcher.stored_fields(docnum))
        title = stored.get("title") or ""
        lang = index_language(stored.get("lang", ""))
        body = engine.bodies(searcher, [docnum]).get(docnum, "")
        if words := _words(title):
            title_ranks.append(rank(" ".join(words), stored))
        rest = body[len(title):] if body.startswith(title) else body
        first = _SENTENCE_END.split(rest.strip(), maxsplit=1)[0]
        if distinctive := _distinctive(searcher, first, lang):
            body_ranks.append(rank(f"body:({' '.join(distinctive)})", stored))
    return KnownItem(Retrieval.of(title_ranks), Retrieval.of(body_ranks), misses)


def _distinctive(searcher: Any, sentence: str, lang: str) -> list[str]:
    """The sentence's rarest words in the index (three letters or more)."""
    reader = searcher.reader()
    stems = {}
    for token in plain_analyzer()(sentence):
        if len(token.text) >= 3 and token.text not in stems:
            stems[token.text] = reader.doc_frequency(f"b_{lang}", stem_word(lang, token.text))
    return sorted(stems, key=lambda w: (stems[w], w))[:DISTINCTIVE_WORDS]
