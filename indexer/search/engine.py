"""Running searches on the live index, read-only: filters, sorting, near-duplicates
collapsed, facets, snippets, did-you-mean, and documents like a given one.

A ``SearchEngine`` keeps one Whoosh searcher open and reopens it when the index has
changed (a commit, or a rebuilt generation swapped in), so a long-lived process can
reuse it; the CLI opens one per command. It never takes the writer lock. Titles, paths
and dates are stored in the index; the texts that snippets, ``similar`` and spelling
suggestions need are read from the database (search/texts.py), a few per search.
"""

from __future__ import annotations

import itertools
import os
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from bisect import bisect_right
from heapq import heapify, heappop, heappush, nlargest
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from whoosh import collectors, scoring, sorting
from whoosh import query as wq
from whoosh.codec.whoosh3 import LENGTHS_COLUMN, W3LeafMatcher
from whoosh.index import EmptyIndexError, Index
from whoosh.searching import Searcher
from whoosh.util.numeric import byte_to_length

from indexer.configfile import sqlite_url
from indexer.errors import BusyError, IndexerError, NoIndexError, NotFoundError, QueryError
from indexer.locks import held_by
from indexer.search.dates import DATE_HINT, DateError, parse_date
from indexer.search.mapped import open_index
from indexer.search.phrase import AdjacentPhrase
from indexer.search.query import NearWord, Parsed, date_query, describe, expand, lang_query, parse, path_query
from indexer.search.schema import TEXT_PREFIXES, WORDS_FIELD, analyzer_for, field_language, index_language, stem_word
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
    total: int  # documents matching
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


def _postings_ids(m: Any) -> Iterator[int]:
    """The document numbers of a fresh postings matcher, a block at a time where possible."""
    if type(m) is not W3LeafMatcher:  # inlined postings, or deletions filtered out
        yield from m.all_ids()
        return
    while m.is_active():
        m._read_ids()  # Whoosh's own block decoding, without a Python call per posting
        yield from m._ids[m._i :]
        m._next_block()


def _postings_weights(m: Any) -> Iterator[tuple[int, float]]:
    """(docnum, weight) of a fresh postings matcher, a block at a time where possible."""
    if type(m) is not W3LeafMatcher:
        while m.is_active():
            yield m.id(), m.weight()
            m.next()
        return
    while m.is_active():
        m._read_ids()
        m._read_weights()
        yield from zip(m._ids[m._i :], m._weights[m._i :])
        m._next_block()


def _length_bytes(leaf: Any, fieldname: str) -> bytes | None:
    """Each document's length byte in ``fieldname`` (Whoosh keeps one byte per document),
    read from the segment's length column at once; None if it cannot be."""
    try:
        column = leaf._perdoc._cached_reader(f"_{fieldname}_len", LENGTHS_COLUMN)
        raw = column._dbfile.get(column._basepos, column._count) if column is not None else b""
    except AttributeError:  # another codec: let Whoosh score it
        return None
    return bytes(raw) + bytes(leaf.doc_count_all() - len(raw))


def _term_docs(reader: Any, fieldname: str, text: Any) -> set[int]:
    docs: set[int] = set()
    for leaf, offset in reader.leaf_readers():
        if (fieldname, text) in leaf:
            ids = _postings_ids(leaf.postings(fieldname, text))
            docs.update(ids if offset == 0 else (offset + d for d in ids))
    return docs


def _docset(s: Searcher, q: wq.Query) -> set[int]:
    """The document numbers matching ``q``, unscored: terms read from their postings and
    combined as sets; anything else (phrases, ranges...) through Whoosh's matchers."""
    kind = type(q)
    if kind is wq.Term:
        return _term_docs(s.reader(), q.fieldname, q.text)
    if kind is wq.Or and not q.minmatch:
        docs: set[int] = set()
        for child in q.subqueries:
            docs |= _docset(s, child)
        return docs
    if kind is wq.And:
        positive = [c for c in q.subqueries if not isinstance(c, wq.Not)]
        if positive:
            sets = sorted((_docset(s, c) for c in positive), key=len)
            docs = sets[0].intersection(*sets[1:])
            for negative in (c.query for c in q.subqueries if isinstance(c, wq.Not)):
                if docs:
                    docs -= _docset(s, negative)
            return docs
    if kind is wq.AndNot:
        return _docset(s, q.a) - _docset(s, q.b)
    if kind is wq.AndMaybe:
        return _docset(s, q.a)
    if kind is wq.Require:
        return _docset(s, q.a) & _docset(s, q.b)
    return set(s.docs_for_query(q))


