"""`indexer` and `python -m indexer`: the command line, with a short way for searches.

A search that the daemon's search server can answer is sent to it as typed, before click
and the settings are imported (about a third of a whole `indexer search` process); the
server parses it with the same click command (search/service.py). Everything else, and
whatever the server declines, runs the full command line (cli.main), which prints usage
and errors as always.
"""

from __future__ import annotations

import os
import sys

__all__ = ["main"]


def main() -> None:
    try:
        served = _ask_server(sys.argv[1:])
        if isinstance(served, tuple) and _write(served[0]):
            sys.exit(served[1])
    except KeyboardInterrupt:
        sys.exit(130)
    from indexer.cli import main as cli_main

    cli_main(ask_server=served is not False)  # a server that did not answer is not waited for twice


def _ask_server(argv: list[str]) -> tuple[bytes, int] | bool | None:
    """The server's output for `indexer ARGV`, encoded for stdout, and the exit code; False
    when no server answered (the full command line need not ask again); None when it was
    not asked, or declined (the full command line runs, and may ask in its own way)."""
    from indexer.search.service import ask, command_line_request

    try:
        tty = sys.stdout.isatty()
        found = command_line_request(argv, tty, os.environ, os.getcwd())
        if found is None:
            return None
        answer = ask(*found)
        if answer is None:
            return False
        text, code = answer.get("stdout"), answer.get("exit", 0)
        # click.echo strips ANSI codes off a pipe: a path or a query holding one goes its way.
        if not isinstance(text, str) or not isinstance(code, int) or (not tty and "\x1b" in text):
            return None
        return text.encode(sys.stdout.encoding, sys.stdout.errors), code
    except Exception:  # only ever a short cut: the full command line reports any trouble
        return None


def _write(data: bytes) -> bool:
    """Write to stdout unbuffered (nothing is left pending if it fails); False when that
    failed other than by a closed pipe, so the full command line reports it as always."""
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(sys.stdout.fileno(), view):]
    except BrokenPipeError:
        # Quiet when piped into `head`, as cli.main: the exit flush then finds devnull.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except OSError:
        return False
    return True


if __name__ == "__main__":
    main()
