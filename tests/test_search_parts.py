"""The pure parts of searching: date values, query parsing, snippets, rendering."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from whoosh import query as wq

from indexer.errors import QueryError
from indexer.search import schema
from indexer.search.dates import DateError, Span, bounds, parse_date
from indexer.search.engine import FacetCount, Hit, SearchResult
from indexer.search.query import describe, parse
from indexer.search.render import jsonl_records, result_dict, text_lines
from indexer.search.snippets import MARK_END, MARK_START, snippet

TODAY = date(2025, 3, 31)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2025", date(2025, 1, 1), date(2026, 1, 1)),
        ("2025-12", date(2025, 12, 1), date(2026, 1, 1)),
        ("2025-2", date(2025, 2, 1), date(2025, 3, 1)),
        ("2024-02-29", date(2024, 2, 29), date(2024, 3, 1)),
        ("today", TODAY, date(2025, 4, 1)),
        ("Yesterday", date(2025, 3, 30), TODAY),
        ("7d", date(2025, 3, 24), date(2025, 3, 25)),
        ("2w", date(2025, 3, 17), date(2025, 3, 18)),
        ("1m", date(2025, 2, 28), date(2025, 3, 1)),  # March 31 less a month: the end of February
        ("1y", date(2024, 3, 31), date(2024, 4, 1)),
    ],
)
def test_date_values_name_spans_of_days(text: str, start: date, end: date) -> None:
    assert parse_date(text, TODAY) == Span(start, end)


@pytest.mark.parametrize("text", ["2025-13", "2025-02-30", "25", "soon", "7x", "2025/01/01", ""])
def test_bad_date_values(text: str) -> None:
    with pytest.raises(DateError):
        parse_date(text, TODAY)


def test_range_bounds_include_whole_spans() -> None:
    assert bounds("2025-01", "2025-06", TODAY) == (date(2025, 1, 1), date(2025, 7, 1))
    assert bounds("2025-01", "2025-06", TODAY, start_excl=True, end_excl=True) == (
        date(2025, 2, 1),
        date(2025, 6, 1),
    )
    assert bounds(None, "2025", TODAY) == (None, date(2026, 1, 1))


def test_several_words_fall_back_to_any_word_but_field_terms_stay_required() -> None:
    parsed = parse("oil prices lang:en", TODAY)
    assert isinstance(parsed.fallback, wq.And)
    any_word, required = parsed.fallback.subqueries
    assert isinstance(any_word, wq.Or) and len(any_word.subqueries) == 2
    assert describe(required) == "(lang:en OR lang:en-*)"
    assert parse("oil", TODAY).fallback is None
    assert parse("oil AND prices", TODAY).fallback is None
    assert parse('"oil prices"', TODAY).fallback is None


def test_describe_shows_dates_as_days() -> None:
    assert describe(parse("published:>=2025-02", TODAY).query) == "published:[2025-02-01 to }"
    assert describe(parse("published:*", TODAY).query) == "published:*"
    assert describe(parse("a NOT b", TODAY).query) == "((title:a OR body:a) AND NOT (title:b OR body:b))"


def test_unknown_field_lists_the_fields() -> None:
    with pytest.raises(QueryError) as caught:
        parse("author:smith", TODAY)
    assert (
        "title, body, byline, dateline, source, lang, path, published, ingested, date, cluster"
        in caught.value.hint
    )


def _marked(text: str) -> str:
    return text.replace(MARK_START, "[").replace(MARK_END, "]")


def test_snippet_fragments_are_the_richest_three_in_text_order() -> None:
    filler = " ".join(["filler"] * 40)
    body = f"oil once. {filler} oil and gas. {filler} oil. {filler} gas. {filler} oil gas oil. {filler} oil."
    out = _marked(snippet(body, {"oil", "gas"}, "en"))
    parts = out.split(" … ")
    assert len(parts) == 3
    # the two with both words, then the earliest of those with one
    assert parts[0].startswith("[oil] once.")
    assert "[oil] and [gas]" in parts[1] and "[oil] [gas] [oil]" in parts[2]
    assert all(not p.startswith(" ") and "  " not in p for p in parts)


def test_snippet_without_matches_is_the_start_of_the_body() -> None:
    assert snippet("Short text\n\nwith lines", {"zebra"}, "en") == "Short text with lines"
    assert snippet("x" * 300, set(), "en") == "x" * 200 + "…"


def test_snippet_marks_stemmed_accented_and_cjk_words() -> None:
    assert _marked(snippet("Les Élections d'hier", {"elect"}, "fr")) == "Les [Élections] d'hier"
    assert _marked(snippet("研究北京大学报告", {"北京", "京大", "大学"}, "xx")) == "研究[北京大学]报告"


def _result(**kw: object) -> SearchResult:
    hit = Hit(
        id=7,
        title="Oil <up>",
        path="/in/7.txt",
        language="en",
        source="Reuters",
        published=date(2025, 1, 2),
        ingested=datetime(2025, 1, 3, tzinfo=UTC),
        score=1.5,
        cluster=3,
        near_duplicates=[8, 9],
        snippet=f"a {MARK_START}oil{MARK_END} & <gas>",
    )
    values: dict[str, object] = dict(
        query="oil", total=3, hits_total=1, took_ms=1.2, offset=0, limit=10, sort="relevance", hits=[hit]
    )
    values.update(kw)
    return SearchResult(**values)  # type: ignore[arg-type]


def test_json_rendering_escapes_the_snippet_and_names_every_field() -> None:
    data = result_dict(_result(facets={"language": [FacetCount("en", 3)]}))
    json.dumps(data)
    (hit,) = data["hits"]
    assert hit["snippet"] == "a <b>oil</b> &amp; &lt;gas&gt;"
    assert hit["title"] == "Oil <up>" and hit["published"] == "2025-01-02"
    assert hit["ingested"] == "2025-01-03T00:00:00+00:00"
    assert data["facets"] == {"language": [{"value": "en", "count": 3}]}
    records = jsonl_records(_result())
    assert [r["type"] for r in records] == ["result", "hit"]


def test_text_rendering() -> None:
    lines = text_lines(_result())
    assert lines[0] == "3 documents match 'oil', 1 hit with near-duplicates folded; showing 1-1 (1 ms)"
    assert "  1. Oil <up>  [en · Reuters · 2025-01-02]" in lines
    assert "     /in/7.txt  (id 7)  +2 similar: 8, 9" in lines
    assert "     a [oil] & <gas>" in lines
    colour = text_lines(_result(), color=True)
    assert any("\x1b[1;33moil\x1b[0m" in line for line in colour)
    capped = text_lines(_result(total=10_240, hits_total=10_100, total_exact=False))
    assert capped[0].startswith("at least 10240 documents match 'oil', at least 10100 hits with")
    none = text_lines(_result(total=0, hits_total=0, hits=[], suggestion="oil", suggestion_total=4))
    assert none == ["no documents match 'oil' (total: 0)", "did you mean: oil  (4 documents)"]


def test_clusters_in_an_index_of_several_segments(tmp_path: Path) -> None:
    """A segment written without any cluster has no cluster column; folding still works."""
    import os

    from whoosh import index

    from indexer.search.engine import SearchEngine, SearchOptions
    from indexer.search.schema import build_schema

    (tmp_path / "index.1").mkdir()
    os.symlink("index.1", tmp_path / "index")
    ix = index.create_in(str(tmp_path / "index.1"), build_schema())
    batches = [
        [dict(id="1", b_en="growth slowed"), dict(id="2", b_en="growth rose")],
        [
            dict(id="3", b_en="growth stalled", cluster="5"),
            dict(id="4", b_en="growth stalled again", cluster="5"),
        ],
        [dict(id="6", b_en="growth returned")],
    ]
    for batch in batches:
        writer = ix.writer()
        for fields in batch:
            writer.add_document(lang="en", title=fields["b_en"], **fields)
        writer.commit(merge=False)
    ix.close()
    with SearchEngine(tmp_path) as engine:  # an index alone, no database: no snippets
        result = engine.search("growth", SearchOptions(snippets=False))
    assert (result.total, result.hits_total) == (5, 4)
    folded = {h.id: h.near_duplicates for h in result.hits}
    assert folded.pop(3, None) == [4] or folded.pop(4, None) == [3]
    assert all(ids == [] for ids in folded.values())


def test_dates_sort_and_count_when_no_document_has_a_publication_date(tmp_path: Path) -> None:
    """No segment has a ``published`` column then; the ingest date is the date."""
    import os

    from whoosh import index

    from indexer.search.engine import SearchEngine, SearchOptions
    from indexer.search.schema import build_schema

    (tmp_path / "index.1").mkdir()
    os.symlink("index.1", tmp_path / "index")
    ix = index.create_in(str(tmp_path / "index.1"), build_schema())
    writer = ix.writer()
    for n, day in enumerate([datetime(2025, 3, 9), datetime(2024, 11, 2), datetime(2025, 3, 1)], start=1):
        writer.add_document(id=str(n), lang="en", title=f"rain {n}", b_en="rain again", ingested=day)
    writer.commit()
    ix.close()
    with SearchEngine(tmp_path) as engine:
        newest = engine.search("rain", SearchOptions(sort="newest", facets=True, snippets=False))
        oldest = engine.search("rain", SearchOptions(sort="oldest", snippets=False))
    assert [h.id for h in newest.hits] == [1, 3, 2]
    assert [h.id for h in oldest.hits] == [2, 3, 1]
    assert newest.facets is not None
    assert [(f.value, f.count) for f in newest.facets["month"]] == [("2025-03", 2), ("2024-11", 1)]


def test_index_terms_are_the_analyzers_terms() -> None:
    """Indexing analyses in one pass (schema.index_terms); it must give the very terms and
    positions the field's analyzer gives, or queries would miss what was indexed."""
    from whoosh.formats import Positions

    from indexer.search.schema import NO_STEMMER, STEM_LANGUAGES, analyzer_for, index_terms

    texts = [
        "Running runners ran; the Élysée's l'Élysée Müller-Lüdenscheidt naïve CAFÉ",
        "東京都に住んでいます。北京大学 한국어 문장 ΑΒΓ İstanbul ǅ ﬁne straße",
        "Die Häuser wurden gebaut, les maisons étaient construites, las casas fueron construidas.",
        "",
    ]
    corpora = Path(__file__).resolve().parent.parent.parent / "shared" / "corpora" / "multilingual"
    if corpora.exists():
        texts += [p.read_text(encoding="utf-8") for p in sorted(corpora.rglob("*.txt"))[::100]]
    for lang in (*sorted(set(STEM_LANGUAGES.values())), NO_STEMMER):
        for text in texts:
            expected = {
                w: Positions().decode_positions(v)
                for w, _, _, v in Positions().word_values(text, analyzer_for(lang), mode="index")
            }
            assert index_terms(lang, text) == expected, (lang, text[:60])


