"""A search request, declared once: the options of `indexer search` and `indexer similar`
as a table, a parser of their command lines that needs only the standard library, and the
request (SearchRequest) both parsers make.

cli.py builds the click commands from OPTIONS, COMMON_OPTIONS and ARGUMENTS;
parse_command_line reads the same command lines without click, so that `python -m indexer`
can send a search to the daemon before click and the settings are imported
(indexer/__main__.py). A test holds the two parsers to the same requests and refusals.

Only the standard library, and not dataclasses (it imports inspect, a few milliseconds on
that path): the table's rows and the request are NamedTuples, as frozen; the other
records are plain classes (a NamedTuple compiles its constructor when it is defined).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

__all__ = [
    "ARGUMENTS",
    "COMMANDS",
    "COMMON_OPTIONS",
    "ENGINE_FIELDS",
    "FORMATS",
    "HELP_FLAGS",
    "OPTIONS",
    "Argument",
    "CommandLine",
    "Option",
    "Output",
    "SearchRequest",
    "UsageError",
    "build_request",
    "parse_command_line",
    "split_values",
]

# The kinds of value an option or argument takes; cli.py gives each its click type.
FLAG = "flag"  # no value: given or not
INT = "int"  # int(), as click's, within low and high when set
CHOICE = "choice"  # one of choices, exactly
TEXT = "text"  # any string
DATE = "date"  # a date value (search/dates.py), checked by click's callback and by the server
FILE = "file"  # a file's path (click.Path(dir_okay=False)): not a folder, readable if it exists

COMMANDS = ("search", "similar")


class Option(NamedTuple):
    """One option, as both parsers read it."""

    flags: tuple[str, ...]  # as typed: "-n", "--limit"
    name: str  # the parameter it sets
    help: str
    kind: str = FLAG
    default: object = False
    choices: tuple[str, ...] = ()  # CHOICE's values
    low: int | None = None  # INT's bounds, inclusive
    high: int | None = None
    multiple: bool = False  # may be repeated: a tuple of every value given
    metavar: str | None = None
    show_default: bool = False
    commands: tuple[str, ...] = COMMANDS


class Argument:
    """A command's positional argument."""

    __slots__ = ("kind", "many", "name")

    def __init__(self, name: str, kind: str, many: bool) -> None:
        self.name = name
        self.kind = kind  # TEXT or INT
        self.many = many  # one or more (nargs=-1, required), else exactly one


# The options of the search commands, in the order their help lists them.
OPTIONS: tuple[Option, ...] = (
    Option(
        ("-n", "--limit"),
        "limit",
        "hits to show (0: none, with --facets for the counts only)",
        INT,
        10,
        low=0,
        high=10_000,
        show_default=True,
    ),
    Option(("--offset",), "offset", "skip this many hits", INT, 0, low=0),
    Option(
        ("--lang",),
        "langs",
        "only this language (en, de, zh...); repeat or comma-separate for several",
        TEXT,
        (),
        multiple=True,
        metavar="CODE",
    ),
    Option(
        ("--source",),
        "sources",
        "only this source; repeat or comma-separate for several",
        TEXT,
        (),
        multiple=True,
        metavar="NAME",
    ),
    Option(
        ("--since",),
        "since",
        "dated from this day: 2025-12-03, 2025-12, 2025, 7d, 2w, 3m, 1y, today",
        DATE,
        None,
        metavar="DATE",
    ),
    Option(("--until",), "until", "dated through this day (as --since)", DATE, None, metavar="DATE"),
    Option(
        ("--path",), "path_glob", "only paths matching this glob (business/*.txt)", TEXT, None, metavar="GLOB"
    ),
    Option(
        ("--sort",),
        "sort",
        "order of the hits",
        CHOICE,
        "relevance",
        choices=("relevance", "newest", "oldest"),
        show_default=True,
    ),
    Option(("--no-snippets",), "no_snippets", "do not show text snippets"),
    Option(("--facets",), "facets", "count the matches by language, source and month"),
    Option(("--all",), "show_all", "show near-duplicates as hits of their own"),
    Option(
        ("--format",),
        "fmt",
        "output format",
        CHOICE,
        "text",
        choices=("text", "json", "jsonl", "csv"),
        show_default=True,
    ),
    Option(("--json",), "as_json", "same as --format json"),
    Option(
        ("--output",),
        "output",
        "hits, or only the hits' paths, one a line (every path of a document)",
        CHOICE,
        "hits",
        choices=("hits", "paths"),
        show_default=True,
    ),
    Option(("-l",), "paths_only", "same as --output paths"),
    Option(("--count",), "count_only", "print only the number of matching documents"),
    Option(("--exit-status",), "exit_status", "exit 1 when no document matches (as grep does)"),
    Option(("--as-typed",), "as_typed", "search the words as typed, never a spelling correction"),
    Option(("--explain",), "explain", "print the query as parsed and as run", commands=("search",)),
)

