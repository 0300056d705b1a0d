"""Searches answered by a long-running process over a Unix socket in the data dir.

A process that stays up (the daemon) runs a ``SearchServer``: one warm ``SearchEngine``,
whose searcher is refreshed whenever the index has changed. A search costs a socket round
trip instead of importing Whoosh and opening the index. The server renders the output as
the command would (render.output), so both ways print the same.

The protocol is one JSON object each way over one connection; the answer is
``{"stdout": text}`` (and ``"exit": code`` when not 0) or ``{"error": {...}}``. Two requests:

- a command line, ``{"argv": [...], "tty": ..., "cwd": ..., "env": {...}}``: what
  ``indexer ARGV`` prints, sent by indexer/__main__.py before click and the settings are
  imported. The server parses it with the very click command that would have run, loads
  the configuration as that process would have, and answers only when the command is a
  plain search of this data dir; anything else is declined and the client runs the full
  command line, which prints usage and errors as always.
- a search, ``{"command": ..., "query": ..., "options": {...}, ...}`` (see run_request):
  what `indexer search` sends once it has parsed its options itself (with ``--verbose``,
  or after a server declined a command line).

The socket is owner-only (mode 0600, in the data dir, itself 0700).

This module imports only the standard library until a server starts: the client side
runs before anything heavy is loaded.
"""

from __future__ import annotations

import json
import os
import socket
import socketserver
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["ASK_TIMEOUT", "SOCKET_NAME", "SearchServer", "ask", "command_line_request", "split_command_line"]

SOCKET_NAME = "search.sock"
# Long enough for a search on a busy daemon, short enough that a hung one costs little
# on top of searching without it.
ASK_TIMEOUT = 1.5
MAX_REQUEST = 1 << 20
_COMMANDS = ("search", "similar")
# Options after which the full command line runs: help prints itself, logs need structlog.
_NOT_SENT = ("-h", "--help", "-v", "--verbose", "--log-level")


def ask(data_dir: str | Path, request: dict[str, Any], timeout: float = ASK_TIMEOUT) -> dict[str, Any] | None:
    """The server's answer to ``request``, or None when no server answers in time."""
    path = os.path.join(data_dir, SOCKET_NAME)
    if not os.path.exists(path):
        return None
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(path)
            conn.sendall(json.dumps(request).encode("utf-8"))
            conn.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := conn.recv(1 << 16):
                chunks.append(chunk)
        answer = json.loads(b"".join(chunks))
    except (OSError, ValueError):  # no server, a stale socket, a timeout, half an answer
        return None
    return answer if isinstance(answer, dict) else None


def split_command_line(argv: Sequence[str]) -> tuple[str | None, str, list[str]] | None:
    """``[--config FILE] search|similar ARGS...`` as (FILE or None, the command, ARGS); None
    for any other command line (other options before the command: the full CLI's)."""
    config: str | None = None
    rest = list(argv)
    while rest and rest[0].startswith("-"):
        if rest[0] == "--config" and len(rest) > 1:
            config, rest = rest[1], rest[2:]
        elif rest[0].startswith("--config="):
            config, rest = rest[0].partition("=")[2], rest[1:]
        else:
            return None
    if not rest or rest[0] not in _COMMANDS:
        return None
    return config, rest[0], rest[1:]


def command_line_request(argv: Sequence[str], tty: bool, env: Mapping[str, str],
                         cwd: str) -> tuple[str, dict[str, Any]] | None:
    """The data dir to ask and the request for `indexer ARGV`, when it is a search or similar
    without help or logs; None for any other command line, or when the data dir cannot be
    found cheaply (the full command line then says why).

    The ``--config`` after the command is found by a plain look at ARGS: the server parses
    them properly and declines a command line that is not of its own data dir.
    """
    from indexer.configfile import ENV_CONFIG, ENV_DATA_DIR, data_dir

    split = split_command_line(argv)
    if split is None:
        return None
    config, _command, args = split
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg in _NOT_SENT or arg.startswith("--log-level="):
            return None
        if arg == "--config" and i + 1 < len(args):
            config = args[i + 1]
        elif arg.startswith("--config="):
            config = arg.partition("=")[2]
    found = data_dir(config, env, cwd)
    if found is None:
        return None
    context = {key: env[key] for key in (ENV_CONFIG, ENV_DATA_DIR) if key in env}
    return found, {"argv": list(argv), "tty": tty, "cwd": cwd, "env": context}


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        data = self.rfile.read(MAX_REQUEST)
        try:
            request = json.loads(data)
        except ValueError:
            return
        answer = self.server.owner.answer(request)
        self.wfile.write(json.dumps(answer, ensure_ascii=False).encode("utf-8"))


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    owner: SearchServer


