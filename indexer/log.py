"""structlog set-up, for entry points only: readable on a TTY, JSON lines otherwise."""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

import structlog
from structlog.typing import Processor

__all__ = ["configure", "reopen"]


def configure(level: str = "info", log_file: str = "", force_json: bool = False) -> None:
    """Route structlog and the stdlib (APScheduler, SQLAlchemy) through one pipeline.

    Logs go to stderr so that stdout stays clean for `search --json` and friends.
    """
    handler: logging.StreamHandler[TextIO] = (
        _FileHandler(log_file) if log_file else logging.StreamHandler(sys.stderr)
    )
    stream = handler.stream
    as_json = force_json or bool(log_file) or not stream.isatty()
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if as_json
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if as_json else structlog.processors.StackInfoRenderer(),
            renderer,
        ],
    )
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Library chatter stays below our own events unless asked for.
    for name in ("sqlalchemy", "watchdog"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    # APScheduler warns when a run is skipped because the previous one still runs (by
    # design: max_instances=1) or starts late (coalesced); our job.* lines say what ran.
    logging.getLogger("apscheduler").setLevel(max(logging.ERROR, root.level))


class _FileHandler(logging.StreamHandler[TextIO]):
    """A log file that can be opened again under its name, after logrotate renamed it."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(self._open())

    def _open(self) -> TextIO:
        # Its folder too: one removed with the old logs (a SIGHUP then starts it again).
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        return open(self.path, "a", buffering=1, encoding="utf-8")  # closed by reopen() and close()

    def reopen(self) -> None:
        new = self._open()
        old = self.setStream(new)  # under the handler's lock: no line is split between files
        if old is not None and old is not new:
            old.close()


def reopen() -> None:
    """Open the log file again (SIGHUP after a rotation); nothing to do when logging to stderr.

    Call it from the main loop, never from a signal handler: the main thread may be inside
    a logging call, holding the handler's (re-entrant) lock half-way through a line.
    Raises OSError when the file cannot be opened; the old one then stays in use.
    """
    for handler in logging.getLogger().handlers:
        if isinstance(handler, _FileHandler):
            handler.reopen()
