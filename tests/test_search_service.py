"""`indexer search` through a running search server (as the daemon runs one) and without
it: the same output, owner-only socket, and a quick fallback when the server is gone or hung."""

from __future__ import annotations

import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from indexer.search.service import ASK_TIMEOUT, SOCKET_NAME, SearchServer, ask
from tests.conftest import Project, wait_for
from tests.test_search_corpus import ids_by_path, shared

COMMANDS = [
    ["search", "volcano"],
    ["search", "harbour", "--format", "json"],
    ["search", "said", "--format", "jsonl", "-n", "3", "--offset", "2", "--no-snippets"],
    ["search", "published:[2024 to 2025]", "--facets", "--explain", "--sort", "oldest"],
    ["search", "goverment"],
    ["search", "harbour", "zebra", "--json"],
    ["search", "*", "--lang", "de,fr", "--path", "notes/*", "--all"],
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return shared(tmp_path_factory)


@pytest.fixture
def server(corpus: Project) -> Iterator[SearchServer]:
    with SearchServer(corpus.data) as running:
        yield running
    assert not (corpus.data / SOCKET_NAME).exists()


def _steady(text: str) -> str:
    """Output without the timings, which differ from run to run."""
    text = re.sub(r'"took_ms": [0-9.]+', '"took_ms": 0', text)
    return re.sub(r"\(\d+ ms\)", "(0 ms)", text)


def test_server_and_local_search_print_the_same(corpus: Project, server: SearchServer) -> None:
    doc = ids_by_path(corpus)["dups/volcano-1.txt"]
    commands = [*COMMANDS, ["similar", str(doc), "--json"]]
    served = [_steady(corpus.run(*args).stdout) for args in commands]
    assert server.engine._searcher is not None  # the server answered them
    server.stop()
    local = [_steady(corpus.run(*args).stdout) for args in commands]
    assert served == local
    assert "4 documents match 'volcano', 2 hits" in served[0]


def test_errors_come_back_as_the_same_one_line(corpus: Project, server: SearchServer) -> None:
    bad = corpus.run("search", "colour:red", check=False)
    assert bad.returncode == 2
    assert bad.stderr.startswith("query error: unknown field 'colour' (hint: ")
    missing = corpus.run("similar", "999999", check=False)
    assert missing.returncode == 1 and "no document with id 999999" in missing.stderr


def test_socket_is_owner_only(corpus: Project, server: SearchServer) -> None:
    mode = (corpus.data / SOCKET_NAME).stat().st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600


def test_with_a_server_the_command_does_not_load_whoosh(corpus: Project, server: SearchServer) -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "indexer", "search", "harbour"],
        cwd=corpus.root, env=corpus.env(), capture_output=True, text=True, timeout=60, check=True,
    )
    assert "Harbour plan approved" in proc.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines() if "|" in line}
    assert "whoosh" not in imported and "sqlalchemy" not in imported


def test_a_stale_socket_is_skipped(corpus: Project) -> None:
    path = corpus.data / SOCKET_NAME
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()  # the file stays, nobody listens: a daemon killed with SIGKILL
    try:
        assert ask(corpus.data, {"command": "search"}) is None
        assert corpus.json("search", "harbour")["total"] == 1
    finally:
        path.unlink()


def test_a_server_that_does_not_answer_is_given_up_on(corpus: Project) -> None:
    path = corpus.data / SOCKET_NAME
    hung = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    hung.bind(str(path))
    hung.listen()
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(hung.accept()[0]), daemon=True).start()
    try:
        started = time.monotonic()
        result = corpus.json("search", "harbour")
        elapsed = time.monotonic() - started
        assert result["total"] == 1
        assert ASK_TIMEOUT <= elapsed < ASK_TIMEOUT + 10
    finally:
        for conn in accepted:
            conn.close()
        hung.close()
        path.unlink()


