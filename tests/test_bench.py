"""scripts/bench: a quick run on a tiny corpus gives every figure, sane; copies are distinct."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from indexer.ingest.normalize import normalize
from tools.bench import list_sources, source_key, vary

REPO = Path(__file__).resolve().parent.parent

WORDS = [
    "market",
    "government",
    "minister",
    "election",
    "company",
    "shares",
    "profit",
    "growth",
    "economy",
    "bank",
    "price",
    "rate",
    "football",
    "match",
    "player",
    "season",
    "club",
    "league",
    "coach",
    "goal",
    "film",
    "music",
    "award",
    "actor",
    "singer",
    "album",
    "festival",
    "technology",
    "software",
    "computer",
    "phone",
    "internet",
    "users",
    "network",
    "mobile",
    "research",
    "report",
    "police",
    "court",
    "judge",
    "trial",
    "law",
    "city",
    "council",
    "school",
    "student",
    "teacher",
    "health",
    "hospital",
    "doctor",
    "energy",
    "oil",
    "gas",
    "power",
    "climate",
    "weather",
    "storm",
    "river",
    "bridge",
    "road",
    "train",
    "airport",
    "travel",
    "holiday",
    "said",
    "would",
    "also",
    "year",
    "people",
    "new",
    "first",
    "last",
    "week",
    "month",
    "today",
    "years",
    "time",
    "work",
    "country",
    "world",
]


def write_corpus(root: Path, per_folder: int = 10) -> Path:
    """Thirty small articles in three folders: a title line, then three paragraphs."""
    rng = random.Random(5)
    for folder in ("news", "sport", "tech"):
        for i in range(per_folder):
            title = " ".join(rng.choice(WORDS) for _ in range(5)).capitalize()
            paragraphs = [" ".join(rng.choice(WORDS) for _ in range(40)).capitalize() + "." for _ in range(3)]
            path = root / folder / f"{i:03d}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(title + "\n\n" + "\n\n".join(paragraphs) + "\n", encoding="utf-8")
    return root


def test_copies_differ_in_bytes_and_normalized_body(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus", per_folder=2)
    rel = list_sources(corpus, None)[0]
    data = (corpus / rel).read_bytes()
    copies = [vary(data, copy, 0) for copy in range(4)]
    assert copies[0] == data  # copy 0 is the article as it is
    assert len(set(copies)) == 4
    assert len({normalize(c.decode()) for c in copies}) == 4
    assert source_key(str(tmp_path / "inbox" / "c03" / rel), tmp_path / "inbox") == rel


@pytest.mark.slow
def test_quick_bench_on_a_tiny_corpus(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus")
    proc = subprocess.run(
        [sys.executable, "-m", "tools.bench", "--corpus", str(corpus), "--scale", "1", "--quick", "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=250,  # a guard against a hang, not a speed check
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["errors"] == {}
    assert report["corpus"]["files"] == 30 and report["corpus"]["scale"] == 1

    ingest = report["ingest"]
    assert ingest["indexed"] == 30
    assert ingest["docs_per_s"] > 0 and ingest["wall_s"] > 0 and ingest["cpu_s"] > 0
    assert 10 < ingest["peak_rss_mb"] < 4000 and ingest["max_processes"] >= 1
    assert ingest["db_mb"] > 0 and ingest["index_mb"] > 0
    assert report["bare"]["files"] == 30 and report["bare"]["peak_rss_mb"] > 10
    assert report["ratios"]["indexer_vs_bare"] > 0

    assert report["rescan"]["files"] >= 30 and report["rescan"]["files_read"] == 0
    assert report["add"]["searchable"] == report["add"]["files"] > 0

    queries = report["queries"]
    assert queries["failed"] == 0 and queries["measured"] > 0
    assert {"term_frequent", "term_medium", "and_two_words", "phrase", "fuzzy"} <= set(queries["classes"])
    assert 0 < queries["p50_ms"] <= queries["p95_ms"] < 5000
    assert 0 < queries["cli_search_s"] < 30

    for kind in ("title", "body"):
        measure = report["known_item"][kind]
        assert measure["n"] > 0 and 0 <= measure["success_at_1"] <= measure["mrr_at_10"] <= 1
    spelling = report["known_item"]["spelling"]
    assert spelling["misspelled"]["n"] > 0 and 0 <= spelling["misspelled_top10"] <= 1
    assert 0 <= spelling["rare_no_suggestion"] <= 1 and 0 <= spelling["fuzzy_precision"] <= 1
    assert {"misspelled", "two_words_one_misspelled"} <= set(queries["classes"])

    daemon = report["daemon"]
    assert daemon["found"] == daemon["drops"] > 0
    assert 0 < daemon["p50_s"] <= daemon["p95_s"] < 60
    assert daemon["exit_code"] == 0

    names = {t["name"] for t in report["targets"]}
    assert "rescan files read" in names and "drop-to-searchable p95" in names
    assert "fuzzy word~: precision" in names
    assert all(t["ok"] in (True, False, None) for t in report["targets"])
    assert {p["name"] for p in report["peers"]} >= {"Recoll", "SQLite FTS5"}


def test_the_tools_are_not_part_of_the_installed_package() -> None:
    """pyproject.toml's package discovery finds indexer/ and its subpackages only: the
    benchmark and the reports run from a checkout."""
    import tomllib

    from setuptools import find_packages

    found = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"][
        "packages"
    ]["find"]
    packages = find_packages(str(REPO), include=found["include"])
    assert "indexer" in packages and "indexer.search._whoosh" in packages
    assert all(p == "indexer" or p.startswith("indexer.") for p in packages), packages
    assert not any(
        (REPO / "indexer" / name).exists() for name in ("bench.py", "quality.py", "search/evaluate.py")
    )
