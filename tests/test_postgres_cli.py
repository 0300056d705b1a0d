"""The CLI as a subprocess on SQLite and on PostgreSQL: one life cycle of a small archive."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import Project
from tests.test_duplicates import OTHER, REWRITE, WIRE


def test_ingest_edit_delete_search_show_verify_on_both_databases(any_project: Project) -> None:
    project = any_project
    a = project.write("a.txt", "Harbour plan approved\n\nThe council approved the harbour plan on Monday.\n")
    project.write("copies/a.txt", a.read_text())
    project.write("agency/wire.txt", WIRE)
    rewrite = project.write("paper/rewrite.txt", REWRITE)
    project.write("paper/other.txt", OTHER)
    project.write("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))

    # A client time zone (PGTZ) must not shift the times the index keeps: they are UTC.
    out = project.run("ingest", "inbox", PGTZ="Asia/Tokyo").stdout
    assert out.startswith("4 added, 0 updated, 0 unchanged, 1 duplicates, 1 failed"), out
    status = project.json("status")
    assert (status["documents"], status["files"], status["failures"]) == (4, 5, 1)
    assert status["index"]["documents"] == 4 and status["index"]["lag"] == 0
    assert status["database"].startswith("postgresql" if project.database_url else "sqlite")

    hits = project.json("search", "harbour")["hits"]
    assert len(hits) == 1
    assert "<b>harbour</b> plan on Monday" in hits[0]["snippet"]  # read from the database
    ingested = datetime.fromisoformat(hits[0]["ingested"])
    assert abs(ingested.replace(tzinfo=UTC) - datetime.now(UTC)) < timedelta(minutes=5), hits[0]["ingested"]
    shown = project.json("show", str(hits[0]["id"]))
    assert sorted(Path(p).relative_to(project.inbox).as_posix() for p in shown["paths"]) == [
        "a.txt",
        "copies/a.txt",
    ]
    clusters = project.json("duplicates")["clusters"]
    assert [sorted(Path(d["path"]).name for d in c["documents"]) for c in clusters] == [
        ["rewrite.txt", "wire.txt"]
    ]

    # An edit keeps the copy's document and makes its own; a deleted file leaves the index.
    a.write_text("Harbour plan approved\n\nThe council approved the lighthouse plan on Monday.\n")
    os.utime(a, ns=(a.stat().st_atime_ns, a.stat().st_mtime_ns + 5_000_000_000))
    rewrite.unlink()
    out = project.run("ingest", "inbox").stdout
    assert out.startswith("0 added, 1 updated, 4 unchanged, 1 deleted, 0 failed"), out
    assert [h["id"] for h in project.json("search", "lighthouse")["hits"]] != [hits[0]["id"]]
    assert project.json("search", "harbour")["total"] == 2

    report = project.json("verify")
    assert report["ok"], report
    failures = project.json("failures")
    assert [Path(f["path"]).name for f in failures["failures"]] == ["image.txt"]
