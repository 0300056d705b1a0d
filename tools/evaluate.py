"""Known-item retrieval: can a document be found again by its title, or by a few of its words?

For a sample of documents: query with the title's words, and with the 8 rarest words of
the first sentence of the body against the body only (``body:(w1 ... w8)``); a query
succeeds at rank r when the document (or another of its near-duplicate cluster) is the
r-th hit. Reported as success@1 and MRR@10.

Spelling: the title queries again with one slip in a word of six letters or
more (the document must stay in the top 10); rare words spelled right (in 1-4
documents) must get no suggestion; and fuzzy words (``word~``) must find only documents
holding a word within the edit distance (precision).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from whoosh.support.levenshtein import damerau_levenshtein

from indexer.search.engine import Hit, SearchEngine, SearchOptions
from indexer.search.schema import TOKEN, WORDS_FIELD, index_language, plain_analyzer, stem_word, surface_words

__all__ = ["KnownItem", "Retrieval", "Spelling", "known_item", "spelling"]

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
    if not cluster:
        return False
    return hit.cluster == int(cluster)


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
        rest = body[len(title) :] if body.startswith(title) else body
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


@dataclass(frozen=True)
class Spelling:
    misspelled: Retrieval  # title queries with one slip in a word of 6+ letters
    misspelled_top10: float  # ... the share that found the document in the top 10
    rare_words: int  # rare words spelled right that were searched
    rare_no_suggestion: float  # ... the share of them that got no suggestion
    fuzzy_queries: int
    fuzzy_hits: int
    fuzzy_precision: float  # hits holding a word within the edit distance / hits
    misses: list[tuple[int, str]]  # misspelled title queries that missed the top 10
    suggested: list[tuple[str, str]]  # rare words and what was suggested for them
    imprecise: list[tuple[str, int]]  # fuzzy query, document id without a near word


MIN_SLIP_LENGTH = 6
RARE_DOCS = (1, 4)
FUZZY_HITS = 100  # hits of each fuzzy query checked


def slip(word: str, rng: random.Random) -> str:
    """``word`` with one typing slip past its first letter: two neighbours swapped, a
    letter dropped, doubled or changed to a neighbour in the alphabet."""
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("swap", "drop", "double", "change"))
    if kind == "swap" and word[i] != word[i + 1]:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    if kind == "double":
        return word[:i] + word[i] + word[i:]
    letter = "b" if word[i] == "a" else chr(ord(word[i]) - 1) if word[i].isalpha() and word[i] > "a" else "e"
    return word[:i] + letter + word[i + 1 :]


def spelling(
    engine: SearchEngine,
    sample: int = 200,
    seed: int = 5,
    same: Callable[[Hit, dict[str, Any]], bool] = _same,
) -> Spelling:
    """The spelling measures on the live index (see the module's docstring)."""
    rng = random.Random(seed)
    searcher = engine.searcher()
    reader = searcher.reader()
    live = [n for n in range(reader.doc_count_all()) if not reader.is_deleted(n)]
    options = SearchOptions(limit=TOP, snippets=False, collapse=False)
    ranks: list[int | None] = []
    misses: list[tuple[int, str]] = []
    for docnum in rng.sample(live, min(sample, len(live))):
        stored = dict(searcher.stored_fields(docnum))
        words = _words(stored.get("title") or "")
        long = [i for i, w in enumerate(words) if len(w) >= MIN_SLIP_LENGTH and w.isalpha()]
        if not long:
            continue
        at = rng.choice(long)
        query = " ".join([*words[:at], slip(words[at], rng), *words[at + 1 :]])
        hits = engine.search(query, options).hits
        found = next((i for i, hit in enumerate(hits, start=1) if same(hit, stored)), None)
        ranks.append(found)
        if found is None:
            misses.append((int(stored["id"]), query))

    lexicon = (
        [w.decode("utf-8") for w in reader.lexicon(WORDS_FIELD)]
        if WORDS_FIELD in reader.indexed_field_names()
        else []
    )
    lo, hi = RARE_DOCS
    rare = [
        w for w in lexicon if len(w) >= 4 and w.isalpha() and lo <= reader.doc_frequency(WORDS_FIELD, w) <= hi
    ]
    rare = rng.sample(rare, min(sample, len(rare)))
    suggested = []
    for word in rare:
        result = engine.search(word, SearchOptions(limit=1, snippets=False))
        if result.suggestion is not None:
            suggested.append((word, result.suggestion))

    # Words in 0.5-5% of the documents (in two, in a small collection).
    least, most = max(2, 0.005 * len(live)), max(2, 0.05 * len(live))
    common = [
        w
        for w in lexicon
        if len(w) >= MIN_SLIP_LENGTH and w.isalpha() and least <= reader.doc_frequency(WORDS_FIELD, w) <= most
    ]
    fuzzy = [slip(w, rng) for w in rng.sample(common, min(sample // 4, len(common)))]
    checked = 0
    imprecise: list[tuple[str, int]] = []
    for word in fuzzy:
        hits = engine.search(f"{word}~", SearchOptions(limit=FUZZY_HITS, snippets=False, collapse=False)).hits
        texts = engine.texts.get([hit.id for hit in hits])
        for hit in hits:
            checked += 1
            written = surface_words(f"{hit.title}\n{texts.get(hit.id, '')}")
            if not any(damerau_levenshtein(word, w, 2) <= 1 for w in written if abs(len(w) - len(word)) <= 1):
                imprecise.append((f"{word}~", hit.id))
    return Spelling(
        misspelled=Retrieval.of(ranks),
        misspelled_top10=sum(r is not None for r in ranks) / len(ranks) if ranks else 0.0,
        rare_words=len(rare),
        rare_no_suggestion=1 - len(suggested) / len(rare) if rare else 1.0,
        fuzzy_queries=len(fuzzy),
        fuzzy_hits=checked,
        fuzzy_precision=1 - len(imprecise) / checked if checked else 1.0,
        misses=misses,
        suggested=suggested,
        imprecise=imprecise,
    )
