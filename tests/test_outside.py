"""Nothing outside the inbox is read: paths named on the command line, verify, forget."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import Project, wait_for

if TYPE_CHECKING:
    from indexer.jobs import Context


def _article(topic: str, n: int = 0) -> str:
    return (
        f"Report on {topic} number {n}\n\nThe committee published its findings on {topic} today. "
        f"Officials said the {topic} review, item {n}, would continue next year.\n"
    )


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
def test_named_symlink_out_of_the_inbox_is_refused_like_the_scan(
    project: Project, tmp_path: Path, follow: bool
) -> None:
    if follow:
        text = project.config.read_text().replace(
            'data_dir = "var"', 'data_dir = "var"\nfollow_symlinks = true'
        )
        project.config.write_text(text, encoding="utf-8")
    project.write("a.txt", _article("harbour"))
    (project.inbox / "s.txt").symlink_to(_secret(tmp_path))
    names = sorted(str(p.relative_to(project.root)) for p in project.inbox.glob("*.txt"))
    proc = project.run("ingest", *names, check=False)
    reason = "symlink points outside the inbox" if follow else "symlink (follow_symlinks is off)"
    assert proc.returncode == 1  # a named path refused: the command says so in its exit code
    assert f"failed: {project.inbox / 's.txt'}: {reason}" in proc.stderr
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
    # Recorded, once each, with the reason said; `retry --all` clears them unread.
    recorded = {f["path"]: f["reason"] for f in project.json("failures")["failures"]}
    assert recorded == {
        str(secret): "outside the configured inboxes",
        str(secret.parent): "outside the configured inboxes",
    }
    project.run("retry", "--all")
    assert project.json("failures")["failures"] == []
    # Beside a path inside, the inside one is ingested and the exit is still 1.
    project.write("sub/a.txt", _article("harbour"))
    proc = project.run("ingest", "inbox/sub", str(secret), check=False)
    assert proc.returncode == 1 and "1 added" in proc.stdout
    assert f"failed: {secret}: outside the configured inboxes" in proc.stderr
    assert _hits(project, "harbour") and _hits(project, "TOPSECRETOUTSIDE") == []


def _ids(project: Project) -> dict[str, int]:
    """path -> document id of the live files (from `show` of every search hit)."""
    found: dict[str, int] = {}
    for doc_id in _hits(project, "committee"):
        for path in project.json("show", str(doc_id))["paths"]:
            found[path] = doc_id
    return found


@pytest.mark.slow
def test_forget_id_and_path(any_project: Project) -> None:
    project = any_project
    a = project.write("a.txt", _article("harbour"))
    b = project.write("b.txt", _article("volcano"))
    project.run("ingest", "inbox")
    ids = _ids(project)
    forgot = project.json("forget", str(ids[str(a)]))
    assert (
        forgot["documents"] == [ids[str(a)]] and forgot["paths"] == [str(a)] and forgot["ignored"] == [str(a)]
    )
    assert _hits(project, "harbour") == []  # gone from the index at once
    out = project.run("forget", "inbox/b.txt").stdout
    assert f"forgot documents: {ids[str(b)]}" in out and str(b) in out
    assert _hits(project, "volcano") == [] and _hits(project, "committee") == []
    # Still in the inbox, unchanged: a scan does not take them back.
    assert "nothing changed" in project.run("ingest", "inbox").stdout
    assert _hits(project, "committee") == []
    failures = {
        f["path"]: (f["stage"], f["reason"], f["transient"]) for f in project.json("failures")["failures"]
    }
    assert failures == {str(p): ("forget", "forgotten by indexer forget", False) for p in (a, b)}
    # `retry --all` leaves forgotten files alone; a change brings a file back, as a new document.
    project.run("retry", "--all")
    assert _hits(project, "committee") == []
    a.write_text(_article("harbour") + "\nA lighthouse will be built.\n", encoding="utf-8")
    assert "1 added" in project.run("ingest", "inbox").stdout
    (new_id,) = _hits(project, "lighthouse")
    assert new_id not in ids.values()
    assert _hits(project, "volcano") == []


def test_forget_a_path_of_copies_and_all_paths(project: Project) -> None:
    one = project.write("one.txt", _article("harbour"))
    two = project.write("two.txt", _article("harbour"))  # byte-identical: one document, two paths
    three = project.write("x/three.txt", _article("harbour"))
    project.run("ingest", "inbox")
    (doc_id,) = _hits(project, "harbour")
    forgot = project.json("forget", str(one))
    assert forgot == {
        "format_version": 1,
        "documents": [],
        "paths": [str(one)],
        "ignored": [str(one)],
        "kept": [doc_id],
    }
    assert _hits(project, "harbour") == [doc_id]
    assert project.json("show", str(doc_id))["paths"] == [str(two), str(three)]
    forgot = project.json("forget", "--all-paths", str(two))
    assert forgot["documents"] == [doc_id] and sorted(forgot["paths"]) == sorted([str(two), str(three)])
    assert _hits(project, "harbour") == []
    assert "nothing changed" in project.run("ingest", "inbox").stdout
    assert _hits(project, "harbour") == []
    # A forgotten document is not found again, and its text is erased.
    proc = project.run("forget", str(doc_id), check=False)
    assert proc.returncode == 1 and proc.stderr.splitlines() == [f"indexer: no document with id {doc_id}"]
    assert project.json("show", str(doc_id))["body"] == ""


def test_forget_unknown_id_or_path_is_one_line(project: Project) -> None:
    project.write("a.txt", _article("harbour"))
    project.run("ingest", "inbox")
    proc = project.run("forget", "999", check=False)
    assert proc.returncode == 1 and proc.stderr.splitlines() == ["indexer: no document with id 999"]
    proc = project.run("forget", "inbox/nope.txt", check=False)
    assert proc.returncode == 1 and len(proc.stderr.splitlines()) == 1 and "nope.txt" in proc.stderr
    proc = project.run("forget", "inbox/a.txt", "999", check=False)  # nothing changes on an unknown one
    assert proc.returncode == 1
    assert _hits(project, "harbour")


def test_forgotten_file_is_left_alone_by_the_daemon_until_it_changes(project: Project) -> None:
    path = project.write("a.txt", _article("harbour"))
    project.run("ingest", "inbox")
    (doc_id,) = _hits(project, "harbour")
    project.run("forget", str(doc_id))
    proc = project.spawn("daemon")
    wait_for(lambda: (project.data / "daemon.json").exists() or proc.poll() is not None, what="daemon start")
    assert proc.poll() is None, project.log()

    def last_scan() -> str | None:
        return project.json("status")["last_scan"]

    seen = {last_scan()}
    wait_for(lambda: seen.add(last_scan()) or len(seen) >= 3, what="two scans by the daemon")
    assert _hits(project, "harbour") == []
    path.write_text(_article("harbour") + "\nA lighthouse will be built.\n", encoding="utf-8")
    (new_id,) = wait_for(lambda: _hits(project, "lighthouse"), what="changed file ingested again")
    assert new_id != doc_id


def test_a_forgotten_file_renamed_or_copied_in_the_inbox_stays_forgotten(project: Project) -> None:
    path = project.write("a.txt", _article("harbour"))
    project.run("ingest", "inbox")
    (doc_id,) = _hits(project, "harbour")
    project.run("forget", str(doc_id))
    path.rename(project.inbox / "renamed.txt")
    (project.inbox / "sub").mkdir()
    (project.inbox / "sub" / "copy.txt").write_bytes((project.inbox / "renamed.txt").read_bytes())
    project.run("ingest", "inbox")
    assert _hits(project, "harbour") == []
    assert project.json("status")["documents"] == 0
    stages = {os.path.basename(f["path"]): f["stage"] for f in project.json("failures")["failures"]}
    assert stages == {"renamed.txt": "forget", "copy.txt": "forget"}
    # Changed, it is a new document.
    (project.inbox / "sub" / "copy.txt").write_text(_article("harbour") + "A lighthouse too.\n")
    project.run("ingest", "inbox")
    assert len(_hits(project, "lighthouse")) == 1


def test_verify_reports_and_repairs_files_outside_the_inboxes(project: Project) -> None:
    old = project.write("a.txt", _article("harbour"))
    project.run("ingest", "inbox")
    assert project.run("verify").stdout.splitlines()[-1] == "ok"
    (project.root / "other").mkdir()
    project.config.write_text(
        project.config.read_text().replace('inbox = ["inbox"]', 'inbox = ["other"]'), encoding="utf-8"
    )
    proc = project.run("verify", check=False)
    assert proc.returncode == 1
    assert f"1 outside the configured inboxes: {old}" in proc.stdout
    report = json.loads(project.run("verify", "--json", check=False).stdout)
    assert report["outside"] == [str(old)] and report["outside_checked"] is True
    assert json.loads(project.run("verify", "--json", "--no-outside").stdout)["outside"] == []
    proc = project.run("verify", "--repair")
    assert "removed_outside 1" in proc.stdout and proc.stdout.splitlines()[-1] == "ok"
    assert _hits(project, "harbour") == []
    assert project.run("verify").stdout.splitlines()[-1] == "ok"
    assert old.exists()  # the file itself is never touched


def test_a_watcher_event_for_a_forgotten_file_does_not_bring_it_back(ctx: Context) -> None:
    from indexer import jobs
    from indexer.ingest.ingester import candidate_for

    path = ctx.config.inbox_dirs[0] / "a.txt"
    path.write_text(_article("harbour"), encoding="utf-8")
    assert jobs.scan(ctx).counts.added == 1
    assert jobs.forget(ctx, [str(path)]).paths == [str(path)]
    # What the daemon does on a file event (an open for writing closed unchanged, say).
    counts = ctx.ingester.ingest([candidate_for(str(path))])
    assert (counts.added, counts.unchanged) == (0, 1)
    assert jobs.scan(ctx).counts.added == 0
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))  # touched: the same bytes
    assert ctx.ingester.ingest([candidate_for(str(path))]).added == 0
    path.write_text(_article("harbour") + "A lighthouse too.\n", encoding="utf-8")  # changed
    assert ctx.ingester.ingest([candidate_for(str(path))]).added == 1


def test_forget_a_document_whose_file_is_outside_the_inboxes(project: Project) -> None:
    old = project.write("a.txt", _article("harbour"))
    project.run("ingest", "inbox")
    (doc_id,) = _hits(project, "harbour")
    (project.root / "other").mkdir()
    project.config.write_text(
        project.config.read_text().replace('inbox = ["inbox"]', 'inbox = ["other"]'), encoding="utf-8"
    )
    forgot = project.json("forget", str(old))
    assert forgot["documents"] == [doc_id] and forgot["ignored"] == []  # no scan looks there
    assert _hits(project, "harbour") == []
    assert project.json("failures")["failures"] == []
    assert project.run("verify").stdout.splitlines()[-1] == "ok"


def test_a_catalog_file_named_under_a_narrower_config_stays_searchable(project: Project) -> None:
    project.write("fr/a.txt", _article("harbour"))
    project.run("ingest", "inbox")
    (doc_id,) = _hits(project, "harbour")
    narrow = project.root / "narrow.toml"
    narrow.write_text(
        project.config.read_text().replace('inbox = ["inbox"]', 'inbox = ["inbox/de"]'), encoding="utf-8"
    )
    (project.inbox / "de").mkdir()
    proc = project.run("--config", str(narrow), "ingest", "inbox/fr/a.txt", check=False)
    assert proc.returncode == 1 and "outside the configured inboxes" in proc.stderr
    assert _hits(project, "harbour") == [doc_id]
    assert project.json("failures")["failures"] == []
