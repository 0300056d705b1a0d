"""The search request declared once (search/request.py): the fast parser that `python -m
indexer` sends searches with agrees with the click commands built from the same table, on
every option, repeated options, ``--``, quoted queries and bad values; requests and errors
cross the socket whole."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import click
import pytest

from indexer import cli, errors
from indexer.search.engine import SearchOptions
from indexer.search.request import (
    COMMON_OPTIONS,
    ENGINE_FIELDS,
    OPTIONS,
    CommandLine,
    SearchRequest,
    UsageError,
    parse_command_line,
)
from indexer.server import check_dates

SEARCHES = [
    "search harbour",
    "search harbour plan",
    "search 'harbour plan'",
    "search '\"harbour plan\" OR mill'",
    "search ''",
    "search -",
    "search 'title:harbour' -n 3",
    "search harbour -n3",
    "search harbour -n 0 --facets",
    "search harbour --limit=10000",
    "search harbour --limit 10001",
    "search harbour --limit -1",
    "search harbour --limit x",
    "search harbour --limit ' 7'",
    "search harbour --limit +7",
    "search harbour --limit 1_0",
    "search harbour --limit x --limit 5",
    "search harbour --limit 5 --limit x",
    "search harbour -n",
    "search harbour -n=5",
    "search harbour --offset 2",
    "search harbour --offset=-1",
    "search harbour --lang de,fr",
    "search harbour --lang de --lang fr,en --lang ''",
    "search harbour --lang",
    "search harbour --source reuters --source 'AP, dpa'",
    "search harbour --since 7d --until today",
    "search harbour --since=2025-12 --until=2025",
    "search harbour --since soon",
    "search harbour --until 2025-02-30",
    "search harbour --since ''",
    "search harbour --since",
    "search harbour --path 'notes/*'",
    "search harbour --path -v",
    "search harbour --sort newest",
    "search harbour --sort=oldest --sort relevance",
    "search harbour --sort Newest",
    "search harbour --no-snippets --facets --all",
    "search harbour --no-snippets=yes",
    "search harbour --format json",
    "search harbour --format=jsonl",
    "search harbour --format csv --json",
    "search harbour --format xml",
    "search harbour --json",
    "search harbour --json=1",
    "search harbour --output paths",
    "search harbour --output=hits -l",
    "search harbour --output files",
    "search harbour -l",
    "search harbour -l --count",
    "search harbour --count --facets -n 5",
    "search harbour --count --json",
    "search harbour --exit-status",
    "search harbour --as-typed",
    "search harbour --explain --facets",
    "search harbour -ln5",
    "search harbour -ln 5",
    "search harbour -nl",
    "search harbour -lx",
    "search harbour -x",
    "search harbour --bogus",
    "search harbour ---x",
    "search harbour --lim 5",
    "search harbour --version",
    "search -- --json -n 5",
    "search harbour -- -l",
    "search --json harbour --all mill",
    "search",
    "search --json",
    "search -n 5 --",
    "search harbour --config config.toml",
    "search harbour --config=other.toml --config config.toml",
    "search harbour --config ''",
    "search harbour --config FOLDER",
    "search harbour --config",
    "--config config.toml search harbour",
    "--config=config.toml search harbour --config other.toml",
    "--config FOLDER search harbour",
    "similar 7",
    "similar 7 --json -n 2",
    "similar 7 --since 1y --no-snippets --lang en",
    "similar 7 --since soon",
    "similar 7 -l --all",
    "similar seven",
    "similar ' 7'",
    "similar +7",
    "similar 7 8",
    "similar",
    "similar -- -5",
    "similar -5",
    "similar 7 --explain",
    "similar 7 --count --exit-status",
]
# Not the fast parser's: the full command line runs them (help, logs, other commands).
NOT_FAST = [
    "",
    "status",
    "ingest inbox",
    "searches harbour",
    "--version search harbour",
    "-v search harbour",
    "--verbose search harbour",
    "--log-level info search harbour",
    "-h search harbour",
    "--config",
    "--bogus search harbour",
    "search harbour --help",
    "search harbour -h",
    "search harbour -lh",
    "search harbour -v",
    "search harbour -lv",
    "search harbour --verbose",
    "search harbour --log-level error",
    "search harbour --log-level=debug",
    "similar 7 --help",
    "similar 7 -v",
]


def _argv(line: str, folder: Path) -> list[str]:
    import shlex

    return [word.replace("FOLDER", str(folder)) for word in shlex.split(line)]


def _by_click(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> CommandLine | UsageError:
    """What the click command makes of ``argv``: its --config and request, or its refusal."""
    ran: list[CommandLine] = []

    def record(state: cli.State, request: SearchRequest) -> None:
        ran.append(CommandLine(state.config_path, request))

    monkeypatch.setattr(cli, "_run_search", record)
    try:
        cli.cli.main(args=argv, prog_name="indexer", standalone_mode=False, obj=cli.State())
    except click.UsageError as e:
        return UsageError(str(e))
    (found,) = ran
    return found


def _fast(argv: list[str], tty: bool) -> CommandLine | UsageError | None:
    """What the fast path makes of ``argv``: the fast parser, then the server's date check."""
    try:
        parsed = parse_command_line(argv, tty)
        if parsed is not None:
            check_dates(parsed.request)
    except (UsageError, ValueError) as e:  # DateError is a ValueError
        return UsageError(str(e))
    return parsed