def test_index_fields_give_the_analyzer_path_postings() -> None:
    """The title and body fields (schema.IndexText) build a document's postings in one
    list: the same terms, frequencies, weights and encoded positions as the format's
    generic path through the analyzer."""
    from indexer.search.schema import CompactPositions, build_schema

    text = "Running runners ran the race; the race ran on. 東京都 l'Élysée " + "word " * 3000 + "ran"
    schema = build_schema()
    for name in ("t_en", "b_en", "b_fr", "t_xx"):
        field = schema[name]
        generic = [
            (t.encode("utf-8"), freq, weight, value)
            for t, freq, weight, value in CompactPositions.word_values(
                field.format, text, field.analyzer, mode="index"
            )
        ]
        assert sorted(field.index(text)) == sorted(generic), name
        assert any(weight == 2.0 for _, _, weight, _ in field.index("x")) == name.startswith("t_")


class _ClusterOf:
    """Stands for collapse.Clusters: each document's cluster from a dict."""

    def __init__(self, clusters: dict[int, str]) -> None:
        self.clusters = clusters

    def __getitem__(self, docnum: int) -> str:
        return self.clusters.get(docnum, "")

    def of(self, docnums: list[int]) -> list[str]:
        return [self[d] for d in docnums]

    def copies(self) -> dict[int, str] | None:
        return None


