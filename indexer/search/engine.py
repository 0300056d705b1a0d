"""Running searches on the live index, read-only: filters, sorting, near-duplicates
collapsed, facets, snippets, did-you-mean, and documents like a given one.

A ``SearchEngine`` keeps one Whoosh searcher open and reopens it when the index has
changed (a commit, or a rebuilt generation swapped in), so a long-lived process can
reuse it; the CLI opens one per command. It never takes the writer lock. Titles, paths
and dates are stored in the index; the texts that snippets, ``similar`` and spelling
suggestions need are read from the database (search/texts.py), a few per search.

Its parts: docsets.py counts the matches unscored, _whoosh/bm25f.py scores queries of plain
words from the postings (anything else goes through Whoosh's collectors), and collapse.py
keeps one hit per near-duplicate cluster and folds the counts.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from whoosh import collectors, sorting
from whoosh import query as wq
from whoosh.index import EmptyIndexError, Index
from whoosh.searching import Searcher

from indexer.configfile import sqlite_url
from indexer.errors import BusyError, IndexerError, NoIndexError, NotFoundError, QueryError
from indexer.locks import held_by
from indexer.search._whoosh.bm25f import Scorer
from indexer.search._whoosh.postings import term_docs
from indexer.search._whoosh.storage import open_index
from indexer.search.collapse import Clusters, TopPerCluster, alone, best, first_per_cluster, fold
from indexer.search.dates import DATE_HINT, DateError, parse_date
from indexer.search.docsets import docset, docset_among, docset_between, sizes, windowed
from indexer.search.query import NearWord, Parsed, date_query, describe, expand, lang_query, parse, path_query
from indexer.search.schema import (
    TEXT_PREFIXES,
    WORDS_FIELD,
    analyzer_for,
    field_language,
    index_language,
    stem_word,
)
from indexer.search.snippets import MARK_END, MARK_START, after_title, snippet
from indexer.search.texts import DocumentTexts

__all__ = [
    "MARK_END",
    "MARK_START",
    "NO_INDEX",
    "REBUILDING",
    "SORTS",
    "FacetCount",
    "Hit",
    "SearchEngine",
    "SearchOptions",
    "SearchResult",
    "missing_index",
    "options_text",
]

NO_INDEX = "no index yet: run `indexer ingest` or start the daemon"
REBUILDING = "index is being rebuilt from the database (retry shortly)"
SORTS = ("relevance", "newest", "oldest")
KEY_TERMS = 15  # terms that describe a document for `similar`
# A page of hits counts its matches exactly up to this many (as Elasticsearch's
# track_total_hits); past it the count is a lower bound: a common word's every posting
# would otherwise be read for a count nobody reads exactly.
TOTAL_EXACT = 10_000
FIRST_WINDOW = 1024  # documents counted at least before the count may stop (each window costs term lookups)


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
    as_typed: bool = False  # never search a spelling correction instead of the query


@dataclass
class Hit:
    id: int
    title: str
    path: str  # the primary path
    language: str
    source: str | None
    published: date | None
    ingested: datetime | None
    score: float | None  # None when sorted by date
    cluster: int | None
    title_derived: bool = False  # the text has no headline: its title is cut from the lede
    near_duplicates: list[int] = field(default_factory=list)  # matching ids of its cluster
    snippet: str = ""  # fragments joined by " … ", matches between MARK_START and MARK_END
    paths: list[str] = field(default_factory=list)  # every path, the primary one first
    byline: str | None = None


@dataclass(frozen=True)
class FacetCount:
    value: str | None
    count: int


@dataclass
class SearchResult:
    query: str
    total: int  # documents matching; at least as many when not total_exact
    hits_total: int  # hits once near-duplicates are folded: what --offset pages through
    took_ms: float
    offset: int
    limit: int
    sort: str
    fallback: bool = False  # no document had every word: these match any of them
    suggestion: str | None = None  # a corrected query that finds more
    suggestion_total: int | None = None  # documents the suggestion matches
    corrected: bool = False  # nothing matched the query: the hits are the suggestion's
    options_text: str = ""  # the filtering options as given (--lang xx), for "no documents match"
    parsed: str = ""  # the query over the user-facing fields
    expanded: str = ""  # ... over the per-language fields, as run
    filters: str = ""  # the options' filters as a query
    similar_to: int | None = None  # `similar`: the document's id
    key_terms: list[str] = field(default_factory=list)  # `similar`: the terms searched for
    facets: dict[str, list[FacetCount]] | None = None
    hits: list[Hit] = field(default_factory=list)
    # total and hits_total count every match; False: a page was asked for and TOTAL_EXACT
    # were counted, in the first documents; the rest were not looked at (a lower bound).
    total_exact: bool = True


@dataclass(frozen=True)
class _Suggestion:
    parsed: Parsed  # the corrected query
    query: wq.Query  # ... as run
    total: int  # documents it matches
    edits: int  # the most edits between a typed word and its correction


@dataclass
class _Run:
    page: list[tuple[int, float | None]]  # (docnum, score) of the hits to show
    matched: int
    total: int
    clusters: dict[str, list[int]]  # cluster -> matching docnums, clusters of 2+ only
    exact: bool = True  # matched and total count every match; else at least as many


def _live_dir(data_dir: Path) -> Path | None:
    # index.py's layout: data_dir/index is a symlink to the live generation folder.
    try:
        target = os.readlink(data_dir / "index")
    except OSError:
        return None
    path = data_dir / target
    return path if path.is_dir() else None


def missing_index(data_dir: Path) -> IndexerError:
    """The error for a search finding no live index: a retry (exit 75) while it is being
    built, by a rebuild holding reindex.lock or by a running daemon (which notices a
    missing index within seconds and rebuilds it from the database); else none yet."""
    # Lock names of index.py and daemon.py, not imported: a search imports neither.
    if any(held_by(data_dir / name) is not None for name in ("reindex.lock", "daemon.lock")):
        return BusyError(REBUILDING)
    return NoIndexError(NO_INDEX)


class _DateFacet(sorting.FacetType):  # type: ignore[misc]
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


def options_text(options: SearchOptions) -> str:
    """The filtering options as the command line gives them (``--lang xx --since 2025``),
    for saying what narrowed a search that found nothing."""
    parts = [f"--lang {','.join(options.langs)}"] if options.langs else []
    if options.sources:
        parts.append(f"--source {','.join(options.sources)}")
    parts += [
        f"--{name} {value}"
        for name, value in (("since", options.since), ("until", options.until), ("path", options.path))
        if value
    ]
    return " ".join(parts)


class SearchEngine:
    """Searches over the live index generation of one data dir."""

    def __init__(
        self, data_dir: Path, database_url: str | None = None, today: Callable[[], date] = date.today
    ) -> None:
        self.data_dir = data_dir
        self.today = today
        # Bodies are not in the index: snippets, `similar` and spelling read them here.
        self.texts = DocumentTexts(database_url or sqlite_url(data_dir))
        self._live: Path | None = None
        self._index: Index | None = None
        self._searcher: Searcher | None = None
        self._languages: list[str] = []
        self._clusters: tuple[Any, Clusters | None] | None = None
        self._words_reader: Any = None
        self._ids: tuple[Any, Any] | None = None
        self._scorer = Scorer(docset)  # scores of plain-word queries, from the postings
        self._words: dict[str, set[bytes] | None] = {}
        self._expanded: dict[tuple[str, date, tuple[str, ...]], wq.Query] = {}
        self._segment_ids: dict[Any, dict[int, int]] = {}  # segment -> {document id: its number}
        self._lone: tuple[Any, dict[str, bool]] = (None, {})  # reader, {cluster: no other copy}
        self._filters: tuple[Any, dict[str, set[int]]] = (None, {})  # reader, {filter: its documents}

    def __enter__(self) -> SearchEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.texts.close()
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
                raise missing_index(self.data_dir) from None
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
        """The searcher, reopened if the index changed since the last call."""
        live = _live_dir(self.data_dir)
        if live is None:
            raise missing_index(self.data_dir)
        if self._searcher is None or live != self._live or not self._searcher.up_to_date():
            # Reopened, not refresh()ed: Whoosh's refresh reuses a segment's reader even
            # when the commit deleted documents in it (deleted files stayed searchable in
            # the daemon), keeps segments a merge removed, and fails on an index that had
            # none. Opening maps the segments (mapped.py): ~15 ms at BBC x10, once a commit.
            self._open(live)
        assert self._searcher is not None
        return self._searcher

    def warm(self) -> None:
        """Open or refresh the searcher and load what searches read from it (the clusters),
        so that a long-lived process answers its next search at full speed."""
        clusters = self._cluster_column(self.searcher())
        if clusters is not None:
            clusters.load_all()

    # -- searching ----------------------------------------------------------------------

    def search(self, text: str, options: SearchOptions) -> SearchResult:
        started = time.perf_counter()
        parsed = parse(text, self.today())
        s = self.searcher()
        flt = self._filter(options, s)
        allow = self._allowed(s, flt)
        q = self._resolve(s, expand(parsed.query, self._languages).normalize())
        run = self._run(s, q, allow, options)
        fallback = corrected = False
        suggestion = self._suggestion(s, parsed, allow, run.matched)
        shown = parsed
        if (
            run.matched == 0
            and parsed.fallback is not None
            and suggestion is not None
            and suggestion.edits == 1
            and not options.as_typed
        ):
            # As web search does: no document has all the words, and each correction is
            # one slip away: show what the correction finds rather than documents with
            # any one word, and say so (--as-typed searches the words as typed). A guess
            # two edits away, or for a query of one word, is only suggested.
            shown, q, corrected = suggestion.parsed, suggestion.query, True
            run = self._run(s, q, allow, options)
        elif run.matched == 0 and parsed.fallback is not None:
            any_word = self._resolve(s, expand(parsed.fallback, self._languages).normalize())
            other = self._run(s, any_word, allow, options)
            if other.matched:
                q, run, fallback = any_word, other, True
        result = SearchResult(
            query=text,
            total=run.matched,
            hits_total=run.total,
            total_exact=run.exact,
            took_ms=0.0,
            offset=options.offset,
            limit=options.limit,
            sort=options.sort,
            fallback=fallback,
            parsed=describe(shown.query),
            expanded=describe(q),
            filters=describe(flt) if flt is not None else "",
            corrected=corrected,
            options_text=options_text(options),
        )
        if suggestion is not None:
            result.suggestion, result.suggestion_total = suggestion.parsed.text, suggestion.total
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
        text = f"{stored.get('title', '')}\n\n{self.texts.get([doc_id]).get(doc_id, '')}"
        terms = s.key_terms_from_text(f"b_{lang}", text, numterms=KEY_TERMS)
        top = max((w for _, w in terms), default=1.0) or 1.0
        q: wq.Query = (
            wq.Or(
                [
                    wq.Term(f"{prefix}{lang}", term, boost=weight / top)
                    for term, weight in terms
                    for prefix in ("b_", "t_")
                ]
            )
            if terms
            else wq.NullQuery
        )
        own: list[wq.Query] = [wq.Term("id", str(doc_id))]
        if stored.get("cluster"):
            own.append(wq.Term("cluster", stored["cluster"]))
        flt = self._filter(options, s)
        allow = self._allowed(s, flt)
        run = self._run(s, q, allow, options, exclude=set(s.docs_for_query(wq.Or(own))))
        not_own = wq.Not(wq.Or(own))
        everything = wq.And([flt, not_own]) if flt is not None else not_own
        result = SearchResult(
            query=f"similar to {doc_id}",
            total=run.matched,
            hits_total=run.total,
            total_exact=run.exact,
            took_ms=0.0,
            offset=options.offset,
            limit=options.limit,
            sort=options.sort,
            parsed=describe(q),
            expanded=describe(q),
            filters=describe(everything),
            similar_to=doc_id,
            key_terms=_written(text, lang, [term for term, _ in terms]),
            options_text=options_text(options),
        )
        result.hits = self._hits(s, run, q, options)
        if options.facets:
            result.facets = self._facets(s, q, everything)
        result.took_ms = round((time.perf_counter() - started) * 1000, 2)
        return result

    def matching(
        self, requests: list[tuple[str, SearchOptions]], among: Collection[int] | None = None
    ) -> list[list[Hit]]:
        """For each (query, options), every document that `search` counts for it (its
        filters, no any-word fallback), as hits in document-number order; snippets as the
        options say. ``among``: only these document ids are looked at, and only the
        segments holding them are searched (alerts match a new batch this way, many
        queries at once, without reading the whole index per query)."""
        s = self.searcher()
        matched = self._matches(s, requests, among)
        # The texts for all snippets in one read: many queries match the same new documents.
        wanted = sorted({d for _q, options, found in matched if options.snippets for d in found})
        bodies = self.bodies(s, wanted) if wanted else {}
        found_all: list[list[Hit]] = []
        for q, options, found in matched:
            run = _Run([(d, None) for d in found], len(found), len(found), {})
            found_all.append(self._hits(s, run, q, options, bodies) if found else [])
        return found_all

    def add_snippets(self, requests: list[tuple[str, list[Hit]]]) -> None:
        """Give these hits of each query the snippet `search` shows for them, the texts
        read at once: an alert makes snippets for the documents it notifies of only (a
        batch's copies of one story outnumber its notices ten to one at BBC x10)."""
        wanted = sorted({hit.id for _text, hits in requests for hit in hits})
        if not wanted:
            return
        s = self.searcher()
        bodies = self.texts.get(wanted)
        for text, hits in requests:
            if hits:
                terms = self._snippet_terms(s, self._resolve(s, self._expanded_query(text)))
                for hit in hits:
                    hit.snippet = self._snippet(hit, bodies.get(hit.id), terms)

    def matching_ids(self, text: str, options: SearchOptions) -> list[int]:
        """The ids of every document `search` counts for ``text`` (as ``matching``), sorted."""
        s = self.searcher()
        [(_q, _options, found)] = self._matches(s, [(text, options)], None)
        return sorted(self._doc_id(s, d) for d in found)

    def _expanded_query(self, text: str) -> wq.Query:
        today = self.today()
        key = (text, today, tuple(self._languages))
        if (expanded := self._expanded.get(key)) is None:
            # A standing query is parsed once per day and set of languages, not per batch.
            if len(self._expanded) > 10_000:
                self._expanded.clear()
            expanded = self._expanded[key] = expand(parse(text, today).query, self._languages).normalize()
        return expanded

    def _matches(
        self, s: Searcher, requests: list[tuple[str, SearchOptions]], among: Collection[int] | None
    ) -> list[tuple[wq.Query, SearchOptions, list[int]]]:
        parts: list[tuple[Searcher, int, set[int] | None]]
        if among is None:
            parts = [(s, 0, None)]
        else:
            docnums = self._docnums(s, among)
            parts = []
            for sub, offset in s.leaf_searchers():
                end = offset + sub.doc_count_all()
                held = {d - offset for d in docnums if offset <= d < end}
                if held:
                    parts.append((sub, offset, held))
        matched = []
        for text, options in requests:
            q = self._resolve(s, self._expanded_query(text))
            # A standing query may name a language no document has yet: it matches nothing.
            flt = self._filter(options, s, check_langs=False)
            found: list[int] = []
            for sub, offset, local in parts:
                docs = docset(sub, q) if local is None else docset_among(sub, q, local)
                if docs and flt is not None:
                    docs &= docset(sub, flt) if local is None else docset_among(sub, flt, docs)
                found.extend(offset + d for d in sorted(docs))
            matched.append((q, options, found))
        return matched

    def _docnums(self, s: Searcher, ids: Collection[int]) -> list[int]:
        """The live document numbers of these ids, sorted. Each segment's ids are read from
        its id column once, as segments never change (their deletions are looked at each
        time): looking 500 ids up in the terms of every segment took 0.5 ms an id at BBC x10."""
        reader = s.reader()
        leaves = reader.leaf_readers()
        if not reader.has_column("id") or not all(hasattr(leaf, "segment") for leaf, _ in leaves):
            return sorted(d for i in ids if (d := s.document_number(id=str(i))) is not None)
        maps: list[tuple[Any, int, dict[int, int]]] = []
        cache: dict[Any, dict[int, int]] = {}
        for leaf, offset in leaves:
            key = leaf.segment().segment_id()
            if (local := self._segment_ids.get(key)) is None:
                local = {int(value): n for n, value in enumerate(leaf.column_reader("id"))}
            cache[key] = local
            maps.append((leaf, offset, local))
        self._segment_ids = cache  # the segments of this reader only: merged ones are dropped
        found = []
        for doc_id in ids:
            for leaf, offset, local in maps:
                n = local.get(doc_id)
                if n is not None and not leaf.is_deleted(n):
                    found.append(offset + n)
                    break
        return sorted(found)

    # -- the parts ----------------------------------------------------------------------

    def _filter(self, options: SearchOptions, s: Searcher, check_langs: bool = True) -> wq.Query | None:
        """The options' filters as a query; ``check_langs``: a language code no document
        has is a query error (a typo), listing the codes the index has."""
        parts: list[wq.Query] = []
        if options.langs:
            held = sorted(term.decode("utf-8") for term in s.reader().lexicon("lang")) if check_langs else []
            for code in options.langs if check_langs else ():
                code = code.strip().lower()
                if not any(lang == code or lang.startswith(code + "-") for lang in held):
                    raise QueryError(
                        f"query error: no document is in language {code!r} (--lang)",
                        "the index has: " + (", ".join(held) or "no documents"),
                    )
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

    def _allowed(self, s: Searcher, flt: wq.Query | None) -> set[int] | None:
        """The documents the options' filters let through (never changed by the caller),
        kept while the reader is current: a language's documents are a good part of the
        index, and a long-lived engine is asked the same filters again."""
        if flt is None:
            return None
        reader = s.reader()
        if self._filters[0] is not reader:
            self._filters = (reader, {})
        known = self._filters[1]
        key = repr(flt)
        if key not in known:
            if len(known) >= 16:
                known.pop(next(iter(known)))
            known[key] = docset(s, flt)
        return known[key]

    def _sort_facet(self, s: Searcher, sort: str) -> sorting.FacetType | None:
        if sort == "relevance":
            return None
        if sort not in SORTS:
            raise QueryError(f"query error: unknown sort {sort!r}", "sort by " + ", ".join(SORTS))
        return _DateFacet()

    def _run(
        self,
        s: Searcher,
        q: wq.Query,
        allow: set[int] | None,
        options: SearchOptions,
        exclude: set[int] | None = None,
    ) -> _Run:
        """The page of hits and the counts: the best hits of plain words scored without
        scoring every match (Scorer.top), else by Whoosh's collectors; the matches
        counted unscored (postings ids only), up to TOTAL_EXACT when a page is shown
        (one hit per cluster when collapsing)."""
        if allow is not None and not allow:
            # Filters that match nothing (Whoosh's collectors take an empty allow set for none).
            return _Run([], 0, 0, {})
        want = options.offset + options.limit
        cluster_of = self._cluster_column(s) if options.collapse else None
        ranked: list[tuple[int, float | None]] | None = None

        def doc_id(docnum: int) -> int:
            return self._doc_id(s, docnum)

        def rank(scores: dict[int, float]) -> list[tuple[int, float | None]]:
            if allow is not None or exclude:
                scores = {
                    d: v
                    for d, v in scores.items()
                    if (allow is None or d in allow) and not (exclude and d in exclude)
                }
            return best(scores, want, cluster_of, doc_id)

        every: dict[int, float] | None = None
        if options.sort == "relevance" and want and (found := self._scorer.top(s, q, want, rank)):
            ranked, every = found
        exact = True
        # A page to show is counted up to TOTAL_EXACT matches; a count alone, or with
        # facets (which count every match anyway), exactly.
        capped = bool(want) and not options.facets
        if every is not None:  # every match was scored: counted already
            matches = set(every)
            if allow is not None:
                matches &= allow
            if exclude:
                matches -= exclude
        elif ranked is not None or not (options.sort == "relevance" and want):
            matches, exact = self._matching(s, q, allow, exclude, capped)
        else:
            # Phrases and the like: one scoring pass over every match ranks and counts.
            ranked, matches = self._top(s, q, allow, exclude, want, cluster_of)
        matched = total = len(matches)
        clusters: dict[str, list[int]] = {}
        if cluster_of is not None:
            clusters, total = fold(matches, cluster_of)
        if not matched:
            return _Run([], 0, 0, {})
        if ranked is None:
            ranked = [] if not want else self._by_date(s, q, allow, exclude, options, want, cluster_of)
        page = ranked[options.offset : want]
        if cluster_of is not None and not exact:
            # The matches counted are a part: each hit's copies are looked for among all.
            clusters = self._copies(s, q, page, allow, exclude, cluster_of)
        return _Run(page, matched, total, clusters, exact)

    def _matching(
        self, s: Searcher, q: wq.Query, allow: set[int] | None, exclude: set[int] | None, capped: bool
    ) -> tuple[set[int], bool]:
        """The matches, and whether they are all of them: when ``capped``, the matches of
        the first documents only once TOTAL_EXACT are found, in windows of document
        numbers growing twice as large, so a common word's postings are not all read."""
        n = s.doc_count_all()
        guess, most = sizes(s, q) if capped and n > TOTAL_EXACT and windowed(q) else (0, 0)
        if most <= TOTAL_EXACT:  # (or not to be capped)
            found = docset(s, q)
            if allow is not None:
                found &= allow
            if exclude:
                found -= exclude
            return found, True
        found = set()
        # The first window holds about TOTAL_EXACT matches if they are spread evenly.
        lo, hi = 0, min(n, max(FIRST_WINDOW, int(n * 1.25 * TOTAL_EXACT / max(1, guess))))
        while True:
            part = docset_between(s, q, lo, hi)
            if allow is not None:
                part &= allow
            if exclude:
                part -= exclude
            found |= part
            if hi >= n:
                return found, True
            if len(found) >= TOTAL_EXACT:
                return found, False
            lo, hi = hi, min(n, hi * 2)

    def _copies(
        self,
        s: Searcher,
        q: wq.Query,
        page: list[tuple[int, float | None]],
        allow: set[int] | None,
        exclude: set[int] | None,
        cluster_of: Clusters,
    ) -> dict[str, list[int]]:
        """The clusters of the page's hits that two or more matches share -> those matches."""
        clusters: dict[str, list[int]] = {}
        for docnum, _score in page:
            cluster = cluster_of[docnum]
            if not cluster or cluster in clusters or self._alone(s, cluster):
                continue
            members = term_docs(s.reader(), "cluster", cluster)
            found = docset_among(s, q, members)
            if allow is not None:
                found &= allow
            if exclude:
                found -= exclude
            if len(found) > 1:
                clusters[cluster] = sorted(found)
        return clusters

    def _top(
        self,
        s: Searcher,
        q: wq.Query,
        allow: set[int] | None,
        exclude: set[int] | None,
        want: int,
        cluster_of: Clusters | None,
    ) -> tuple[list[tuple[int, float | None]], set[int]]:
        """The best ``want`` hits, and every matching document, in one scoring pass."""
        top = TopPerCluster(want, cluster_of, lambda docnum: self._doc_id(s, docnum))
        c: collectors.Collector = top
        if allow is not None or exclude:
            c = collectors.FilterCollector(top, allow=allow, restrict=exclude or None)
        s.search_with_collector(q, c)
        return top.ranked(), top.seen

    def _by_date(
        self,
        s: Searcher,
        q: wq.Query,
        allow: set[int] | None,
        exclude: set[int] | None,
        options: SearchOptions,
        want: int,
        cluster_of: Clusters | None,
    ) -> list[tuple[int, float | None]]:
        k = want
        while True:
            c: collectors.Collector = collectors.SortingCollector(
                self._sort_facet(s, options.sort), limit=k, reverse=options.sort == "newest"
            )
            if allow is not None or exclude:
                c = collectors.FilterCollector(c, allow=allow, restrict=exclude or None)
            s.search_with_collector(q, c)
            ranked: list[tuple[int, float | None]] = [(hit.docnum, None) for hit in c.results()]
            if cluster_of is None:
                return ranked
            # One hit per cluster, the first of it; ask for more until enough are left.
            kept = first_per_cluster(ranked, cluster_of)
            if len(kept) >= want or len(ranked) < k:  # enough, or every match
                return kept
            k *= 4

    def _resolve(self, s: Searcher, q: wq.Query) -> wq.Query:
        """``q`` with its fuzzy words looked up once in the whole index (with the field's
        words held in memory), not again in each segment, for counting, scoring and
        highlighting alike."""
        if isinstance(q, NearWord):
            words = self._vocabulary(s.reader(), q.fieldname)
            found = [
                w.decode("utf-8") if isinstance(w, bytes) else w
                for w in q.words_in(s.reader(), None if words is None else words.__contains__)
            ]
            if not found:
                return wq.NullQuery
            # The documents that have one of the words, ranked by the words' stems in the
            # language fields (the words field knows no frequencies, nor titles).
            have = wq.Or([wq.Term(q.fieldname, w) for w in found])
            fields = [f"{prefix}{lang}" for lang in self._languages for prefix in TEXT_PREFIXES.values()]
            stems = wq.Or(
                [
                    wq.Term(f, stem, boost=q.boost)
                    for f in fields
                    for stem in sorted({stem_word(f[2:], w) for w in found})
                ]
            )
            return wq.And([have, stems])
        if q.is_leaf():
            return q
        return q.apply(lambda child: self._resolve(s, child))

    def _vocabulary(self, reader: Any, fieldname: str) -> set[bytes] | None:
        """Every term of ``fieldname`` (bytes), kept while the reader is current: a fuzzy
        word's few hundred variants are then set lookups, not term-file lookups in each
        segment. Built the second time a field is asked for (reading 40k terms costs a
        one-shot search more than its lookups do); None until then."""
        if self._words_reader is not reader:
            self._words_reader, self._words = reader, {}
        if fieldname not in self._words:
            self._words[fieldname] = None
            return None
        words = self._words[fieldname]
        if words is None:
            words = set()
            for leaf, _offset in reader.leaf_readers():
                if fieldname in leaf.indexed_field_names():
                    words.update(leaf.lexicon(fieldname))
            self._words[fieldname] = words
        return words

    def _cluster_column(self, s: Searcher) -> Clusters | None:
        """Each document's cluster ("" for none), or None when no document has one."""
        reader = s.reader()
        if self._clusters is None or self._clusters[0] is not reader:
            found = Clusters(reader) if "cluster" in reader.indexed_field_names() else None
            self._clusters = (reader, found)
        return self._clusters[1]

    def _hits(
        self,
        s: Searcher,
        run: _Run,
        q: wq.Query,
        options: SearchOptions,
        known_bodies: dict[int, str] | None = None,
    ) -> list[Hit]:
        terms = self._snippet_terms(s, q) if options.snippets and run.page else {}
        hits = []
        bodies: dict[int, str] = {}
        if options.snippets and run.page:
            bodies = known_bodies if known_bodies is not None else self.bodies(s, [d for d, _ in run.page])
        for docnum, score in run.page:
            stored = s.stored_fields(docnum)
            published = stored.get("published")
            ingested = stored.get("ingested")
            cluster = stored.get("cluster")
            if cluster == stored["id"] and self._alone(s, cluster):
                cluster = None  # its own cluster: no near-duplicates
            paths = stored.get("path") or [""]
            paths = [paths] if isinstance(paths, str) else list(paths)
            hit = Hit(
                id=int(stored["id"]),
                title=stored.get("title", ""),
                path=paths[0],
                paths=paths,
                byline=stored.get("byline"),
                language=stored.get("lang", ""),
                source=stored.get("source"),
                published=published.date() if published else None,
                ingested=ingested.replace(tzinfo=UTC) if ingested else None,
                score=round(float(score), 4) if score is not None else None,
                cluster=int(cluster) if cluster else None,
                title_derived=bool(stored.get("title_derived", False)),
            )
            if cluster and cluster in run.clusters:
                others = [d for d in run.clusters[cluster] if d != docnum]
                hit.near_duplicates = sorted(self._doc_id(s, d) for d in others)
            if options.snippets:
                hit.snippet = self._snippet(hit, bodies.get(docnum), terms)
            hits.append(hit)
        return hits

    def _alone(self, s: Searcher, cluster: str) -> bool:
        """``alone``, remembered while the reader is current: alerts ask it of each match."""
        reader = s.reader()
        if self._lone[0] is not reader:
            self._lone = (reader, {})
        known = self._lone[1]
        if cluster not in known:
            known[cluster] = alone(s, cluster)
        return known[cluster]

    def _snippet_terms(self, s: Searcher, q: wq.Query) -> dict[str, set[str]]:
        """The words ``q`` matches, by field, for marking in snippets."""
        terms: dict[str, set[str]] = {}
        # (Whoosh's own existing_terms() loses terms of all but the first leaf.)
        for leaf in q.leaves():
            for name, term in leaf.expanded_terms(s.reader(), phrases=True):
                value = term.decode("utf-8") if isinstance(term, bytes) else str(term)
                terms.setdefault(name, set()).add(value)
        return terms

    def _snippet(self, hit: Hit, body: str | None, terms: dict[str, set[str]]) -> str:
        if not body:
            return ""
        lang = index_language(hit.language)
        wanted = terms.get(f"b_{lang}", set()) | terms.get(f"t_{lang}", set())
        # Fuzzy words matched as written: marked in their inflections too.
        wanted |= {stem_word(lang, word) for word in terms.get(WORDS_FIELD, ())}
        return snippet(after_title(body, hit.title), wanted, lang)

    def bodies(self, s: Searcher, docnums: list[int]) -> dict[int, str]:
        """The texts of these documents of the searcher, by document number."""
        ids = {self._doc_id(s, docnum): docnum for docnum in docnums}
        return {ids[doc_id]: body for doc_id, body in self.texts.get(ids).items()}

    def _doc_id(self, s: Searcher, docnum: int) -> int:
        """A document's id: from the id column (a few µs), else its stored fields (~70 µs)."""
        reader = s.reader()
        if self._ids is None or self._ids[0] is not reader:
            self._ids = (reader, reader.column_reader("id") if reader.has_column("id") else None)
        column = self._ids[1]
        return int(column[docnum] if column is not None else s.stored_fields(docnum)["id"])

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
        # An index of an older schema, until the daemon or `indexer reindex` rebuilds it, has neither.
        facets.update(
            {
                name: sorting.FieldFacet(field)
                for name, field in (("byline", "byline_facet"), ("folder", "folder"))
                if field in s.schema
            }
        )
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

    def _suggestion(
        self, s: Searcher, parsed: Parsed, allow: set[int] | None, matched: int
    ) -> _Suggestion | None:
        """The query with its misspelled words corrected, as parsed and as run, the
        documents it matches and its most edits to a word: of the likeliest corrections,
        the one that finds most for its edits, if it finds more than the query; None when
        no word looks misspelled or none does."""
        from indexer.search.spelling import EDIT_PENALTY, suggest

        best: tuple[float, _Suggestion] | None = None
        words = self._vocabulary(s.reader(), WORDS_FIELD)
        for corrected in suggest(s, parsed, self._languages, None if words is None else words.__contains__):
            try:
                fixed = parse(corrected.text, self.today())
            except QueryError:
                continue
            q = self._resolve(s, expand(fixed.query, self._languages).normalize())
            found = len(docset(s, q) & allow if allow is not None else docset(s, q))
            # The documents it finds stand for how well the correction fits the other
            # words; each edit makes it a twentieth as likely.
            weight = found / EDIT_PENALTY**corrected.total_edits
            if found > matched and (best is None or weight > best[0]):
                best = (weight, _Suggestion(fixed, q, found, corrected.edits))
        return best[1] if best is not None else None