def _docset_among(s: Searcher, q: wq.Query, among: set[int]) -> set[int]:
    """``_docset(s, q) & among``, looking at ``among`` only where that is cheaper: terms
    from their postings, as sets; phrases, ranges and the like by skipping their matcher
    to each of ``among`` (a phrase over a whole segment reads every position of its words)."""
    kind = type(q)
    if not among:
        return set()
    if kind is wq.Term:
        return _term_docs(s.reader(), q.fieldname, q.text) & among
    if kind is wq.Or and not q.minmatch:
        docs: set[int] = set()
        for child in q.subqueries:
            docs |= _docset_among(s, child, among - docs)
        return docs
    if kind is wq.And:
        positive = [c for c in q.subqueries if not isinstance(c, wq.Not)]
        if positive:
            docs = set(among)
            # Terms first (cheap), so the costly parts look at fewer documents.
            for child in sorted(positive, key=lambda c: type(c) is not wq.Term):
                docs = _docset_among(s, child, docs)
            for negative in (c.query for c in q.subqueries if isinstance(c, wq.Not)):
                docs -= _docset_among(s, negative, docs)
            return docs
    if kind is wq.AndNot:
        docs = _docset_among(s, q.a, among)
        return docs - _docset_among(s, q.b, docs)
    if kind is wq.AndMaybe:
        return _docset_among(s, q.a, among)
    if kind is wq.Require:
        return _docset_among(s, q.b, _docset_among(s, q.a, among))
    if kind is AdjacentPhrase and (docs := _phrase_among(s, q, among)) is not None:
        return docs
    m = q.matcher(s, s.boolean_context())
    found: set[int] = set()
    for d in sorted(among):
        if not m.is_active():
            break
        if m.id() < d:
            m.skip_to(d)
            if not m.is_active():
                break
        if m.id() == d:
            found.add(d)
    return found


def _phrase_among(s: Searcher, q: AdjacentPhrase, among: set[int]) -> set[int] | None:
    """The documents of ``among`` with the phrase, by its words' positions in each one that
    has all the words (None: let the matcher decide). Whoosh's phrase matcher, skipped to
    each of ``among``, reads the positions of every document up to the next match, and at
    its start up to the first: for a phrase of common words, most of the segment."""
    field = s.schema[q.fieldname] if q.fieldname in s.schema else None
    if q.slop != 1 or field is None or not field.format or not field.format.supports("positions"):
        return None
    reader = s.reader()
    try:
        words = [field.to_bytes(word) for word in q.words]
    except ValueError:
        return set()
    if not words or any((q.fieldname, word) not in reader for word in words):
        return set()
    # The rarest word's documents among ``among``; the other words' postings are skipped to
    # each of them, not read whole (a common word's are most of the segment).
    order = sorted(range(len(words)), key=lambda i: reader.doc_frequency(q.fieldname, words[i]))
    candidates = _term_docs(reader, q.fieldname, words[order[0]]) & among
    matchers = [reader.postings(q.fieldname, word) for word in words]
    found: set[int] = set()
    for d in sorted(candidates):
        starts: set[int] | None = None
        for i in order:
            m = matchers[i]
            if m.is_active() and m.id() < d:
                m.skip_to(d)
            if not m.is_active():
                return found  # this word is in no later document
            if m.id() != d:
                break
            shifted = {p - i for p in m.value_as("positions")}
            starts = shifted if starts is None else starts & shifted
            if not starts:
                break
        else:
            found.add(d)
    return found


def _alone(s: Searcher, cluster: str) -> bool:
    """Whether one live document only has this cluster (deleted ones are skipped)."""
    return len(list(itertools.islice(s.reader().postings("cluster", cluster).all_ids(), 2))) < 2


