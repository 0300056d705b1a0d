"""Noticing changes: inotify events (watchdog) feed a set of paths that settle before ingest."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from watchdog.events import FileSystemEvent, FileSystemEventHandler

from indexer.ingest.discover import Rules, matches

if TYPE_CHECKING:
    from watchdog.observers.api import ObservedWatch

__all__ = ["Pending", "Ready", "Watcher", "start_observer"]

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
                except (FileNotFoundError, NotADirectoryError):
                    signature = None
                except OSError:
                    # Not gone: its folder cannot be read now (permissions). The scan keeps
                    # its document and records the folder as a failure.
                    del self._files[path]
                    continue
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


def _identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of the folder at ``path``; None when there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None


@dataclass
class _Root:
    path: str
    identity: tuple[int, int] | None = None  # of the folder the watch was placed on
    watch: ObservedWatch | None = None  # None: not watched
    reason: str = ""  # why it is not watched


class Watcher:
    """A recursive inotify observer of the inbox roots that follows each root's folder.

    inotify watches an inode, not a path: after `mv inbox x; mkdir inbox` the watch goes
    on reporting x's files under inbox's paths, and the new folder is not watched at all.
    ``check`` (the daemon calls it every few seconds) places the watch again on the folder
    now at the root's path; until then the old tree's events are dropped, as they are
    whenever the root's path no longer holds the folder the watch was placed on.
    """

    def __init__(self, roots: Sequence[Path], rules: Rules, pending: Pending) -> None:
        from watchdog.observers import Observer

        self.rules = rules
        self.pending = pending
        self._roots = [_Root(str(r)) for r in roots]
        self._lock = threading.Lock()
        # Set when a watch sees its root's path hold another folder, or none: check soon.
        self.stale = threading.Event()
        self._observer = Observer()
        self._observer.daemon = True

    def start(self) -> None:
        """Watch every root there is (a missing one is armed by ``check`` once it is back);
        raises OSError where inotify cannot (the caller falls back)."""
        for root in self._roots:
            try:
                self._arm(root)
            except FileNotFoundError:
                log.warning("watch.root_lost", root=root.path, reason="missing")
                with self._lock:
                    root.reason = "missing"
        self._observer.start()

    def stop(self) -> None:
        self._observer.stop()

    def unwatched(self) -> dict[str, str]:
        """Root -> why it is not watched now (missing, or the error placing its watch)."""
        with self._lock:
            return {r.path: r.reason for r in self._roots if r.watch is None}

    def check(self) -> list[str]:
        """Place the watch again on any root whose folder changed, vanished or whose
        watch ended; returns the roots watched again (to scan: files came meanwhile)."""
        self.stale.clear()
        rearmed = []
        for root in self._roots:
            current = _identity(root.path)
            if root.watch is not None and current == root.identity and self._alive(root.watch):
                continue
            if root.watch is None and current is None:
                continue  # still missing
            self._disarm(root)
            try:
                if current is None:
                    raise FileNotFoundError(errno.ENOENT, "missing", root.path)
                self._arm(root)
            except OSError as e:
                reason = "missing" if isinstance(e, FileNotFoundError) else e.strerror or str(e)
                if reason != root.reason:  # said once, not at every check
                    log.warning("watch.root_lost", root=root.path, reason=reason)
                with self._lock:
                    root.reason = reason
                continue
            log.info("watch.rearmed", root=root.path)
            rearmed.append(root.path)
        return rearmed

    def _alive(self, watch: ObservedWatch) -> bool:
        # The emitter ends on its own when the watched folder is deleted (IN_DELETE_SELF).
        return any(e.watch == watch and e.is_alive() for e in self._observer.emitters)

    def _arm(self, root: _Root) -> None:
        identity = _identity(root.path)
        if identity is None:
            raise FileNotFoundError(errno.ENOENT, "missing", root.path)
        handler = _Handler(
            root.path, identity, [r.path for r in self._roots], self.rules, self.pending, self.stale
        )
        watch = self._observer.schedule(handler, root.path, recursive=True)
        with self._lock:
            root.identity, root.watch, root.reason = identity, watch, ""

    def _disarm(self, root: _Root) -> None:
        with self._lock:
            watch, root.watch = root.watch, None
        if watch is not None:
            with contextlib.suppress(KeyError, OSError):  # its emitter already ended
                self._observer.unschedule(watch)


class _Handler(FileSystemEventHandler):
    """Feeds one root's watch's events to the pending set, while the root is the folder
    watched (watchdog calls ``dispatch``: the on_* methods are not used)."""

    def __init__(
        self,
        root: str,
        identity: tuple[int, int],
        roots: Sequence[str],
        rules: Rules,
        pending: Pending,
        stale: threading.Event,
    ) -> None:
        self.stale = stale
        self.root = root
        self.identity = identity
        self.roots = roots
        self.rules = rules
        self.pending = pending

    def _root_of(self, path: str) -> str | None:
        for root in self.roots:
            if path == root or path.startswith(root + os.sep):
                return root
        return None

    def _watched(self, path: str) -> bool:
        root = self._root_of(path)
        return root is not None and matches(path, root, self.rules)

    def dispatch(self, event: FileSystemEvent) -> None:
        # Our own reads produce "opened" and "closed_no_write": ignoring them keeps
        # the daemon from re-triggering itself.
        kind = event.event_type
        if kind in ("opened", "closed_no_write", "attrib") and not event.is_directory:
            return
        if _identity(self.root) != self.identity:
            # The root was moved away or deleted: these are the old tree's events, under
            # paths that now name other files. The daemon's check watches the new folder.
            self.stale.set()
            self.pending.wake.set()
            return
        pending = self.pending
        paths = [os.fsdecode(event.src_path)]
        if kind == "moved" and event.dest_path:
            paths.append(os.fsdecode(event.dest_path))
            if not event.is_directory and all(self._watched(p) for p in paths):
                pending.moved(paths[0], paths[1])
                return
        for path in paths:
            root = self._root_of(path)
            if root is None:
                continue  # moved out of the inbox: the source path above handles it
            if event.is_directory:
                if kind in ("created", "moved", "deleted"):
                    pending.folder(path)
                continue
            if matches(path, root, self.rules):
                pending.touch(path, closed=(kind == "closed"), writing=kind in ("created", "modified"))


def start_observer(roots: Sequence[Path], rules: Rules, pending: Pending) -> Watcher:
    """Start a recursive inotify observer on ``roots``; raises OSError where it cannot."""
    watcher = Watcher(roots, rules, pending)
    watcher.start()
    return watcher