class SearchServer:
    """Answers searches for one data dir until stopped."""

    def __init__(self, data_dir: Path, database_url: str | None = None) -> None:
        from indexer.search.engine import SearchEngine

        self.data_dir = data_dir.resolve()
        self.path = data_dir / SOCKET_NAME
        self.engine = SearchEngine(data_dir, database_url)
        self._lock = threading.Lock()  # one Whoosh searcher: one search at a time
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Listen on the socket (replacing a stale one) in a background thread."""
        self.path.unlink(missing_ok=True)
        server = _Server(str(self.path), _Handler, bind_and_activate=False)
        server.owner = self
        try:
            server.server_bind()
            os.chmod(self.path, 0o600)
            server.server_activate()
        except OSError:
            server.server_close()
            raise
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="search-server", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.path.unlink(missing_ok=True)
        with self._lock:
            self.engine.close()

    def __enter__(self) -> SearchServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def refresh(self) -> None:
        """Bring the warm searcher up to date now (after an index commit or a swap), so the
        next search does not pay for reopening segments. No index yet is not an error."""
        from indexer.errors import BusyError, NoIndexError

        with self._lock:
            try:
                self.engine.warm()
            except (NoIndexError, BusyError):  # none yet, or being rebuilt
                pass

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        """``{"stdout": text}`` or ``{"error": {...}}`` for one request (see the module's doc)."""
        from indexer.errors import IndexerError, QueryError

        if "argv" in request:
            return self._answer_command_line(request)
        try:
            with self._lock:
                text, code = run_request(self.engine, request)
            return {"stdout": text, "exit": code} if code else {"stdout": text}
        except QueryError as e:
            return {"error": {"kind": "query", "message": str(e), "hint": e.hint}}
        except IndexerError as e:
            return {"error": {"kind": type(e).__name__, "message": str(e), "hint": ""}}
        except Exception as e:  # a bad request must not take the server down
            return {"error": {"kind": "internal", "message": f"{type(e).__name__}: {e}", "hint": ""}}

    def _answer_command_line(self, request: dict[str, Any]) -> dict[str, Any]:
        """What `indexer ARGV` prints, or an error of kind ``declined`` for a command line the
        client's full CLI must run: not a search, a usage error, a config error or another
        data dir (the client's --config, INDEXER_CONFIG or INDEXER_DATA_DIR chose it)."""
        from indexer.cli import parse_search
        from indexer.config import load

        try:
            split = split_command_line(request["argv"])
            if split is None:
                raise ValueError("not a search command line")
            group_config, command, args = split
            config_path, parsed = parse_search(command, args, bool(request.get("tty")))
            config = load(config_path or group_config, env=dict(request.get("env") or {}), cwd=request["cwd"])
            if config.data_dir != self.data_dir:
                raise ValueError(f"another data dir: {config.data_dir}")
        except Exception as e:  # click's usage errors, ConfigError, a malformed request
            return {"error": {"kind": "declined", "message": f"{type(e).__name__}: {e}", "hint": ""}}
        return self.answer(parsed)


def run_request(engine: Any, request: dict[str, Any]) -> tuple[str, int]:
    """Run one search request on ``engine``: what `indexer search` prints, and its exit
    code (1 with ``exit_status`` when nothing matched, else 0).

    ``request``: ``command`` (search or similar), ``query`` or ``doc_id``, ``options``
    (SearchOptions fields), ``format``, ``color``, ``explain``, ``exit_status``.
    """
    from indexer.search.engine import SearchOptions
    from indexer.search.render import output

    options = SearchOptions(**{k: tuple(v) if isinstance(v, list) else v for k, v in request["options"].items()})
    if request["command"] == "similar":
        result = engine.similar(int(request["doc_id"]), options)
    else:
        result = engine.search(str(request["query"]), options)
    text = output(result, request.get("format", "text"), bool(request.get("color")), bool(request.get("explain")))
    return text, 1 if request.get("exit_status") and result.total == 0 else 0