# The options of every command (and of the group, before the command). A command line
# with --verbose or --log-level is not the fast parser's: their logs need structlog.
COMMON_OPTIONS: tuple[Option, ...] = (
    Option(("--config",), "config_path", "config file (TOML)", FILE, None),
    Option(("-v", "--verbose"), "verbose", "show tracebacks and debug detail", FLAG, None),
    Option(
        ("--log-level",),
        "log_level",
        "log level",
        CHOICE,
        None,
        choices=("debug", "info", "warning", "error"),
    ),
)
HELP_FLAGS = ("-h", "--help")
_NOT_FAST = ("verbose", "log_level", "help")  # parameters whose command line the full CLI runs

ARGUMENTS: dict[str, Argument] = {
    "search": Argument("query", TEXT, many=True),
    "similar": Argument("doc_id", INT, many=False),
}

# What render.output prints: the --format choices, a list of paths (-l) or a count (--count).
FORMATS = ("text", "json", "jsonl", "csv", "paths", "count")
# The fields of SearchRequest that are search/engine.py's SearchOptions, in its order.
ENGINE_FIELDS = (
    "limit",
    "offset",
    "langs",
    "sources",
    "since",
    "until",
    "path",
    "sort",
    "snippets",
    "facets",
    "collapse",
    "as_typed",
)


class SearchRequest(NamedTuple):
    """One search as `indexer search` or `indexer similar` runs it, wherever it runs."""

    command: str  # "search" or "similar"
    query: str = ""  # search's words, joined by spaces
    doc_id: int = 0  # similar's document
    limit: int = 10
    offset: int = 0
    langs: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    since: str | None = None  # date values, as typed
    until: str | None = None
    path: str | None = None  # a shell glob
    sort: str = "relevance"
    snippets: bool = True
    facets: bool = False
    collapse: bool = True  # one hit per near-duplicate cluster
    as_typed: bool = False
    format: str = "text"  # one of FORMATS
    color: bool = False
    explain: bool = False
    exit_status: bool = False  # exit 1 when nothing matched

    def to_dict(self) -> dict[str, object]:
        """The request as it crosses the search socket (from_dict reads it back)."""
        data: dict[str, object] = {"command": self.command}
        if self.command == "similar":
            data["doc_id"] = self.doc_id
        else:
            data["query"] = self.query
        data["options"] = {name: getattr(self, name) for name in ENGINE_FIELDS}
        data.update(format=self.format, color=self.color, explain=self.explain, exit_status=self.exit_status)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> SearchRequest:
        """The request to_dict gave ``data`` for; a field left out has its default. Raises
        ValueError for a value of the wrong type or out of its range."""
        command = data.get("command")
        if command not in COMMANDS:
            raise ValueError(f"not a search command: {command!r}")
        options = data.get("options", {})
        if not isinstance(options, Mapping):
            raise ValueError("options: not an object")
        values: dict[str, Any] = {"command": command}
        for name in ENGINE_FIELDS:
            if name in options:
                values[name] = _field(name, options[name])
        for name in ("query", "doc_id", "format", "color", "explain", "exit_status"):
            if name in data:
                values[name] = _field(name, data[name])
        return cls(**values)


