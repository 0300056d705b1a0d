"""The daemon's search server: searches for one data dir answered over a Unix socket.

A process that stays up (the daemon) runs a SearchServer: one warm SearchEngine, whose
searcher is refreshed whenever the index has changed. A search costs a socket round trip
instead of importing Whoosh and opening the index. Requests are read back with
SearchRequest.from_dict and run with search/run.py, as the command runs them alone, so
both ways print the same. The protocol is indexer/ask.py's.

The socket is owner-only (mode 0600, in the data dir, itself 0700).
"""

from __future__ import annotations

import contextlib
import json
import os
import socketserver
import threading
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from indexer.ask import MAX_REQUEST, SOCKET_NAME, ConfigSource, Declined, Raised, reply_to_dict
from indexer.errors import BusyError, IndexerError, NoIndexError
from indexer.search.request import Output, SearchRequest

if TYPE_CHECKING:
    from indexer.search.engine import SearchEngine

__all__ = ["SearchServer", "check_dates"]


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        data = self.rfile.read(MAX_REQUEST)
        try:
            message = json.loads(data)
        except ValueError:
            return
        answer = (
            self.server.owner.answer(message) if isinstance(message, dict) else {"declined": "not an object"}
        )
        self.wfile.write(json.dumps(answer, ensure_ascii=False).encode("utf-8"))


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    owner: SearchServer


class SearchServer:
    """Answers searches for one data dir until stopped."""

    def __init__(self, data_dir: Path, database_url: str | None = None) -> None:
        # Imported here: the daemon module imports this one, and `indexer status` that.
        from indexer.search.engine import SearchEngine

        self.data_dir = data_dir.resolve()
        self.path = data_dir / SOCKET_NAME
        self.engine: SearchEngine = SearchEngine(data_dir, database_url)
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
        with self._lock, contextlib.suppress(NoIndexError, BusyError):  # none yet, or being rebuilt
            self.engine.warm()

    def answer(self, message: Mapping[str, object]) -> dict[str, object]:
        """The answer to one message, both as they go on the wire (see indexer/ask.py)."""
        try:
            request = SearchRequest.from_dict(message)
            source = message.get("config")
            config = (
                ConfigSource(source["path"], source["cwd"], source["env"])
                if isinstance(source, dict)
                else None
            )
        except (KeyError, TypeError, ValueError) as e:
            return reply_to_dict(Declined(f"not a search request: {e}"))
        return reply_to_dict(self.reply(request, config))

    def reply(self, request: SearchRequest, config: ConfigSource | None = None) -> Output | Raised | Declined:
        """What ``request`` prints, the error it raised, or why this server does not run it.

        ``config``: the client's settings, unread; declined unless they load and name this
        data dir (the client's --config, INDEXER_CONFIG or INDEXER_DATA_DIR chose it).
        """
        declined = self._check(request, config)
        if declined is not None:
            return declined
        from indexer.search.run import run

        try:
            with self._lock:
                return run(self.engine, request)
        except IndexerError as e:
            return Raised(e)
        except Exception as e:  # a bad request must not take the server down; the client searches alone
            return Declined(f"{type(e).__name__}: {e}")

    def _check(self, request: SearchRequest, config: ConfigSource | None) -> Declined | None:
        from indexer import config as settings

        try:
            if config is not None:
                loaded = settings.load(config.path, env=dict(config.env), cwd=config.cwd)
                if loaded.data_dir != self.data_dir:
                    return Declined(f"another data dir: {loaded.data_dir}")
            check_dates(request)
        except Exception as e:  # ConfigError, DateError, a malformed config source
            return Declined(f"{type(e).__name__}: {e}")
        return None


def check_dates(request: SearchRequest) -> None:
    """Raise DateError for a date value that click's callback refuses on the command line
    (the fast parser does not read dates): its usage error is the client's to print."""
    from indexer.search.dates import parse_date

    for value in (request.since, request.until):
        if value is not None:
            parse_date(value, date.today())
