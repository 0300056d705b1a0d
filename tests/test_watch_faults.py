"""The daemon when its ground moves: an inbox root moved away, deleted or recreated, and a
deleted live index (a real daemon subprocess, real inotify, real Whoosh)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.conftest import Project, running_daemon, wait_for
from tests.test_daemon import _article, _docs, _search_ids

# Long, so that a test passing is the watcher's doing, never the safety scan's.
_CONFIG = (
    '[paths]\ninbox = ["inbox"]\ndata_dir = "var"\n\n'
    "[daemon]\nscan_interval_seconds = 0.5\nsafety_scan_seconds = 300\nsettle_seconds = 0.2\n"
)


@pytest.fixture
def daemon(project: Project) -> Iterator[subprocess.Popen[str]]:
    project.config.write_text(_CONFIG, encoding="utf-8")
    yield from running_daemon(project)


def _daemon_status(project: Project) -> dict:
    return json.loads(project.run("status", "--json").stdout)["daemon"]


def test_a_recreated_inbox_is_watched_again(project: Project, daemon: subprocess.Popen[str]) -> None:
    project.write("old.txt", _article("harbour"))
    wait_for(lambda: _search_ids(project, "harbour"), what="first file searchable")
    old_id = _docs(project)[str(project.inbox / "old.txt")]

    moved = project.root / "moved"
    project.inbox.rename(moved)
    project.inbox.mkdir()
    project.write("old.txt", _article("harbour"))  # the same file, back under its old path
    project.write("new.txt", _article("lighthouse"))
    wait_for(
        lambda: _search_ids(project, "lighthouse"), timeout=10, what="a file in the new inbox searchable"
    )

    # The old folder's changes, under paths that name the new inbox's files: none counts.
    (moved / "old.txt").unlink()
    (moved / "other.txt").write_text(_article("quarry"))
    project.write("probe.txt", _article("railway"))
    wait_for(lambda: _search_ids(project, "railway"), timeout=10, what="the watcher still working")
    docs = _docs(project)
    assert docs[str(project.inbox / "old.txt")] == old_id, docs
    assert str(project.inbox / "other.txt") not in docs
    assert not _search_ids(project, "quarry")
    assert '"watch.rearmed"' in project.log()


def test_status_says_degraded_while_a_root_is_missing(
    project: Project, daemon: subprocess.Popen[str]
) -> None:
    assert _daemon_status(project)["unwatched"] == {}
    shutil.rmtree(project.inbox)
    wait_for(
        lambda: _daemon_status(project)["unwatched"] == {str(project.inbox): "missing"},
        timeout=10,
        what="status degraded",
    )
    text = project.run("status").stdout
    assert f"watch auto (degraded: inbox {project.inbox} not watched: missing; scans every 0.5s)" in text, (
        text
    )
    assert daemon.poll() is None

    project.inbox.mkdir()
    wait_for(lambda: _daemon_status(project)["unwatched"] == {}, timeout=10, what="status normal again")
    assert "watch auto (degraded" not in project.run("status").stdout
    assert _daemon_status(project)["scan_seconds"] == 300
    project.write("back.txt", _article("orchard"))
    wait_for(lambda: _search_ids(project, "orchard"), timeout=10, what="the returned root watched")


def test_a_deleted_index_is_rebuilt(project: Project, daemon: subprocess.Popen[str]) -> None:
    for n in range(3):
        project.write(f"d{n}.txt", _article("meadow", n))
    wait_for(lambda: len(_search_ids(project, "meadow")) == 3, what="three files searchable")
    generation = (project.data / "index").resolve()
    shutil.rmtree(generation)
    wait_for(lambda: len(_search_ids(project, "meadow")) == 3, timeout=10, what="generation rebuilt")
    (project.data / "index").unlink()
    wait_for(lambda: len(_search_ids(project, "meadow")) == 3, timeout=10, what="index rebuilt")
    assert '"daemon.index_missing"' in project.log()
    status = project.json("status")
    assert status["last_runs"]["reindex"]["outcome"] == "ok" and status["last_reindex"], status["last_runs"]


def test_searches_during_a_rebuild_are_told_to_retry(project: Project) -> None:
    from indexer.locks import locked

    project.write("a.txt", _article("meadow"))
    project.run("ingest", "inbox")
    (project.data / "index").unlink()
    none = project.run("search", "meadow", check=False)
    assert none.returncode == 1 and "no index yet" in none.stderr  # no daemon: nothing rebuilds it
    with locked(project.data / "reindex.lock"):
        busy = project.run("search", "meadow", check=False)
    assert busy.returncode == 75
    assert busy.stderr.strip() == "indexer: index is being rebuilt from the database (retry shortly)"


def test_a_search_answered_by_the_server_during_a_rebuild(project: Project) -> None:
    from indexer.ask import Raised, ask
    from indexer.errors import BusyError, NoIndexError
    from indexer.locks import locked
    from indexer.search.request import SearchRequest
    from indexer.server import SearchServer

    project.write("a.txt", _article("meadow"))
    project.run("ingest", "inbox")
    (project.data / "index").unlink()
    request = SearchRequest("search", query="meadow")
    with SearchServer(project.data) as server:
        none = ask(project.data, request)
        assert isinstance(none, Raised) and type(none.error) is NoIndexError
        with locked(project.data / "daemon.lock"):  # as a daemon holds it
            server.refresh()  # no error while it is being built
            answer = ask(project.data, request)
            busy = project.run("search", "meadow", check=False)
    assert isinstance(answer, Raised) and type(answer.error) is BusyError
    assert (str(answer.error), answer.error.hint) == (
        "index is being rebuilt from the database (retry shortly)",
        "",
    )
    assert busy.returncode == 75
    assert busy.stderr.strip() == "indexer: index is being rebuilt from the database (retry shortly)"


def test_an_emptied_index_folder_is_rebuilt(project: Project, daemon: subprocess.Popen[str]) -> None:
    project.write("a.txt", _article("meadow"))
    wait_for(lambda: _search_ids(project, "meadow"), what="file searchable")
    for path in (project.data / "index").resolve().iterdir():
        path.unlink()
    wait_for(lambda: _search_ids(project, "meadow"), timeout=10, what="index rebuilt")
