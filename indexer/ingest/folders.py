"""Which folders are unavailable (missing, unreadable, unmounted) rather than emptied."""

from __future__ import annotations

import json
import os
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
        if any(is_under(s, [root]) or is_under(root, [s]) for s in scanned):
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
    inbox: Sequence[str], known: Iterable[str], gone: Iterable[str], replaced: Callable[[str], bool]
) -> list[Unlisted]:
    """The inbox folders whose ``gone`` files (of the ``known`` ones) a scan must keep:
    most of them vanished at once, or half of them from a folder that was replaced.
    Paths not under ``inbox`` are not counted."""
    known_under = dict.fromkeys(inbox, 0)
    gone_under = dict.fromkeys(inbox, 0)
    for counts, paths in ((known_under, known), (gone_under, gone)):
        for path in paths:
            for root in inbox:
                if is_under(path, [root]):
                    counts[root] += 1
                    break
    held = []
    for root in inbox:
        n_known, n_gone = known_under[root], gone_under[root]
        if not n_gone:
            continue
        hint = ACCEPT_HINT.format(path=root)
        if replaced(root) and n_gone >= REPLACED_SHARE * n_known:
            held.append(Unlisted(root, f"inbox folder was replaced (not the folder indexed before): "
                                       f"{n_gone} of its {n_known} known files are not in it; {hint}"))
        elif n_gone >= MASS_VANISH_FILES and n_gone >= MASS_VANISH_SHARE * n_known:
            held.append(Unlisted(root, f"{n_gone} of its {n_known} known files vanished at once "
                                       f"(not mounted? replaced?); {hint}"))
    return held


class FolderMarks:
    """Which folder (device, inode) each inbox path was when its files were last taken as
    they are: a node's own view of its mounts, kept in its data dir."""

    def __init__(self, path: Path | None) -> None:
        """``path`` None: nothing marked, nothing kept (a bare ``Ingester``)."""
        self.path = path
        self._marks: dict[str, list[int]] = {}
        if path is not None:
            try:
                self._marks = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                pass

    def replaced(self, root: str) -> bool:
        """Whether ``root`` is now another folder than the one last marked."""
        mark = self._marks.get(root)
        current = _identity(root)
        return mark is not None and current is not None and current != mark

    def mark(self, roots: Iterable[str]) -> None:
        """Take the folders at ``roots`` now as theirs (atomically; a full disk only
        leaves the old marks)."""
        changed = False
        for root in roots:
            current = _identity(root)
            if current is not None and self._marks.get(root) != current:
                self._marks[root] = current
                changed = True
        if not changed or self.path is None:
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            tmp.write_text(json.dumps(self._marks, indent=1), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            tmp.unlink(missing_ok=True)


def _identity(root: str) -> list[int] | None:
    try:
        st = os.stat(root)
    except OSError:
        return None
    return [st.st_dev, st.st_ino]