def test_collapsing_keeps_the_best_of_each_cluster_and_folds_the_counts() -> None:
    from typing import Any, cast

    from indexer.search.collapse import best, first_per_cluster, fold

    cluster_of = cast(Any, _ClusterOf({1: "a", 2: "a", 3: "b", 4: "", 5: "b", 6: "a"}))
    scores = {1: 0.5, 2: 0.9, 3: 0.7, 4: 0.7, 5: 0.2, 6: 0.9}
    # By score, then the lower document number; one per cluster; no cluster: each its own.
    assert best(scores, 3, cluster_of) == [(2, 0.9), (3, 0.7), (4, 0.7)]
    assert best(scores, 10, None)[:3] == [(2, 0.9), (6, 0.9), (3, 0.7)]
    assert first_per_cluster([(6, None), (1, None), (4, None), (5, None), (3, None)], cluster_of) == [
        (6, None),
        (4, None),
        (5, None),
    ]
    clusters, hits = fold({1, 2, 3, 4, 6}, cluster_of)
    assert clusters == {"a": [1, 2, 6]} and hits == 3  # "a" folds three into one; 3 and 4 stay


def test_ties_go_to_the_lower_document_id_not_the_document_number() -> None:
    """A rebuilt or merged index numbers documents anew: the hit kept for a cluster, and
    the order of equal scores, follow the documents' ids, which stay."""
    from typing import Any, cast

    from indexer.search.collapse import TopPerCluster, best

    cluster_of = cast(Any, _ClusterOf({1: "a", 2: "a", 3: "b", 4: "", 5: "b", 6: "a"}))
    scores = {1: 0.5, 2: 0.9, 3: 0.7, 4: 0.7, 5: 0.7, 6: 0.9}
    ids = {1: 60, 2: 50, 3: 40, 4: 30, 5: 20, 6: 10}  # numbered against their ids
    assert best(scores, 3, cluster_of, ids.__getitem__) == [(6, 0.9), (5, 0.7), (4, 0.7)]
    assert best(scores, 3, None, ids.__getitem__) == [(6, 0.9), (2, 0.9), (5, 0.7)]
    assert best(scores, 0, cluster_of, ids.__getitem__) == []
    top = TopPerCluster(3, cluster_of, ids.__getitem__)
    top.items = []  # as a search starts it (TopCollector.prepare)
    for docnum, score in scores.items():
        top.take(docnum, score)
    assert top.ranked() == [(6, 0.9), (5, 0.7), (4, 0.7)] and top.seen == set(scores)


