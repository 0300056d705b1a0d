"""Search that does what the user meant, on texts written here: fuzzy terms on
written words, suggestions only for words that match nothing, the correction searched
when no document has all the words, every path of a document, snippets after the title
with every match marked, filters said, byline/dateline/cluster fields and facets, and the
options for pipes, with and without a search server."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.errors import QueryError
from indexer.search.engine import SearchEngine, SearchOptions
from indexer.search.snippets import MARK_END, MARK_START, snippet
from indexer.server import SearchServer
from tests.conftest import Project, write_config

ALL = SearchOptions(limit=100, collapse=False)

TEXTS = {
    "gov.txt": "Council budget agreed\n\nThe local government agreed its budget on Monday. Government "
    "ministers welcomed the plan for the harbour.\n",
    "given.txt": "Prize handed to novelist\n\nThe prize was given to the novelist on Friday, and she was "
    "given a standing ovation by the audience.\n",
    "governs.txt": "Committee rules the club\n\nThe committee governs the club and its grounds, and it "
    "governed them well last season.\n",
    "quokka.txt": "Rare marsupial seen on island\n\nWalkers saw a quokka near the shore at dawn.\n",
    "kereru.txt": "Native pigeons return\n\nThe kereru has returned to the forest, rangers said.\n",
    "elysee.txt": "Réunion des ministres\n\nLes ministres se sont réunis à l'Élysée mardi matin.\n",
    "byline.txt": "Harbour works begin\n\nBy Jane Smith\n\nLONDON (Reuters) - Work on the harbour began "
    "today. The harbour wall is old, and the harbour master said the harbour was busy.\n",
    "copy-one.txt": "Storm closes schools\n\nA storm closed every school in the valley on Tuesday.\n",
}
for _i in range(4):  # commoner words near the rare ones, which must not be offered for them
    TEXTS[f"quota-{_i}.txt"] = (
        f"Fishing quota number {_i}\n\nThe fishing quota was cut again, and the "
        f"quota for cod fell. Kerry said something else entirely.\n"
    )
for _i in range(3):
    TEXTS[f"tony-{_i}.txt"] = (
        f"Tony Blair speech {_i}\n\nTony Blair spoke about schools and the "
        f"budget in his speech number {_i}.\n"
    )
    TEXTS[f"tony-other-{_i}.txt"] = f"Tony the cat {_i}\n\nTony the cat slept all day in story {_i}.\n"
COPIES = ("copy-two.txt", "odd\nname.txt")  # byte-identical copies of copy-one.txt


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Project:
    root = tmp_path_factory.mktemp("meant")
    project = Project(root)
    project.inbox.mkdir()
    write_config(root)
    for name, text in TEXTS.items():
        project.write(f"notes/{name}", text)
    project.run("ingest", "inbox")
    for name in COPIES:  # copies that arrive later join the document
        shutil.copyfile(project.inbox / "notes" / "copy-one.txt", project.inbox / "notes" / name)
    project.run("ingest", "inbox")
    return project


@pytest.fixture(scope="module")
def engine(corpus: Project) -> Iterator[SearchEngine]:
    with SearchEngine(corpus.data) as engine:
        yield engine


def names(engine: SearchEngine, query: str, options: SearchOptions = ALL) -> set[str]:
    return {Path(hit.path).name for hit in engine.search(query, options).hits}


# -- fuzzy words -------------------------------------------------------------------------


def test_fuzzy_matches_written_words_not_stems(engine: SearchEngine) -> None:
    # "govenment" stems to "goven", one edit from "given"; "government" stems to "govern".
    assert names(engine, "govenment~") == {"gov.txt"}
    assert names(engine, "govrenment~") == {"gov.txt"}  # a swap is one edit
    assert names(engine, "givne~") == {"given.txt"}
    assert names(engine, "governd~") == {"governs.txt"}  # governed (governs is two edits)
    assert "governs.txt" in names(engine, "governd~2")
    assert names(engine, "on~") == names(engine, "on")  # too short for slips: as typed


def test_fuzzy_marks_the_words_it_matched(engine: SearchEngine) -> None:
    hit = engine.search("govenment~", ALL).hits[0]
    assert f"{MARK_START}government{MARK_END}" in hit.snippet
    assert f"{MARK_START}Government{MARK_END}" in hit.snippet


# -- suggestions -------------------------------------------------------------------------


@pytest.mark.parametrize("word", ["quokka", "kereru", "élysée", "elysee", "Élysée", "governs", "given"])
def test_a_word_that_matches_as_typed_gets_no_suggestion(engine: SearchEngine, word: str) -> None:
    result = engine.search(word, ALL)
    assert result.total >= 1 and result.suggestion is None, result.suggestion


def test_excluded_and_short_words_are_not_corrected(engine: SearchEngine) -> None:
    assert engine.search("fishing -quotta", ALL).suggestion is None
    assert engine.search("fishing NOT quotta", ALL).suggestion is None
    assert engine.search("cdo", ALL).suggestion is None  # too short to guess


def test_a_word_that_matches_nothing_is_corrected(engine: SearchEngine) -> None:
    result = engine.search("quotaa", ALL)
    assert (result.total, result.suggestion, result.corrected) == (0, "quota", False)  # one word: suggested
    assert engine.search("goverment", ALL).suggestion == "government"


def test_the_correction_is_searched_when_no_document_has_every_word(engine: SearchEngine) -> None:
    result = engine.search("tony blaer", ALL)
    assert result.corrected and not result.fallback
    assert result.suggestion == "tony blair"
    assert names(engine, "tony blaer") == {f"tony-{i}.txt" for i in range(3)}
    typed = engine.search("tony blaer", SearchOptions(limit=100, collapse=False, as_typed=True))
    assert typed.fallback and not typed.corrected and typed.suggestion == "tony blair"
    assert len(typed.hits) == 6  # every "tony"


def test_the_corrected_search_is_said(corpus: Project) -> None:
    out = corpus.run("search", "tony", "blaer").stdout
    assert out.startswith("3 documents match 'tony blair'")
    assert "showing results for 'tony blair'; search instead for 'tony blaer' with --as-typed" in out
    assert corpus.json("search", "tony", "blaer")["corrected"] is True


# -- paths -------------------------------------------------------------------------------


def test_every_path_of_a_document_is_found_and_listed(corpus: Project, engine: SearchEngine) -> None:
    for name in ("copy-one.txt", "copy-two.txt"):
        hits = engine.search(f"path:{name}", ALL).hits
        assert len(hits) == 1 and len(hits[0].paths) == 3
    hit = engine.search("storm", ALL).hits[0]
    assert sorted(Path(p).name for p in hit.paths) == sorted(["copy-one.txt", *COPIES])
    show = corpus.run("show", str(hit.id)).stdout
    assert "copy-two.txt" in show and "odd\\nname.txt" in show and "odd\nname" not in show


@pytest.mark.parametrize("typed", ["odd\\nname.txt", "odd\\x0aname.txt", "*/odd\\x0a*"])
def test_a_name_with_a_control_character_is_found_as_shown(engine: SearchEngine, typed: str) -> None:
    quoted = "'" + typed + "'"
    assert names(engine, f"path:{quoted}") == names(engine, f"path:{typed}") == {"copy-one.txt"}
    for glob in (typed, typed.replace("\\x0a", "\n").replace("\\n", "\n")):  # as shown, or as it is
        assert {Path(h.path).name for h in engine.search("*", SearchOptions(path=glob)).hits} == {
            "copy-one.txt"
        }


def test_paths_output_lists_every_path_escaped(corpus: Project) -> None:
    lines = corpus.run("search", "storm", "-l").stdout.splitlines()
    assert sorted(Path(line).name for line in lines) == sorted(
        ["copy-one.txt", "copy-two.txt", "odd\\nname.txt"]
    )
    assert corpus.run("search", "storm", "--output", "paths").stdout.splitlines() == lines


# -- snippets ----------------------------------------------------------------------------


def test_snippets_come_from_the_text_after_the_title(engine: SearchEngine) -> None:
    hit = engine.search("harbour works", ALL).hits[0]
    assert Path(hit.path).name == "byline.txt"
    assert "works begin" not in hit.snippet.lower()
    plain = engine.search("title:committee", ALL).hits[0]  # the title word is not in the body
    assert plain.snippet.startswith(f"The {MARK_START}committee{MARK_END} governs")
    assert engine.search("title:harbour", SearchOptions(limit=1)).hits[0].title == "Harbour works begin"


def test_every_occurrence_in_a_fragment_is_marked(engine: SearchEngine) -> None:
    hit = engine.search("harbour", SearchOptions(limit=100)).hits
    byline = next(h for h in hit if Path(h.path).name == "byline.txt")
    text = byline.snippet.replace(MARK_START, "").replace(MARK_END, "")
    assert text.lower().count("harbour") == byline.snippet.count(MARK_START) == 4


def test_matches_in_a_fragments_context_are_marked() -> None:
    body = "oil " + "word " * 30 + "gas " + "word " * 40 + "oil and gas"
    out = snippet(body, {"oil", "gas"}, "en")
    shown = out.replace(MARK_START, "").replace(MARK_END, "")
    words = re.findall(r"\b(?:oil|gas)\b", shown)
    assert out.count(MARK_START) == len(words) >= 3


# -- filters, fields, facets -------------------------------------------------------------


def test_filters_are_said_when_nothing_matches(corpus: Project) -> None:
    out = corpus.run("search", "blair", "--source", "nobody", "--since", "2020").stdout
    assert out.startswith("no documents match 'blair' with --source nobody --since 2020 (total: 0)")


@pytest.mark.parametrize("query", ["*", "* path:*", '"tony blair"', "blair"])
@pytest.mark.parametrize(
    "options",
    [{"sources": ("nobody",)}, {"path": "zzz/*"}, {"since": "2099"}],
    ids=["source", "path", "since"],
)
def test_filters_that_match_nothing_match_nothing(engine: SearchEngine, query: str, options: dict) -> None:
    for collapse in (True, False):
        for sort in ("relevance", "newest"):
            result = engine.search(query, SearchOptions(collapse=collapse, sort=sort, **options))
            assert (result.total, result.hits) == (0, []), (query, options, collapse, sort)


def test_an_unknown_language_is_a_usage_error(corpus: Project, engine: SearchEngine) -> None:
    proc = corpus.run("search", "blair", "--lang", "xx", check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "query error: no document is in language 'xx' (--lang) (hint: the index has: en, fr)"
    ]
    with pytest.raises(QueryError):
        engine.search("blair", SearchOptions(langs=("xx",)))


def test_byline_dateline_and_cluster_are_fields(engine: SearchEngine, corpus: Project) -> None:
    assert names(engine, "byline:smith") == {"byline.txt"}
    assert names(engine, 'byline:"jane smith"') == {"byline.txt"}
    assert names(engine, "dateline:london") == {"byline.txt"}
    hit = engine.search("storm", ALL).hits[0]
    cluster = engine.search(f"cluster:{hit.id}", ALL)
    assert [h.id for h in cluster.hits] == [hit.id]


def test_facets_by_byline_and_folder(engine: SearchEngine, corpus: Project) -> None:
    facets = engine.search("harbour", SearchOptions(facets=True)).facets
    assert facets is not None
    assert {(f.value, f.count) for f in facets["byline"]} == {("Jane Smith", 1), (None, 1)}
    assert [(f.value, f.count) for f in facets["folder"]] == [(str(corpus.inbox / "notes"), 2)]


# -- the command line for pipes, with and without a search server -------------------------

PIPES = [
    ["search", "storm", "-l"],
    ["search", "tony", "--count"],
    ["search", "tony", "-n", "0", "--facets"],
    ["search", "tony", "blaer"],
    ["search", "zebra", "--exit-status"],
    ["search", "zebra", "--exit-status", "--count"],
    ["search", "tony", "--exit-status", "-l", "--all"],
    ["search", "blair", "--lang", "xx"],
]


def _run(project: Project, args: list[str]) -> tuple[int, str, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "indexer", *args],
        cwd=project.root,
        env=project.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return proc.returncode, re.sub(r"\(\d+ ms\)", "(0 ms)", proc.stdout), proc.stderr


def test_pipe_options_with_and_without_a_server(corpus: Project) -> None:
    with SearchServer(corpus.data) as server:
        served = [_run(corpus, args) for args in PIPES]
        assert server.engine._searcher is not None
    alone = [_run(corpus, args) for args in PIPES]
    assert served == alone
    codes = [code for code, _, _ in alone]
    assert codes == [0, 0, 0, 0, 1, 1, 0, 2]
    assert alone[1][1] == "6\n" and alone[5][1] == "0\n"
    counts = alone[2][1]
    assert counts.startswith("6 documents match 'tony'") and "showing" not in counts
    assert "language: en 6" in counts and "folder:" in counts and "\n  1." not in counts
    assert len(alone[6][1].splitlines()) == 6


def test_json_hits_carry_paths_and_byline(corpus: Project) -> None:
    hit = corpus.json("search", "storm")["hits"][0]
    assert len(hit["paths"]) == 3 and hit["path"] == hit["paths"][0]
    assert corpus.json("search", "byline:smith")["hits"][0]["byline"] == "Jane Smith"
    assert json.loads(corpus.run("search", "storm", "--format", "jsonl").stdout.splitlines()[1])["paths"]


def test_the_spelling_measures(engine: SearchEngine) -> None:
    from tools.evaluate import slip, spelling

    measured = spelling(engine, sample=40)
    assert measured.misspelled.queries > 0 and measured.misspelled_top10 >= 0.9, measured.misses
    assert measured.rare_words > 0 and measured.rare_no_suggestion == 1.0, measured.suggested
    assert measured.fuzzy_hits > 0 and measured.fuzzy_precision == 1.0, measured.imprecise
    import random

    rng = random.Random(3)
    for word in ("government", "harbour", "committee"):
        slipped = slip(word, rng)
        assert slipped != word and slipped[0] == word[0] and abs(len(slipped) - len(word)) <= 1


@pytest.mark.parametrize(
    "text",
    [
        "The Élysée said l'Élysée was ÉLYSÉE",
        "北京大学发布 report 2025, Straße STRASSE",
        "Müller-Lüdenscheidt ﬁnance İstanbul",
        "",
    ],
)
def test_written_words_are_the_plain_analyzers_words(text: str) -> None:
    from collections import Counter

    from indexer.search.schema import WordsText, fuzzy_word, plain_analyzer, surface_words

    expected = Counter(t.text for t in plain_analyzer()(text))
    assert surface_words(text) == dict(expected)
    from whoosh.fields import TEXT

    field = WordsText()  # its own terms, as Whoosh's TEXT would make them through the analyzer
    whoosh_terms = [t for t in TEXT.index(field, text) if fuzzy_word(t[0].decode("utf-8"))]
    assert sorted(field.index(text)) == sorted(whoosh_terms)


def test_a_copy_added_then_removed_follows_in_the_index(project: Project) -> None:
    first = project.write("a/one.txt", TEXTS["copy-one.txt"])
    project.run("ingest", "inbox")
    copy = project.inbox / "b" / "two.txt"
    copy.parent.mkdir()
    shutil.copyfile(first, copy)
    project.run("ingest", "inbox")
    assert project.run("search", "path:b/two.txt", "-l").stdout.splitlines() == [str(first), str(copy)]
    copy.unlink()
    project.run("ingest", "inbox")
    assert project.run("search", "path:b/two.txt", "--count").stdout == "0\n"
    assert project.run("search", "storm", "-l").stdout.splitlines() == [str(first)]
