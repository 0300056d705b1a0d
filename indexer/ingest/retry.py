"""Retry policy: when a recorded failure is tried again, and the file states a scan compares."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from indexer.db import files

__all__ = ["RETRY_FIRST_SECONDS", "RETRY_MAX_SECONDS", "is_due", "known_states", "retry_delay"]

# Transient failures (file vanished, permission denied, database busy) are retried after
# 5 s, 10 s, 20 s ... up to an hour; a failed file that changes is retried at once.
RETRY_FIRST_SECONDS = 5.0
RETRY_MAX_SECONDS = 3600.0


def retry_delay(attempts: int) -> float:
    """Seconds from a failure's last attempt to its next, after ``attempts`` attempts."""
    return min(RETRY_FIRST_SECONDS * 2.0 ** max(0, attempts - 1), RETRY_MAX_SECONDS)


def is_due(transient: bool, attempts: int, last_seen: datetime, now: datetime) -> bool:
    """Whether a recorded failure is to be tried again now: a transient one whose delay has
    passed (a permanent one waits for its file to change)."""
    if not transient:
        return False
    last = last_seen if last_seen.tzinfo else last_seen.replace(tzinfo=now.tzinfo)
    return (now - last).total_seconds() >= retry_delay(attempts)


def known_states(
    session: Session, roots: Sequence[str] | None = None, now: datetime | None = None
) -> dict[str, tuple[int, int, bool]]:
    """path -> (size, mtime_ns, failed) for every file the DB knows under ``roots``.

    A scan skips a file whose size and mtime match; a transient failure whose retry time
    has come (by ``now``) gets an impossible state so that it is tried again.
    """
    states = {path: (size, mtime, False) for path, size, mtime in files.file_states(session, roots)}
    for path, size, mtime, transient, attempts, last_seen in files.failure_states(session, roots):
        due = now is not None and is_due(transient, attempts, last_seen, now)
        states[path] = (-1, -1, True) if due else (size or 0, mtime or 0, True)
    return states
