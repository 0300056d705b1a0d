"""`indexer export` and `indexer import`: every matching document, streamed with flat
memory, CSV and JSON lines; an export with its text imported into an empty data dir gives
the same documents; `search --format csv`."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from tests.conftest import Project, write_config

TEXTS = {
    "oil": "Oil prices rose again as producers cut output and traders expected a cold winter ahead.",
    "rail": "The railway strike closed stations across the north while unions and managers kept talking.",
    "wahl": "Die Wahl in Berlin brachte der Regierung eine knappe Mehrheit und viele neue Gesichter.",
}


def _ingest_sample(project: Project) -> None:
    for name, text in TEXTS.items():
        for n in range(3):
            project.write(
                f"{name}/{name}-{n}.txt",
                f"{name.title()} story {n}\n\n{text} Item {n} of {name}s: "
                + " ".join(f"w{name}{n}x{i}" for i in range(12))
                + ".\n",
            )
    project.write("copy/oil-0.txt", (project.inbox / "oil" / "oil-0.txt").read_text())  # a second path
    project.run("ingest", str(project.inbox))


def test_export_streams_every_match_as_jsonl_and_csv(project: Project) -> None:
    _ingest_sample(project)
    records = [json.loads(line) for line in project.run("export", "oil").stdout.splitlines()]
    assert [r["title"] for r in records] == ["Oil story 0", "Oil story 1", "Oil story 2"]  # id order, no page
    assert records[0]["paths"] == sorted(
        [str(project.inbox / "copy" / "oil-0.txt"), str(project.inbox / "oil" / "oil-0.txt")]
    )
    assert "text" not in records[0] and records[0]["language"] == "en"
    de = project.run(
        "export", "--all", "--lang", "de", "--format", "csv", "--fields", "id,title,language"
    ).stdout
    rows = list(csv.DictReader(io.StringIO(de)))
    assert [r["title"] for r in rows] == ["Wahl story 0", "Wahl story 1", "Wahl story 2"]
    assert set(rows[0]) == {"id", "title", "language"}
    everything = project.run("export", "--all", "--with-text").stdout.splitlines()
    assert len(everything) == 9 and all("text" in json.loads(line) for line in everything)
    out = project.root / "backup.jsonl"
    proc = project.run("export", "--all", "--with-text", "-o", str(out))
    assert proc.stdout == "" and len(out.read_text().splitlines()) == 9
    bad = project.run("export", "--all", "--fields", "id,colour", check=False)
    assert bad.returncode == 2 and "unknown field 'colour'" in bad.stderr
    assert project.run("export", check=False).returncode == 2
    hits = list(csv.DictReader(io.StringIO(project.run("search", "railway", "--format", "csv").stdout)))
    assert [h["title"] for h in hits] and all(h["title"].startswith("Rail story") for h in hits)
    assert {"rank", "id", "path", "snippet", "score"} <= set(hits[0])


@pytest.mark.slow
def test_an_export_with_text_imports_into_an_empty_data_dir_as_the_same_documents(
    project: Project, tmp_path: Path
) -> None:
    _ingest_sample(project)
    backup = project.root / "backup.jsonl"
    project.run("export", "--all", "--with-text", "-o", str(backup))
    other = Project(tmp_path / "other")
    (other.root / "inbox").mkdir(parents=True)
    write_config(other.root)
    assert "imported 9 records: 9 documents, 10 paths" in other.run("import", str(backup)).stdout

    def comparable(p: Project) -> list[dict]:
        rows = [json.loads(line) for line in p.run("export", "--all", "--with-text").stdout.splitlines()]
        return sorted(
            ({k: v for k, v in r.items() if k not in ("id", "cluster", "updated")} for r in rows),
            key=lambda r: r["path"],
        )

    assert comparable(other) == comparable(project)
    assert other.json("search", "railway", "--all")["total"] == 3
    # The same files under the new node's inbox: a scan finds them unchanged.
    bad = other.root / "bad.jsonl"
    bad.write_text('{"title": "no text"}\n')
    proc = other.run("import", str(bad), check=False)
    assert proc.returncode == 1 and "no text (export with --with-text)" in proc.stderr


def _fill(project: Project, count: int) -> None:
    """``count`` documents written straight into the database (analysing 22k files would
    take minutes), each with a 3 KB body: holding them all would show in memory."""
    project.run("init")
    db = sqlite3.connect(project.data / "indexer.db")
    body = zlib.compress((" ".join(f"word{i}" for i in range(500))).encode())
    now = "2026-01-01 00:00:00.000000"
    with db:
        db.executemany(
            "insert into documents (id, seq, path, sha256, size, mtime_ns, body_sha256, encoding, repaired, language,"
            " language_prob, languages, title, word_count, char_count, paragraph_count, summary, body_zlib, removed,"
            " flags, normalizer_version, ingested_at, updated_at) values (?, ?, ?, 'x', 1, 1, ?, 'utf-8', 0, 'en',"
            " 1.0, '', ?, 500, 3000, 1, '', ?, '[]', '', 0, ?, ?)",
            [(i, i, f"/x/{i}.txt", f"b{i}", f"Title {i}", body, now, now) for i in range(1, count + 1)],
        )
    db.close()


def test_an_export_of_22k_documents_keeps_memory_flat(tmp_path: Path) -> None:
    peaks = {}
    for count in (2_000, 22_000):
        project = Project(tmp_path / str(count))
        (project.root / "inbox").mkdir(parents=True)
        write_config(project.root)
        _fill(project, count)
        out = project.root / "all.jsonl"
        # A fresh interpreter per measurement: RUSAGE_CHILDREN keeps the largest child's peak.
        code = (
            "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
        )
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                code,
                sys.executable,
                "-m",
                "indexer",
                "export",
                "--all",
                "--with-text",
                "-o",
                str(out),
            ],
            env=project.env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        peaks[count] = int(proc.stdout.strip().splitlines()[-1]) / 1024
        assert len(out.read_text().splitlines()) == count
    # 20,000 more 3 KB texts (60 MB of them) cost no more than a few MB.
    assert peaks[22_000] - peaks[2_000] < 15, peaks
