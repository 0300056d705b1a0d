"""Searches answered by a long-running process over a Unix socket in the data dir.

A process that stays up (the daemon) runs a ``SearchServer``: one warm ``SearchEngine``,
whose searcher is refreshed whenever the index has changed. ``indexer search`` first
``ask()``s it and opens the index itself only when nothing answers within ASK_TIMEOUT, so
a search costs a socket round trip instead of importing Whoosh and opening the index.
The server renders the output as the command would (render.output), so both ways
print the same.

The protocol is one JSON object each way over one connection. The socket is owner-only
(mode 0600, in the data dir, itself 0700).

This module imports only the standard library until a server starts: the client side
runs before anything heavy is loaded.
"""

from __future__ import annotations

import json
import os
import socket
import socketserver
import threading
from pathlib import Path
from typing import Any

__all__ = ["ASK_TIMEOUT", "SOCKET_NAME", "SearchServer", "ask"]

SOCKET_NAME = "search.sock"
# Long enough for a search on a busy daemon, short enough that a hung one costs little
# on top of searching without it.
ASK_TIMEOUT = 1.5
MAX_REQUEST = 1 << 20


def ask(data_dir: Path, request: dict[str, Any], timeout: float = ASK_TIMEOUT) -> dict[str, Any] | None:
    """The server's answer to ``request``, or None when no server answers in time."""
    path = data_dir / SOCKET_NAME
    if not path.exists():
        return None
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(str(path))
            conn.sendall(json.dumps(request).encode("utf-8"))
            conn.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := conn.recv(1 << 16):
                chunks.append(chunk)
        answer = json.loads(b"".join(chunks))
    except (OSError, ValueError):  # no server, a stale socket, a timeout, half an answer
        return None
    return answer if isinstance(answer, dict) else None


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

    def __init__(self, data_dir: Path) -> None:
        from indexer.search.engine import SearchEngine

        self.path = data_dir / SOCKET_NAME
        self.engine = SearchEngine(data_dir)
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
        from indexer.errors import NoIndexError

        with self._lock:
            try:
                self.engine.warm()
            except NoIndexError:
                pass

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        """``{"stdout": text}`` or ``{"error": {...}}`` for one request (see run_request)."""
        from indexer.errors import IndexerError, QueryError

        try:
            with self._lock:
                return {"stdout": run_request(self.engine, request)}
        except QueryError as e:
            return {"error": {"kind": "query", "message": str(e), "hint": e.hint}}
        except IndexerError as e:
            return {"error": {"kind": type(e).__name__, "message": str(e), "hint": ""}}
        except Exception as e:  # a bad request must not take the server down
            return {"error": {"kind": "internal", "message": f"{type(e).__name__}: {e}", "hint": ""}}


def run_request(engine: Any, request: dict[str, Any]) -> str:
    """Run one search request on ``engine`` and render it, as `indexer search` prints it.

    ``request``: ``command`` (search or similar), ``query`` or ``doc_id``, ``options``
    (SearchOptions fields), ``format``, ``color``, ``explain``.
    """
    from indexer.search.engine import SearchOptions
    from indexer.search.render import output

    options = SearchOptions(**{k: tuple(v) if isinstance(v, list) else v for k, v in request["options"].items()})
    if request["command"] == "similar":
        result = engine.similar(int(request["doc_id"]), options)
    else:
        result = engine.search(str(request["query"]), options)
    return output(result, request.get("format", "text"), bool(request.get("color")), bool(request.get("explain")))
