"""Searching: parse the user's query, expand it to the language fields, run it, snippet it."""

from __future__ import annotations

import copy
import re
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from whoosh import highlight
from whoosh import query as wq
from whoosh.qparser import FuzzyTermPlugin, GtLtPlugin, MultifieldParser
from whoosh.qparser.dateparse import DateParserPlugin
from whoosh.qparser.syntax import AndGroup

from indexer.db import store
from indexer.db.session import Database
from indexer.errors import QueryError
from indexer.search.index import IndexStore
from indexer.search.schema import TEXT_PREFIXES, analyzer_for, field_language, fold, index_language, parse_schema

__all__ = ["Hit", "SearchOptions", "SearchResult", "parse", "search"]

SNIPPET_CHARS = 100_000  # highlight within the first 100k characters of a body
MARK_START, MARK_END = "\x02", "\x03"  # the renderer turns these into colour or <b>


@dataclass(frozen=True)
class SearchOptions:
    limit: int = 10
    offset: int = 0
    lang: str | None = None
    snippets: bool = True


@dataclass
class Hit:
    id: int
    title: str
    path: str
    language: str
    source: str | None
    published: date | None
    score: float
    snippet: str = ""


@dataclass
class SearchResult:
    query: str
    parsed: str
    total: int
    took_ms: float
    hits: list[Hit] = field(default_factory=list)


_FIELD_REF = re.compile(r"(?<![\w\"])([A-Za-z_]+):(?=\S)")


def _check_syntax(text: str) -> None:
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
    known = set(parse_schema().names())
    for name in _FIELD_REF.findall(text):
        if name not in known:
            fields = "title, body, source, lang, path, published, ingested"
            raise QueryError(f"query error: unknown field {name!r}", f"fields are: {fields}")


def _parser() -> MultifieldParser:
    parser = MultifieldParser(["title", "body"], parse_schema(), group=AndGroup)
    parser.add_plugin(FuzzyTermPlugin())
    parser.add_plugin(GtLtPlugin())
    parser.add_plugin(DateParserPlugin(free=False))
    return parser


def parse(text: str) -> wq.Query:
    """Parse ``text`` against the user-facing fields, or raise QueryError."""
    _check_syntax(text)
    try:
        parsed = _parser().parse(text)
    except Exception as e:  # Whoosh raises assorted errors for odd input
        raise QueryError(f"query error: {e}", "see `indexer search --help` for the syntax") from e
    if parsed is wq.NullQuery:
        raise QueryError("query error: nothing searchable in the query", "check dates and field values")
    return parsed


def _stem(lang: str, text: str) -> str:
    tokens = [t.text for t in analyzer_for(lang)(text)]
    return tokens[0] if len(tokens) == 1 else text


def expand(q: wq.Query, languages: list[str]) -> wq.Query:
    """Map title/body leaves onto the ``t_<lang>``/``b_<lang>`` fields present in the index."""
    fieldname = getattr(q, "fieldname", None)
    if fieldname in TEXT_PREFIXES and q.is_leaf():
        prefix = TEXT_PREFIXES[fieldname]
        variants: list[wq.Query] = []
        seen: set[tuple[str, str]] = set()
        for lang in languages:
            target = f"{prefix}{lang}"
            clone = copy.copy(q)
            clone.fieldname = target
            if isinstance(q, wq.Phrase):
                clone.words = [_stem(lang, w) for w in q.words]
                key = (target, " ".join(clone.words))
            elif type(q) is wq.Term or isinstance(q, wq.FuzzyTerm):
                clone.text = _stem(lang, q.text)
                key = (target, clone.text)
            else:  # prefix, wildcard, regex, ranges: match the raw folded text
                if hasattr(clone, "text"):
                    clone.text = fold(q.text) if q.text.isalnum() else q.text.lower()
                key = (target, repr(clone))
            if key not in seen:
                seen.add(key)
                variants.append(clone)
        if not variants:
            return wq.NullQuery
        return variants[0] if len(variants) == 1 else wq.Or(variants)
    return q.apply(lambda child: expand(child, languages))


class _MarkFormatter(highlight.Formatter):
    between = " … "

    def format_token(self, text: str, token: Any, replace: bool = False) -> str:
        return f"{MARK_START}{highlight.get_text(text, token, replace)}{MARK_END}"


def _snippet(body: str, terms: set[str], lang: str) -> str:
    text = body[:SNIPPET_CHARS]
    if terms:
        fragmenter = highlight.ContextFragmenter(maxchars=200, surround=60)
        found = highlight.highlight(text, terms, analyzer_for(lang), fragmenter, _MarkFormatter(), top=3)
        if found:
            return " ".join(found.split())
    first = text[:200]
    return " ".join(first.split()) + ("…" if len(text) > 200 else "")


def search(index: IndexStore, db: Database, text: str, options: SearchOptions) -> SearchResult:
    started = time.perf_counter()
    parsed = parse(text)
    ix = index.open_reader_index()
    try:
        with ix.searcher() as searcher:
            present = sorted(
                {lang for name in searcher.reader().indexed_field_names() if (lang := field_language(name))}
            )
            expanded = expand(parsed, present).normalize()
            filters = []
            if options.lang:
                filters.append(wq.Term("lang", options.lang))
            flt = wq.And(filters) if filters else None
            results = searcher.search(expanded, limit=options.offset + options.limit, filter=flt)
            total = len(results)
            rows = [(hit.score, hit.fields()) for hit in results[options.offset : options.offset + options.limit]]
            terms_by_field: dict[str, set[str]] = {}
            if options.snippets and rows:
                # (Whoosh's own existing_terms() loses terms of all but the first leaf.)
                for leaf in expanded.leaves():
                    for name, term in leaf.expanded_terms(searcher.reader(), phrases=True):
                        value = term.decode("utf-8") if isinstance(term, bytes) else str(term)
                        terms_by_field.setdefault(name, set()).add(value)
    finally:
        ix.close()
    ids = [int(fields["id"]) for _, fields in rows]
    with db.read() as session:
        docs = store.documents_by_ids(session, ids) if options.snippets else {}
    hits = []
    for score, fields in rows:
        doc_id = int(fields["id"])
        published = fields.get("published")
        hit = Hit(
            id=doc_id,
            title=fields.get("title", ""),
            path=fields.get("path", ""),
            language=fields.get("lang", ""),
            source=fields.get("source"),
            published=published.date() if published else None,
            score=round(float(score), 4),
        )
        doc = docs.get(doc_id)
        if doc is not None:
            lang = index_language(doc.language)
            terms = terms_by_field.get(f"b_{lang}", set()) | terms_by_field.get(f"t_{lang}", set())
            hit.snippet = _snippet(doc.body, terms, lang)
        hits.append(hit)
    took = (time.perf_counter() - started) * 1000
    return SearchResult(query=text, parsed=str(expanded), total=total, took_ms=round(took, 2), hits=hits)
