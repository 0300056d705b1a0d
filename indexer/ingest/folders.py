"""Which folders are unavailable (missing, unreadable, unmounted) rather than emptied."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence

from indexer.ingest.discover import unlisted_reason
from indexer.ingest.types import Unlisted

__all__ = ["EMPTY_REASON", "inbox_problem", "is_under", "unavailable"]

# An unmounted share leaves an empty mount point: an inbox folder with no entry at all
# (not even a hidden file) while the database knows files under it is taken for that, not
# for every file deleted. To empty an inbox for real, leave any file in it (a `.keep`).
EMPTY_REASON = "inbox folder is empty while documents are known under it (not mounted?)"


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
