"""Which folders are unavailable (missing, unreadable, unmounted) rather than emptied."""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from indexer.ingest.discover import unlisted_reason
from indexer.ingest.types import Unlisted

__all__ = ["EMPTY_REASON", "FolderMarks", "inbox_problem", "is_under", "unavailable", "vanished_at_once"]

# An unmounted share leaves an empty mount point: an inbox folder with no entry at all
# (not even a hidden file) while the database knows files under it is taken for that, not
# for every file deleted. To empty an inbox for real, leave any file in it (a `.keep`).
EMPTY_REASON = "inbox folder is empty while documents are known under it (not mounted?)"


# Files do not vanish all at once: when most of what is known under an inbox folder is
# gone in one scan, the folder was more likely replaced or unmounted (with a stray file in
# the mount point) than emptied. Its files are kept until `ingest --accept-vanished`.
MASS_VANISH_FILES = 20
MASS_VANISH_SHARE = 0.9
# A folder that is not the one indexed before (another device or inode: `mv inbox x;
# mkdir inbox`, a mount point without its share) with half its known files gone.
REPLACED_SHARE = 0.5
ACCEPT_HINT = "if they are gone for good: indexer ingest --accept-vanished {path}"


def is_under(path: str, folders: Iterable[str]) -> bool:
    """Whether ``path`` is one of ``folders`` or inside one."""
    return any(path == f or path.startswith(f.rstrip(os.sep) + os.sep) for f in folders)


def inbox_problem(root: str, knows_files: Callable[[str], bool]) -> str | None:
    """Why the inbox folder ``root`` cannot be scanned now, or None.

    ``knows_files(root)`` says whether the database holds files under it (an empty inbox
    that never had any is just empty).
    """
    try:
        with os.scandir(root) as entries:
            empty = next(entries, None) is None
    except OSError as e:
        return "inbox " + unlisted_reason(e)
    return EMPTY_REASON if empty and knows_files(root) else None


def unavailable(
    scanned: Sequence[str],
    unlisted: Sequence[Unlisted],
    inbox: Sequence[str],
    knows_files: Callable[[str], bool],
) -> list[Unlisted]:
    """The folders whose known files a scan of ``scanned`` must keep, and why.

    An inbox folder (of ``inbox``) that is missing, unreadable or suddenly empty stands
    for everything under it. A folder inside an available inbox folder that is missing was
    really deleted or moved away (its files go); one that cannot be listed is kept.
    """
    found: list[Unlisted] = []
    for root in inbox:
        if not any(is_under(s, [root]) or is_under(root, [s]) for s in scanned):
            continue
        if (reason := inbox_problem(root, knows_files)) is not None:
            found.append(Unlisted(root, reason, missing=not os.path.isdir(root)))
    for folder in unlisted:
        if is_under(folder.path, [f.path for f in found]):
            continue
        if folder.missing and is_under(folder.path, inbox):
            continue
        found.append(folder)
    return found


def vanished_at_once(
    folders: Sequence[str],
    known: Callable[[], Iterable[str]],
    gone: Sequence[str],
    replaced: Callable[[str], bool],
) -> list[Unlisted]:
    """The ``folders`` (inbox folders, mount points in them) whose ``gone`` files, of the
    ``known()`` ones, a scan must keep: most of them vanished at once, or half of them from
    a folder that was replaced. ``known`` is only called when something is gone."""
    if not gone:
        return []
    gone_under = {folder: sum(1 for path in gone if is_under(path, [folder])) for folder in folders}
    suspects = [folder for folder, n in gone_under.items() if n]
    known_under = dict.fromkeys(suspects, 0)
    for path in known():
        for folder in suspects:
            if is_under(path, [folder]):
                known_under[folder] += 1
    held: list[Unlisted] = []
    for folder in suspects:
        if is_under(folder, [f.path for f in held]):
            continue  # an outer folder keeps it already
        n_known, n_gone = known_under[folder], gone_under[folder]
        hint = ACCEPT_HINT.format(path=folder)
        if replaced(folder) and n_gone >= REPLACED_SHARE * n_known:
            held.append(
                Unlisted(
                    folder,
                    f"folder was replaced or unmounted (not the folder indexed before): "
                    f"{n_gone} of its {n_known} known files are not in it; {hint}",
                )
            )
        elif n_gone >= MASS_VANISH_FILES and n_gone >= MASS_VANISH_SHARE * n_known:
            held.append(
                Unlisted(
                    folder,
                    f"{n_gone} of its {n_known} known files vanished at once "
                    f"(not mounted? replaced?); {hint}",
                )
            )
    return held


class FolderMarks:
    """Which folder each inbox folder, and each mount point inside one, was when its files
    were last taken as they are: (device, inode, filesystem id). A node's own view of its
    mounts, kept in its data dir. Another disk or tmpfs mounted in a share's place has its
    own filesystem id, though device numbers and root inodes repeat."""

    def __init__(self, path: Path | None) -> None:
        """``path`` None: nothing marked, nothing kept (a bare ``Ingester``)."""
        self.path = path
        self._marks: dict[str, list[int]] = {}
        if path is not None:
            with contextlib.suppress(OSError, ValueError):
                self._marks = json.loads(path.read_text(encoding="utf-8"))
        self._mounts = _mount_points()

    def folders(self, roots: Iterable[str]) -> list[str]:
        """``roots`` and the mount points under them, marked before or mounted now."""
        roots = list(roots)
        inner = {p for p in (*self._marks, *self._mounts) if p not in roots and is_under(p, roots)}
        return roots + sorted(inner)

    def replaced(self, folder: str) -> bool:
        """Whether ``folder`` is now another folder than the one last marked (or is gone)."""
        mark = self._marks.get(folder)
        return mark is not None and self._identity(folder) != mark

    def mark(self, roots: Iterable[str], held: Iterable[str]) -> None:
        """Take the folders at ``roots`` and under them as they are now, but those ``held``
        (atomically; a full disk only leaves the old marks)."""
        held = list(held)
        before = dict(self._marks)
        for folder in self.folders(roots):
            if is_under(folder, held):
                continue
            current = self._identity(folder)
            if current is None or (folder not in roots and folder not in self._mounts):
                self._marks.pop(folder, None)  # unmounted (and its files taken as gone): no mark
            else:
                self._marks[folder] = current
        if self._marks == before or self.path is None:
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            tmp.write_text(json.dumps(self._marks, indent=1), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            tmp.unlink(missing_ok=True)

    def _identity(self, folder: str) -> list[int] | None:
        try:
            st = os.stat(folder)
            fsid = os.statvfs(folder).f_fsid
        except OSError:
            return None
        return [st.st_dev, st.st_ino, fsid]


def _mount_points() -> set[str]:
    """The mount points of Linux's /proc/self/mountinfo (none elsewhere)."""
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            lines = f.read().splitlines()
    except OSError:
        return set()
    points = set()
    for line in lines:
        fields = line.split(b" ")
        if len(fields) > 4:
            # Spaces, tabs, newlines and backslashes in mount points are octal escapes.
            points.add(
                os.fsdecode(re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), fields[4]))
            )
    return points
