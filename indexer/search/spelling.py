"""Did you mean: spelling corrections drawn from the words of the index itself.

The text fields hold stems, so a correction is found among the stems of the field
(``goven`` -> ``govern``) and then turned back into a word people write by reading the
texts of a few documents that contain the stem (from the database) and picking the form
closest to what was typed (``govern`` -> ``government`` for ``govenment``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from itertools import islice
from typing import Any

from whoosh import query as wq
from whoosh.codec.base import Automata
from whoosh.reading import IndexReader
from whoosh.searching import Searcher
from whoosh.support.charset import accent_map
from whoosh.support.levenshtein import damerau_levenshtein

from indexer.search.query import Parsed, text_leaves
from indexer.search.schema import plain_analyzer, stem_word

Bodies = Callable[[list[int]], dict[int, str]]  # document numbers -> their texts

__all__ = ["suggest"]

# A word found in at least this many documents is taken to be spelled as meant.
KNOWN_WORD_DOCS = 3
EDIT_PENALTY = 20
SURFACE_DOCS = 3  # texts read to turn a corrected stem back into a word
CANDIDATES = 6  # nearest stems whose written forms are compared with what was typed
_WORD = re.compile(r"\w+")


def _doc_frequency(reader: IndexReader, word: str, languages: list[str]) -> int:
    total = 0
    for lang in languages:
        stem = stem_word(lang, word)
        total += reader.doc_frequency(f"b_{lang}", stem) + reader.doc_frequency(f"t_{lang}", stem)
    return total


def _candidates(reader: IndexReader, word: str, languages: list[str]) -> list[tuple[float, int, str, str]]:
    """(-weight, documents, language, stem) of stems near ``word``'s stem, best first.

    The weight is the stem's document count divided by 20 for each edit: a rare stem one
    edit away (often another typo) loses to a common one two edits away.
    """
    maxdist = 1 if len(word) <= 5 else 2
    found: dict[tuple[str, str], int] = {}
    dfas: dict[str, Any] = {}
    for lang in languages:
        fieldname = f"b_{lang}"
        stem = stem_word(lang, word)
        if stem not in dfas:  # building the automaton costs more than walking a field with it
            dfas[stem] = Automata.levenshtein_dfa(stem, maxdist, 1)
        for leaf, _offset in reader.leaf_readers():
            if fieldname not in leaf.indexed_field_names():
                continue
            for candidate in Automata.find_matches(dfas[stem], leaf.cursor(fieldname)):
                if candidate != stem:
                    found[(lang, candidate)] = 0
    ranked = []
    for lang, candidate in found:
        docs = reader.doc_frequency(f"b_{lang}", candidate)
        distance = damerau_levenshtein(stem_word(lang, word), candidate)
        ranked.append((-docs / EDIT_PENALTY**distance, docs, lang, candidate))
    ranked.sort()
    return ranked


def _surface(searcher: Searcher, bodies: Bodies, lang: str, stem: str, typed: str) -> str:
    """The written word behind ``stem`` that is closest to ``typed``."""
    forms: Counter[str] = Counter()
    head = stem[:3]  # stemmers change endings, not beginnings: stem only likely words
    docnums = list(islice(searcher.reader().postings(f"b_{lang}", stem).all_ids(), SURFACE_DOCS))
    for body in bodies(docnums).values():
        for word in _WORD.findall(body.lower().translate(accent_map)):
            if word.startswith(head) and stem_word(lang, word) == stem:
                forms[word] += 1
    if not forms:
        return stem
    return min(forms, key=lambda form: (damerau_levenshtein(form, typed), -forms[form]))


def _correction(searcher: Searcher, bodies: Bodies, word: str, languages: list[str], known: int) -> str | None:
    """The commoner written word closest to ``word``, judged on the written forms."""
    best: tuple[float, str] | None = None
    for _weight, docs, lang, stem in _candidates(searcher.reader(), word, languages)[:CANDIDATES]:
        if docs <= known:  # the correction must be the commoner word
            continue
        form = _surface(searcher, bodies, lang, stem, word)
        if form == word:
            continue
        weight = docs / EDIT_PENALTY ** damerau_levenshtein(form, word)
        if best is None or weight > best[0]:
            best = (weight, form)
    return best[1] if best else None


def suggest(searcher: Searcher, parsed: Parsed, languages: list[str], bodies: Bodies) -> str | None:
    """The query text with its misspelled words corrected, or None when none look wrong.

    ``bodies`` gives documents' texts by document number: the written forms are read there.
    """
    reader = searcher.reader()
    words: set[str] = set()
    for leaf in text_leaves(parsed.query):
        if type(leaf) is wq.Term:
            words.add(leaf.text)
        elif isinstance(leaf, wq.Phrase):
            words.update(leaf.words)
    fixes: dict[str, str] = {}
    for word in sorted(words):
        if len(word) < 3 or not word.isalpha():
            continue
        known = _doc_frequency(reader, word, languages)
        if known >= KNOWN_WORD_DOCS:
            continue
        if (fix := _correction(searcher, bodies, word, languages, known)) is not None:
            fixes[word] = fix
    if not fixes:
        return None
    folded = plain_analyzer()

    def replace(m: re.Match[str]) -> str:
        token = m.group()
        if m.end() < len(parsed.text) and parsed.text[m.end()] == ":":
            return token  # a field name
        key = "".join(t.text for t in folded(token))
        return fixes.get(key, token)

    corrected = _WORD.sub(replace, parsed.text)
    return corrected if corrected != parsed.text else None
