"""Find candidate files under the inbox folders, by stat only (nothing is read here)."""

from __future__ import annotations

import dataclasses
import errno
import fnmatch
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from indexer.ingest.paths import db_path
from indexer.ingest.types import Candidate, Unlisted

__all__ = [
    "OUTSIDE",
    "SYMLINK_OFF",
    "SYMLINK_OUTSIDE",
    "Rules",
    "discover",
    "is_ignored_name",
    "matches",
    "named_path",
    "refusal",
    "symlink_problem",
    "unlisted_reason",
]

# Editors, downloaders and scrapers write these before the final rename; ingesting them
# would index half files and then see them vanish.
IGNORED_SUFFIXES = (".part", ".tmp", ".crdownload", ".partial", ".swp", "~")

# One wording per condition, whichever way the file was found (scan, watcher, read, a named path).
OUTSIDE = "outside the configured inboxes"
SYMLINK_OFF = "symlink (follow_symlinks is off)"
SYMLINK_OUTSIDE = "symlink points outside the inbox"


@dataclass(frozen=True)
class Rules:
    include: tuple[str, ...] = ("*.txt",)
    exclude: tuple[str, ...] = ()
    follow_symlinks: bool = False
    # The folders symlinks must stay inside (the configured inboxes); empty: the roots scanned.
    inboxes: tuple[str, ...] = ()


def is_ignored_name(name: str) -> bool:
    return name.startswith(".") or name.endswith(IGNORED_SUFFIXES)


def _match(name: str, pattern: str) -> bool:
    # Case-insensitive: archives from Windows shares name files UPPER.TXT as often as not.
    return fnmatch.fnmatchcase(name.lower(), pattern.lower())


def matches(path: str, root: str, rules: Rules) -> bool:
    """Whether a file path is one indexer should take (name patterns, hidden and temp files)."""
    name = os.path.basename(path)
    if is_ignored_name(name):
        return False
    if not any(_match(name, pattern) for pattern in rules.include):
        return False
    prefix = root.rstrip(os.sep) + os.sep  # string work, not relpath: runs for every file a scan sees
    relative = path[len(prefix) :] if path.startswith(prefix) else os.path.relpath(path, root)
    if any(part.startswith(".") for part in relative.split(os.sep)[:-1]):
        return False
    return not rules.exclude or not any(
        _match(name, pattern) or _match(relative, pattern) for pattern in rules.exclude
    )


