"""Advisory file locks (flock): released by the kernel when a holder dies, so never stale."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from indexer.errors import BusyError

__all__ = ["FileLock", "held_by", "locked"]


class FileLock:
    """An exclusive flock on ``path`` that records the holder's pid inside the file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def acquire(self, timeout: float, on_wait: Callable[[int | None], None] | None = None) -> None:
        """Wait up to ``timeout`` seconds, calling ``on_wait(holder_pid)`` once if we must wait."""
        deadline = time.monotonic() + timeout
        delay = 0.02
        waited = False
        while not self.try_acquire():
            if not waited and on_wait is not None:
                on_wait(held_by(self.path))
            waited = True
            if time.monotonic() >= deadline:
                pid = held_by(self.path)
                raise BusyError(f"{self.path.name} is held by pid {pid}, busy, retry later")
            time.sleep(delay)
            delay = min(delay * 2, 0.25)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None


def held_by(path: Path) -> int | None:
    """The pid written by the current holder, or None when nobody holds the lock."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 32).decode(errors="replace").strip()
            return int(text) if text.isdigit() else None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


@contextmanager
def locked(
    path: Path, timeout: float = 0.0, on_wait: Callable[[int | None], None] | None = None
) -> Iterator[FileLock]:
    lock = FileLock(path)
    lock.acquire(timeout, on_wait)
    try:
        yield lock
    finally:
        lock.release()
