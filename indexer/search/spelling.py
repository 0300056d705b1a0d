"""Did you mean: spelling corrections drawn from the written words of the index itself.

A query word gets a correction only when it matches nothing as typed (no document has
it, in any inflection), or when it is all but absent (``MISSPELT_DOCS``) and a word one
edit away is far commoner (``COMMONER``). Rare names that an archive holds
(``quokka``, ``kereru``) are found as typed and are never corrected. Corrections come
from the ``words`` field, which holds the words unstemmed and accent-folded, so a
correction is a word the documents use and never the typed word with its accents off.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from whoosh import query as wq
from whoosh.codec.base import Automata
from whoosh.reading import IndexReader
from whoosh.searching import Searcher
from whoosh.support.levenshtein import damerau_levenshtein

from indexer.search.query import Parsed
from indexer.search.schema import TEXT_PREFIXES, WORDS_FIELD, plain_analyzer, stem_word

__all__ = ["Correction", "suggest"]

MIN_LENGTH = 4  # shorter words have too many neighbours to guess between ("foo": for, too, fox)
EDIT_PENALTY = 20  # a candidate's document count is divided by this for each edit
# A word found in at most this many documents may still be a slip ("goverment" in one
# story) when a word one edit away is in COMMONER times as many documents.
MISSPELT_DOCS = 1
COMMONER = 200
_WORD = re.compile(r"\w+")
_EXCLUDED = re.compile(r"(?<![\w-])-(\w+)")


@dataclass(frozen=True)
class Correction:
    text: str  # the query text with its misspelled words corrected
    edits: int  # the most edits between a typed word and its correction


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


def _near_words(reader: IndexReader, word: str, maxdist: int) -> set[str]:
    """Written words within ``maxdist`` edits of ``word`` (a swap of two letters is one).

    The automaton walks only the words sharing the first letter (walking all of them
    took ~80 ms on 30k words); slips in the first letter are looked up one by one.
    """
    found: set[str] = set()
    dfa = Automata.levenshtein_dfa(word, maxdist, 1)
    for leaf, _offset in reader.leaf_readers():
        if WORDS_FIELD in leaf.indexed_field_names():
            found.update(Automata.find_matches(dfa, leaf.cursor(WORDS_FIELD)))
    variants = {word[:i] + word[i + 1] + word[i] + word[i + 2 :] for i in range(len(word) - 1)}
    variants.add(word[1:])  # Levenshtein counts a swap as two edits; the first letter is fixed above
    letters = set(word) | set("abcdefghijklmnopqrstuvwxyz")
    variants.update(c + word[k:] for c in letters for k in (0, 1))
    found.update(v for v in variants if (WORDS_FIELD, v) in reader)
    found.discard(word)
    return found


def _correction(reader: IndexReader, word: str, known: int) -> str | None:
    """The commonest written word near ``word``, its count discounted per edit; for a word
    that matches ``known`` documents, only a word one edit away and far commoner."""
    maxdist = 1 if known or len(word) <= 5 else 2
    best: tuple[float, str] | None = None
    for candidate in _near_words(reader, word, maxdist):
        if not candidate.isalpha():
            continue
        docs = reader.doc_frequency(WORDS_FIELD, candidate)
        distance = damerau_levenshtein(word, candidate)
        if known and (distance > 1 or docs < COMMONER * known):
            continue
        weight = docs / EDIT_PENALTY**distance
        if best is None or (weight, candidate) > best:
            best = (weight, candidate)
    return best[1] if best else None


def suggest(searcher: Searcher, parsed: Parsed, languages: list[str]) -> Correction | None:
    """The query with its misspelled words corrected, or None when none look wrong."""
    reader: Any = searcher.reader()
    fixes: dict[str, str] = {}
    folded = plain_analyzer()
    # Whoosh reads "-foo" as the word foo; whoever typed it meant to exclude it.
    excluded = {t.text for m in _EXCLUDED.finditer(parsed.text) for t in folded(m.group(1))}
    for word in sorted(set(_positive_words(parsed.query)) - excluded):
        if len(word) < MIN_LENGTH or not word.isalpha():
            continue
        known = _matching_docs(reader, word, languages)
        if known > MISSPELT_DOCS:
            continue
        if (fix := _correction(reader, word, known)) is not None:
            fixes[word] = fix
    if not fixes:
        return None

    def replace(m: re.Match[str]) -> str:
        token = m.group()
        if m.end() < len(parsed.text) and parsed.text[m.end()] == ":":
            return token  # a field name
        key = "".join(t.text for t in folded(token))
        return fixes.get(key, token)

    corrected = _WORD.sub(replace, parsed.text)
    if corrected == parsed.text:
        return None
    return Correction(corrected, max(damerau_levenshtein(word, fix) for word, fix in fixes.items()))
