"""Matching a batch, the alerts' fast paths against the ones they replace: documents by
id from the segments' id columns, phrases by positions among the batch, snippets made
afterwards for some hits; all give what `search` gives."""

from __future__ import annotations

import random

from indexer import jobs
from indexer.db import documents
from indexer.search._whoosh.phrase import AdjacentPhrase, phrase_among
from indexer.search.docsets import docset
from indexer.search.engine import SearchEngine, SearchOptions
from tests.test_alerts import TOPICS, _text

QUERIES = [
    ("volcano", SearchOptions()),
    ("volcano NOT harbour", SearchOptions()),
    ("NOT volcano", SearchOptions()),
    ('"central bank"', SearchOptions()),
    ('"the central bank decision"', SearchOptions()),
    ('"in the"', SearchOptions()),  # common words: most documents have both, fewer the phrase
    ('"the fans" OR "the streets"', SearchOptions()),
    ('"harbour the"', SearchOptions()),  # both words in most documents, the phrase in few
    ('"bank central"', SearchOptions()),  # both words, never in this order
    ('"report volcano"', SearchOptions()),
    ('title:"volcano report"', SearchOptions()),
    ('"central bank" NOT traders', SearchOptions()),
    ('"central bank" calm', SearchOptions()),
    ("schnee", SearchOptions(langs=("de",))),
    ('"in die"', SearchOptions(langs=("de",))),
    ("volcano", SearchOptions(langs=("de",))),
    ("footbal~", SearchOptions()),
    ("harbur~ OR glaciers", SearchOptions()),
    ("elect* OR report", SearchOptions(path="*-2.txt")),
    ("celebrat*", SearchOptions()),
    ("*", SearchOptions()),
    ("report", SearchOptions(since="2000-01-01")),
]


def _ingest_in_batches(ctx: jobs.Context) -> None:
    """Documents in several segments, one of them changed (its old copy deleted)."""
    inbox = ctx.config.inbox_dirs[0]
    for n in range(8):
        for topic in TOPICS:
            extra = (
                "volcano "
                if n % 3 == 0
                else "the central bank decision in the harbour "
                if n % 3 == 1
                else ""
            )
            (inbox / f"{topic}-{n}.txt").write_text(_text(topic, n, extra))
        if n % 2:
            jobs.ingest(ctx, [inbox])
    (inbox / "markets-1.txt").write_text(_text("markets", 1, "volcano in the streets "))
    jobs.ingest(ctx, [inbox])


def test_a_batch_matches_what_search_finds_across_segments_and_changes(ctx: jobs.Context) -> None:
    _ingest_in_batches(ctx)
    with ctx.db.read() as session:
        ids = sorted(documents.live_document_ids(session))
    rng = random.Random(5)
    with SearchEngine(ctx.config.data_dir, ctx.config.database_url) as engine:
        s = engine.searcher()
        assert len(s.reader().leaf_readers()) > 1 and s.reader().has_deletions()  # the cases looked at
        everything = engine.matching(QUERIES)
        samples = [ids, ids[::2], ids[1::3], rng.sample(ids, 7), [max(ids)], [*ids[:3], 10**9]]
        for among in samples:
            assert engine._docnums(s, among) == sorted(
                d for i in among if (d := s.document_number(id=str(i))) is not None
            )
            found = engine.matching(QUERIES, among)
            for (text, options), all_hits, some_hits in zip(QUERIES, everything, found, strict=True):
                searched = engine.search(
                    text, SearchOptions(**{**options.__dict__, "limit": 1000, "collapse": False})
                )
                expected = set() if searched.fallback else {h.id for h in searched.hits}
                assert {h.id for h in all_hits} == expected, text
                assert {h.id for h in some_hits} == expected & set(among), (text, among)
        found = {text: {h.id for h in hits} for (text, _), hits in zip(QUERIES, everything, strict=True)}
        assert found['"in the"'] and found['"central bank"'] and not found['"bank central"']
        assert found['"central bank"'] - found['"central bank" NOT traders'] and found["footbal~"]


def test_phrases_among_a_batch_are_what_whoosh_s_phrase_matcher_finds(ctx: jobs.Context) -> None:
    _ingest_in_batches(ctx)
    phrases = [
        "in the",
        "the central bank",
        "central bank decision",
        "harbour the",
        "the the",
        "bank",
        "report nearby",
        "in die",
        "no such words",
    ]
    rng = random.Random(9)
    with SearchEngine(ctx.config.data_dir, ctx.config.database_url) as engine:
        s = engine.searcher()
        for sub, _offset in s.leaf_searchers():
            docs = [d for d in range(sub.doc_count_all()) if not sub.reader().is_deleted(d)]
            for words in phrases:
                for field in ("b_en", "t_en", "b_de"):
                    q = AdjacentPhrase(field, words.split())
                    for among in (set(docs), set(rng.sample(docs, max(1, len(docs) // 3)))):
                        whoosh = set(sub.docs_for_query(wq_phrase(field, words))) & among
                        assert phrase_among(sub, q, among) == whoosh == docset(sub, q) & among, (field, words)


def wq_phrase(field: str, words: str):  # Whoosh's own phrase, with its span matcher
    from whoosh import query as wq

    return wq.Phrase(field, words.split())


def test_snippets_made_afterwards_are_those_matching_makes(ctx: jobs.Context) -> None:
    _ingest_in_batches(ctx)
    with SearchEngine(ctx.config.data_dir, ctx.config.database_url) as engine:
        made = engine.matching(
            [(text, SearchOptions(**{**o.__dict__, "snippets": True})) for text, o in QUERIES]
        )
        later = engine.matching(
            [(text, SearchOptions(**{**o.__dict__, "snippets": False})) for text, o in QUERIES]
        )
        assert all(not h.snippet for hits in later for h in hits)
        engine.add_snippets([(text, hits[::2]) for (text, _), hits in zip(QUERIES, later, strict=True)])
        for made_hits, later_hits in zip(made, later, strict=True):
            for n, (a, b) in enumerate(zip(made_hits, later_hits, strict=True)):
                assert b.snippet == (a.snippet if n % 2 == 0 else "")
        assert any(h.snippet for hits in later for h in hits)
