"""Snippets: up to three passages of a body around the matched words, the matches marked.

Whoosh's highlighter runs the whole analyzer (stemmer included) over every word of the
body, too slow for a page of hits. Here a regex finds the words whose first letters could
belong to a matched stem (stemmers change endings, not beginnings) and only those are
stemmed, with a cache across calls; the matches are the words the index matched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from whoosh.support.charset import accent_map

from indexer.search.schema import IS_CJK, TOKEN, WordTokenizer, stem_word

__all__ = ["MARK_END", "MARK_START", "after_title", "snippet"]

MARK_START, MARK_END = "\x02", "\x03"  # the renderer turns these into colour, [ ] or <b>
SNIPPET_CHARS = 100_000  # look for matches within the first 100k characters of a body
FRAGMENTS = 3
SPAN = 120  # matches closer than this share a fragment
SURROUND = 60  # context shown either side of a fragment's matches
HEAD = 3


@dataclass
class _Fragment:
    start: int
    end: int
    matches: list[tuple[int, int]] = field(default_factory=list)
    terms: set[str] = field(default_factory=set)


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def _fold(text: str) -> str:
    """Accents off, as the analyzers do; str.translate costs 50 ns a character, so only
    the runs of non-ASCII characters go through it."""
    if text.isascii():
        return text
    return _NON_ASCII.sub(lambda m: m.group().translate(accent_map), text)


@lru_cache(maxsize=256)
def _heads_pattern(heads: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(h) for h in heads) + ")")


def _word_starts(text: str, heads: list[str]) -> list[int]:
    """Where words starting with one of ``heads`` begin (str.find is far quicker than a
    regex scan for a few heads; many heads, from a prefix query, take the regex)."""
    if len(heads) > 8:
        return [m.start() for m in _heads_pattern(tuple(heads)).finditer(text)]
    starts = set()
    for head in heads:
        at = text.find(head)
        while at != -1:
            if at == 0 or not text[at - 1].isalnum():
                starts.add(at)
            at = text.find(head, at + 1)
    return sorted(starts)


def _matches(text: str, terms: set[str], lang: str) -> list[tuple[int, int, str]]:
    """(start, end, stem) of every word of ``text`` the index would file under ``terms``."""
    folded = _fold(text.lower())
    if len(folded) != len(text):  # a rare letter whose lower case is longer: go word by word
        return _matches_by_token(text, terms, lang)
    found = []
    cjk = {term for term in terms if IS_CJK.match(term)}
    words = terms - cjk
    if words:
        # Only words starting like a matched stem can be one of its forms; the
        # regex finds them in C, and only they are stemmed.
        heads = sorted({term[:HEAD] for term in words}, key=lambda h: (-len(h), h))
        for start in _word_starts(folded, heads):
            token = TOKEN.match(folded, start)
            if token is not None and (stem := stem_word(lang, token.group())) in words:
                found.append((token.start(), token.end(), stem))
    for term in cjk:  # CJK is indexed as overlapping bigrams: every occurrence matches
        at = folded.find(term)
        while at != -1:
            found.append((at, at + len(term), term))
            at = folded.find(term, at + 1)
    found.sort()
    merged: list[tuple[int, int, str]] = []
    for start, end, term in found:  # overlapping bigrams become one marked span
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]), merged[-1][2])
        else:
            merged.append((start, end, term))
    return merged


def _matches_by_token(text: str, terms: set[str], lang: str) -> list[tuple[int, int, str]]:
    found = []
    for token in WordTokenizer()(text, chars=True):
        stem = stem_word(lang, token.text.lower().translate(accent_map))
        if stem in terms:
            found.append((token.startchar, token.endchar, stem))
    return found


def _widen(text: str, start: int, end: int) -> tuple[int, int]:
    """Add context either side, cut at spaces so no word is broken."""
    lo = max(0, start - SURROUND)
    if lo > 0:
        space = text.find(" ", lo, start)
        lo = space + 1 if space != -1 else lo
    hi = min(len(text), end + SURROUND)
    if hi < len(text):
        space = text.rfind(" ", end, hi)
        hi = space if space != -1 else hi
    return lo, hi


def after_title(body: str, title: str) -> str:
    """The body without its title line: the title is shown above the snippet already."""
    text = body.lstrip()
    if title and text.startswith(title.strip()):
        return text[len(title.strip()) :].lstrip()
    return body


def snippet(body: str, terms: set[str], lang: str) -> str:
    """Up to three fragments of ``body`` around ``terms`` (stems of the ``lang`` fields),
    matches between MARK_START and MARK_END, joined by " … "; else the body's start."""
    text = body[:SNIPPET_CHARS]
    found = _matches(text, terms, lang) if terms else []
    if not found:
        first = text[:200]
        return " ".join(first.split()) + ("…" if len(text) > 200 else "")
    fragments: list[_Fragment] = []
    for start, end, term in found:
        if not fragments or end - fragments[-1].start > SPAN:
            fragments.append(_Fragment(start, end))
        fragment = fragments[-1]
        fragment.end = end
        fragment.matches.append((start, end))
        fragment.terms.add(term)
    best = sorted(fragments, key=lambda f: (-len(f.terms), -len(f.matches), f.start))[:FRAGMENTS]
    spans: list[list[int]] = []
    for fragment in sorted(best, key=lambda f: f.start):
        lo, hi = _widen(text, fragment.start, fragment.end)
        if spans and lo <= spans[-1][1]:  # contexts that overlap are one passage
            spans[-1][1] = max(spans[-1][1], hi)
        else:
            spans.append([lo, hi])
    parts = []
    for lo, hi in spans:
        pieces, at = [], lo
        # Every match in the passage, its context's too (another fragment's words).
        for start, end, _term in found:
            if lo <= start and end <= hi:
                pieces += [text[at:start], MARK_START, text[start:end], MARK_END]
                at = end
        pieces.append(text[at:hi])
        parts.append(" ".join("".join(pieces).split()))
    return " … ".join(parts)