@pytest.mark.parametrize("tty", [False, True])
def test_the_fast_parser_and_click_agree(tty: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.toml").write_text("")
    folder = tmp_path / "a folder"
    folder.mkdir()
    monkeypatch.setattr(sys.stdout, "isatty", lambda: tty)
    outcomes = []
    for line in SEARCHES:
        argv = _argv(line, folder)
        fast, by_click = _fast(argv, tty), _by_click(argv, monkeypatch)
        assert fast is not None, line
        if isinstance(by_click, UsageError):
            assert isinstance(fast, UsageError), (line, fast, by_click)
        else:
            assert isinstance(fast, CommandLine), (line, fast, by_click)
            assert (fast.config or None, fast.request) == (by_click.config or None, by_click.request), line
        outcomes.append(type(fast).__name__)
    assert outcomes.count("UsageError") >= 30 and outcomes.count("CommandLine") >= 40  # both kinds, widely


def test_the_full_command_line_runs_help_logs_and_other_commands(tmp_path: Path) -> None:
    for line in NOT_FAST:
        assert parse_command_line(_argv(line, tmp_path), False) is None, line


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_config_is_refused_by_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "secret.toml"
    secret.write_text("")
    secret.chmod(0)
    argv = ["search", "harbour", "--config", str(secret)]
    assert isinstance(_fast(argv, False), UsageError)
    assert isinstance(_by_click(argv, monkeypatch), UsageError)


def test_the_click_commands_are_built_from_the_table() -> None:
    for command in (cli.search, cli.similar):
        options = {p.name: p for p in command.params if isinstance(p, click.Option)}
        table = [o for o in (*OPTIONS, *COMMON_OPTIONS) if command.name in o.commands]
        assert list(options) == [o.name for o in table]
        for option in table:
            param = options[option.name]
            assert (tuple(param.opts), param.multiple, param.help) == (
                option.flags,
                option.multiple,
                option.help,
            )
            assert param.default == option.default or (option.multiple and param.default is None)
    assert [p.name for p in cli.cli.params if p.name != "version"] == [o.name for o in COMMON_OPTIONS]


def test_the_request_carries_the_engine_s_options() -> None:
    assert tuple(f.name for f in dataclasses.fields(SearchOptions)) == ENGINE_FIELDS
    defaults = SearchOptions()
    assert all(getattr(defaults, name) == SearchRequest._field_defaults[name] for name in ENGINE_FIELDS)


def test_a_request_crosses_the_socket_whole() -> None:
    requests = [
        SearchRequest(
            "search",
            query="harbour plan",
            limit=3,
            offset=2,
            langs=("de", "fr"),
            since="7d",
            path="notes/*",
            sort="newest",
            snippets=False,
            collapse=False,
            format="jsonl",
            color=True,
            explain=True,
            exit_status=True,
        ),
        SearchRequest("similar", doc_id=7, sources=("AP",), as_typed=True, format="count", limit=0),
    ]
    import json

    for request in requests:
        assert SearchRequest.from_dict(json.loads(json.dumps(request.to_dict()))) == request
    assert SearchRequest.from_dict({"command": "search", "query": "x", "options": {}}) == SearchRequest(
        "search", query="x"
    )
    for bad in (
        {"command": "status"},
        {"command": "search", "options": {"limit": True}},
        {"command": "search", "options": {"langs": "de"}},
        {"command": "search", "options": {"sort": "x"}},
        {"command": "search", "options": {"offset": -1}},
        {"command": "search", "color": "yes"},
        {"command": "similar", "doc_id": "7"},
        {"command": "search", "options": []},
    ):
        with pytest.raises(ValueError):
            SearchRequest.from_dict(bad)


def test_every_error_crosses_as_it_was_raised() -> None:
    raised = [
        errors.IndexerError("x"),
        errors.ConfigError("bad setting"),
        errors.InputError("a.txt", "decode", "binary"),
        errors.QueryError("query error: x", "fields are: title"),
        errors.NoIndexError("no index yet"),
        errors.NotFoundError("no document"),
        errors.MissingDatabaseError("no db"),
        errors.BusyError("rebuilt"),
        errors.AlreadyRunningError(42),
        errors.StorageError("disk"),
        errors.SchemaError("old"),
        errors.DeliveryError("down"),
        errors.Cancelled("stopping"),
    ]
    assert {type(e) for e in raised} == set(errors._BY_NAME.values())
    for error in raised:
        back = errors.from_dict(errors.to_dict(error))
        assert (type(back), str(back), back.hint, back.exit_code) == (
            type(error),
            str(error),
            error.hint,
            error.exit_code,
        )
    unknown = errors.from_dict({"type": "TimeTravelError", "message": "later", "hint": "wait"})
    assert (type(unknown), str(unknown), unknown.hint) == (errors.IndexerError, "later", "wait")
