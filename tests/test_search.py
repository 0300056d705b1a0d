"""Search in-process on a fixed corpus of real and written articles: the query language,
every option, near-duplicates, facets, fallback, suggestions and similar documents."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from indexer.errors import NoIndexError, NotFoundError, QueryError
from indexer.search.engine import SearchEngine, SearchOptions, SearchResult
from indexer.search.snippets import MARK_END, MARK_START
from tests.conftest import Project
from tests.test_search_corpus import ids_by_path, shared

ALL = SearchOptions(limit=100)
DATED = {"notes/harbour.txt", "notes/rail.txt", "notes/elysee.txt", "notes/haeuser.txt"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return shared(tmp_path_factory)


@pytest.fixture(scope="module")
def engine(corpus: Project) -> Iterator[SearchEngine]:
    with SearchEngine(corpus.data) as engine:
        yield engine


@pytest.fixture(scope="module")
def ids(corpus: Project) -> dict[str, int]:
    return ids_by_path(corpus)


def names(result: SearchResult, corpus: Project) -> list[str]:
    return [str(Path(hit.path).relative_to(corpus.inbox)) for hit in result.hits]


# query -> documents that must be among the hits, documents that must not be
QUERIES = [
    ("harbour", {"notes/harbour.txt"}, {"notes/rail.txt"}),
    ("Harbour PLAN", {"notes/harbour.txt"}, set()),
    ('"interest rates"', {"notes/harbour.txt"}, set()),
    ('"rates interest"', set(), {"notes/harbour.txt"}),
    ("title:harbour", {"notes/harbour.txt"}, set()),
    ("title:quay", set(), {"notes/harbour.txt"}),
    ("body:quay", {"notes/harbour.txt"}, set()),
    # stemming: English, French, German (written and real articles), Spanish
    ("run", {"notes/rail.txt"}, set()),
    ("élection", {"notes/elysee.txt"}, set()),
    ("entreprise", {"multi/fr/00002.txt"}, set()),
    ("Haus", {"notes/haeuser.txt"}, set()),
    ("Vertrag", {"multi/de/00001.txt"}, set()),
    ("mentira", {"multi/es/00001.txt"}, set()),
    # case and accents, elisions
    ("elysee", {"notes/elysee.txt"}, set()),
    ("ÉLYSÉE", {"notes/elysee.txt"}, set()),
    ("l'Élysée", {"notes/elysee.txt"}, set()),
    ('"etats unis"', {"multi/fr/00002.txt"}, set()),
    ("haeuser OR häuser", {"notes/haeuser.txt"}, set()),
    # CJK words are phrases of character bigrams
    ("北京大学", {"notes/peking.txt"}, set()),
    ("交通", {"notes/peking.txt"}, set()),
    ("拜纳姆", {"multi/zh/00001.txt"}, {"notes/peking.txt"}),
    ("大学北京", set(), {"notes/peking.txt"}),
    # operators, prefixes, fuzzy
    ("harbour OR strike", {"notes/harbour.txt", "notes/rail.txt"}, set()),
    ("strike NOT drivers", set(), {"notes/rail.txt"}),
    ("(harbour OR strike) AND quay", {"notes/harbour.txt"}, {"notes/rail.txt"}),
    ("harb*", {"notes/harbour.txt"}, set()),
    ("harbor~", {"notes/harbour.txt"}, set()),
    ("strik~", {"notes/rail.txt"}, set()),
    ("hrabour~", {"notes/harbour.txt"}, set()),  # two letters swapped: one slip
    ("stirke~", {"notes/rail.txt"}, set()),  # two letters swapped
    ("hrabour", set(), {"notes/harbour.txt"}),
    # fields
    ("source:reuters", {"notes/harbour.txt"}, {"notes/rail.txt"}),
    ('source:"associated press"', {"notes/rail.txt"}, {"notes/harbour.txt"}),
    ("lang:fr", {"notes/elysee.txt", "multi/fr/00002.txt"}, {"notes/harbour.txt"}),
    ("lang:zh", {"notes/peking.txt", "multi/zh/00001.txt"}, {"notes/harbour.txt"}),
    ("path:*/rail.txt", {"notes/rail.txt"}, {"notes/harbour.txt"}),
    ("path:notes/h*", {"notes/harbour.txt", "notes/haeuser.txt"}, {"notes/rail.txt"}),
    ("strike published:2025", {"notes/rail.txt"}, set()),
]

# date queries: exactly these documents (only the written notes carry dates)
DATES = [
    ("published:2025-01", {"notes/harbour.txt"}),
    ("published:2024-12-03", {"notes/haeuser.txt"}),
    # Whoosh's own date parser would stretch this range to December and take in July 1.
    ("published:[2025-01 to 2025-06]", {"notes/harbour.txt", "notes/rail.txt"}),
    ("published:[2025-01-15 to 2025-06-30]", {"notes/harbour.txt", "notes/rail.txt"}),
    ("published:{2024-12-03 to 2025-06-30}", {"notes/harbour.txt"}),
    ("published:>2025-06", {"notes/elysee.txt"}),
    ("published:>=2025-06", {"notes/rail.txt", "notes/elysee.txt"}),
    ("published:<2025", {"notes/haeuser.txt"}),
    ("published:[to 2025-01]", {"notes/haeuser.txt", "notes/harbour.txt"}),
    ("published:2025*", {"notes/harbour.txt", "notes/rail.txt", "notes/elysee.txt"}),
    ("date:2025", {"notes/harbour.txt", "notes/rail.txt", "notes/elysee.txt"}),
    ("published:2025 NOT source:afp", {"notes/harbour.txt", "notes/rail.txt"}),
    ("published:*", DATED),
    ("published:[to]", DATED),
]


@pytest.mark.parametrize(("query", "present", "absent"), QUERIES, ids=[q for q, _, _ in QUERIES])
def test_query_finds_what_it_should(
    engine: SearchEngine, corpus: Project, query: str, present: set[str], absent: set[str]
) -> None:
    found = set(names(engine.search(query, ALL), corpus))
    assert present <= found, found
    assert not absent & found, found


@pytest.mark.parametrize(("query", "expected"), DATES, ids=[q for q, _ in DATES])
def test_date_queries_cover_whole_days_months_and_years(
    engine: SearchEngine, corpus: Project, query: str, expected: set[str]
) -> None:
    result = engine.search(query, ALL)
    assert set(names(result, corpus)) == expected
    assert result.total == len(expected)


def test_ingested_dates_use_the_ingest_time(engine: SearchEngine, ids: dict[str, int]) -> None:
    everything = engine.search("ingested:today", SearchOptions(limit=100, collapse=False))
    assert everything.total == len(ids)
    assert engine.search("ingested:<2000", ALL).total == 0


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ('"unclosed phrase', "unbalanced quote"),
        ("(harbour OR strike", "unbalanced parentheses"),
        ("harbour)", "unbalanced parentheses"),
        ("colour:red", "unknown field 'colour'"),
        ("published:2025-13", "bad date '2025-13'"),
        ("published:soon", "bad date 'soon'"),
        ("published:2025~", "published: takes a date or a range"),
        ("   ", "empty query"),
    ],
)
def test_malformed_queries_raise_query_error_with_a_hint(
    engine: SearchEngine, query: str, message: str
) -> None:
    with pytest.raises(QueryError) as caught:
        engine.search(query, ALL)
    assert str(caught.value).startswith("query error: ")
    assert message in str(caught.value)
    assert caught.value.hint


def test_fast_paths_give_the_same_hits_and_counts_as_scoring_everything(engine: SearchEngine) -> None:
    """One-word queries count from the term dictionary and let Whoosh skip documents."""
    from whoosh import collectors

    from indexer.search.query import expand, parse

    searcher = engine.searcher()
    for text in (
        "said",
        "government",
        "harbour",
        "title:harbour",
        "hrabour~",
        "volcano",
        '"interest rates"',
        '"the government"',
        '"prime minister" blair',
    ):
        q = expand(parse(text, date.today()).query, engine._languages).normalize()
        every = collectors.TopCollector(20, usequality=False, replace=0)
        searcher.search_with_collector(q, every)
        result = engine.search(text, SearchOptions(limit=20, collapse=False, snippets=False))
        assert result.total == every.count(), text
        assert [h.id for h in result.hits] == [
            int(searcher.stored_fields(h.docnum)["id"]) for h in every.results()
        ]


# Plain-word queries of common and rare words, in OR, AND and NOT, one and several fields.
EARLY = [
    "said",
    "the",
    "government said",
    "harbour OR strike",
    "film NOT award",
    "economy -growth",
    "title:election",
    "music award winner",
    "volcano",
    "(oil OR gas) AND prices",
    '"interest rates"',
    '"the government"',
    '"said the" -film',
]
EARLY_OPTIONS = [
    SearchOptions(limit=10, snippets=False),
    SearchOptions(limit=3, offset=2, snippets=False, collapse=False),
    SearchOptions(limit=10, snippets=False, langs=("en",)),
    SearchOptions(limit=1, snippets=False),
]


def _pages(engine: SearchEngine, skipped_min_docs: int) -> list[tuple[object, ...]]:
    scorer = engine._scorer
    kept = scorer.skipped_min_docs
    scorer.skipped_min_docs = skipped_min_docs
    try:
        pages = []
        for text in EARLY:
            for options in EARLY_OPTIONS:
                r = engine.search(text, options)
                pages.append(
                    (text, r.total, r.hits_total, [(h.id, h.score, h.near_duplicates) for h in r.hits])
                )
        return pages
    finally:
        scorer.skipped_min_docs = kept


def test_early_terminated_pages_are_the_pages_of_scoring_every_match(engine: SearchEngine) -> None:
    """Top-k with the commonest words' postings looked up for the other words'
    documents only (every list may be passed over here, the corpus being small) gives
    the page that scoring every match gives: the same ids, scores and counts."""
    assert _pages(engine, 1) == _pages(engine, 10**9)


def test_the_early_termination_check_fails_with_a_wrong_bound(
    engine: SearchEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The comparison above can fail: a bound below the real scores stops too early."""
    from indexer.search._whoosh import bm25f

    every = _pages(engine, 10**9)
    original = bm25f._docs_and_bound

    def too_low(s: object, q: object) -> tuple[int, float | None]:
        docs, bound = original(s, q)  # type: ignore[arg-type]
        return docs, None if bound is None else 0.0

    monkeypatch.setattr(bm25f, "_docs_and_bound", too_low)
    assert _pages(engine, 1) != every


