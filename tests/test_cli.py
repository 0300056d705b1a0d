"""End to end: the CLI as a subprocess on real articles in a tmp folder."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from tests.conftest import Project, wait_for


def _title(path: Path) -> str:
    return path.read_bytes().decode("utf-8", "replace").split("\n", 1)[0].strip()


def test_ingest_then_search_finds_articles_by_title_words(project: Project, bbc_sample: list[Path]) -> None:
    out = project.run("ingest", "inbox").stdout
    assert f"{len(bbc_sample)} added" in out or "added" in out
    for path in bbc_sample[::7]:
        title = _title(path)
        result = project.json("search", title)
        assert result["total"] >= 1, title
        assert str(path) in [hit["path"] for hit in result["hits"][:3]], (title, result["hits"][:3])


def test_search_json_has_the_documented_fields(project: Project, bbc_sample: list[Path]) -> None:
    project.run("ingest", str(project.inbox))
    result = project.json("search", "government", "--limit", "3")
    assert {"query", "total", "took_ms", "hits"} <= set(result)
    assert result["query"] == "government"
    assert 1 <= len(result["hits"]) <= 3
    for hit in result["hits"]:
        assert {"id", "title", "path", "language", "source", "published", "score", "snippet"} <= set(hit)
        assert Path(hit["path"]).is_absolute()
        assert hit["language"] == "en"
        assert "<b>" in hit["snippet"].lower() or "govern" in hit["snippet"].lower()


def test_reingest_is_a_noop_and_an_edit_updates_the_same_document(project: Project) -> None:
    path = project.write(
        "a.txt", "Harbour plan approved\n\nThe council approved the harbour plan on Monday.\n"
    )
    project.write("b.txt", "Rail strike ends\n\nTrain drivers returned to work after a week long strike.\n")
    first = project.run("ingest", "inbox").stdout
    assert "2 added" in first
    again = project.run("ingest", "inbox").stdout
    assert "0 added, 0 updated, 2 unchanged" in again and "nothing changed" in again
    doc_id = project.json("search", "harbour")["hits"][0]["id"]
    path.write_text("Harbour plan approved\n\nThe council approved the lighthouse plan on Monday.\n")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 5_000_000_000))
    assert "1 updated" in project.run("ingest", "inbox").stdout
    hits = project.json("search", "lighthouse")["hits"]
    assert [h["id"] for h in hits] == [doc_id]
    assert project.json("search", "harbour AND council")["hits"][0]["id"] == doc_id


def test_binary_file_is_a_recorded_failure_and_the_rest_ingest(
    project: Project, bbc_sample: list[Path]
) -> None:
    project.write("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    proc = project.run("ingest", "inbox")
    assert f"{len(bbc_sample)} added" in proc.stdout or "added" in proc.stdout
    assert "1 failed" in proc.stdout
    assert "image.txt" in proc.stderr and "binary content" in proc.stderr
    assert "Traceback" not in proc.stderr
    status = project.json("status")
    assert status["failures"] == 1
    assert status["recent_failures"][0]["path"].endswith("image.txt")
    assert status["documents"] >= len(bbc_sample) - 2  # a couple may be exact duplicates
    assert status["index"]["lag"] == 0
    assert status["index"]["documents"] == status["documents"]


def test_status_says_how_far_and_how_long_the_index_is_behind(project: Project) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from indexer.db import changes
    from indexer.db.models import Document
    from indexer.db.session import open_database

    project.write("a.txt", "Harbour plan approved\n\nThe council approved the harbour plan on Monday.\n")
    project.run("ingest", "inbox")
    index = project.json("status")["index"]
    assert (index["lag"], index["lag_seconds"]) == (0, 0.0)
    # Another node changes the document, 90 s ago, and this index has not followed yet.
    db = open_database(f"sqlite:///{project.data / 'indexer.db'}", project.data, busy_timeout=10.0)
    try:
        with db.write() as session:
            changes.resequence(session, [1])
            session.execute(update(Document).values(updated_at=datetime.now(UTC) - timedelta(seconds=90)))
    finally:
        db.dispose()
    index = project.json("status")["index"]
    assert index["lag"] == 1 and 90 <= index["lag_seconds"] < 150
    assert "lag 1 changes (9" in project.run("status").stdout


def test_status_names_each_job_s_last_run_and_the_node_that_ran_it(project: Project) -> None:
    import socket

    project.write("a.txt", "Harbour plan approved\n\nThe council approved the harbour plan on Monday.\n")
    project.run("ingest", "inbox")
    project.run("verify")
    node = f"{socket.gethostname()}:{project.data.resolve()}"
    runs = project.json("status")["last_runs"]
    assert set(runs) == {"scan", "verify"}
    for run in runs.values():
        assert run["outcome"] == "ok" and run["node"] == node
        assert run["started"] <= run["ended"]
    text = project.run("status").stdout
    assert f"  scan: started {runs['scan']['started'].replace('T', ' ')}" in text
    assert f", ok, node {node}" in text


def test_english_stemming_run_finds_running(project: Project) -> None:
    project.write("r.txt", "Marathon news\n\nShe was running through the city streets at dawn.\n")
    project.run("ingest", "inbox")
    assert project.json("search", "run")["total"] == 1
    assert project.json("search", "runs")["total"] == 1


def test_show_prints_metadata_and_text(project: Project) -> None:
    project.write("s.txt", "Budget talks resume\n\nMinisters met again to discuss the budget.\n")
    project.run("ingest", "inbox")
    doc_id = project.json("search", "budget")["hits"][0]["id"]
    shown = project.json("show", str(doc_id))
    assert shown["title"] == "Budget talks resume"
    assert shown["body"].startswith("Budget talks resume")
    assert shown["language"] == "en"
    text = project.run("show", str(doc_id)).stdout
    assert "Ministers met again" in text
    missing = project.run("show", "99999", check=False)
    assert missing.returncode == 1 and "no document with id 99999" in missing.stderr


def test_show_and_search_say_how_title_date_and_languages_were_found(project: Project) -> None:
    from tests.test_language import ENGLISH_BODY, GERMAN_BODY

    project.write(
        "2025-12-04-bridge.txt",
        "The harbour bridge reopened to traffic on Monday after eleven weeks of repairs to its deck and cables, "
        "the port authority said.\n\nDrivers had used a ferry in the meantime.\n",
    )
    project.write(
        "mixed.txt",
        "Cycle lanes and energy prices\n\n" + "\n\n".join([*ENGLISH_BODY[:3], *GERMAN_BODY]) + "\n",
    )
    project.run("ingest", "inbox")
    hit = project.json("search", "bridge")["hits"][0]
    assert hit["title_derived"] is True
    shown = project.json("show", str(hit["id"]))
    assert shown["title"] == "The harbour bridge reopened to traffic on Monday after eleven weeks of…"
    assert shown["title_derived"] is True
    assert (shown["published"], shown["date_source"]) == ("2025-12-04", "file name")
    mixed = project.json("show", str(project.json("search", "Stadtwerke")["hits"][0]["id"]))
    assert (mixed["title_derived"], mixed["date_source"]) == (False, None)
    assert mixed["language"] == "de" and mixed["languages"] == ["de", "en"]
    assert set(mixed["language_shares"]) == {"de", "en"}
    assert mixed["language_shares"]["de"] > mixed["language_shares"]["en"] >= 0.2


def test_search_errors_are_one_line_with_exit_codes(project: Project) -> None:
    none_yet = project.run("search", "anything", check=False)
    assert none_yet.returncode == 1
    assert none_yet.stderr.strip() == "indexer: no index yet: run `indexer ingest` or start the daemon"
    project.write("x.txt", "Weather\n\nRain is expected across the north tomorrow.\n")
    project.run("ingest", "inbox")
    bad = project.run("search", '"unclosed phrase', check=False)
    assert bad.returncode == 2
    assert bad.stderr.startswith("query error:") and len(bad.stderr.strip().splitlines()) == 1
    nohits = project.run("search", "zebra", check=False)
    assert nohits.returncode == 0 and "total: 0" in nohits.stdout
    assert project.json("search", "zebra")["total"] == 0


def test_bad_config_is_one_line_exit_2(project: Project) -> None:
    project.config.write_text("[paths]\ninboxes = []\n")
    proc = project.run("status", check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"indexer: {project.config}: unknown setting [paths] inboxes"
    verbose = project.run("status", "--verbose", check=False)
    assert "Traceback" in verbose.stderr


def test_daemon_ingests_a_dropped_file_and_stops_on_sigterm(project: Project) -> None:
    daemon = project.spawn("daemon")
    try:
        wait_for(lambda: (project.data / "daemon.lock").exists(), what="daemon start")
        project.write("drop/new.txt", "Volcano erupts\n\nA volcano erupted on the island overnight.\n")

        def found() -> bool:
            proc = project.run("search", "volcano", "--json", check=False)
            return proc.returncode == 0 and '"total": 1' in proc.stdout

        wait_for(found, timeout=30, what="dropped file searchable")
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            code = daemon.wait(timeout=10)
        except subprocess.TimeoutExpired:
            daemon.kill()
            raise
    stderr = project.log()
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert "daemon.stopped" in stderr