class Output(NamedTuple):
    """What a search prints, and the command's exit code."""

    text: str
    exit_code: int = 0


def _field(name: str, value: object) -> object:
    """``value`` for SearchRequest's field ``name``, of its default's type (and within its
    option's range or choices); raises ValueError otherwise."""
    default = SearchRequest._field_defaults[name]
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        option = _BY_NAME.get(name)  # limit and offset keep to their option's range
        ok = (
            isinstance(value, int)
            and not isinstance(value, bool)
            and (
                option is None
                or (
                    (option.low is None or value >= option.low)
                    and (option.high is None or value <= option.high)
                )
            )
        )
    elif isinstance(default, tuple):
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return tuple(value)
        ok = False
    elif default is None:
        ok = value is None or isinstance(value, str)
    else:
        ok = isinstance(value, str) and value in _CHOICES.get(name, (value,))
    if not ok:
        raise ValueError(f"{name}: {value!r}")
    return value


_BY_NAME = {option.name: option for option in OPTIONS}
_CHOICES = {"sort": _BY_NAME["sort"].choices, "format": FORMATS}


def split_values(values: Sequence[str]) -> tuple[str, ...]:
    """Repeated and comma-separated values (``--lang de,fr --lang en``), one each."""
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


def build_request(command: str, params: Mapping[str, Any], tty: bool) -> SearchRequest:
    """The request of `search` or `similar` from its parameters, as either parser gives them
    (click's, or parse_command_line's); ``tty``: stdout is a terminal (text in colour)."""
    fmt = "json" if params["as_json"] else params["fmt"]
    if params["paths_only"] or params["output"] == "paths":
        fmt = "paths"
    if params["count_only"]:
        fmt = "count"
    limit, snippets, facets = params["limit"], not params["no_snippets"], params["facets"]
    if fmt == "count":  # the number only: no page to rank, no snippets to make
        limit, snippets, facets = 0, False, False
    elif fmt == "paths":
        snippets, facets = False, False
    return SearchRequest(
        command=command,
        query=" ".join(params["query"]) if command == "search" else "",
        doc_id=params["doc_id"] if command == "similar" else 0,
        limit=limit,
        offset=params["offset"],
        langs=split_values(params["langs"]),
        sources=split_values(params["sources"]),
        since=params["since"],
        until=params["until"],
        path=params["path_glob"],
        sort=params["sort"],
        snippets=snippets,
        facets=facets,
        collapse=not params["show_all"],
        as_typed=params["as_typed"],
        format=fmt,
        color=tty and fmt == "text",
        explain=params.get("explain", False),
        exit_status=params["exit_status"],
    )


# -- the fast parser ---------------------------------------------------------------------


class UsageError(ValueError):
    """A command line click refuses too: the full command line prints its usage error."""


class CommandLine:
    """A search command line, parsed."""

    __slots__ = ("config", "request")

    def __init__(self, config: str | None, request: SearchRequest) -> None:
        self.config = config  # --config (the command's, else the group's); None when not given
        self.request = request

    def __repr__(self) -> str:
        return f"CommandLine({self.config!r}, {self.request!r})"


def parse_command_line(argv: Sequence[str], tty: bool) -> CommandLine | None:
    """`indexer ARGV` as click would parse it, when it is a search or similar without help,
    --verbose or --log-level; None for any other command line (the full command line runs
    it). Raises UsageError where click would refuse the command line.

    Date values are not checked here (that needs the calendar): the server checks them.
    Before the command only --config is read; any other option there is the full CLI's.
    """
    rest = list(argv)
    config: str | None = None
    while rest and rest[0][:1] == "-":
        name, eq, value = rest[0].partition("=")
        if name != "--config" or (not eq and len(rest) < 2):
            return None
        config = _value(COMMON_OPTIONS[0], value if eq else rest[1])
        rest = rest[1:] if eq else rest[2:]
    if not rest or rest[0] not in ARGUMENTS:
        return None
    params = _parse_command(rest[0], rest[1:])
    if params is None:
        return None
    return CommandLine(params["config_path"] or config, build_request(rest[0], params, tty))


