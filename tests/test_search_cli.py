"""`indexer search` and `indexer similar` as subprocesses: output formats, the JSON
contract, error exits, start-up imports, and searching while another process writes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, Project
from tests.test_search_corpus import ids_by_path, shared

HIT_FIELDS = {
    "rank",
    "id",
    "title",
    "title_derived",
    "path",
    "paths",
    "byline",
    "language",
    "source",
    "published",
    "ingested",
    "score",
    "cluster",
    "near_duplicates",
    "snippet",
}
RESULT_FIELDS = {
    "format_version",
    "query",
    "total",
    "hits_total",
    "total_exact",
    "offset",
    "limit",
    "sort",
    "took_ms",
    "fallback",
    "suggestion",
    "suggestion_total",
    "corrected",
    "facets",
    "explain",
    "hits",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return shared(tmp_path_factory)


def test_json_contract(corpus: Project) -> None:
    result = corpus.json("search", "volcano", "--limit", "5")
    assert set(result) == RESULT_FIELDS
    assert result["format_version"] == 1
    assert (result["query"], result["total"], result["hits_total"]) == ("volcano", 4, 2)
    assert (result["offset"], result["limit"], result["sort"]) == (0, 5, "relevance")
    assert result["fallback"] is False and result["suggestion"] is None
    assert result["facets"] is None and result["explain"] is None
    first = result["hits"][0]
    assert set(first) == HIT_FIELDS
    assert first["rank"] == 1 and Path(first["path"]).is_absolute()
    assert "<b>" in first["snippet"].lower()
    folded = next(h for h in result["hits"] if h["cluster"] == 900)
    assert len(folded["near_duplicates"]) == 2
    assert folded["ingested"].endswith("+00:00")


def test_json_dates_sources_and_format_option(corpus: Project) -> None:
    by_flag = corpus.json("search", "harbour", "--source", "reuters", "--no-snippets")
    by_format = json.loads(
        corpus.run("search", "harbour", "--source", "reuters", "--no-snippets", "--format", "json").stdout
    )
    assert by_flag["hits"] == by_format["hits"]
    (hit,) = by_flag["hits"]
    assert (hit["title"], hit["source"], hit["published"]) == (
        "Harbour plan approved after long debate",
        "Reuters",
        "2025-01-15",
    )
    assert hit["snippet"] == ""


def test_jsonl_is_a_result_line_then_one_line_per_hit(corpus: Project) -> None:
    lines = corpus.run("search", "said", "--format", "jsonl", "-n", "3", "--offset", "1").stdout.splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["type"] for r in records] == ["result", "hit", "hit", "hit"]
    assert "hits" not in records[0] and records[0]["format_version"] == 1
    assert [r["rank"] for r in records[1:]] == [2, 3, 4]


def test_text_output(corpus: Project) -> None:
    out = corpus.run("search", "volcano").stdout
    assert "4 documents match 'volcano', 2 hits with near-duplicates folded; showing 1-2" in out
    assert re.search(r"\+2 similar: \d+, \d+", out)
    assert "[volcano]" in out.lower() or "[Volcano]" in out
    assert "\x1b[" not in out  # no colour when not on a terminal


def test_text_facets_explain_fallback_and_suggestion(corpus: Project) -> None:
    out = corpus.run("search", "published:[2024 to 2025]", "--facets", "--explain", "--sort", "oldest").stdout
    lines = out.splitlines()
    assert lines[0] == "query:    published:[2024-01-01 to 2026-01-01}"
    assert "language: en 2 · de 1 · fr 1" in lines
    assert "month:    2025-07 1 · 2025-06 1 · 2025-01 1 · 2024-12 1" in lines
    assert "oldest first" in out
    fallback = corpus.run("search", "harbour", "zebra").stdout
    assert "no document contains all the words: showing documents with any of them" in fallback
    suggestion = corpus.json("search", "goverment")
    assert suggestion["suggestion"] == "government" and suggestion["suggestion_total"] > 0
    assert "did you mean: government" in corpus.run("search", "goverment").stdout


def test_explain_in_json(corpus: Project) -> None:
    explain = corpus.json("search", "oil", "--lang", "en,de", "--explain")["explain"]
    assert explain["parsed"] == "(title:oil OR body:oil)"
    assert "b_en:oil" in explain["expanded"]
    assert "lang:en" in explain["filters"] and "lang:de" in explain["filters"]


def test_all_shows_every_near_duplicate(corpus: Project) -> None:
    result = corpus.json("search", "volcano", "--all")
    assert (result["total"], len(result["hits"])) == (4, 4)


def test_filters_on_the_command_line(corpus: Project) -> None:
    paths = [h["path"] for h in corpus.json("search", "*", "--until", "2025-06", "--sort", "newest")["hits"]]
    assert [Path(p).name for p in paths] == ["rail.txt", "harbour.txt", "haeuser.txt"]
    german = corpus.json("search", "*", "--lang", "de", "--path", "notes/*")
    assert [Path(h["path"]).name for h in german["hits"]] == ["haeuser.txt"]


def test_similar_command(corpus: Project) -> None:
    ids = ids_by_path(corpus)
    result = corpus.json("similar", str(ids["dups/volcano-1.txt"]), "-n", "3")
    assert result["query"] == f"similar to {ids['dups/volcano-1.txt']}"
    assert result["similar_to"] == ids["dups/volcano-1.txt"]
    assert Path(result["hits"][0]["path"]).name == "volcano-other.txt"
    assert "volcano" in result["key_terms"]
    text = corpus.run("similar", str(ids["dups/volcano-1.txt"]), "-n", "1").stdout
    assert text.startswith("key terms: ")
    assert f"documents are like {ids['dups/volcano-1.txt']}; showing 1-1" in text
    missing = corpus.run("similar", "999999", check=False)
    assert (
        missing.returncode == 1
        and missing.stderr.strip() == "indexer: no document with id 999999 in the index"
    )


def test_error_exits(corpus: Project, tmp_path: Path) -> None:
    bad = corpus.run("search", "colour:red", check=False)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip().splitlines() == [
        "query error: unknown field 'colour' (hint: fields are: title, body, byline, dateline, source, lang, path, "
        "published, ingested, date, cluster)"
    ]
    quote = corpus.run("search", '"harbour plan', check=False)
    assert quote.returncode == 2 and quote.stderr.startswith("query error: unbalanced quote (hint: ")
    since = corpus.run("search", "harbour", "--since", "last week", check=False)
    assert since.returncode == 2 and "bad date 'last week'" in since.stderr
    nohits = corpus.run("search", "zebra")
    assert nohits.stdout.strip() == "no documents match 'zebra' (total: 0)"
    assert corpus.json("search", "zebra")["total"] == 0

    empty = Project(tmp_path)
    empty.inbox.mkdir()
    empty.config.write_text(corpus.config.read_text())
    none_yet = empty.run("search", "anything", check=False)
    assert none_yet.returncode == 1
    assert none_yet.stderr.strip() == "indexer: no index yet: run `indexer ingest` or start the daemon"
    assert not (empty.data / "indexer.db").exists()  # searching never creates the database


def test_search_imports_neither_the_database_nor_logging(corpus: Project) -> None:
    """Whole-process start-up: searching needs Whoosh and click, not SQLAlchemy or structlog."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "indexer", "search", "harbour"],
        cwd=corpus.root,
        env=corpus.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines() if "|" in line}
    assert "whoosh" in imported
    assert not imported & {"sqlalchemy", "structlog", "rich", "langdetect", "watchdog", "apscheduler"}


