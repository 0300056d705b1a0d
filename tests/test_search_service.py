"""`indexer search` through a running search server (as the daemon runs one) and without
it: the same output, owner-only socket, and a quick fallback when the server is gone or hung.

With a server, the command line is parsed and its request sent before click is imported
(__main__.py); whatever the server declines runs the full command line, which asks it again
with the request click parsed."""

from __future__ import annotations

import json
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from indexer.ask import (
    ASK_TIMEOUT,
    SOCKET_NAME,
    ConfigSource,
    Declined,
    Output,
    Raised,
    Unreachable,
    ask,
    send,
)
from indexer.errors import NotFoundError, QueryError
from indexer.search.request import SearchRequest
from indexer.server import SearchServer
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
    ["search", "harbour", "--since", "7d", "--until", "today"],
    ["search", "*", "--until", "2025-06", "--source", "reuters,ap", "--json", "--no-snippets"],
    ["search", "volcano", "--no-snippets", "--sort", "newest", "-n", "1"],
    ["--config", "config.toml", "search", "title:harbour", "--format=jsonl", "--since=1y"],
]
SIMILAR = [["--json"], ["-n", "2"], ["--since", "1y", "--no-snippets", "--lang", "en"]]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return shared(tmp_path_factory)


@pytest.fixture
def server(corpus: Project) -> Iterator[SearchServer]:
    with SearchServer(corpus.data) as running:
        yield running
    assert not (corpus.data / SOCKET_NAME).exists()


