"""Asking a running daemon's search server (indexer/server.py): the socket's protocol and
its client, used by indexer/__main__.py and cli.py.

One JSON object each way over one connection, on ``data_dir/search.sock`` (owner-only).
The client sends SearchRequest.to_dict(), with ``"config": {"path", "cwd", "env"}`` when
it has not loaded its settings itself (the fast path of __main__.py): the server then
loads them as the command would have and declines unless they are valid and name its
data dir. The server answers one of:

- ``{"stdout": text}``, and ``"exit": code`` when not 0: what the command prints;
- ``{"error": {"type", "message", "hint"}}``: an IndexerError the search raised, raised
  again here as the same class (errors.from_dict), for cli.main to report;
- ``{"declined": reason}``: not a request this server runs (another data dir, settings
  that do not load, a bad value, or its own failure): the client runs it itself.

An answer of another shape (a server of another version) counts as declined.

The standard library alone: the client runs before anything heavy is imported.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from typing import TYPE_CHECKING

from indexer.search.request import Output, SearchRequest

if TYPE_CHECKING:
    from indexer.errors import IndexerError

__all__ = [
    "ASK_TIMEOUT",
    "MAX_REQUEST",
    "SOCKET_NAME",
    "ConfigSource",
    "Declined",
    "Output",
    "Raised",
    "Reply",
    "Unreachable",
    "ask",
    "reply_from_dict",
    "reply_to_dict",
    "send",
]

SOCKET_NAME = "search.sock"
# Long enough for a search on a busy daemon, short enough that a hung one costs little
# on top of searching without it.
ASK_TIMEOUT = 1.5
MAX_REQUEST = 1 << 20


# Plain classes, not NamedTuples: a NamedTuple compiles its constructor when it is
# defined, and this module is imported before every search.


class ConfigSource:
    """Where a command's settings come from, unread: for the server to load them."""

    __slots__ = ("cwd", "env", "path")

    def __init__(self, path: str | None, cwd: str, env: Mapping[str, str]) -> None:
        self.path = path  # --config
        self.cwd = cwd  # where a relative path starts
        self.env = dict(env)  # INDEXER_CONFIG and INDEXER_DATA_DIR, when set

    def as_dict(self) -> dict[str, object]:
        return {"path": self.path, "cwd": self.cwd, "env": self.env}


class Raised:
    """The search raised ``error`` on the server."""

    __slots__ = ("error",)

    def __init__(self, error: IndexerError) -> None:
        self.error = error

    def __repr__(self) -> str:
        return f"Raised({self.error!r})"


class Declined:
    """The server does not run this request: the client runs it itself."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"Declined({self.reason!r})"


class Unreachable:
    """No server answered (none runs, a stale socket, a timeout, half an answer)."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"Unreachable({self.reason!r})"


Reply = Output | Raised | Declined | Unreachable


def ask(
    data_dir: str | os.PathLike[str],
    request: SearchRequest,
    config: ConfigSource | None = None,
    timeout: float = ASK_TIMEOUT,
) -> Reply:
    """The answer of the search server of ``data_dir`` to ``request``."""
    message = request.to_dict()
    if config is not None:
        message["config"] = config.as_dict()
    return send(data_dir, message, timeout)


def send(
    data_dir: str | os.PathLike[str], message: Mapping[str, object], timeout: float = ASK_TIMEOUT
) -> Reply:
    """The answer to ``message`` as it goes on the wire (ask builds one from a request)."""
    path = os.path.join(data_dir, SOCKET_NAME)
    if not os.path.exists(path):
        return Unreachable("no search server")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(path)
            conn.sendall(json.dumps(message).encode("utf-8"))
            conn.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := conn.recv(1 << 16):
                chunks.append(chunk)
        answer = json.loads(b"".join(chunks))
    except (OSError, ValueError) as e:
        return Unreachable(f"{type(e).__name__}: {e}")
    if not isinstance(answer, dict):
        return Unreachable(f"not an answer: {answer!r}"[:200])
    return reply_from_dict(answer)


def reply_to_dict(reply: Output | Raised | Declined) -> dict[str, object]:
    """A server's reply as it goes on the wire."""
    if isinstance(reply, Output):
        return {"stdout": reply.text, "exit": reply.exit_code} if reply.exit_code else {"stdout": reply.text}
    if isinstance(reply, Raised):
        from indexer.errors import to_dict

        return {"error": to_dict(reply.error)}
    return {"declined": reply.reason}


def reply_from_dict(answer: Mapping[str, object]) -> Output | Raised | Declined:
    """The reply that reply_to_dict gave ``answer`` for."""
    text, code, error = answer.get("stdout"), answer.get("exit", 0), answer.get("error")
    if isinstance(text, str) and isinstance(code, int):
        return Output(text, code)
    if (
        isinstance(error, dict)
        and isinstance(error.get("type"), str)
        and isinstance(error.get("message"), str)
    ):
        from indexer.errors import from_dict  # only now: a search that printed needs no error classes

        return Raised(from_dict(error))
    reason = answer.get("declined")
    return Declined(reason if isinstance(reason, str) else f"an answer of another shape: {answer!r}"[:200])