def _inside(path: str, roots: Iterable[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def symlink_problem(path: str, roots: Iterable[str], follow_symlinks: bool) -> str | None:
    """Why the symlink ``path`` is not followed (None: it is); ``roots`` resolved."""
    if not follow_symlinks:
        return SYMLINK_OFF
    return None if _inside(os.path.realpath(path), roots) else SYMLINK_OUTSIDE


def named_path(path: str | Path) -> str:
    """A path named on the command line, absolute, with the symlinks of the folders leading
    to it resolved (as the configured inboxes are) but not its own: a symlink named is
    judged as a symlink, never as the file it points to."""
    absolute = os.path.abspath(path)
    parent, name = os.path.split(absolute)
    return os.path.join(os.path.realpath(parent), name) if name else absolute


def refusal(path: str, rules: Rules) -> str | None:
    """Why a path named on the command line (see ``named_path``) is not taken, or None:
    it is outside every inbox, or a symlink the scan would not follow."""
    if rules.inboxes and not _inside(path, rules.inboxes):
        return OUTSIDE
    if os.path.islink(path):
        return symlink_problem(path, rules.inboxes or (os.path.dirname(path),), rules.follow_symlinks)
    return None


def discover(
    roots: Iterable[str | Path],
    rules: Rules,
    unlisted: list[Unlisted] | None = None,
    counts: dict[str, int] | None = None,
) -> Iterator[Candidate]:
    """Yield every matching file under ``roots``, recursively, in a stable order.

    Special files (FIFOs, sockets, devices) and symlinks that lead outside the inboxes are
    yielded with an ``error`` so that they are recorded as failures, never opened. A root
    that is itself such a symlink is yielded so too (a file) or skipped (a folder). Folders
    that cannot be listed (missing, unreadable) are appended to ``unlisted``: the files
    under them are not seen, which must not be taken for their deletion.
    ``counts["skipped"]`` counts the files the include/exclude patterns left out (hidden
    and temporary files are not counted: they are never meant to be ingested).
    """
    counts = counts if counts is not None else {}
    counts.setdefault("skipped", 0)
    root_list = [named_path(r) for r in roots]
    inboxes = list(rules.inboxes) or root_list
    for root in root_list:
        if os.path.islink(root) and (
            reason := refusal(root, dataclasses.replace(rules, inboxes=tuple(inboxes)))
        ):
            if not os.path.isdir(root):
                link = os.lstat(root)
                yield Candidate(root, link.st_size, link.st_mtime_ns, link.st_ino, error=reason)
            continue
        st: os.stat_result | None
        try:
            st = os.stat(root)
        except PermissionError:  # a folder above it cannot be entered: file or folder, unseen
            if unlisted is not None:
                unlisted.append(Unlisted(db_path(root), "cannot be reached: permission denied"))
            continue
        except OSError:
            st = None  # missing: the walk says so
        if st is not None and stat.S_ISREG(st.st_mode):
            yield Candidate(root, st.st_size, st.st_mtime_ns, st.st_ino)
            continue
        seen_dirs: set[tuple[int, int]] = set()
        yield from _walk(root, root, inboxes, rules, seen_dirs, unlisted, counts)


def unlisted_reason(error: OSError) -> str:
    """One line on why a folder could not be listed."""
    if isinstance(error, (FileNotFoundError, NotADirectoryError)):
        return "folder is missing"
    return f"folder cannot be listed: {(error.strerror or str(error)).lower()}"


def _walk(
    top: str,
    root: str,
    roots: list[str],
    rules: Rules,
    seen_dirs: set[tuple[int, int]],
    unlisted: list[Unlisted] | None,
    counts: dict[str, int],
) -> Iterator[Candidate]:
    try:
        st = os.stat(top)
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:  # a symlink loop, or the same folder reached twice
            return
        seen_dirs.add(key)
        with os.scandir(top) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as e:
        if unlisted is not None:
            missing = isinstance(e, (FileNotFoundError, NotADirectoryError))
            unlisted.append(Unlisted(db_path(top), unlisted_reason(e), missing))
        return
    for entry in entries:
        if is_ignored_name(entry.name):
            continue
        path = entry.path  # a name that is not UTF-8 has surrogates here: see paths.py
        try:
            is_link = entry.is_symlink()
            if is_link and (reason := symlink_problem(path, roots, rules.follow_symlinks)):
                if matches(path, root, rules):
                    st = entry.stat(follow_symlinks=False)
                    yield Candidate(path, st.st_size, st.st_mtime_ns, st.st_ino, error=reason)
                continue
            if entry.is_dir(follow_symlinks=is_link):
                yield from _walk(path, root, roots, rules, seen_dirs, unlisted, counts)
                continue
            if not matches(path, root, rules):
                counts["skipped"] += 1
                continue
            st = entry.stat(follow_symlinks=is_link)
        except OSError as e:
            if e.errno == errno.ELOOP and matches(path, root, rules):
                yield Candidate(path, 0, 0, 0, error="symlink loop")
            elif isinstance(e, PermissionError) and not is_link:
                # Listed but not entered (read without execute): what it holds is unseen.
                if unlisted is not None:
                    unlisted.append(Unlisted(db_path(top), "folder cannot be entered: permission denied"))
                return
            continue  # vanished or a broken link: the next scan decides
        if stat.S_ISREG(st.st_mode):
            yield Candidate(path, st.st_size, st.st_mtime_ns, st.st_ino)
        else:
            yield Candidate(path, 0, st.st_mtime_ns, st.st_ino, error="not a regular file")
