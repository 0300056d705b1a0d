"""Did you mean: spelling corrections drawn from the written words of the index itself.

A query word gets a correction only when it matches nothing as typed: no document has
it, in any inflection. Rare names that an archive holds (``quokka``, ``kereru``) are
found as typed and never corrected; nor is a word in a single document that has a
commoner word one edit away: it is as likely a rare name as a slip (``muck``, ``madd``).
Corrections come from the ``words`` field, which holds the words unstemmed and
accent-folded, so a correction is a word the documents use, never the typed word with
its accents off.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from whoosh import query as wq
from whoosh.codec.base import Automata
from whoosh.reading import IndexReader
from whoosh.searching import Searcher
from whoosh.support.levenshtein import damerau_levenshtein

from indexer.search.query import Parsed, one_edit
from indexer.search.schema import TEXT_PREFIXES, WORDS_FIELD, plain_analyzer, stem_word

__all__ = ["Correction", "suggest"]

MIN_LENGTH = 4  # shorter words have too many neighbours to guess between ("foo": for, too, fox)
EDIT_PENALTY = 20  # a candidate's document count is divided by this for each edit
CANDIDATES = 4  # corrections weighed for each misspelled word
COMBINED_WORDS = 3  # misspelled words whose candidates are combined
TRIES = 6  # corrected queries weighed by the documents each finds (engine.py)
Contains = Callable[[bytes], bool]
_WORD = re.compile(r"\w+")
_EXCLUDED = re.compile(r"(?<![\w-])-(\w+)")


@dataclass(frozen=True)
class Correction:
    text: str  # the query text with its misspelled words corrected
    edits: int  # the most edits between a typed word and its correction
    total_edits: int  # the edits of all its words


def _positive_words(q: wq.Query) -> Iterator[str]:
    """The plain words (terms and phrase words) of title/body that the query asks for,
    not those it excludes (``-foo``, ``NOT foo``)."""
    if isinstance(q, wq.Not):
        return
    if isinstance(q, wq.AndNot):
        yield from _positive_words(q.a)
        return
    if q.is_leaf():
        if getattr(q, "fieldname", None) in TEXT_PREFIXES:
            if type(q) is wq.Term:
                yield q.text
            elif isinstance(q, wq.Phrase):
                yield from q.words
        return
    for child in q.children():
        yield from _positive_words(child)


def _matching_docs(reader: IndexReader, word: str, languages: list[str]) -> int:
    """Documents the word matches as typed (any inflection, title or body), summed over
    the language fields: zero means it finds nothing."""
    total = 0
    for lang in languages:
        stem = stem_word(lang, word)
        total += reader.doc_frequency(f"b_{lang}", stem) + reader.doc_frequency(f"t_{lang}", stem)
    return total


def _near_words(reader: IndexReader, word: str, maxdist: int, contains: Contains) -> set[str]:
    """Written words within ``maxdist`` edits of ``word`` (a swap of two letters is one).

    One edit away: every variant looked up (a few hundred set lookups). Two: only when
    none is one away, by Whoosh's automaton over the words sharing the first two letters
    (walking the whole term file for every word would be too slow for a search).
    """
    found = {v for v in one_edit(word) if contains(v.encode("utf-8"))}
    if not found and maxdist > 1:
        dfa = Automata.levenshtein_dfa(word, maxdist, 2)
        for leaf, _offset in reader.leaf_readers():
            if WORDS_FIELD in leaf.indexed_field_names():
                found.update(Automata.find_matches(dfa, leaf.cursor(WORDS_FIELD)))
    found.discard(word)
    return found


def _corrections(reader: IndexReader, word: str, contains: Contains) -> list[tuple[float, str]]:
    """The CANDIDATES commonest written words near ``word``, as (weight, word), best first:
    the weight is the word's document count divided by EDIT_PENALTY for each edit."""
    maxdist = 1 if len(word) <= 5 else 2
    ranked = []
    for candidate in _near_words(reader, word, maxdist, contains):
        if candidate.isalpha():
            docs = reader.doc_frequency(WORDS_FIELD, candidate)
            ranked.append((docs / EDIT_PENALTY ** damerau_levenshtein(word, candidate), candidate))
    ranked.sort(key=lambda item: (-item[0], item[1]))
    return ranked[:CANDIDATES]


def suggest(
    searcher: Searcher, parsed: Parsed, languages: list[str], contains: Contains | None = None
) -> list[Correction]:
    """The query with its misspelled words corrected, a few ways, likeliest first (the
    caller weighs them by the documents each finds: in "rsing costs" the word is
    "rising", not the commoner "using"); empty when no word looks misspelled.

    ``contains(word_bytes)`` may say faster than the reader whether a word is in the
    ``words`` field (a long-lived engine holds the field's words in memory)."""
    reader: Any = searcher.reader()
    if contains is None:
        contains = lambda btext: (WORDS_FIELD, btext) in reader  # noqa: E731
    options: dict[str, list[tuple[float, str]]] = {}
    folded = plain_analyzer()
    # Whoosh reads "-foo" as the word foo; whoever typed it meant to exclude it.
    excluded = {t.text for m in _EXCLUDED.finditer(parsed.text) for t in folded(m.group(1))}
    for word in sorted(set(_positive_words(parsed.query)) - excluded):
        if len(word) < MIN_LENGTH or not word.isalpha():
            continue
        # A word some document writes as typed matches: one lookup, where counting its
        # stems looks in two fields of every language.
        if contains(word.encode("utf-8")) or _matching_docs(reader, word, languages):
            continue
        if found := _corrections(reader, word, contains):
            options[word] = found
    if not options:
        return []
    words = sorted(options)
    # Every combination of a few words' candidates; for more words, each one's best only
    # (4 ** words combinations would not be few).
    per_word = CANDIDATES if len(words) <= COMBINED_WORDS else 1
    combinations = sorted(
        itertools.product(*(options[w][:per_word] for w in words)),
        key=lambda combo: (-math.prod(weight for weight, _ in combo), [fix for _, fix in combo]),
    )[:TRIES]
    out = []
    for combo in combinations:
        fixes = {word: fix for word, (_, fix) in zip(words, combo, strict=True)}

        def replace(m: re.Match[str], fixes: dict[str, str] = fixes) -> str:
            token = m.group()
            if m.end() < len(parsed.text) and parsed.text[m.end()] == ":":
                return token  # a field name
            key = "".join(t.text for t in folded(token))
            return fixes.get(key, token)

        corrected = _WORD.sub(replace, parsed.text)
        if corrected != parsed.text:
            edits = [damerau_levenshtein(w, fix) for w, fix in fixes.items()]
            out.append(Correction(corrected, max(edits), sum(edits)))
    return out
