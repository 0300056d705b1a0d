"""`indexer` and `python -m indexer`: the command line, with a short way for searches.

A search command line is parsed without click (search/request.py) and the request sent to
the daemon's search server (indexer/ask.py) before click and the settings are imported:
they are about a third of a whole `indexer search` process. The server's output is
printed here; an error it answered with goes to cli.main, the one place that reports
errors. Everything else (other commands, help, logs, usage errors, a server that declined
or did not answer) runs the full command line, which prints usage and errors as always.

Nothing here, nor in what it imports, may import click, SQLAlchemy, Whoosh or structlog.
"""

from __future__ import annotations

import os
import sys

from indexer.ask import ConfigSource, Output, Raised, Reply, Unreachable, ask

__all__ = ["main"]


def main() -> None:
    reply: Reply | None = None
    try:
        reply = _ask(sys.argv[1:])
        if isinstance(reply, Output):
            data = _encoded(reply.text)
            if data is not None and _write(data):
                sys.exit(reply.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    from indexer.cli import main as cli_main

    if isinstance(reply, Raised):
        cli_main(raised=reply.error)
    cli_main(
        ask_server=not isinstance(reply, Unreachable)
    )  # a server that did not answer is not waited for twice


def _ask(argv: list[str]) -> Reply | None:
    """The search server's reply to `indexer ARGV`; None when that is not a search the fast
    parser reads, or its data dir cannot be found cheaply (the full command line says why)."""
    from indexer.configfile import ENV_CONFIG, ENV_DATA_DIR, data_dir
    from indexer.search.request import parse_command_line

    try:
        parsed = parse_command_line(argv, sys.stdout.isatty())
        if parsed is None:
            return None
        cwd = os.getcwd()
        found = data_dir(parsed.config, os.environ, cwd)
        if found is None:
            return None
        env = {key: os.environ[key] for key in (ENV_CONFIG, ENV_DATA_DIR) if key in os.environ}
        return ask(found, parsed.request, ConfigSource(parsed.config, cwd, env))
    except Exception:  # a UsageError, or any trouble: only ever a short cut, the full command line reports it
        return None


def _encoded(text: str) -> bytes | None:
    """``text`` as click.echo would write it to stdout; None when it would not write these
    bytes: off a terminal it strips ANSI codes (a path or a query holding one goes the full way)."""
    if "\x1b" in text and not sys.stdout.isatty():
        return None
    try:
        return text.encode(sys.stdout.encoding, sys.stdout.errors or "strict")
    except (UnicodeError, LookupError):
        return None


def _write(data: bytes) -> bool:
    """Write to stdout unbuffered (nothing is left pending if it fails); False when that
    failed other than by a closed pipe, so the full command line reports it as always."""
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(sys.stdout.fileno(), view) :]
    except BrokenPipeError:
        # Quiet when piped into `head`, as cli.main: the exit flush then finds devnull.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except OSError:
        return False
    return True


if __name__ == "__main__":
    main()