def test_folding_with_every_cluster_read_counts_as_reading_them_one_by_one() -> None:
    from typing import Any, cast

    from indexer.search.collapse import fold

    class _Loaded(_ClusterOf):
        def copies(self) -> dict[int, str] | None:
            counts: dict[str, int] = {}
            for c in self.clusters.values():
                counts[c] = counts.get(c, 0) + 1
            return {d: c for d, c in self.clusters.items() if c and counts[c] > 1}

    clusters = {1: "a", 2: "a", 3: "b", 4: "", 5: "b", 6: "a", 7: "c"}
    for matches in ({1, 2, 3, 4, 6}, {3, 5, 7}, {1}, set(range(1, 8))):
        assert fold(matches, cast(Any, _Loaded(clusters))) == fold(matches, cast(Any, _ClusterOf(clusters)))


def test_postings_read_by_blocks_leave_out_deleted_documents(tmp_path: Path) -> None:
    """A segment with deletions wraps its postings in a filter; read by blocks, they are
    the ones Whoosh's own matcher gives, and the lookups of a few documents too."""
    from whoosh import fields
    from whoosh import index as whoosh_index
    from whoosh.matching.wrappers import FilterMatcher

    from indexer.search._whoosh.postings import (
        postings_ids,
        postings_of,
        postings_weights,
        postings_weights_among,
    )

    schema = fields.Schema(id=fields.ID(stored=True, unique=True), body=fields.TEXT)
    ix = whoosh_index.create_in(str(tmp_path), schema)
    with ix.writer() as w:
        for n in range(700):  # several blocks of 128 postings
            w.add_document(id=str(n), body="common " * (1 + n % 5) + ("odd" if n % 2 else "even"))
    with ix.writer() as w:
        for n in (0, 1, 5, 130, 131, 300, 699):  # the first, inside blocks, the last
            w.delete_by_term("id", str(n))
    with ix.searcher() as s:
        [(leaf, _offset)] = s.reader().leaf_readers()
        for word in ("common", "odd", "even"):
            m, deleted = postings_of(leaf, "body", word)
            assert type(m) is FilterMatcher and deleted
            whole = leaf.postings("body", word)
            expected = []
            while whole.is_active():
                expected.append((whole.id(), whole.weight()))
                whole.next()
            assert list(postings_weights(*postings_of(leaf, "body", word))) == expected
            assert list(postings_ids(*postings_of(leaf, "body", word))) == [d for d, _w in expected]
            wanted = [0, 2, 3, 5, 129, 130, 250, 600, 698, 699]
            assert list(postings_weights_among(*postings_of(leaf, "body", word), wanted)) == [
                (d, w) for d, w in expected if d in wanted
            ]
    ix.close()


