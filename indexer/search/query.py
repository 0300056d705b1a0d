"""The query language: Whoosh syntax over title, body, source, lang, path and dates.

``parse()`` checks the user's text and parses it against the user-facing fields
(schema.parse_schema); date words become day ranges (dates.py) and path words become
globs. ``expand()`` then maps the title/body leaves onto the per-language fields present
in the index, stemming each word with that language's stemmer.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

from whoosh import query as wq
from whoosh.qparser import FuzzyTermPlugin, GtLtPlugin, MultifieldParser
from whoosh.qparser.syntax import AndGroup
from whoosh.support.charset import accent_map

from indexer.errors import QueryError
from indexer.search._whoosh.phrase import AdjacentPhrase
from indexer.search._whoosh.terms import ListedFuzzyTerm
from indexer.search.dates import DATE_HINT, DateError, bounds, to_utc
from indexer.search.schema import TEXT_PREFIXES, WORDS_FIELD, fuzzy_word, parse_schema, stem_word

__all__ = [
    "DATE_FIELDS",
    "FIELDS",
    "Parsed",
    "date_query",
    "describe",
    "expand",
    "lang_query",
    "one_edit",
    "parse",
    "path_query",
    "text_leaves",
]

FIELDS = (
    "title",
    "body",
    "byline",
    "dateline",
    "source",
    "lang",
    "path",
    "published",
    "ingested",
    "date",
    "id",
    "cluster",
)
FIELD_LIST = "title, body, byline, dateline, source, lang, path, published, ingested, date, cluster"
DATE_FIELDS = ("published", "ingested", "date")
SYNTAX_HINT = f'words, "a phrase", field:value ({FIELD_LIST}), AND OR NOT, ( ), prefix*, fuzzy~'
# Every date the index can hold: a DateRange over it matches "has a publication date"
# using a few coarse numeric terms, where Every("published") would read every posting.
_EVER = (datetime(1, 1, 1), datetime(9999, 12, 31))

_FIELD_REF = re.compile(r"(?<![\w\"])([A-Za-z_]+):(?=\S)")
_EXPLICIT_AND = re.compile(r"(?<![\w\"])AND(?![\w\"])")


@dataclass(frozen=True)
class Parsed:
    """A parsed query over the user-facing fields, and its any-word fallback."""

    text: str
    query: wq.Query
    # The same words joined by OR, for when no document has all of them; None when the
    # query is not several plain words (one word, an explicit AND, a single phrase...).
    fallback: wq.Query | None


def _check_syntax(text: str) -> str:
    if not text.strip():
        raise QueryError("query error: empty query", "give at least one word")
    if text.count('"') % 2:
        raise QueryError("query error: unbalanced quote", 'close the phrase: "exact words"')
    depth = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            break
    if depth != 0:
        raise QueryError("query error: unbalanced parentheses", "match every ( with a )")
    # Field names are case-insensitive: Title:oil is title:oil.
    text = _FIELD_REF.sub(lambda m: m.group(1).lower() + ":", text)
    for name in _FIELD_REF.findall(text):
        if name not in FIELDS:
            raise QueryError(
                f"query error: unknown field {name!r}",
                f"fields are: {FIELD_LIST}",
            )
    return text


@cache
def _parser() -> MultifieldParser:
    parser = MultifieldParser(["title", "body"], parse_schema(), group=AndGroup)
    parser.add_plugin(FuzzyTermPlugin())
    parser.add_plugin(GtLtPlugin())
    return parser


def parse(text: str, today: date) -> Parsed:
    """Parse ``text`` against the user-facing fields, or raise QueryError."""
    checked = _check_syntax(text)
    parser = _parser()
    try:
        raw = parser.parse(checked)
    except Exception as e:  # Whoosh raises assorted errors for odd input
        raise QueryError(f"query error: {e}", SYNTAX_HINT) from e
    if raw is wq.NullQuery or (not raw.leaves() and not isinstance(raw, wq.Every)):
        raise QueryError(
            "query error: nothing searchable in the query", "give at least one word or field:value"
        )
    query = _resolve(raw, today)
    fallback = None
    if isinstance(raw, wq.And) and not _EXPLICIT_AND.search(checked):
        words = [c for c in raw.subqueries if not isinstance(c, wq.Not) and _is_text(c)]
        rest = [c for c in raw.subqueries if not (not isinstance(c, wq.Not) and _is_text(c))]
        if len(words) >= 2:
            any_word = wq.Or([_resolve(w, today) for w in words])
            fallback = wq.And([any_word, *(_resolve(r, today) for r in rest)]) if rest else any_word
    return Parsed(text, query, fallback)


def _is_text(q: wq.Query) -> bool:
    leaves = list(q.leaves()) if not q.is_leaf() else [q]
    return bool(leaves) and all(getattr(leaf, "fieldname", None) in TEXT_PREFIXES for leaf in leaves)


def text_leaves(q: wq.Query) -> list[wq.Query]:
    """The title/body leaves of a parsed query."""
    leaves = [q] if q.is_leaf() else list(q.leaves())
    return [leaf for leaf in leaves if getattr(leaf, "fieldname", None) in TEXT_PREFIXES]


def describe(q: wq.Query) -> str:
    """A query as people read it: dates as days, every group in parentheses."""
    if isinstance(q, wq.DateRange):
        if (q.startdate, q.enddate) == _EVER:
            return f"{q.fieldname}:*"
        start = _show_time(q.startdate)
        end = _show_time(q.enddate)
        return f"{q.fieldname}:[{start} to {end}{'}' if q.endexcl else ']'}"
    if isinstance(q, wq.Not):
        return f"NOT {describe(q.query)}"
    if isinstance(q, wq.AndNot):
        return f"({describe(q.a)} AND NOT {describe(q.b)})"
    if isinstance(q, (wq.AndMaybe, wq.Require)):
        word = "ANDMAYBE" if isinstance(q, wq.AndMaybe) else "REQUIRE"
        return f"({describe(q.a)} {word} {describe(q.b)})"
    if isinstance(q, (wq.And, wq.Or)):
        joiner = " AND " if isinstance(q, wq.And) else " OR "
        inner = joiner.join(describe(child) for child in q.subqueries)
        return f"({inner})" if len(q.subqueries) > 1 else inner
    return str(q)


def _show_time(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.time() == datetime.min.time():
        return value.date().isoformat()
    return value.isoformat(timespec="minutes") + "Z"  # ingest times are UTC


# -- dates, paths and other fields --------------------------------------------------------


def _day(d: date | None) -> datetime | None:
    return None if d is None else datetime(d.year, d.month, d.day)


def date_query(fieldname: str, start: date | None, end: date | None) -> wq.Query:
    """Documents whose ``fieldname`` date falls in ``[start, end)`` (either may be open).

    ``date`` is the publication date, or the ingest date for documents without one.
    Ingest times are stored in UTC; the days are the user's local days.
    """
    if fieldname == "published":
        return wq.DateRange("published", _day(start), _day(end), endexcl=True)
    if fieldname == "ingested":
        return wq.DateRange(
            "ingested", to_utc(start) if start else None, to_utc(end) if end else None, endexcl=True
        )
    undated = wq.Not(wq.DateRange("published", *_EVER))
    return wq.Or([date_query("published", start, end), wq.And([date_query("ingested", start, end), undated])])


def lang_query(code: str) -> wq.Query:
    """Documents in a language; ``zh`` also finds the regional codes ``zh-cn`` and ``zh-tw``."""
    code = code.strip().lower()
    if "-" in code:
        return wq.Term("lang", code)
    return wq.Or([wq.Term("lang", code), wq.Prefix("lang", code + "-")])


def path_query(glob: str) -> wq.Query:
    """Paths matching a shell glob; a glob not starting with / or * matches a path's end."""
    if not glob.startswith(("/", "*")):
        glob = "*/" + glob
    if not any(ch in glob for ch in "*?["):
        return wq.Term("path", glob)
    return wq.Wildcard("path", glob)