def test_past_the_exact_count_a_page_counts_a_lower_bound_and_keeps_its_hits(
    engine: SearchEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past TOTAL_EXACT matches a page stops counting: total and hits_total are lower
    bounds, said so; the hits and their near-duplicates are those of the full count;
    --count (no page) and --facets count every match. (A page by relevance here scores
    every match, this corpus being small, and so counts them all.)"""
    import indexer.search.engine as engine_module

    texts = ("said", "the", "volcano OR said", "government OR film", "volcano", "the -film")
    sorts = ("newest", "relevance")
    full = {
        (t, o): engine.search(t, SearchOptions(limit=10, snippets=False, sort=o))
        for t in texts
        for o in sorts
    }
    monkeypatch.setattr(engine_module, "TOTAL_EXACT", 5)
    monkeypatch.setattr(engine_module, "FIRST_WINDOW", 1)
    for (text, sort), exact in full.items():
        capped = engine.search(text, SearchOptions(limit=10, snippets=False, sort=sort))
        pages = [(h.id, h.score, h.near_duplicates) for h in capped.hits]
        assert pages == [(h.id, h.score, h.near_duplicates) for h in exact.hits], text
        assert exact.total_exact
        if sort == "newest":
            assert capped.total_exact == (exact.total <= 5), text
        assert 5 <= capped.total <= exact.total or capped.total == exact.total, text
        assert capped.hits_total <= exact.hits_total
        if capped.total_exact:
            assert (capped.total, capped.hits_total) == (exact.total, exact.hits_total)
        counted = engine.search(text, SearchOptions(limit=0, snippets=False))
        assert counted.total_exact and counted.total == exact.total
        faceted = engine.search(text, SearchOptions(limit=10, snippets=False, facets=True, sort=sort))
        assert faceted.total_exact and faceted.total == exact.total


def test_field_names_are_case_insensitive(engine: SearchEngine, corpus: Project) -> None:
    assert names(engine.search("Title:harbour", ALL), corpus) == names(
        engine.search("title:harbour", ALL), corpus
    )


# -- filters ------------------------------------------------------------------------------


def test_lang_filter_takes_several_codes_and_regional_variants(engine: SearchEngine) -> None:
    result = engine.search("*", SearchOptions(limit=100, langs=("de", "zh")))
    assert {hit.language for hit in result.hits} == {"de", "zh-cn"}
    assert result.total == 4


def test_source_filter(engine: SearchEngine, corpus: Project) -> None:
    result = engine.search("*", SearchOptions(limit=100, sources=("reuters", "AFP")))
    assert set(names(result, corpus)) == {"notes/harbour.txt", "notes/elysee.txt"}


def test_since_and_until_take_the_publication_date_else_the_ingest_date(
    engine: SearchEngine, corpus: Project, ids: dict[str, int]
) -> None:
    until = engine.search("*", SearchOptions(limit=100, until="2025-06"))
    assert set(names(until, corpus)) == {"notes/haeuser.txt", "notes/harbour.txt", "notes/rail.txt"}
    window = engine.search("*", SearchOptions(limit=100, since="2025-01-16", until="2025-07-01"))
    assert set(names(window, corpus)) == {"notes/rail.txt", "notes/elysee.txt"}
    # Undated documents count as dated the day they were ingested: today.
    recent = engine.search("*", SearchOptions(limit=100, since="7d", collapse=False))
    assert recent.total == len(ids) - len(DATED)
    assert not DATED & set(names(recent, corpus))


def test_bad_option_dates_are_query_errors(engine: SearchEngine) -> None:
    with pytest.raises(QueryError, match="bad date 'last week'"):
        engine.search("*", SearchOptions(since="last week"))


def test_path_filter_is_a_glob_matching_the_end_of_the_path(engine: SearchEngine, corpus: Project) -> None:
    result = engine.search("*", SearchOptions(limit=100, path="notes/*.txt"))
    assert set(names(result, corpus)) == {
        f"notes/{n}.txt" for n in ("harbour", "rail", "elysee", "haeuser", "peking")
    }
    assert engine.search("*", SearchOptions(path=str(corpus.inbox / "notes" / "rail.txt"))).total == 1
    assert engine.search("*", SearchOptions(path="*/bbc/sport/*")).total == 6


# -- sorting and paging -------------------------------------------------------------------


def test_sort_by_date(engine: SearchEngine, corpus: Project) -> None:
    query = "published:[2024 to 2025]"
    newest = names(engine.search(query, SearchOptions(sort="newest")), corpus)
    assert newest == ["notes/elysee.txt", "notes/rail.txt", "notes/harbour.txt", "notes/haeuser.txt"]
    oldest = engine.search(query, SearchOptions(sort="oldest"))
    assert names(oldest, corpus) == newest[::-1]
    assert all(hit.score is None for hit in oldest.hits)
    # Undated documents sort by their ingest date: after every dated one here.
    everything = names(engine.search("*", SearchOptions(limit=100, sort="oldest")), corpus)
    assert everything[:4] == newest[::-1]


def test_relevance_puts_the_title_match_first(engine: SearchEngine, corpus: Project) -> None:
    result = engine.search("harbour", ALL)
    assert names(result, corpus)[0] == "notes/harbour.txt"
    assert result.hits[0].score is not None and result.hits[0].score > 0
    scores = [hit.score for hit in result.hits]
    assert scores == sorted(scores, reverse=True)


def test_limit_and_offset_page_through_the_hits(engine: SearchEngine) -> None:
    every = [hit.id for hit in engine.search("said", SearchOptions(limit=100)).hits]
    assert len(every) > 6
    page = engine.search("said", SearchOptions(limit=3, offset=2))
    assert [hit.id for hit in page.hits] == every[2:5]
    assert page.total == len(every) and page.offset == 2 and page.limit == 3
    assert engine.search("said", SearchOptions(limit=3, offset=10_000)).hits == []


# -- snippets -----------------------------------------------------------------------------


def test_snippets_mark_every_form_of_the_matched_words(engine: SearchEngine) -> None:
    hit = engine.search("run network", SearchOptions()).hits[0]
    assert f"{MARK_START}running{MARK_END}" in hit.snippet
    assert f"{MARK_START}network{MARK_END}" in hit.snippet
    assert "\n" not in hit.snippet
    german = engine.search("Haus", SearchOptions(langs=("de",))).hits[0]
    assert f"{MARK_START}Häusern{MARK_END}" in german.snippet
    chinese = engine.search("北京大学", SearchOptions()).hits[0]
    assert f"{MARK_START}北京大学{MARK_END}" in chinese.snippet


def test_snippets_are_at_most_three_fragments(engine: SearchEngine) -> None:
    for hit in engine.search("said", SearchOptions(limit=20)).hits:
        assert hit.snippet.count(" … ") <= 2
        assert MARK_START in hit.snippet


def test_the_index_stores_no_bodies_snippets_read_the_database(engine: SearchEngine) -> None:
    searcher = engine.searcher()
    stored = [searcher.stored_fields(n) for n in range(searcher.doc_count_all())]
    assert stored and not any(name.startswith("b_") for fields in stored for name in fields)
    hit = engine.search('"interest rates"', SearchOptions()).hits[0]
    assert f"{MARK_START}interest{MARK_END} {MARK_START}rates{MARK_END}" in hit.snippet
    assert engine.texts.get([hit.id])[hit.id].count("interest rates") >= 1


def test_a_search_without_its_database_says_so_in_one_line(project: Project) -> None:
    project.write("a.txt", "Harbour plan approved\n\nThe council approved the harbour plan on Monday.\n")
    project.run("ingest", "inbox")
    (project.data / "indexer.db").rename(project.data / "elsewhere.db")
    failed = project.run("search", "harbour", check=False)
    assert failed.returncode != 0
    assert failed.stdout == ""
    assert failed.stderr.count("\n") == 1 and "cannot read document texts" in failed.stderr, failed.stderr
    assert f"{project.data / 'indexer.db'}: no such file" in failed.stderr  # which file, and what is wrong
    assert project.json("search", "harbour", "--no-snippets")["total"] == 1
    (project.data / "indexer.db").write_bytes(b"not a database" * 100)  # damaged, or not SQLite
    damaged = project.run("search", "harbour", check=False)
    assert damaged.returncode == 1 and damaged.stderr.count("\n") == 1, damaged.stderr
    assert f"from the database {project.data / 'indexer.db'}: file is not a database" in damaged.stderr


def test_a_data_dir_with_url_characters_in_its_name_holds_its_database(project: Project) -> None:
    """The default SQLite URL is made from the data dir's path: '?' ends a URL's path and
    '%' starts an escape, so both must be encoded (and decoded alike by texts.py)."""
    odd = project.root / "news 50%3F #1?x"
    project.run("init", INDEXER_DATA_DIR=str(odd))
    project.write("a.txt", "Harbour plan approved\n\nThe council approved the harbour plan on Monday.\n")
    project.run("ingest", "inbox", INDEXER_DATA_DIR=str(odd))
    assert (odd / "indexer.db").is_file()
    assert sorted(p.name for p in project.root.iterdir() if p.is_file()) == ["config.toml"]
    hits = json.loads(project.run("search", "harbour", "--json", INDEXER_DATA_DIR=str(odd)).stdout)["hits"]
    assert "<b>harbour</b> plan" in hits[0]["snippet"]


def test_no_snippets(engine: SearchEngine) -> None:
    hits = engine.search("harbour", SearchOptions(snippets=False)).hits
    assert hits and all(hit.snippet == "" for hit in hits)


# -- facets -------------------------------------------------------------------------------


def test_facets_count_the_whole_matching_set(engine: SearchEngine) -> None:
    result = engine.search("published:[2024 to 2025]", SearchOptions(limit=1, facets=True))
    assert result.facets is not None
    counts = {name: {f.value: f.count for f in values} for name, values in result.facets.items()}
    assert counts["language"] == {"en": 2, "fr": 1, "de": 1}
    assert counts["source"] == {"reuters": 1, "associated press": 1, "afp": 1, None: 1}
    assert [f.value for f in result.facets["month"]] == ["2025-07", "2025-06", "2025-01", "2024-12"]
    assert engine.search("harbour", SearchOptions()).facets is None


# -- near-duplicates ----------------------------------------------------------------------


def test_near_duplicates_are_folded_into_one_hit(
    engine: SearchEngine, corpus: Project, ids: dict[str, int]
) -> None:
    result = engine.search("volcano", ALL)
    found = names(result, corpus)
    cluster = {"dups/volcano-1.txt", "dups/volcano-2.txt", "dups/volcano-3.txt"}
    shown = [name for name in found if name in cluster]
    assert len(shown) == 1 and "dups/volcano-other.txt" in found
    assert (result.total, result.hits_total) == (4, 2)
    hit = next(h for h in result.hits if h.cluster == 900)
    assert sorted(hit.near_duplicates) == sorted(ids[n] for n in cluster if n != shown[0])

    every = engine.search("volcano", SearchOptions(limit=100, collapse=False))
    assert set(names(every, corpus)) == cluster | {"dups/volcano-other.txt"}
    assert (every.total, every.hits_total) == (4, 4)
    assert all(h.near_duplicates == [] for h in every.hits)


def test_near_duplicates_count_only_the_matching_ones(engine: SearchEngine, ids: dict[str, int]) -> None:
    result = engine.search("nobody", ALL)  # only volcano-2 of the cluster says "nobody"
    hit = next(h for h in result.hits if h.cluster == 900)
    assert hit.id == ids["dups/volcano-2.txt"] and hit.near_duplicates == []


# -- fallback and suggestions -------------------------------------------------------------


def test_when_no_document_has_every_word_any_word_matches_are_shown(
    engine: SearchEngine, corpus: Project
) -> None:
    result = engine.search("harbour zebra", ALL)
    assert result.fallback is True
    assert names(result, corpus)[0] == "notes/harbour.txt"
    strict = engine.search("harbour quay", ALL)
    assert strict.fallback is False and names(strict, corpus) == ["notes/harbour.txt"]
    explicit = engine.search("harbour AND zebra", ALL)
    assert (explicit.total, explicit.fallback) == (0, False)
    filtered = engine.search("harbour strike lang:de", ALL)  # a field term stays required
    assert (filtered.total, filtered.fallback) == (0, False)


def test_did_you_mean_corrects_misspelled_words(engine: SearchEngine) -> None:
    result = engine.search("volcanno erupted", ALL)
    # No document has both words and "volcanno" is one slip from "volcano": the
    # correction is searched instead of documents with "erupted" alone.
    assert (result.corrected, result.fallback) == (True, False)
    assert result.suggestion == "volcano erupted"
    assert result.suggestion_total == 4 == result.total  # documents, before near-duplicates are folded
    typed = engine.search("volcanno erupted", SearchOptions(limit=100, as_typed=True))
    assert (typed.corrected, typed.fallback, typed.suggestion) == (False, True, "volcano erupted")
    assert engine.search("goverment", ALL).suggestion == "government"
    assert engine.search("title:harbor", ALL).suggestion == "title:harbour"


def test_no_suggestion_when_the_words_are_known(engine: SearchEngine) -> None:
    assert engine.search("harbour", ALL).suggestion is None
    assert engine.search("zebra", ALL).suggestion is None  # nothing close enough exists


# -- explain ------------------------------------------------------------------------------


def test_parsed_query_shows_days_and_language_fields(engine: SearchEngine) -> None:
    result = engine.search("oil published:[2025-01 to 2025-06]", SearchOptions(langs=("en",)))
    assert "published:[2025-01-01 to 2025-07-01}" in result.parsed
    assert "(title:oil OR body:oil)" in result.parsed
    assert "b_en:oil" in result.expanded and "t_en:oil" in result.expanded
    assert "lang:en" in result.filters


# -- similar ------------------------------------------------------------------------------


def test_similar_finds_related_documents_but_not_its_own_cluster(
    engine: SearchEngine, corpus: Project, ids: dict[str, int]
) -> None:
    result = engine.similar(ids["dups/volcano-1.txt"], ALL)
    found = names(result, corpus)
    assert found[0] == "dups/volcano-other.txt"
    assert not {"dups/volcano-1.txt", "dups/volcano-2.txt", "dups/volcano-3.txt"} & set(found)
    assert {"volcano", "island", "ash"} <= set(result.key_terms)
    unclustered = engine.similar(ids["dups/volcano-other.txt"], ALL)
    assert names(unclustered, corpus)[0].startswith("dups/volcano-")
    assert ids["dups/volcano-other.txt"] not in [h.id for h in unclustered.hits]


def test_similar_keeps_to_the_filters_and_to_its_language(engine: SearchEngine, ids: dict[str, int]) -> None:
    result = engine.similar(ids["bbc/business/001.txt"], SearchOptions(limit=100))
    assert result.hits and {h.language for h in result.hits} == {"en"}
    sport = engine.similar(ids["bbc/business/001.txt"], SearchOptions(limit=100, path="bbc/sport/*"))
    assert all("/bbc/sport/" in h.path for h in sport.hits)


def test_similar_to_an_unknown_id(engine: SearchEngine) -> None:
    with pytest.raises(NotFoundError, match="no document with id 999999"):
        engine.similar(999999, ALL)


# -- the index ----------------------------------------------------------------------------


def test_no_index_yet(tmp_path: Path) -> None:
    with SearchEngine(tmp_path) as engine, pytest.raises(NoIndexError, match="no index yet"):
        engine.search("anything", ALL)


def test_the_engine_sees_a_rebuilt_index(corpus: Project, tmp_path: Path) -> None:
    """A long-lived engine follows the live generation when a rebuild swaps it."""
    from indexer.db.session import open_database
    from indexer.search.index import Generations

    with SearchEngine(corpus.data, today=lambda: date(2025, 7, 10)) as engine:
        before = engine.search("harbour", ALL)
        old = engine._live
        db = open_database(f"sqlite:///{corpus.data / 'indexer.db'}", corpus.data, create=False)
        try:
            Generations(corpus.data).rebuild(db)
        finally:
            db.dispose()
        after = engine.search("harbour", ALL)
        assert engine._live != old
        assert [h.id for h in after.hits] == [h.id for h in before.hits]
        # Relative dates count back from the injected day.
        assert engine.search("published:>1w", ALL).total == 0
        assert engine.search("published:>2m", ALL).total == 2