class _Clusters:
    """Each document's near-duplicate cluster ("" for none), from the segments' columns.

    Read one document at a time at first: a one-shot search asks for a few hundred, and
    reading all 22k costs it ~20 ms. Once many were asked for (a long-lived engine), or
    on load_all(), they are read into a list at once.
    """

    def __init__(self, reader: Any) -> None:
        self._leaves = []
        # Per segment: a segment written without any cluster has no column at all, and
        # Whoosh's multi-segment column then silently skips its documents.
        for leaf, offset in reader.leaf_readers():
            column = leaf.column_reader("cluster") if leaf.has_column("cluster") else None
            self._leaves.append((offset, leaf.doc_count_all(), column))
        self._starts = [offset for offset, _, _ in self._leaves]
        self._all: list[str] | None = None
        self._asked = 0
        self._load_after = sum(count for _, count, _ in self._leaves) // 2

    def load_all(self) -> None:
        if self._all is None:
            values: list[str] = []
            for _offset, count, column in self._leaves:
                found = list(column) if column is not None else []
                values.extend(found[:count] + [""] * (count - len(found)))
            self._all = values

    def of(self, docnums: list[int]) -> list[str]:
        if self._all is None and self._asked + len(docnums) > self._load_after:
            self.load_all()
        if self._all is not None:
            values = self._all
            return [values[d] for d in docnums]
        return [self[d] for d in docnums]

    def __getitem__(self, docnum: int) -> str:
        if self._all is None:
            self._asked += 1
            if self._asked <= self._load_after:
                offset, count, column = self._leaves[bisect_right(self._starts, docnum) - 1]
                at = docnum - offset
                return column[at] if column is not None and at < len(column) else ""
            self.load_all()
            assert self._all is not None
        return self._all[docnum]


def _best(scores: dict[int, float], want: int, cluster_of: _Clusters | None) -> list[tuple[int, float | None]]:
    """The ``want`` best (docnum, score), by score then docnum, one per cluster."""
    # Clusters at BBC x10 hold ten copies: ask for enough at once to fill the page.
    k = want * 16 if cluster_of is not None else want
    while True:
        top = nlargest(k, scores.items(), key=lambda item: (item[1], -item[0]))
        if cluster_of is None:
            return list(top)
        seen: set[str] = set()
        kept: list[tuple[int, float | None]] = []
        for docnum, score in top:
            cluster = cluster_of[docnum]
            if cluster:
                if cluster in seen:
                    continue
                seen.add(cluster)
            kept.append((docnum, score))
        if len(kept) >= want or k >= len(scores):
            return kept[:want]
        k *= 4


class _TopPerCluster(collectors.TopCollector):  # type: ignore[misc]
    """The best ``limit`` documents by score (then lower docnum), at most one per
    near-duplicate cluster when ``cluster_of`` is given, and every match in ``seen``.

    The heap holds one entry per cluster, so copies of a story (ten of each at BBC x10)
    do not crowd the page and need no second pass. Every match is scored: Whoosh's
    block-quality skipping and mid-search matcher swaps (replace) lose matches, even
    top ones ("(oil OR gas) AND prices" missed documents scoring as high as its second hit).
    """

    def __init__(self, limit: int, cluster_of: _Clusters | None) -> None:
        super().__init__(limit=limit, usequality=False, replace=0)
        self.cluster_of = cluster_of
        self.best: dict[str, tuple[float, int, str]] = {}
        self.seen: set[int] = set()

    def _collect(self, global_docnum: int, score: float) -> float:
        self.seen.add(global_docnum)
        items = self.items
        if len(items) >= self.limit and (score, -global_docnum) <= items[0][:2]:
            return 0  # below every entry: whatever its cluster, it cannot make the page
        cluster = self.cluster_of[global_docnum] if self.cluster_of is not None else ""
        entry = (score, -global_docnum, cluster)
        if cluster and (held := self.best.get(cluster)) is not None:
            if entry <= held:
                return 0
            items.remove(held)
            heapify(items)
        elif len(items) >= self.limit:
            if entry <= items[0]:
                return 0
            dropped = heappop(items)
            if dropped[2]:
                del self.best[dropped[2]]
        heappush(items, entry)
        if cluster:
            self.best[cluster] = entry
        if len(items) >= self.limit:
            self.minscore = items[0][0]
        return 0 - score

    def ranked(self) -> list[tuple[int, float | None]]:
        return [(-negdoc, score) for score, negdoc, _ in sorted(self.items, reverse=True)]