def _resolve(q: wq.Query, today: date) -> wq.Query:
    """Turn date words into day ranges and path words into globs, everywhere in ``q``."""
    fieldname = getattr(q, "fieldname", None)
    if q.is_leaf() and fieldname in DATE_FIELDS:
        if isinstance(q, wq.Every):  # published:* -- has a date at all
            return wq.DateRange(fieldname, *_EVER) if fieldname != "date" else wq.Every()
        try:
            if isinstance(q, wq.TermRange):
                start, end = bounds(q.start, q.end, today, q.startexcl, q.endexcl)
                if start is None and end is None:
                    raise DateError("a date range needs at least one end")
            elif isinstance(q, (wq.Term, wq.Prefix)):
                start, end = bounds(q.text, q.text, today)
            else:
                raise DateError(f"{fieldname}: takes a date or a range, not {q}")
        except DateError as e:
            raise QueryError(f"query error: {e}", DATE_HINT) from None
        return date_query(fieldname, start, end)
    if q.is_leaf() and fieldname == "lang" and type(q) is wq.Term:
        return lang_query(q.text)
    if q.is_leaf() and fieldname == "path" and isinstance(q, (wq.Term, wq.Prefix, wq.Wildcard)):
        text = q.text + ("*" if isinstance(q, wq.Prefix) else "")
        return path_query(text)
    if q.is_leaf():
        return q
    return q.apply(lambda child: _resolve(child, today))


# -- languages ----------------------------------------------------------------------------