def test_the_server_follows_a_rebuilt_index(corpus: Project, server: SearchServer) -> None:
    before = corpus.json("search", "harbour")["hits"][0]["id"]
    corpus.run("reindex")
    answer = ask(corpus.data, {"command": "search", "query": "harbour", "options": {}, "format": "json"})
    assert answer is not None and f'"id": {before}' in answer["stdout"]
    assert server.engine._live == (corpus.data / "index").resolve()


def _daemon_answers(project: Project) -> bool:
    answer = ask(project.data, {"command": "search", "query": "harbour", "options": {}, "format": "json"})
    return answer is not None and '"total": 2' in answer.get("stdout", "")


def test_the_daemon_serves_searches_that_match_searching_alone(project: Project) -> None:
    project.write("harbour.txt", "Harbour plan approved\n\nThe council approved the new harbour plan on Monday.\n")
    project.write("mill.txt", "Mill reopens\n\nThe old mill by the harbour reopened as a museum.\n")
    project.run("ingest", str(project.inbox))
    daemon = project.spawn("daemon")
    try:
        wait_for(lambda: _daemon_answers(project) or daemon.poll() is not None, what="the daemon's search server")
        assert daemon.poll() is None, project.log()
        mode = (project.data / SOCKET_NAME).stat().st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
        commands = [["search", "harbour"], ["search", "harbour", "--json"], ["search", "mill OR plan", "--facets"]]
        served = [_steady(project.run(*args).stdout) for args in commands]

        # A file dropped in while it runs is searchable through it after the commit.
        project.write("lighthouse.txt", "Lighthouse restored\n\nThe harbour lighthouse shines again.\n")
        wait_for(lambda: "lighthouse" in project.run("search", "lighthouse").stdout.lower(), what="new file served")
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "indexer", "search", "lighthouse"],
            cwd=project.root, env=project.env(), capture_output=True, text=True, timeout=60, check=True,
        )
        imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines() if "|" in line}
        assert "whoosh" not in imported  # the daemon answered
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=15)
    assert not (project.data / SOCKET_NAME).exists()  # removed on a clean stop
    project.run("search", "lighthouse")  # (the index is current without the daemon too)
    (project.inbox / "lighthouse.txt").unlink()
    project.run("ingest", str(project.inbox))
    alone = [_steady(project.run(*args).stdout) for args in commands]
    assert served == alone
    assert "2 documents match 'harbour'" in served[0]


def test_the_server_follows_an_index_that_started_empty(project: Project) -> None:
    project.run("init")
    request = {"command": "search", "query": "harbour", "options": {}, "format": "json"}
    with SearchServer(project.data) as server:
        server.refresh()
        first = ask(project.data, request)
        assert first is not None and '"total": 0' in first["stdout"]
        project.write("harbour.txt", "Harbour plan approved\n\nThe council approved the new harbour plan.\n")
        project.run("ingest", str(project.inbox))
        server.refresh()  # Whoosh cannot refresh a searcher of no segments: it reopens
        second = ask(project.data, request)
        assert second is not None and '"total": 1' in second.get("stdout", ""), second


def test_the_server_drops_a_deleted_document_at_once(project: Project) -> None:
    keep = project.write("harbour.txt", "Harbour plan approved\n\nThe council approved the new harbour plan.\n")
    gone = project.write("mill.txt", "Mill by the harbour\n\nThe old mill by the harbour reopened.\n")
    project.run("ingest", str(project.inbox))
    request = {"command": "search", "query": "harbour", "options": {}, "format": "json"}
    with SearchServer(project.data) as server:
        server.refresh()
        assert '"total": 2' in ask(project.data, request)["stdout"]  # type: ignore[index]
        gone.unlink()
        project.run("ingest", str(project.inbox))  # a commit that only deletes
        server.refresh()
        answer = ask(project.data, request)
        assert answer is not None and '"total": 1' in answer["stdout"], answer
    assert keep.exists()
