"""Noticing changes: inotify events (watchdog) feed a set of paths that settle before ingest."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from indexer.ingest.discover import Rules, matches

__all__ = ["Pending", "Ready", "start_observer"]

log = structlog.get_logger(__name__)

# A file that a write event says is still open for writing (no close-after-write seen
# yet) must be quiet this many settle windows: a writer pausing a little longer than one
# window (a slow download, a loaded machine) is not read half-written. One close ends it.
OPEN_SETTLE_FACTOR = 5


@dataclass
class _Entry:
    signature: tuple[int, int] | None  # (size, mtime_ns) when last looked at
    changed_at: float  # monotonic time of the last change seen
    closed: bool = False  # a close-after-write was seen since
    writing: bool = False  # a write event came, and no close after it
    # Paths renamed to this one: they leave in the batch this path is ingested in, so a
    # move is one transaction and keeps its document (a vanished path needs no settling,
    # a new one does: released on their own, the old path would always go first).
    moved_from: set[str] = field(default_factory=set)


@dataclass
class Ready:
    """What the daemon should do now: stable files to ingest, gone paths, folders to scan."""

    files: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.files or self.gone or self.folders)


class Pending:
    """Paths waiting to be stable: unchanged size and mtime for ``settle`` seconds.

    A writer that appends in bursts keeps moving the mtime, so a file is taken only
    once it has been quiet for the settle window (or closed after writing).
    """

    def __init__(self, settle: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.settle = settle
        self.clock = clock
        self.wake = threading.Event()
        self._lock = threading.Lock()
        self._files: dict[str, _Entry] = {}
        self._folders: set[str] = set()

    def __len__(self) -> int:
        with self._lock:
            return len(self._files)

    def touch(self, path: str, closed: bool = False, writing: bool = False) -> None:
        """A change to ``path``: ``closed`` a close after writing, ``writing`` a write
        event (the writer may hold it open); neither: a change seen by a scan."""
        with self._lock:
            entry = self._files.get(path)
            if entry is None:
                self._files[path] = _Entry(None, self.clock(), closed, writing and not closed)
            else:
                entry.changed_at = self.clock()
                entry.closed = closed  # a write after the close means: still being written
                entry.writing = (entry.writing or writing) and not closed
        self.wake.set()

    def _quiet(self, entry: _Entry) -> float:
        return self.settle * (OPEN_SETTLE_FACTOR if entry.writing else 1)

    def moved(self, src: str, dest: str) -> None:
        """``src`` was renamed to ``dest``: both go in the batch that takes ``dest``."""
        with self._lock:
            old = self._files.pop(src, None)
            entry = self._files.get(dest)
            if entry is None:
                entry = self._files[dest] = _Entry(None, self.clock())
            else:
                entry.changed_at = self.clock()
                entry.closed = False
            entry.moved_from |= {src} | (old.moved_from if old is not None else set())
            entry.moved_from.discard(dest)
        self.wake.set()

    def folder(self, path: str) -> None:
        with self._lock:
            self._folders.add(path)
        self.wake.set()

    def next_due(self) -> float | None:
        """Seconds until the earliest pending file could be stable (None: nothing pending)."""
        with self._lock:
            if self._folders:
                return 0.0
            if not self._files:
                return None
            now = self.clock()
            return max(0.0, min(e.changed_at + self._quiet(e) - now for e in self._files.values()))

    def take_ready(self, limit: int) -> Ready:
        ready = Ready()
        now = self.clock()
        with self._lock:
            ready.folders = sorted(self._folders)
            self._folders.clear()
            for path, entry in list(self._files.items()):
                if len(ready.files) >= limit:
                    break
                try:
                    st = os.stat(path)
                    signature: tuple[int, int] | None = (st.st_size, st.st_mtime_ns)
                except OSError:
                    signature = None
                if signature is None:
                    ready.gone.append(path)
                elif entry.closed:
                    ready.files.append(path)
                elif signature != entry.signature:
                    entry.signature = signature
                    entry.changed_at = now
                    continue
                elif now - entry.changed_at < self._quiet(entry):
                    continue
                else:
                    ready.files.append(path)
                # A source that exists again is a new file of its own, with its own events.
                ready.gone.extend(sorted(p for p in entry.moved_from if not os.path.lexists(p)))
                del self._files[path]
        return ready


def start_observer(roots: Sequence[Path], rules: Rules, pending: Pending):  # type: ignore[no-untyped-def]
    """Start a recursive inotify observer on ``roots``; raises OSError where it cannot."""
    from watchdog.events import FileSystemEvent, FileSystemEventHandler
    from watchdog.observers import Observer

    root_strs = [str(r) for r in roots]

    def root_of(path: str) -> str | None:
        for root in root_strs:
            if path == root or path.startswith(root + os.sep):
                return root
        return None

    def watched(path: str) -> bool:
        root = root_of(path)
        return root is not None and matches(path, root, rules)

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            # Our own reads produce "opened" and "closed_no_write": ignoring them keeps
            # the daemon from re-triggering itself.
            kind = event.event_type
            if kind in ("opened", "closed_no_write", "attrib") and not event.is_directory:
                return
            paths = [os.fsdecode(event.src_path)]
            if kind == "moved" and event.dest_path:
                paths.append(os.fsdecode(event.dest_path))
                if not event.is_directory and all(watched(p) for p in paths):
                    pending.moved(paths[0], paths[1])
                    return
            for path in paths:
                root = root_of(path)
                if root is None:
                    continue  # moved out of the inbox: the source path above handles it
                if event.is_directory:
                    if kind in ("created", "moved", "deleted"):
                        pending.folder(path)
                    continue
                if matches(path, root, rules):
                    pending.touch(path, closed=(kind == "closed"), writing=kind in ("created", "modified"))

    observer = Observer()
    handler = Handler()
    for root in roots:
        observer.schedule(handler, str(root), recursive=True)
    observer.daemon = True
    observer.start()
    return observer
