"""Legacy names and files: names that are not UTF-8, include patterns, control characters."""

from __future__ import annotations

import os
import signal
import sqlite3
from pathlib import Path

import pytest

from indexer.ingest.paths import db_path, fs_path, printable, typed_path
from tests.conftest import Project, wait_for

TEXT = "Café report\n\nThe committee published its findings on the harbour crane today. Officials agreed.\n"


def _write_bytes_name(folder: Path, name: bytes, data: bytes) -> bytes:
    path = os.path.join(os.fsencode(folder), name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    return path


@pytest.mark.parametrize("name", ["caf\udce9.txt", "a\\xe9b", "\\x5c", "\\\udce9", "plain.txt", "x\\xE9", ""])
def test_db_path_is_reversible_and_leaves_utf8_alone(name: str) -> None:
    stored = db_path(name)
    stored.encode("utf-8")  # storable
    assert fs_path(stored) == name
    if "\\x" not in name and name.isprintable():
        assert stored == name or "\udce9" in name


def test_printable_escapes_controls() -> None:
    assert printable("a\nb\x1b[31m\x85.txt") == "a\\nb\\x1b[31m\\x85.txt"
    assert printable("café 🎉.txt") == "café 🎉.txt"


def test_a_path_typed_as_shown_names_the_file(tmp_path: Path) -> None:
    latin = os.fsdecode(_write_bytes_name(tmp_path, b"caf\xe9.txt", b"x"))
    control = tmp_path / "a\nb.txt"
    control.write_text("x")
    assert typed_path(printable(db_path(latin))) == latin
    assert typed_path(printable(str(control))) == str(control)
    literal = tmp_path / "back\\x41slash.txt"  # exists as typed: taken as it is
    literal.write_text("x")
    assert typed_path(str(literal)) == str(literal)


def test_forget_and_retry_take_the_path_as_shown(project: Project) -> None:
    _write_bytes_name(project.inbox, b"caf\xe9.txt", TEXT.encode())
    project.write(
        "a\nb.txt", "Canal works\n\nThe committee said the canal locks will shut for repairs in May.\n"
    )
    project.run("ingest", "inbox")
    shown = [
        line.split("  (id ")[0].strip()
        for line in project.run("search", "committee").stdout.splitlines()
        if "  (id " in line
    ]
    assert len(shown) == 2, shown
    for path in shown:
        assert "\\x" in path or "\\n" in path
        assert project.run("retry", path).returncode == 0
        assert project.json("forget", path)["documents"], path
    assert project.json("status")["documents"] == 0


def test_latin1_name_is_ingested_searched_moved_and_deleted(any_project: Project) -> None:
    project = any_project
    latin = project.inbox / "latin"
    latin.mkdir()
    path = _write_bytes_name(latin, b"caf\xe9.txt", TEXT.encode("latin-1"))
    project.run("ingest", "inbox")
    assert project.json("failures")["failures"] == []
    hits = project.json("search", "crane")["hits"]
    assert [h["path"] for h in hits] == [str(latin) + "/caf\\xe9.txt"]
    doc_id = hits[0]["id"]
    text = project.run("search", "crane").stdout
    assert "caf\\xe9.txt" in text
    by_path = project.json("search", f'path:"{latin}/caf\\xe9.txt"')
    assert [h["id"] for h in by_path["hits"]] == [doc_id]
    assert "caf\\xe9.txt" in project.run("show", str(doc_id)).stdout
    # Renamed to another Latin-1 name: the same document.
    os.rename(path, os.path.join(os.fsencode(latin), b"na\xefve.txt"))
    project.run("ingest", "inbox")
    assert [(h["id"], h["path"]) for h in project.json("search", "crane")["hits"]] == [
        (doc_id, str(latin) + "/na\\xefve.txt")
    ]
    # Deleted: it leaves the index.
    os.unlink(os.path.join(os.fsencode(latin), b"na\xefve.txt"))
    project.run("ingest", "inbox")
    assert project.json("search", "crane")["total"] == 0
    assert project.json("status")["documents"] == 0


def test_retry_all_ingests_a_latin1_name_it_had_recorded(project: Project) -> None:
    path = _write_bytes_name(project.inbox, b"r\xe9sum\xe9.txt", b"")
    project.run("ingest", "inbox")
    assert [f["path"] for f in project.json("failures")["failures"]] == [
        str(project.inbox) + "/r\\xe9sum\\xe9.txt"
    ]
    with open(path, "wb") as f:
        f.write(TEXT.encode())
    project.run("retry", "--all")
    assert project.json("failures")["failures"] == []
    assert project.json("search", "crane")["total"] == 1


def test_patterns_match_any_case_and_skipped_files_are_counted(project: Project) -> None:
    project.write("UPPER.TXT", TEXT)
    project.write("notes.md", TEXT.replace("crane", "ledger"))
    project.write(".hidden.md", TEXT)  # hidden: never meant to be ingested, not counted
    out = project.run("ingest", "inbox").stdout
    assert "1 skipped" in out
    assert project.json("search", "crane")["total"] == 1
    assert project.json("search", "ledger")["total"] == 0
    assert project.json("status")["skipped"] == 1
    assert "skipped:   1 " in project.run("status").stdout


def test_control_characters_in_a_name_stay_on_one_line(project: Project) -> None:
    project.write("a\nb.txt", TEXT)
    project.write("c\x1bd.txt", b"")  # a failure: empty
    project.run("ingest", "inbox")
    lines = project.run("search", "crane").stdout.splitlines()
    assert any(line.strip().startswith(f"{project.inbox}/a\\nb.txt  (id ") for line in lines), lines
    hit = project.json("search", "crane")["hits"][0]
    assert hit["path"] == f"{project.inbox}/a\nb.txt"
    show = project.run("show", str(hit["id"])).stdout
    assert f"path: {project.inbox}/a\\nb.txt\n" in show
    assert project.json("show", str(hit["id"]))["path"] == f"{project.inbox}/a\nb.txt"
    listing = project.run("failures").stdout
    assert f"{project.inbox}/c\\x1bd.txt: normalize: empty file" in listing
    assert "\x1b" not in listing
    assert project.json("failures")["failures"][0]["path"] == f"{project.inbox}/c\x1bd.txt"
    assert "\x1b" not in project.run("status").stdout


def _reason(project: Project, name: str) -> str | None:
    found = [
        f"{f['stage']}: {f['reason']}"
        for f in project.json("failures")["failures"]
        if os.path.basename(f["path"]) == name
    ]
    return found[0] if found else None


def test_a_symlink_has_one_wording_from_a_scan_and_a_retry(project: Project) -> None:
    outside = project.root / "outside.txt"
    outside.write_text(TEXT)
    (project.inbox / "link.txt").symlink_to(outside)
    project.run("ingest", "inbox")
    assert _reason(project, "link.txt") == "read: symlink (follow_symlinks is off)"
    project.run("retry", str(project.inbox / "link.txt"), check=False)
    assert _reason(project, "link.txt") == "read: symlink (follow_symlinks is off)"
    assert project.json("search", "crane")["total"] == 0


def test_daemon_records_a_symlink_as_a_scan_does_and_logs_it_once(project: Project) -> None:
    proc = project.spawn("daemon")
    wait_for(lambda: (project.data / "daemon.json").exists() or proc.poll() is not None, what="daemon start")
    assert proc.poll() is None, project.log()
    outside = project.root / "outside.txt"
    outside.write_text(TEXT)
    (project.inbox / "link.txt").symlink_to(outside)  # the watcher sees it first
    wait_for(lambda: _reason(project, "link.txt"), what="symlink recorded")

    def scans() -> int:
        with sqlite3.connect(project.data / "indexer.db", timeout=10) as conn:
            return conn.execute(
                "select count(*) from job_runs where job = 'scan' and ended_at is not null"
            ).fetchone()[0]

    done = scans()
    wait_for(lambda: scans() >= done + 4, what="four more safety scans")
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)
    assert _reason(project, "link.txt") == "read: symlink (follow_symlinks is off)"
    failed = [line for line in project.log().splitlines() if "ingest.failed" in line and "link.txt" in line]
    assert len(failed) == 1, failed
    assert project.json("search", "crane")["total"] == 0