def _fast(
    project: Project, *args: str, cwd: Path | None = None, script: bool = False, **env: str
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run `python -m indexer ARGS` (or the console script) with -X importtime: the process,
    with the import lines taken out of stderr, and the top-level modules it imported."""
    entry = [str(Path(sys.executable).with_name("indexer"))] if script else ["-m", "indexer"]
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *entry, *args],
        cwd=cwd or project.root,
        env=project.env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = proc.stderr.splitlines(keepends=True)
    timings = [line for line in lines if line.startswith("import time:")]
    imported = {line.split("|")[-1].strip().split(".")[0] for line in timings}
    proc.stderr = "".join(line for line in lines if line not in timings)
    return proc, imported


def _steady(text: str) -> str:
    """Output without the timings, which differ from run to run."""
    text = re.sub(r'"took_ms": [0-9.]+', '"took_ms": 0', text)
    return re.sub(r"\(\d+ ms\)", "(0 ms)", text)


def test_server_and_local_search_print_the_same(corpus: Project, server: SearchServer) -> None:
    doc = ids_by_path(corpus)["dups/volcano-1.txt"]
    commands = [*COMMANDS, *(["similar", str(doc), *args] for args in SIMILAR)]
    sent = []
    for args in commands:
        proc, imported = _fast(corpus, *args)
        assert proc.returncode == 0 and proc.stderr == "", (args, proc.stderr)
        assert "click" not in imported and "whoosh" not in imported, args  # the command line was sent
        sent.append(_steady(proc.stdout))
    # The full command line (--log-level is not sent) asks the server for the search it parsed.
    asked = [_steady(corpus.run(*args, "--log-level", "error").stdout) for args in commands]
    assert server.engine._searcher is not None  # the server answered them
    server.stop()
    local = [_steady(corpus.run(*args).stdout) for args in commands]
    assert sent == asked == local
    assert "4 documents match 'volcano', 2 hits" in sent[0]
    assert all(text for text in sent)


def test_the_console_script_sends_the_command_line(corpus: Project, server: SearchServer) -> None:
    if not Path(sys.executable).with_name("indexer").exists():
        pytest.skip("no console script beside this Python (indexer is not installed in its environment)")
    proc, imported = _fast(corpus, "search", "harbour", script=True)
    assert proc.returncode == 0 and "Harbour plan approved" in proc.stdout
    assert "click" not in imported


def test_a_relative_config_is_found_from_the_commands_folder(corpus: Project, server: SearchServer) -> None:
    elsewhere = corpus.root / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    cases = [
        (["--config", "../config.toml", "search", "harbour"], ""),
        (["search", "harbour", "--config=../config.toml"], ""),
        (["search", "harbour", "--", "--config", "x"], "../config.toml"),
    ]  # words of the query
    for args, named in cases:
        proc, imported = _fast(corpus, *args, cwd=elsewhere, INDEXER_CONFIG=named)
        assert proc.returncode == 0, proc.stderr
        assert "click" not in imported, args
    assert "'harbour --config x'" in proc.stdout


def test_usage_errors_and_help_are_the_full_command_lines(
    corpus: Project, server: SearchServer, capsys: pytest.CaptureFixture[str]
) -> None:
    commands = [
        ["search", "--limit", "x", "foo"],
        ["search", "foo", "--since", "soon"],
        ["similar", "seven"],
        ["search", "foo", "--format", "xml"],
        ["search"],
        ["search", "--help"],
        ["search", "foo", "-h"],
        ["--version", "search", "foo"],
        ["search", "foo", "--verbose"],
    ]
    served = []
    for args in commands:
        proc, imported = _fast(corpus, *args)
        assert "click" in imported, args
        served.append((proc.returncode, proc.stdout, proc.stderr))
    assert served[0][0] == 2
    assert served[0][2].startswith("Usage: indexer search [OPTIONS] QUERY...\n")
    assert served[0][2].endswith(
        "Error: Invalid value for '-n' / '--limit': 'x' is not a valid integer range.\n"
    )
    assert served[5][0] == 0 and served[5][1].startswith("Usage: indexer search [OPTIONS] QUERY...")
    assert capsys.readouterr().out == ""  # the server printed nothing itself
    server.stop()
    alone = [(p.returncode, p.stdout, p.stderr) for p in (corpus.run(*a, check=False) for a in commands)]
    assert [(code, _steady(out), err) for code, out, err in served] == [
        (code, _steady(out), err) for code, out, err in alone
    ]


def test_a_config_error_is_reported_though_the_server_runs(
    corpus: Project, server: SearchServer, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.toml"  # the server's data dir, and a setting that does not exist
    bad.write_text(f'[paths]\ndata_dir = "{corpus.data}"\nbogus = 1\n')
    proc = corpus.run("--config", str(bad), "search", "harbour", check=False)
    assert proc.returncode == 2
    assert proc.stderr == f"indexer: {bad}: unknown setting [paths] bogus\n"
    good = tmp_path / "good.toml"
    good.write_text(f'[paths]\ndata_dir = "{corpus.data}"\n')
    proc, imported = _fast(corpus, "search", "harbour", "--config", str(good))
    assert "Harbour plan approved" in proc.stdout and "click" not in imported


def test_the_server_declines_a_request_it_should_not_answer(
    corpus: Project, server: SearchServer, tmp_path: Path
) -> None:
    harbour = SearchRequest("search", query="harbour")

    def sent(config: str | None = None, request: SearchRequest = harbour, **env: str) -> object:
        return ask(corpus.data, request, ConfigSource(config, str(corpus.root), env))

    served = sent(INDEXER_CONFIG="config.toml")
    assert isinstance(served, Output) and "Harbour plan approved" in served.text
    declined = [
        sent(INDEXER_DATA_DIR=str(tmp_path)),  # another data dir
        sent(str(tmp_path / "none.toml")),  # a config error
        sent(request=harbour._replace(since="soon"), INDEXER_CONFIG="config.toml"),  # click refuses it
        sent(request=harbour._replace(until="2025-02-30"), INDEXER_CONFIG="config.toml"),
        send(corpus.data, {"argv": "search harbour"}),  # not a request
        send(corpus.data, {"command": "status"}),
        send(corpus.data, {"command": "search", "query": "harbour", "options": {"limit": "ten"}}),
        send(corpus.data, {"command": "search", "query": "harbour", "options": {"limit": 10_001}}),
        send(corpus.data, {"command": "search", "query": "harbour", "format": "xml"}),
        send(corpus.data, {**harbour.to_dict(), "config": {"path": None}}),
    ]
    assert [type(answer) for answer in declined] == [Declined] * len(declined), declined


def test_errors_cross_the_socket_as_the_class_raised(corpus: Project, server: SearchServer) -> None:
    bad = ask(corpus.data, SearchRequest("search", query="colour:red"))
    assert isinstance(bad, Raised) and type(bad.error) is QueryError
    assert str(bad.error) == "query error: unknown field 'colour'" and bad.error.hint.startswith(
        "fields are: title"
    )
    missing = ask(corpus.data, SearchRequest("similar", doc_id=999999))
    assert isinstance(missing, Raised) and type(missing.error) is NotFoundError
    assert str(missing.error) == "no document with id 999999 in the index"


def test_a_server_of_another_version_is_not_misread(corpus: Project) -> None:
    class OlderServer(SearchServer):
        """A daemon started before an upgrade: it runs the request (it ignores "config") and
        sends its errors in the shape of before, {"kind": ...}."""

        def answer(self, message: Mapping[str, object]) -> dict[str, object]:
            reply = self.reply(SearchRequest.from_dict(message))
            if isinstance(reply, Raised):
                return {"error": {"kind": "query", "message": str(reply.error), "hint": reply.error.hint}}
            return super().answer(message)

    with OlderServer(corpus.data):
        proc, imported = _fast(corpus, "search", "harbour", "--json")
        assert proc.returncode == 0 and json.loads(proc.stdout)["total"] == 1
        assert "click" not in imported and "whoosh" not in imported  # answered as it was sent
        bad, imported = _fast(corpus, "search", "colour:red")
    assert bad.returncode == 2 and bad.stdout == ""
    assert (
        bad.stderr.startswith("query error: unknown field 'colour' (hint: ") and bad.stderr.count("\n") == 1
    )
    assert "whoosh" in imported  # an answer it does not read: searched alone, with the same line


def test_errors_come_back_as_the_same_one_line(corpus: Project, server: SearchServer) -> None:
    bad, imported = _fast(corpus, "search", "colour:red")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith("query error: unknown field 'colour' (hint: ")
    assert bad.stderr.count("\n") == 1
    assert "whoosh" not in imported  # the server's QueryError, reported by cli.main
    missing = corpus.run("similar", "999999", check=False)
    assert missing.returncode == 1 and missing.stderr == "indexer: no document with id 999999 in the index\n"


def test_socket_is_owner_only(corpus: Project, server: SearchServer) -> None:
    mode = (corpus.data / SOCKET_NAME).stat().st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600


def test_with_a_server_the_command_does_not_load_whoosh(corpus: Project, server: SearchServer) -> None:
    proc, imported = _fast(corpus, "search", "harbour", "--log-level", "error")  # the full command line
    assert "Harbour plan approved" in proc.stdout
    assert "whoosh" not in imported and "sqlalchemy" not in imported


def test_a_stale_socket_is_skipped(corpus: Project) -> None:
    path = corpus.data / SOCKET_NAME
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()  # the file stays, nobody listens: a daemon killed with SIGKILL
    try:
        assert isinstance(ask(corpus.data, SearchRequest("search", query="harbour")), Unreachable)
        assert corpus.json("search", "harbour")["total"] == 1
    finally:
        path.unlink()


def test_a_server_that_does_not_answer_is_given_up_on(corpus: Project) -> None:
    path = corpus.data / SOCKET_NAME
    hung = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    hung.bind(str(path))
    hung.listen()
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            accepted.append(hung.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    try:
        started = time.monotonic()
        result = corpus.json("search", "harbour")
        elapsed = time.monotonic() - started
        assert result["total"] == 1
        assert ASK_TIMEOUT <= elapsed < ASK_TIMEOUT + 10
        assert len(accepted) == 1  # asked once: the full command line did not wait again
    finally:
        for conn in accepted:
            conn.close()
        hung.close()
        path.unlink()


def test_the_server_follows_a_rebuilt_index(corpus: Project, server: SearchServer) -> None:
    before = corpus.json("search", "harbour")["hits"][0]["id"]
    corpus.run("reindex")
    answer = ask(corpus.data, SearchRequest("search", query="harbour", format="json"))
    assert isinstance(answer, Output) and f'"id": {before}' in answer.text
    assert server.engine._live == (corpus.data / "index").resolve()


def _daemon_answers(project: Project) -> bool:
    answer = ask(project.data, SearchRequest("search", query="harbour", format="json"))
    return isinstance(answer, Output) and '"total": 2' in answer.text


def test_the_daemon_serves_searches_that_match_searching_alone(project: Project) -> None:
    project.write(
        "harbour.txt", "Harbour plan approved\n\nThe council approved the new harbour plan on Monday.\n"
    )
    project.write("mill.txt", "Mill reopens\n\nThe old mill by the harbour reopened as a museum.\n")
    project.run("ingest", str(project.inbox))
    daemon = project.spawn("daemon")
    try:
        wait_for(
            lambda: _daemon_answers(project) or daemon.poll() is not None, what="the daemon's search server"
        )
        assert daemon.poll() is None, project.log()
        mode = (project.data / SOCKET_NAME).stat().st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
        # A file dropped in while it runs is searchable through it after the commit.
        project.write("lighthouse.txt", "Lighthouse restored\n\nThe harbour lighthouse shines again.\n")
        wait_for(
            lambda: "Lighthouse restored" in project.run("search", "lighthouse").stdout,
            what="new file served",
        )
        commands = [
            ["search", "harbour"],
            ["search", "harbour", "--json"],
            ["search", "mill OR plan", "--facets"],
        ]
        served = []
        for args in commands:
            proc, imported = _fast(project, *args)
            assert proc.returncode == 0
            assert "whoosh" not in imported and "click" not in imported  # the daemon answered
            served.append(_steady(proc.stdout))
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=15)
    assert not (project.data / SOCKET_NAME).exists()  # removed on a clean stop
    alone = [_steady(project.run(*args).stdout) for args in commands]  # the same index, searched alone
    assert served == alone
    assert "3 documents match 'harbour'" in served[0]


def test_the_server_follows_an_index_that_started_empty(project: Project) -> None:
    project.run("init")
    request = SearchRequest("search", query="harbour", format="json")
    with SearchServer(project.data) as server:
        server.refresh()
        first = ask(project.data, request)
        assert isinstance(first, Output) and '"total": 0' in first.text
        project.write("harbour.txt", "Harbour plan approved\n\nThe council approved the new harbour plan.\n")
        project.run("ingest", str(project.inbox))
        server.refresh()  # Whoosh cannot refresh a searcher of no segments: it reopens
        second = ask(project.data, request)
        assert isinstance(second, Output) and '"total": 1' in second.text, second


def test_the_server_drops_a_deleted_document_at_once(project: Project) -> None:
    keep = project.write(
        "harbour.txt", "Harbour plan approved\n\nThe council approved the new harbour plan.\n"
    )
    gone = project.write("mill.txt", "Mill by the harbour\n\nThe old mill by the harbour reopened.\n")
    project.run("ingest", str(project.inbox))
    request = SearchRequest("search", query="harbour", format="json")
    with SearchServer(project.data) as server:
        server.refresh()
        first = ask(project.data, request)
        assert isinstance(first, Output) and '"total": 2' in first.text
        gone.unlink()
        project.run("ingest", str(project.inbox))  # a commit that only deletes
        server.refresh()
        answer = ask(project.data, request)
        assert isinstance(answer, Output) and '"total": 1' in answer.text, answer
    assert keep.exists()
