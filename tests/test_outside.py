"""Nothing outside the inbox is read: paths named on the command line, verify, forget."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import Project, wait_for


def _article(topic: str, n: int = 0) -> str:
    return (f"Report on {topic} number {n}\n\nThe committee published its findings on {topic} today. "
            f"Officials said the {topic} review, item {n}, would continue next year.\n")


def _hits(project: Project, query: str) -> list[int]:
    proc = project.run("search", query, "--json", "--all", check=False)
    if proc.returncode != 0:
        return []
    return [hit["id"] for hit in json.loads(proc.stdout)["hits"]]


def _secret(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    secret = outside / "secret.txt"
    secret.write_text(_article("TOPSECRETOUTSIDE"), encoding="utf-8")
    return secret


@pytest.mark.parametrize("follow", [False, True])
def test_named_symlink_out_of_the_inbox_is_refused_like_the_scan(project: Project, tmp_path: Path,
                                                                 follow: bool) -> None:
    if follow:
        text = project.config.read_text().replace('data_dir = "var"', 'data_dir = "var"\nfollow_symlinks = true')
        project.config.write_text(text, encoding="utf-8")
    project.write("a.txt", _article("harbour"))
    (project.inbox / "s.txt").symlink_to(_secret(tmp_path))
    names = sorted(str(p.relative_to(project.root)) for p in project.inbox.glob("*.txt"))
    proc = project.run("ingest", *names)
    reason = "symlink points outside the inbox" if follow else "symlink (follow_symlinks is off)"
    assert f"failed: {project.inbox / 's.txt'}: read: {reason}" in proc.stderr
    assert "1 added" in proc.stdout
    assert _hits(project, "TOPSECRETOUTSIDE") == []
    assert _hits(project, "harbour")
    failures = project.json("failures")["failures"]
    assert [(f["path"], f["reason"]) for f in failures] == [(str(project.inbox / "s.txt"), reason)]
    # retry obeys the same rules
    proc = project.run("retry", "inbox/s.txt", check=False)
    assert proc.returncode == 1 and reason in proc.stderr
    assert _hits(project, "TOPSECRETOUTSIDE") == []


def test_named_path_outside_every_inbox_is_refused_in_one_line(project: Project, tmp_path: Path) -> None:
    secret = _secret(tmp_path)
    proc = project.run("ingest", str(secret), check=False)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [f"failed: {secret}: outside the configured inboxes"]
    assert proc.stdout == ""
    proc = project.run("ingest", str(secret.parent), check=False)  # a folder outside
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [f"failed: {secret.parent}: outside the configured inboxes"]
    proc = project.run("retry", str(secret), check=False)
    assert proc.returncode == 1 and f"failed: {secret}: outside the configured inboxes" in proc.stderr
    assert _hits(project, "TOPSECRETOUTSIDE") == []
    assert project.json("failures")["failures"] == []  # not recorded: not a file of any inbox
    # Beside a path inside, the inside one is ingested and the exit is still 1.
    project.write("sub/a.txt", _article("harbour"))
    proc = project.run("ingest", "inbox/sub", str(secret), check=False)
    assert proc.returncode == 1 and "1 added" in proc.stdout
    assert f"failed: {secret}: outside the configured inboxes" in proc.stderr
    assert _hits(project, "harbour") and _hits(project, "TOPSECRETOUTSIDE") == []