def test_maxscore_pages_are_the_pages_of_scoring_every_match(tmp_path: Path) -> None:
    """Scorer.top on an index of Zipf-distributed words in a title and a body field, in
    two segments with deletions: the commonest words' postings are looked up for the
    other words' documents only, and stop early for most queries; its pages (ids,
    scores, order) are those of ranking every match's score."""
    import random
    from heapq import nlargest

    from whoosh import fields
    from whoosh import index as whoosh_index
    from whoosh import query as wq

    from indexer.search._whoosh.bm25f import Scorer
    from indexer.search.docsets import docset

    rng = random.Random(5)
    vocabulary = [f"w{i}" for i in range(400)]
    weights = [1 / (rank + 1) ** 1.1 for rank in range(len(vocabulary))]
    schema = fields.Schema(id=fields.ID(stored=True, unique=True), title=fields.TEXT, body=fields.TEXT)
    ix = whoosh_index.create_in(str(tmp_path), schema)
    for start in (0, 2000):
        with ix.writer() as w:
            for n in range(start, start + 2000):
                w.add_document(
                    id=str(n),
                    title=" ".join(rng.choices(vocabulary, weights, k=rng.randint(2, 8))),
                    body=" ".join(rng.choices(vocabulary, weights, k=rng.randint(5, 120))),
                )
    with ix.writer() as w:
        for n in range(0, 4000, 37):
            w.delete_by_term("id", str(n))

    def word(text: str) -> wq.Query:
        return wq.Or([wq.Term("title", text), wq.Term("body", text)])

    queries = [word("w0"), word("w1"), word("w5"), word("w40")]
    queries += [wq.And([word("w0"), word("w3")]), wq.Or([word("w2"), word("w30")])]
    queries += [wq.And([word("w1"), wq.Not(word("w7"))]), wq.And([word("w0"), word("w1"), word("w2")])]
    early = 0
    with ix.searcher() as s:
        scorer = Scorer(docset, skipped_min_docs=200)
        for q in queries:
            for want in (1, 10, 25):

                def rank(scores: dict[int, float], want: int = want) -> list[tuple[int, float | None]]:
                    return list(nlargest(want, scores.items(), key=lambda item: (item[1], -item[0])))

                every = scorer.scores(s, q)
                assert every is not None
                found = scorer.top(s, q, want, rank)
                assert found is not None
                ranked, scored = found
                assert ranked == rank(every), (q, want)
                early += scored is None
    ix.close()
    assert early >= len(queries)  # most stopped before scoring every match


def test_the_term_caches_of_all_languages_hold_at_most_their_size_together(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A process that indexes many languages (the daemon) keeps one bound on the words its
    term caches hold, not one per language."""
    monkeypatch.setattr(schema, "_TERM_CACHE_SIZE", 50)
    monkeypatch.setattr(schema, "_TERM_CACHES", {})
    for n, lang in enumerate(["en", "de", "fr", "es", "it", "pt", "ru", "nl"] * 3):
        terms = schema.index_terms(lang, " ".join(f"word{n}x{i}" for i in range(20)))
        assert len(terms) == 20
        assert sum(map(len, schema._TERM_CACHES.values())) <= 50 + 20
    assert schema.index_terms("en", "running runners") == schema.index_terms("en", "running runners")