def test_search_works_while_another_process_rebuilds_the_index(corpus: Project) -> None:
    """A reindex builds a new generation and swaps it in; searches never fail meanwhile."""
    expected = corpus.json("search", "harbour")["hits"][0]["id"]
    writer = corpus.spawn("reindex")
    searches = 0
    try:
        while writer.poll() is None or searches < 3:
            proc = corpus.run("search", "harbour", "--json", "--no-snippets", check=False)
            assert proc.returncode == 0, proc.stderr
            assert json.loads(proc.stdout)["hits"][0]["id"] == expected
            searches += 1
    finally:
        writer.wait(timeout=60)
    assert writer.returncode == 0, writer.stderr.read() if writer.stderr else ""


def test_search_works_while_another_process_ingests(project: Project, bbc_sample: list[Path]) -> None:
    """Commits land under a running search loop: every search answers, and counts only grow."""
    later = bbc_sample[len(bbc_sample) // 2 :]
    held = project.root / "held"
    for path in later:  # keep half out of the inbox for now
        target = held / path.relative_to(project.inbox)
        target.parent.mkdir(parents=True, exist_ok=True)
        path.rename(target)
    project.run("ingest", "inbox")
    before = project.json("search", "*", "--no-snippets")["total"]
    for path in later:
        (held / path.relative_to(project.inbox)).rename(path)
    writer = project.spawn("ingest", "inbox")
    totals = []
    try:
        while writer.poll() is None or len(totals) < 3:
            proc = project.run("search", "*", "--json", "--no-snippets", check=False)
            assert proc.returncode == 0, proc.stderr
            totals.append(json.loads(proc.stdout)["total"])
    finally:
        writer.wait(timeout=120)
    assert writer.returncode == 0
    assert totals == sorted(totals) and totals[0] >= before
    assert totals[-1] == project.json("search", "*")["total"] > before


def test_readme_documents_every_search_option_and_json_field() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    searching = readme.split("### Searching", 1)[1].split("\n## ", 1)[0]
    searching += readme.split("## JSON output", 1)[1].split("\n## ", 1)[0]
    from indexer.cli import search, similar

    for command in (search, similar):
        for param in command.params:
            for opt in param.opts:
                if opt.startswith("--") and opt not in ("--config", "--verbose", "--log-level"):
                    assert f"`{opt}" in searching, f"{command.name} {opt} is not in the README"
    for name in HIT_FIELDS | RESULT_FIELDS | {"similar_to", "key_terms"}:
        assert f"`{name}`" in searching, f"JSON field {name} is not in the README"