def options_text(options: SearchOptions) -> str:
    """The filtering options as the command line gives them (``--lang xx --since 2025``),
    for saying what narrowed a search that found nothing."""
    parts = [f"--lang {','.join(options.langs)}"] if options.langs else []
    if options.sources:
        parts.append(f"--source {','.join(options.sources)}")
    parts += [f"--{name} {value}" for name, value in (("since", options.since), ("until", options.until),
                                                       ("path", options.path)) if value]
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
        self._clusters: tuple[Any, _Clusters | None] | None = None
        self._words_reader: Any = None
        self._lengths_reader: Any = None
        self._ids: tuple[Any, Any] | None = None
        self._length_cache: dict[tuple[int, str], bytes | None] = {}
        self._words: dict[str, set[bytes] | None] = {}
        self._expanded: dict[tuple[str, date, tuple[str, ...]], wq.Query] = {}
        self._segment_ids: dict[Any, dict[int, int]] = {}  # segment -> {document id: its number}
        self._lone: tuple[Any, dict[str, bool]] = (None, {})  # reader, {cluster: no other copy}

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
        allow = set(s.docs_for_query(flt)) if flt is not None else None
        q = self._resolve(s, expand(parsed.query, self._languages).normalize())
        run = self._run(s, q, allow, options)
        fallback = corrected = False
        suggestion = self._suggestion(s, parsed, allow, run.matched)
        shown = parsed
        if (run.matched == 0 and parsed.fallback is not None and suggestion is not None
                and suggestion.edits == 1 and not options.as_typed):
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
            query=text, total=run.matched, hits_total=run.total, took_ms=0.0, offset=options.offset,
            limit=options.limit, sort=options.sort, fallback=fallback, parsed=describe(shown.query),
            expanded=describe(q), filters=describe(flt) if flt is not None else "",
            corrected=corrected, options_text=options_text(options),
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
        q: wq.Query = wq.Or(
            [wq.Term(f"{prefix}{lang}", term, boost=weight / top) for term, weight in terms for prefix in ("b_", "t_")]
        ) if terms else wq.NullQuery
        own: list[wq.Query] = [wq.Term("id", str(doc_id))]
        if stored.get("cluster"):
            own.append(wq.Term("cluster", stored["cluster"]))
        flt = self._filter(options, s)
        allow = set(s.docs_for_query(flt)) if flt is not None else None
        run = self._run(s, q, allow, options, exclude=set(s.docs_for_query(wq.Or(own))))
        not_own = wq.Not(wq.Or(own))
        everything = wq.And([flt, not_own]) if flt is not None else not_own
        result = SearchResult(
            query=f"similar to {doc_id}", total=run.matched, hits_total=run.total, took_ms=0.0,
            offset=options.offset, limit=options.limit, sort=options.sort, parsed=describe(q), expanded=describe(q),
            filters=describe(everything), similar_to=doc_id, key_terms=_written(text, lang, [term for term, _ in terms]),
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
                local = {d - offset for d in docnums if offset <= d < end}
                if local:
                    parts.append((sub, offset, local))
        matched = []
        for text, options in requests:
            q = self._resolve(s, self._expanded_query(text))
            # A standing query may name a language no document has yet: it matches nothing.
            flt = self._filter(options, s, check_langs=False)
            found: list[int] = []
            for sub, offset, local in parts:
                docs = _docset(sub, q) if local is None else _docset_among(sub, q, local)
                if docs and flt is not None:
                    docs &= _docset(sub, flt) if local is None else _docset_among(sub, flt, docs)
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

    def _sort_facet(self, s: Searcher, sort: str) -> sorting.FacetType | None:
        if sort == "relevance":
            return None
        if sort not in SORTS:
            raise QueryError(f"query error: unknown sort {sort!r}", "sort by " + ", ".join(SORTS))
        return _DateFacet()

    def _run(
        self, s: Searcher, q: wq.Query, allow: set[int] | None, options: SearchOptions,
        exclude: set[int] | None = None,
    ) -> _Run:
        """The page of hits and the exact counts, in two passes: the matching documents
        unscored (postings ids only), then the best ones scored, skipping blocks of
        postings that cannot reach the page (one hit per cluster when collapsing)."""
        if allow is not None and not allow:
            # Filters that match nothing (Whoosh's collectors take an empty allow set for none).
            return _Run([], 0, 0, {})
        want = options.offset + options.limit
        cluster_of = self._cluster_column(s) if options.collapse else None
        ranked: list[tuple[int, float | None]] | None = None
        scores = self._scored(s, q) if options.sort == "relevance" else None
        if scores is not None:
            if allow is not None or exclude:
                scores = {d: v for d, v in scores.items() if (allow is None or d in allow) and not (exclude and d in exclude)}
            matches = set(scores)
            ranked = _best(scores, want, cluster_of)
        elif options.sort == "relevance" and want:
            # Phrases and the like: one scoring pass over every match ranks and counts.
            ranked, matches = self._top(s, q, allow, exclude, want, cluster_of)
        else:
            matches = _docset(s, q)
            if allow is not None:
                matches &= allow
            if exclude:
                matches -= exclude
        matched = total = len(matches)
        clusters: dict[str, list[int]] = {}
        if cluster_of is not None:
            members: dict[str, list[int]] = {}
            docnums = list(matches)
            for docnum, cluster in zip(docnums, cluster_of.of(docnums), strict=True):
                if cluster:
                    members.setdefault(cluster, []).append(docnum)
            clusters = {c: sorted(docnums) for c, docnums in members.items() if len(docnums) > 1}
            total = matched - sum(len(docnums) - 1 for docnums in clusters.values())
        if not matched:
            return _Run([], 0, 0, {})
        if ranked is None:
            ranked = [] if not want else self._by_date(s, q, allow, exclude, options, want, cluster_of, matched)
        return _Run(ranked[options.offset : want], matched, total, clusters)

    def _top(
        self, s: Searcher, q: wq.Query, allow: set[int] | None, exclude: set[int] | None, want: int,
        cluster_of: _Clusters | None,
    ) -> tuple[list[tuple[int, float | None]], set[int]]:
        """The best ``want`` hits, and every matching document, in one scoring pass."""
        top = _TopPerCluster(want, cluster_of)
        c: collectors.Collector = top
        if allow is not None or exclude:
            c = collectors.FilterCollector(top, allow=allow, restrict=exclude or None)
        s.search_with_collector(q, c)
        return top.ranked(), top.seen

    def _by_date(
        self, s: Searcher, q: wq.Query, allow: set[int] | None, exclude: set[int] | None,
        options: SearchOptions, want: int, cluster_of: _Clusters | None, matched: int,
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
            seen: set[str] = set()
            kept = []
            for docnum, score in ranked:
                cluster = cluster_of[docnum]
                if cluster and cluster in seen:
                    continue
                seen.add(cluster)
                kept.append((docnum, score))
            if len(kept) >= want or len(ranked) >= matched:
                return kept
            k *= 4

    def _scored(self, s: Searcher, q: wq.Query) -> dict[int, float] | None:
        """Every matching document's score, for queries of plain words (terms joined by
        AND, OR, NOT), computed from the postings as Whoosh's BM25F scores them; None for
        anything else.

        Scoring through Whoosh's matchers costs ~10 µs a match, and block-max skipping
        rarely helps here (the page's bound is low against 128-posting blocks): a word in
        a third of 22k documents took 25 ms. This is one multiply-add per posting.
        """
        kind = type(q)
        if kind is wq.Term:
            return self._term_scores(s, q)
        if q.boost != 1.0:
            return None
        if kind is wq.Or and not q.minmatch:
            parts = [self._scored(s, child) for child in q.subqueries]
            if any(part is None for part in parts):
                return None
            scored = sorted((part for part in parts if part is not None), key=len, reverse=True)
            total = dict(scored[0]) if scored else {}
            for part in scored[1:]:
                for docnum, score in part.items():
                    # Whoosh adds the scores of the arms on a document; a word's title
                    # and body arms add up the same in either order.
                    total[docnum] = total[docnum] + score if docnum in total else score
            return total
        if kind is wq.And:
            positive = [c for c in q.subqueries if not isinstance(c, wq.Not)]
            parts = [self._scored(s, c) for c in positive]
            if not parts or any(part is None for part in parts):
                return None
            scored = [part for part in parts if part is not None]
            keys = set(min(scored, key=len)).intersection(*scored)
            negatives = [c.query for c in q.subqueries if isinstance(c, wq.Not)]
            for negative in negatives:
                if keys:
                    keys -= _docset(s, negative)
            # Whoosh intersects with each NOT's inverse, whose every document scores 1.
            extra = float(len(negatives))
            return {d: sum(part[d] for part in scored) + extra for d in keys}
        if kind is wq.AndNot:
            base = self._scored(s, q.a)
            if base is None:
                return None
            drop = _docset(s, q.b)
            return {d: score for d, score in base.items() if d not in drop}
        return None

    def _term_scores(self, s: Searcher, q: wq.Term) -> dict[int, float] | None:
        weighting = s.weighting
        if q.fieldname not in s.schema or type(weighting) is not scoring.BM25F:
            return None
        field = s.schema[q.fieldname]
        if not field.scorable:
            return None
        try:
            text = field.to_bytes(q.text)
        except ValueError:
            return {}
        scores: dict[int, float] = {}
        reader = s.reader()
        if (q.fieldname, text) not in reader:
            return scores
        idf = s.idf(q.fieldname, text)
        avgfl = s.avg_field_length(q.fieldname) or 1
        b = weighting._field_B.get(q.fieldname, weighting.B)
        k1 = weighting.K1
        k1p1 = k1 + 1
        # whoosh.scoring.bm25 is idf * ((tf * (K1 + 1)) / (tf + K1 * ((1 - B) + B * fl / avgfl)));
        # the length takes 256 values, so the right-hand term is one table (same floats).
        norms = [k1 * ((1 - b) + b * (byte_to_length(n) if n else 0) / avgfl) for n in range(256)]
        boost = q.boost
        for leaf, offset in reader.leaf_readers():
            if (q.fieldname, text) not in leaf:
                continue
            lengths = self._lengths(leaf, q.fieldname)
            if lengths is None:
                return None
            for docnum, tf in _postings_weights(leaf.postings(q.fieldname, text)):
                score = idf * ((tf * k1p1) / (tf + norms[lengths[docnum]]))
                scores[offset + docnum] = score * boost if boost != 1.0 else score
        return scores

    def _lengths(self, leaf: Any, fieldname: str) -> bytes | None:
        if self._lengths_reader is not self._searcher:
            self._lengths_reader, self._length_cache = self._searcher, {}
        key = (id(leaf), fieldname)
        if key not in self._length_cache:
            self._length_cache[key] = _length_bytes(leaf, fieldname)
        return self._length_cache[key]

    def _resolve(self, s: Searcher, q: wq.Query) -> wq.Query:
        """``q`` with its fuzzy words looked up once in the whole index (with the field's
        words held in memory), not again in each segment, for counting, scoring and
        highlighting alike."""
        if isinstance(q, NearWord):
            words = self._vocabulary(s.reader(), q.fieldname)
            found = [w.decode("utf-8") if isinstance(w, bytes) else w
                     for w in q.words_in(s.reader(), None if words is None else words.__contains__)]
            if not found:
                return wq.NullQuery
            # The documents that have one of the words, ranked by the words' stems in the
            # language fields (the words field knows no frequencies, nor titles).
            have = wq.Or([wq.Term(q.fieldname, w) for w in found])
            fields = [f"{prefix}{lang}" for lang in self._languages for prefix in TEXT_PREFIXES.values()]
            stems = wq.Or([wq.Term(f, stem, boost=q.boost)
                           for f in fields for stem in sorted({stem_word(f[2:], w) for w in found})])
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

    def _cluster_column(self, s: Searcher) -> _Clusters | None:
        """Each document's cluster ("" for none), or None when no document has one."""
        reader = s.reader()
        if self._clusters is None or self._clusters[0] is not reader:
            found = _Clusters(reader) if "cluster" in reader.indexed_field_names() else None
            self._clusters = (reader, found)
        return self._clusters[1]

    def _hits(self, s: Searcher, run: _Run, q: wq.Query, options: SearchOptions,
              known_bodies: dict[int, str] | None = None) -> list[Hit]:
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
        """``_alone``, remembered while the reader is current: alerts ask it of each match."""
        reader = s.reader()
        if self._lone[0] is not reader:
            self._lone = (reader, {})
        known = self._lone[1]
        if cluster not in known:
            known[cluster] = _alone(s, cluster)
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
        facets.update({name: sorting.FieldFacet(field) for name, field in (("byline", "byline_facet"), ("folder", "folder"))
                       if field in s.schema})
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
            found = len(_docset(s, q) & allow if allow is not None else _docset(s, q))
            # The documents it finds stand for how well the correction fits the other
            # words; each edit makes it a twentieth as likely.
            weight = found / EDIT_PENALTY**corrected.total_edits
            if found > matched and (best is None or weight > best[0]):
                best = (weight, _Suggestion(fixed, q, found, corrected.edits))
        return best[1] if best is not None else None