def _fold_pattern(text: str) -> str:
    return text.lower().translate(accent_map)


MAX_EXPANSIONS = 50  # words one fuzzy word may stand for (Lucene's fuzzy max_expansions)
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


@cache
def _alphabet(word: str) -> str:
    """The letters a slip may put into ``word``: a-z and digits (accents are folded), and
    for a word in another script the letters of its Unicode blocks (128 code points)."""
    letters = set(_ALPHABET)
    for base in {ord(ch) & ~0x7F for ch in word if ord(ch) > 0x7F}:
        letters.update(c for c in map(chr, range(base, base + 0x80)) if c.isalnum())
    return "".join(sorted(letters))


def one_edit(word: str) -> set[str]:
    """Every string one edit from ``word``: a letter dropped, added, changed, or two swapped."""
    out = set()
    alphabet = _alphabet(word)
    for i in range(len(word) + 1):
        head, tail = word[:i], word[i:]
        if tail:
            out.add(head + tail[1:])
        if len(tail) > 1:
            out.add(head + tail[1] + tail[0] + tail[2:])
        for c in alphabet:
            out.add(head + c + tail)
            if tail:
                out.add(head + c + tail[1:])
    return out


class NearWord(ListedFuzzyTerm):
    """``word~`` (``word~2``): the words of the documents, as written, within one (two)
    edits of the word as typed, in the unstemmed ``words`` field.

    Matching written words, not stems, is what makes it precise: a stem one edit away
    belongs to other words (``govenment`` stems to ``goven``, one edit from ``given``).
    One edit counts a swap of two letters (``srping~`` finds ``spring``): every variant is
    looked up, a few hundred set lookups, cheaper than Whoosh's automaton. Two edits use
    Whoosh's automaton. The first letter stays as typed (Lucene's prefix length 1: few
    slips hit it, and it halves the lookups); at most MAX_EXPANSIONS words, the commonest.
    """

    def __init__(self, text: str, maxdist: int = 1, boost: float = 1.0) -> None:
        super().__init__(WORDS_FIELD, text, boost=boost, maxdist=maxdist, prefixlength=1)

    def words_in(self, reader: Any, contains: Callable[[bytes], bool] | None = None) -> list[bytes | str]:
        """The words it stands for in ``reader`` (bytes; str from Whoosh's automaton);
        ``contains(btext)`` may answer for the reader faster."""
        found: list[bytes | str]
        if self.maxdist != 1:
            found = self.automaton_words(reader)
        else:
            contains = contains or (lambda btext: (self.fieldname, btext) in reader)
            head = self.text[:1]
            variants = (v for v in (self.text, *sorted(one_edit(self.text))) if v.startswith(head))
            found = [b for b in (v.encode("utf-8") for v in variants) if contains(b)]
        if len(found) <= MAX_EXPANSIONS:
            return found
        return sorted(found, key=lambda b: -reader.doc_frequency(self.fieldname, b))[:MAX_EXPANSIONS]


def expand(q: wq.Query, languages: list[str]) -> wq.Query:
    """Map title/body leaves onto the ``t_<lang>``/``b_<lang>`` fields present in the index."""
    fieldname = getattr(q, "fieldname", None)
    if fieldname in TEXT_PREFIXES and q.is_leaf():
        if isinstance(q, wq.Every):  # a bare *: every document
            return wq.Every()
        if isinstance(q, wq.FuzzyTerm):  # written words, in every language at once
            if fuzzy_word(q.text):
                return NearWord(q.text, maxdist=max(1, q.maxdist), boost=q.boost)
            q = wq.Term(fieldname, q.text, boost=q.boost)  # a short word or a number: as typed
        prefix = TEXT_PREFIXES[fieldname]
        variants: list[wq.Query] = []
        seen: set[tuple[str, str]] = set()
        for lang in languages:
            target = f"{prefix}{lang}"
            clone = copy.copy(q)
            clone.fieldname = target
            if isinstance(q, wq.Phrase):
                words = [stem_word(lang, w) for w in q.words]
                clone = AdjacentPhrase(target, words, slop=q.slop, boost=q.boost)
                key = (target, " ".join(words))
            elif type(q) is wq.Term:
                clone.text = stem_word(lang, q.text)
                key = (target, clone.text)
            else:  # prefix, wildcard, regex, ranges: match the folded text unstemmed
                if hasattr(clone, "text"):
                    clone.text = _fold_pattern(q.text)
                key = (target, repr(clone))
            if key not in seen:
                seen.add(key)
                variants.append(clone)
        if not variants:
            return wq.NullQuery
        return variants[0] if len(variants) == 1 else wq.Or(variants)
    if q.is_leaf():
        return q
    return q.apply(lambda child: expand(child, languages))
