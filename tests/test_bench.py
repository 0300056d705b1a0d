"""scripts/bench: a quick run on a tiny corpus gives every figure, sane; copies are distinct;
`--docs N` runs the sections on a synthetic archive, with its own targets."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from indexer.ingest.normalize import normalize
from tests.conftest import POSTGRES_ENV, corpora_or_skip
from tools.bench import (
    CorpusInfo,
    IngestFigures,
    ReindexFigures,
    Report,
    SyntheticCorpus,
    TimedSearch,
    build_queries,
    generations_seen,
    list_sources,
    load_baseline,
    rss_slope_per_hour,
    source_key,
    targets,
    to_json,
    vary,
)

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
        env={k: v for k, v in os.environ.items() if k != "INDEXER_BENCH_POSTGRES_URL"},
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
    assert daemon["batch_found"] == daemon["batch_files"] == 10

    assert report["reindex"]["failed"] == 0 and report["reindex"]["wrong_generation"] == 0
    assert report["reindex"]["documents"] == 30 + report["add"]["files"]
    assert report["idle"]["found"] == report["idle"]["dropped"] > 0
    assert report["cluster"] is None  # no PostgreSQL given

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


# -- --docs N: the synthetic archive ---------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic() -> SyntheticCorpus:
    return SyntheticCorpus(corpora_or_skip("bbc").parent, docs=1000, seed=3)


def test_synthetic_word_statistics_come_from_a_spread_sample(synthetic: SyntheticCorpus) -> None:
    texts = synthetic.texts(sample=50)
    assert texts.n == 50 and texts.stands_for == 1000
    numbers = sorted(int(name[-11:-4]) for name in texts.by_source)
    assert numbers[0] == 0 and numbers[-1] >= 950  # spread over the corpus, not its start
    assert texts.by_source[synthetic.synth.article(20).name] == synthetic.synth.article(20).text
    queries = build_queries(texts, 2)
    assert {"term_frequent", "term_medium", "phrase", "fuzzy"} <= set(queries)


def test_fresh_synthetic_documents_are_new_and_differ_by_batch(
    synthetic: SyntheticCorpus, tmp_path: Path
) -> None:
    synthetic.write(tmp_path, smaller=True)
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.txt")}
    assert len(written) == synthetic.smaller == 100
    first, second = synthetic.fresh(20, batch=0), synthetic.fresh(20, batch=1)
    names = [name for name, _ in first + second]
    assert len(set(names)) == 40 and not set(names) & written
    assert all(int(name[-11:-4]) >= 1000 for name in names)
    assert len({data for _, data in first + second}) == 40


def test_a_syndicated_copy_is_the_same_article_as_its_original(synthetic: SyntheticCorpus) -> None:
    copies = [a for i, a in enumerate(synthetic.synth.articles(600)) if a.story != i]
    assert copies
    inbox = Path("/inbox")
    copy = copies[0]
    original = synthetic.synth.article(copy.story)
    assert synthetic.article(f"/inbox/{copy.name}", inbox) == synthetic.article(
        f"/inbox/{original.name}", inbox
    )
    assert synthetic.article("/inbox/s0000/0000001.txt", inbox) != synthetic.article(
        "/inbox/s0000/0000002.txt", inbox
    )


def test_the_rss_slope_is_per_hour() -> None:
    rising = [(t * 60.0, 100.0 + t) for t in range(10)]  # 1 MB a minute
    assert rss_slope_per_hour(rising) == pytest.approx(60.0)
    assert rss_slope_per_hour([(t * 1.0, 80.0) for t in range(30)]) == 0
    assert rss_slope_per_hour([(0.0, 80.0)]) == 0


def _ingest(files: int, docs_per_s: float) -> IngestFigures:
    return IngestFigures(
        files=files,
        bytes=files * 3000,
        wall_s=files / docs_per_s,
        cpu_s=files / docs_per_s,
        docs_per_s=docs_per_s,
        mb_per_s=1.0,
        peak_rss_mb=300,
        peak_pss_mb=200,
        max_processes=3,
        db_mb=1,
        index_mb=1,
        disk_ratio=2.0,
        indexed=files,
        summary="",
        cpu_ms_per_doc=5.0,
    )


def _reindex(failed: int, wrong: int, temp_mb: float) -> ReindexFigures:
    return ReindexFigures(
        documents=1000,
        wall_s=5,
        cpu_s=5,
        peak_rss_mb=200,
        index_mb=10,
        temp_disk_mb=temp_mb,
        peak_disk_mb={},
        searches=50,
        failed=failed,
        errors=[],
        search_p50_ms=5,
        search_p95_ms=9,
        old_generation="index.a",
        new_generation="index.b",
        swap_after_s=4.0,
        before_swap=40,
        after_swap=9,
        wrong_generation=wrong,
    )


def _synthetic_report(files: int) -> Report:
    return Report(
        corpus=CorpusInfo("corpora", files, 1, files, files * 3000, kind="synthetic", seed=1),
        environment={},
        ingest=_ingest(files, 70.0),
    )


def test_sizes_of_two_runs_are_compared_through_the_json(tmp_path: Path) -> None:
    small = _synthetic_report(100_000)
    small.ingest = _ingest(100_000, 100.0)
    saved = tmp_path / "100k.json"
    saved.write_text(json.dumps(to_json(small), default=str), encoding="utf-8")
    assert to_json(small)["sizes"]["100000"]["docs_per_s"] == 100.0

    large = _synthetic_report(1_000_000)  # 70 docs/s: 0.7x the 100k run's
    assert not any(t.name.startswith("ingest docs/s at") for t in targets(large))  # one size only
    large.baseline = load_baseline(saved)
    scaling = next(t for t in targets(large) if t.name.startswith("ingest docs/s at"))
    assert scaling.name == "ingest docs/s at 1,000,000 / at 100,000"
    assert scaling.value == pytest.approx(0.7) and scaling.ok is False
    assert set(to_json(large)["sizes"]) == {"100000", "1000000"}


def test_the_reindex_targets_fail_on_a_failed_search_or_too_much_temp_disk() -> None:
    report = _synthetic_report(1000)

    def marks(x: ReindexFigures) -> dict[str, bool | None]:
        report.reindex = x
        return {t.name: t.ok for t in targets(report) if t.issue == 21 and "reindex" in t.name}

    assert all(marks(_reindex(0, 0, 9.0)).values())
    assert marks(_reindex(1, 0, 9.0))["searches failed during reindex"] is False
    assert marks(_reindex(0, 0, 15.0))["reindex temp disk / index size"] is False
    report.reindex = _reindex(0, 1, 9.0)
    assert {t.name: t.ok for t in targets(report)}["searches on the wrong generation"] is False


def test_searches_are_judged_by_the_generation_on_their_side_of_the_swap() -> None:
    # The link named the old generation at t=10 and the new one at t=10.5.
    searches = [
        TimedSearch(1.0, 2.0, "index.old"),
        TimedSearch(9.0, 9.9, "index.old"),
        TimedSearch(10.1, 10.6, "index.new"),  # overlaps the window: either is right
        TimedSearch(10.2, 10.4, "index.old"),
        TimedSearch(11.0, 11.2, "index.new"),
        TimedSearch(12.0, 12.1, None, "OSError: gone"),  # failed: counted elsewhere
    ]
    assert generations_seen(searches, 10.0, 10.5, "index.old", "index.new") == (2, 1, 0)
    late = [*searches, TimedSearch(3.0, 3.5, "index.new"), TimedSearch(11.5, 11.6, "index.old")]
    assert generations_seen(late, 10.0, 10.5, "index.old", "index.new") == (3, 2, 2)
    assert generations_seen(searches, 10.0, None, "index.old", None) == (0, 0, 0)  # no swap seen


def _bench(*args: str, timeout: float = 250) -> dict:  # type: ignore[type-arg]
    proc = subprocess.run(
        [sys.executable, "-m", "tools.bench", "--json", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,  # a guard against a hang, not a speed check
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report: dict = json.loads(proc.stdout)  # type: ignore[type-arg]
    assert report["errors"] == {}
    return report


@pytest.mark.slow
def test_docs_mode_reindexes_under_searches_and_watches_the_daemon() -> None:
    corpora_or_skip("bbc")
    report = _bench(
        "--docs",
        "200",
        "--word-sample",
        "100",
        "--quick",
        "--only",
        "query,reindex,daemon,idle",
        "--idle-minutes",
        "0.2",
        "--idle-every",
        "4",
    )
    assert report["corpus"]["kind"] == "synthetic" and report["corpus"]["files"] == 200
    ingest = report["ingest"]
    assert ingest["indexed"] == 200 and ingest["cpu_ms_per_doc"] > 0
    assert ingest["db_bytes_per_doc"] > 0 and ingest["index_bytes_per_doc"] > 0
    assert report["sizes"]["200"]["docs_per_s"] == ingest["docs_per_s"]
    daemon = report["daemon"]
    assert daemon["found"] == daemon["drops"] > 0 and daemon["exit_code"] == 0
    assert daemon["batch_found"] == daemon["batch_files"] == 10 and 0 < daemon["batch_s"] < 60

    queries = report["queries"]
    assert (
        queries["failed"] == 0
        and queries["measured"] > 0
        and queries["words_from"] == ("a sample of 100 of 200 documents, counted in the index of 200")
    )

    reindex = report["reindex"]
    assert reindex["documents"] == 200  # before the daemon's drops
    assert reindex["failed"] == 0 and reindex["wrong_generation"] == 0
    assert reindex["before_swap"] > 0 and reindex["after_swap"] > 0
    assert reindex["new_generation"] != reindex["old_generation"]
    assert reindex["temp_disk_mb"] > 0 and reindex["peak_rss_mb"] > 10

    idle = report["idle"]
    assert idle["found"] == idle["dropped"] >= 6 and idle["samples"] >= 8
    assert 10 < idle["first_mb"] <= idle["max_mb"]

    names = {t["name"] for t in report["targets"] if t["issue"] == 21}
    assert {
        "query p95, with snippets",
        "searches failed during reindex",
        "idle daemon RSS slope",
        "10 new docs in the daemon's inbox searchable",
    } <= names
    assert "rescan of" not in " ".join(names)  # not run: no target


@pytest.mark.slow
def test_docs_mode_times_files_from_one_node_to_another_on_postgresql() -> None:
    corpora_or_skip("bbc")
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"the cross-node section needs PostgreSQL: set {POSTGRES_ENV}")
    report = _bench("--docs", "200", "--only", "cluster", "--postgres", url)
    cluster = report["cluster"]
    assert cluster["preload"] == 200 and cluster["found"] == cluster["drops"] == 20
    assert 0 < cluster["median_s"] <= cluster["max_s"] < 60
    assert report["ingest"] is None  # the section has its own nodes
    assert any(t["name"] == "cross-node searchable, median" for t in report["targets"])
