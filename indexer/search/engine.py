"""Running searches on the live index, read-only: filters, sorting, near-duplicates
collapsed, facets, snippets, did-you-mean, and documents like a given one.

A ``SearchEngine`` keeps one Whoosh searcher open and refreshes it when the index has
changed (a commit, or a rebuilt generation swapped in), so a long-lived process can
reuse it; the CLI opens one per command. It never takes the writer lock and never opens
the database: titles, paths and bodies are stored in the index.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from whoosh import collectors, sorting
from whoosh import query as wq
from whoosh.index import EmptyIndexError, Index
from whoosh.searching import Searcher

from indexer.errors import NoIndexError, NotFoundError, QueryError
from indexer.search.dates import DATE_HINT, DateError, parse_date
from indexer.search.mapped import open_index
from indexer.search.query import date_query, describe, expand, lang_query, parse, path_query
from indexer.search.schema import analyzer_for, field_language, index_language
from indexer.search.snippets import MARK_END, MARK_START, snippet

__all__ = [
    "MARK_END",
    "MARK_START",
    "NO_INDEX",
    "SORTS",
    "FacetCount",
    "Hit",
    "SearchEngine",
    "SearchOptions",
    "SearchResult",
]

NO_INDEX = "no index yet: run `indexer ingest` or start the daemon"
SORTS = ("relevance", "newest", "oldest")
SUGGEST_BELOW = 5  # "few hits": below this many, look for a spelling correction
KEY_TERMS = 15  # terms that describe a document for `similar`


@dataclass(frozen=True)
class SearchOptions:
    limit: int = 10
    offset: int = 0
    langs: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    since: str | None = None  # a date value (dates.py): from the start of its span
    until: str | None = None  # ... through the end of its span
    path: str | None = None  # a shell glob
    sort: str = "relevance"
    snippets: bool = True
    facets: bool = False
    collapse: bool = True  # one hit per near-duplicate cluster


@dataclass
class Hit:
    id: int
    title: str
    path: str
    language: str
    source: str | None
    published: date | None
    ingested: datetime | None
    score: float | None  # None when sorted by date
    cluster: int | None
    near_duplicates: list[int] = field(default_factory=list)  # matching ids of its cluster
    snippet: str = ""  # fragments joined by " … ", matches between MARK_START and MARK_END


@dataclass(frozen=True)
class FacetCount:
    value: str | None
    count: int


@dataclass
class SearchResult:
    query: str
    total: int  # documents matching
    hits_total: int  # hits once near-duplicates are folded: what --offset pages through
    took_ms: float
    offset: int
    limit: int
    sort: str
    fallback: bool = False  # no document had every word: these match any of them
    suggestion: str | None = None  # a corrected query that finds more
    suggestion_total: int | None = None  # documents the suggestion matches
    parsed: str = ""  # the query over the user-facing fields
    expanded: str = ""  # ... over the per-language fields, as run
    filters: str = ""  # the options' filters as a query
    similar_to: int | None = None  # `similar`: the document's id
    key_terms: list[str] = field(default_factory=list)  # `similar`: the terms searched for
    facets: dict[str, list[FacetCount]] | None = None
    hits: list[Hit] = field(default_factory=list)


@dataclass
class _Run:
    page: list[tuple[int, float | None]]  # (docnum, score) of the hits to show
    matched: int
    total: int
    clusters: dict[str, list[int]]  # cluster -> matching docnums, clusters of 2+ only


def _live_dir(data_dir: Path) -> Path | None:
    # index.py's layout: data_dir/index is a symlink to the live generation folder.
    try:
        target = os.readlink(data_dir / "index")
    except OSError:
        return None
    path = data_dir / target
    return path if path.is_dir() else None


def _word_count(reader: Any, q: wq.Query) -> int | None:
    """The exact number of documents matching ``q`` when it is one word over the language
    fields (``t_en:x OR b_en:x OR t_de:y ...``), without reading the body's postings; else None.

    A document is indexed under exactly one language (index.py), so languages add up;
    within one, the body's document frequency counts the body matches, and the few
    documents with the word in the title only are found by walking the title postings.
    Deleted documents still count in frequencies until a merge: then None.
    """
    terms = [q] if isinstance(q, wq.Term) else q.subqueries if isinstance(q, wq.Or) else []
    if not terms or not all(type(t) is wq.Term for t in terms) or reader.has_deletions():
        return None
    words: dict[tuple[str, str], str] = {}
    for term in terms:
        lang = field_language(term.fieldname)
        key = (lang or "", term.fieldname[:2])
        if lang is None or key in words or term.boost != 1.0:
            return None
        words[key] = term.text
    total = 0
    for lang in {lang for lang, _ in words}:
        body, title = words.get((lang, "b_")), words.get((lang, "t_"))
        body_field, title_field = f"b_{lang}", f"t_{lang}"
        in_body = body is not None and (body_field, body) in reader
        total += reader.doc_frequency(body_field, body) if in_body else 0
        if title is None or (title_field, title) not in reader:
            continue
        if not in_body:
            total += reader.doc_frequency(title_field, title)
            continue
        matcher = reader.postings(body_field, body)
        for docnum in reader.postings(title_field, title).all_ids():
            if matcher.is_active() and matcher.id() < docnum:
                matcher.skip_to(docnum)
            if not matcher.is_active() or matcher.id() != docnum:
                total += 1  # in the title, not in the body
    return total


class _DateFacet(sorting.FacetType):
    """The document's date, as a sortable number: published if known, else ingested.

    Read from each segment's columns directly: Whoosh's FieldFacet falls back to counting
    through postings (keys that are ranks, not dates) when no segment has a column yet,
    which is the case for ``published`` until some document has a date.
    """

    def categorizer(self, global_searcher: Searcher) -> sorting.Categorizer:
        return _DateFacet.Categorizer(global_searcher.schema["published"].default)

    class Categorizer(sorting.Categorizer):  # type: ignore[misc]
        def __init__(self, missing: int) -> None:
            self.missing = missing
            self._published: Any = None
            self._ingested: Any = None

        def set_searcher(self, segment_searcher: Searcher, docoffset: int) -> None:
            reader = segment_searcher.reader()  # a segment without the column gives defaults
            self._published = reader.column_reader("published", translate=False)
            self._ingested = reader.column_reader("ingested", translate=False)

        def key_for(self, matcher: Any, segment_docnum: int) -> int:
            published = self._published[segment_docnum]
            return int(self._ingested[segment_docnum] if published == self.missing else published)


def _written(text: str, lang: str, stems: list[str]) -> list[str]:
    """Each stem as the document most often writes it (``yuko`` -> ``yukos``)."""
    wanted = set(stems)
    forms: dict[str, Counter[str]] = {}
    for token in analyzer_for(lang)(text, keeporiginal=True):
        if token.text in wanted:
            forms.setdefault(token.text, Counter())[token.original.lower()] += 1
    return [forms[stem].most_common(1)[0][0] if stem in forms else stem for stem in stems]


class SearchEngine:
    """Searches over the live index generation of one data dir."""

    def __init__(self, data_dir: Path, today: Callable[[], date] = date.today) -> None:
        self.data_dir = data_dir
        self.today = today
        self._live: Path | None = None
        self._index: Index | None = None
        self._searcher: Searcher | None = None
        self._languages: list[str] = []
        self._clusters: tuple[Any, list[str] | None] | None = None

    def __enter__(self) -> SearchEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._searcher is not None:
            self._searcher.close()
        if self._index is not None:
            self._index.close()
        self._searcher = self._index = self._live = None

    # -- the searcher -------------------------------------------------------------------

    def _open(self, live: Path) -> None:
        self.close()
        for attempt in range(3):
            try:
                self._index = open_index(live)
                self._searcher = self._index.searcher()
                break
            except EmptyIndexError:
                raise NoIndexError(NO_INDEX) from None
            except OSError:
                # A writer may delete merged segment files between our reading the table
                # of contents and opening them; a second try sees the new one.
                if attempt == 2:
                    raise
                time.sleep(0.05)
        self._live = live
        self._learn_languages()

    def _learn_languages(self) -> None:
        assert self._searcher is not None
        names = self._searcher.reader().indexed_field_names()
        self._languages = sorted({lang for name in names if (lang := field_language(name))})

    def searcher(self) -> Searcher:
        """The searcher, reopened or refreshed if the index changed since the last call."""
        live = _live_dir(self.data_dir)
        if live is None:
            raise NoIndexError(NO_INDEX)
        if self._searcher is None or live != self._live:
            self._open(live)
        elif not self._searcher.up_to_date():
            self._searcher = self._searcher.refresh()
            self._learn_languages()
        assert self._searcher is not None
        return self._searcher

    # -- searching ----------------------------------------------------------------------

    def search(self, text: str, options: SearchOptions) -> SearchResult:
        started = time.perf_counter()
        parsed = parse(text, self.today())
        s = self.searcher()
        flt = self._filter(options)
        allow = set(s.docs_for_query(flt)) if flt is not None else None
        q = expand(parsed.query, self._languages).normalize()
        run = self._run(s, q, allow, options)
        strict_matched = run.matched
        fallback = False
        if run.matched == 0 and parsed.fallback is not None:
            any_word = expand(parsed.fallback, self._languages).normalize()
            other = self._run(s, any_word, allow, options)
            if other.matched:
                q, run, fallback = any_word, other, True
        result = SearchResult(
            query=text, total=run.matched, hits_total=run.total, took_ms=0.0, offset=options.offset,
            limit=options.limit, sort=options.sort, fallback=fallback, parsed=describe(parsed.query),
            expanded=describe(q), filters=describe(flt) if flt is not None else "",
        )
        if strict_matched < SUGGEST_BELOW:
            self._suggest(s, parsed, allow, strict_matched, result)
        result.hits = self._hits(s, run, q, options)
        if options.facets:
            result.facets = self._facets(s, q, flt)
        result.took_ms = round((time.perf_counter() - started) * 1000, 2)
        return result

    def similar(self, doc_id: int, options: SearchOptions) -> SearchResult:
        """Documents like ``doc_id``: its key terms, searched in its language; its own
        document and cluster left out."""
        started = time.perf_counter()
        s = self.searcher()
        docnum = s.document_number(id=str(doc_id))
        if docnum is None:
            raise NotFoundError(f"no document with id {doc_id} in the index")
        stored = s.stored_fields(docnum)
        lang = index_language(stored.get("lang", ""))
        text = f"{stored.get('title', '')}\n\n{stored.get(f'b_{lang}', '')}"
        terms = s.key_terms_from_text(f"b_{lang}", text, numterms=KEY_TERMS)
        top = max((w for _, w in terms), default=1.0) or 1.0
        q: wq.Query = wq.Or(
            [wq.Term(f"{prefix}{lang}", term, boost=weight / top) for term, weight in terms for prefix in ("b_", "t_")]
        ) if terms else wq.NullQuery
        own: list[wq.Query] = [wq.Term("id", str(doc_id))]
        if stored.get("cluster"):
            own.append(wq.Term("cluster", stored["cluster"]))
        flt = self._filter(options)
        allow = set(s.docs_for_query(flt)) if flt is not None else None
        run = self._run(s, q, allow, options, exclude=set(s.docs_for_query(wq.Or(own))))
        not_own = wq.Not(wq.Or(own))
        everything = wq.And([flt, not_own]) if flt is not None else not_own
        result = SearchResult(
            query=f"similar to {doc_id}", total=run.matched, hits_total=run.total, took_ms=0.0,
            offset=options.offset, limit=options.limit, sort=options.sort, parsed=describe(q), expanded=describe(q),
            filters=describe(everything), similar_to=doc_id, key_terms=_written(text, lang, [term for term, _ in terms]),
        )
        result.hits = self._hits(s, run, q, options)
        if options.facets:
            result.facets = self._facets(s, q, everything)
        result.took_ms = round((time.perf_counter() - started) * 1000, 2)
        return result

    # -- the parts ----------------------------------------------------------------------

    def _filter(self, options: SearchOptions) -> wq.Query | None:
        parts: list[wq.Query] = []
        if options.langs:
            parts.append(wq.Or([lang_query(code) for code in options.langs]))
        if options.sources:
            parts.append(wq.Or([wq.Term("source", name.strip().lower()) for name in options.sources]))
        if options.since or options.until:
            today = self.today()
            try:
                start = parse_date(options.since, today).start if options.since else None
                end = parse_date(options.until, today).end if options.until else None
            except DateError as e:
                raise QueryError(f"query error: {e}", DATE_HINT) from None
            parts.append(date_query("date", start, end))
        if options.path:
            parts.append(path_query(options.path))
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else wq.And(parts)

    def _sort_facet(self, s: Searcher, sort: str) -> sorting.FacetType | None:
        if sort == "relevance":
            return None
        if sort not in SORTS:
            raise QueryError(f"query error: unknown sort {sort!r}", "sort by " + ", ".join(SORTS))
        return _DateFacet()

    def _collect(
        self, s: Searcher, q: wq.Query, allow: set[int] | None, options: SearchOptions, k: int,
        exclude: set[int] | None = None,
    ) -> tuple[list[tuple[int, float | None]], int]:
        """The best ``k`` (docnum, score) in the wanted order, and the exact number of matches."""
        c: collectors.Collector
        if options.sort == "relevance" and allow is None and not exclude:
            count = _word_count(s.reader(), q)
            if count is not None:
                # One word: its count comes from the term dictionary, so Whoosh may skip
                # the documents that cannot reach the top (most of them, for common words).
                results = s.search(q, limit=k)
                return [(hit.docnum, hit.score) for hit in results], count
        if options.sort == "relevance":
            # Whoosh's block-quality skipping and mid-search matcher swaps leave its count
            # of matches wrong; a plain heap counts every match in the same single pass.
            c = collectors.TopCollector(k, usequality=False, replace=0)
        else:
            c = collectors.SortingCollector(self._sort_facet(s, options.sort), limit=k,
                                            reverse=options.sort == "newest")
        if allow is not None or exclude:
            c = collectors.FilterCollector(c, allow=allow, restrict=exclude or None)
        s.search_with_collector(q, c)
        results = c.results()
        scored = options.sort == "relevance"
        return [(hit.docnum, hit.score if scored else None) for hit in results], len(results)

    def _run(
        self, s: Searcher, q: wq.Query, allow: set[int] | None, options: SearchOptions,
        exclude: set[int] | None = None,
    ) -> _Run:
        want = options.offset + options.limit
        cluster_of = self._cluster_column(s) if options.collapse else None
        k = want
        while True:
            ranked, matched = self._collect(s, q, allow, options, k, exclude)
            if cluster_of is None:
                return _Run(ranked[options.offset : want], matched, matched, {})
            # One hit per cluster, the best of it; ask for more hits until enough are left.
            seen: set[str] = set()
            kept = []
            for docnum, score in ranked:
                cluster = cluster_of[docnum]
                if cluster and cluster in seen:
                    continue
                seen.add(cluster)
                kept.append((docnum, score))
            if len(kept) >= want or len(ranked) >= matched:
                break
            k *= 4
        members: dict[str, list[int]] = {}
        for docnum in s.docs_for_query(q):
            if (cluster := cluster_of[docnum]) and (allow is None or docnum in allow) and not (
                exclude and docnum in exclude
            ):
                members.setdefault(cluster, []).append(docnum)
        clusters = {c: docnums for c, docnums in members.items() if len(docnums) > 1}
        total = matched - sum(len(docnums) - 1 for docnums in clusters.values())
        return _Run(kept[options.offset : want], matched, total, clusters)

    def _cluster_column(self, s: Searcher) -> list[str] | None:
        """Each document's cluster ("" for none), or None when no document has one."""
        reader = s.reader()
        if self._clusters is not None and self._clusters[0] is reader:
            return self._clusters[1]
        values: list[str] | None = None
        if "cluster" in reader.indexed_field_names():
            values = []
            # Per segment: a segment written without any cluster has no column at all,
            # and Whoosh's multi-segment column then silently skips its documents.
            for leaf, offset in reader.leaf_readers():
                assert offset == len(values)
                count = leaf.doc_count_all()
                column = list(leaf.column_reader("cluster")) if leaf.has_column("cluster") else []
                values.extend(column[:count] + [""] * (count - len(column)))
        self._clusters = (reader, values)
        return values

    def _hits(self, s: Searcher, run: _Run, q: wq.Query, options: SearchOptions) -> list[Hit]:
        terms: dict[str, set[str]] = {}
        if options.snippets and run.page:
            # (Whoosh's own existing_terms() loses terms of all but the first leaf.)
            for leaf in q.leaves():
                for name, term in leaf.expanded_terms(s.reader(), phrases=True):
                    value = term.decode("utf-8") if isinstance(term, bytes) else str(term)
                    terms.setdefault(name, set()).add(value)
        hits = []
        for docnum, score in run.page:
            stored = s.stored_fields(docnum)
            published = stored.get("published")
            ingested = stored.get("ingested")
            cluster = stored.get("cluster")
            hit = Hit(
                id=int(stored["id"]),
                title=stored.get("title", ""),
                path=stored.get("path", ""),
                language=stored.get("lang", ""),
                source=stored.get("source"),
                published=published.date() if published else None,
                ingested=ingested.replace(tzinfo=UTC) if ingested else None,
                score=round(float(score), 4) if score is not None else None,
                cluster=int(cluster) if cluster else None,
            )
            if cluster and cluster in run.clusters:
                others = [d for d in run.clusters[cluster] if d != docnum]
                hit.near_duplicates = sorted(int(s.stored_fields(d)["id"]) for d in others)
            if options.snippets:
                lang = index_language(hit.language)
                body = stored.get(f"b_{lang}")
                if body:
                    wanted = terms.get(f"b_{lang}", set()) | terms.get(f"t_{lang}", set())
                    hit.snippet = snippet(body, wanted, lang)
            hits.append(hit)
        return hits

    def _facets(self, s: Searcher, q: wq.Query, flt: wq.Query | None) -> dict[str, list[FacetCount]]:
        published = s.schema["published"]

        def month(key: int) -> str | None:
            if key == published.default:  # neither date: cannot happen, ingested is always set
                return None
            return str(published.from_column_value(key).strftime("%Y-%m"))

        facets = {
            "language": sorting.FieldFacet("lang"),
            "source": sorting.FieldFacet("source"),
            "month": sorting.TranslateFacet(month, _DateFacet()),
        }
        grouped = s.search(q, limit=None, filter=flt, scored=False, groupedby=facets, maptype=sorting.Count)
        out: dict[str, list[FacetCount]] = {}
        for name in facets:
            counts = grouped.groups(name)
            items = [FacetCount(key if key not in ("", None) else None, n) for key, n in counts.items()]
            if name == "month":
                items.sort(key=lambda f: (f.value is None, f.value or ""), reverse=False)
                items.sort(key=lambda f: f.value or "", reverse=True)
            else:
                items.sort(key=lambda f: (-f.count, f.value or ""))
            out[name] = items
        return out

    def _suggest(self, s: Searcher, parsed: Any, allow: set[int] | None, matched: int, result: SearchResult) -> None:
        from indexer.search.spelling import suggest

        corrected = suggest(s, parsed, self._languages)
        if corrected is None:
            return
        try:
            q = expand(parse(corrected, self.today()).query, self._languages).normalize()
        except QueryError:
            return
        _, found = self._collect(s, q, allow, SearchOptions(limit=1), 1)
        if found > 2 * matched:
            result.suggestion, result.suggestion_total = corrected, found