def _parse_command(command: str, args: list[str]) -> dict[str, Any] | None:
    """The parameters of `indexer COMMAND ARGS`, by click's rules: an option's value is the
    rest of its word (``--limit=5``, ``-n5``) or the next word, whatever it looks like;
    single-letter flags combine (``-ln5``); words and options mix; ``--`` ends the options."""
    options = [o for o in (*OPTIONS, *COMMON_OPTIONS) if command in o.commands]
    options.append(Option(HELP_FLAGS, "help", ""))
    by_flag = {flag: option for option in options for flag in option.flags}
    given: dict[str, list[str]] = {}
    words: list[str] = []
    queue = list(args)
    while queue:
        arg = queue.pop(0)
        if arg == "--":
            words.extend(queue)
            break
        if arg[:1] != "-" or len(arg) == 1:
            words.append(arg)
            continue
        name, eq, value = arg.partition("=")
        option = by_flag.get(name) if name[:2] == "--" else None
        if option is not None:
            if option.kind == FLAG and eq:
                raise UsageError(f"option {name} does not take a value")
            if option.kind != FLAG and not eq:
                if not queue:
                    raise UsageError(f"option {name} requires an argument")
                value = queue.pop(0)
            if option.name in _NOT_FAST:
                return None
            given.setdefault(option.name, []).append(value)
            continue
        if arg[:2] == "--":
            raise UsageError(f"no such option: {name}")
        for i, letter in enumerate(arg[1:], start=2):  # a cluster of single-letter options
            option = by_flag.get("-" + letter)
            if option is None:
                raise UsageError(f"no such option: -{letter}")
            if option.name in _NOT_FAST:
                return None
            if option.kind == FLAG:
                given.setdefault(option.name, []).append("")
                continue
            if i < len(arg):
                value = arg[i:]
            elif queue:
                value = queue.pop(0)
            else:
                raise UsageError(f"option -{letter} requires an argument")
            given.setdefault(option.name, []).append(value)
            break
    params: dict[str, Any] = {}
    for option in options[:-1]:
        raw = given.get(option.name)
        if raw is None:
            params[option.name] = option.default
        elif option.kind == FLAG:
            params[option.name] = True
        elif option.multiple:
            params[option.name] = tuple(_value(option, v) for v in raw)
        else:
            params[option.name] = _value(option, raw[-1])  # the last one given wins
    argument = ARGUMENTS[command]
    if argument.many:
        if not words:
            raise UsageError(f"missing argument {argument.name.upper()}")
        params[argument.name] = tuple(words)
    else:
        if len(words) != 1:
            raise UsageError(f"{argument.name.upper()}: one argument, not {len(words)}")
        params[argument.name] = _number(words[0], None, None)
    return params


def _value(option: Option, raw: str) -> Any:
    """``raw`` converted as click converts it for ``option``; raises UsageError where it fails."""
    if option.kind == INT:
        return _number(raw, option.low, option.high)
    if option.kind == CHOICE and raw not in option.choices:
        raise UsageError(f"{option.flags[-1]}: {raw!r} is not one of {', '.join(option.choices)}")
    if (
        option.kind == FILE
        and raw
        and os.path.exists(raw)
        and (os.path.isdir(raw) or not os.access(raw, os.R_OK))
    ):
        raise UsageError(f"{option.flags[-1]}: {raw!r} is a folder or cannot be read")
    return raw


def _number(raw: str, low: int | None, high: int | None) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise UsageError(f"{raw!r} is not a valid integer") from None
    if (low is not None and value < low) or (high is not None and value > high):
        raise UsageError(f"{value} is not in the range {low}..{high}")
    return value
