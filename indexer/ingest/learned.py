"""Learned furniture: which lines a document counts, when a line is learned, the rules.

A short line repeated in enough stories of one group (a site's folder, or its configured
source) is taken for furniture. Analysis counts each document's short lines
(``short_lines``) under its group (``line_group``) and removes the learned ones
(``remove_learned``); the learning run counts stories per line (``is_furniture``) and
replaces the rules (``learn_rules``). db/lines.py holds the queries these run.

Analysis workers import this module for its pure half: the other half imports db/
(SQLAlchemy) only when it runs, so that a worker never loads it.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from indexer.records import Cleaned, Removal

if TYPE_CHECKING:
    from indexer.db.session import Database

__all__ = [
    "FLAG_KEPT",
    "LEARNED",
    "LEARNED_MAX_CHARS",
    "counted_lines",
    "fill_in_lines",
    "folder_source",
    "group_key",
    "group_of",
    "is_furniture",
    "learn_rules",
    "line_group",
    "line_key",
    "lines_of_stored",
    "remove_learned",
    "rules_if_changed",
    "short_lines",
]

# The flag of a document kept whole because every line of it would go.
FLAG_KEPT = "boilerplate_kept"
# The rule name of a learned line's removal (``Removal.rule``).
LEARNED = "learned"

# Learned rules count lines up to this length: furniture (mastheads, footers, contact and
# credit lines) is short, and a paragraph of content is not counted or removed.
LEARNED_MAX_CHARS = 200


# Keys are the first 16 bytes of a SHA-256, stored raw: half the size of hex digits in
# the counting table and its index (migration 0005 turned the old 32 hex digits into these).
_KEY_BYTES = 16


def line_key(line: str) -> bytes:
    """The key a line is counted and matched by: its words, case folded, hashed.

    "Repeats verbatim" up to spacing and case; a hash keeps the counting table narrow.
    """
    return hashlib.sha256(" ".join(line.split()).casefold().encode("utf-8")).digest()[:_KEY_BYTES]


def group_key(name: str) -> bytes:
    """The key of a learning group ("folder:/srv/inbox/bugle", "source:Tempo")."""
    return hashlib.sha256(name.encode("utf-8")).digest()[:_KEY_BYTES]


def short_lines(body: str) -> dict[bytes, str]:
    """key -> first text of each distinct line short enough to be learned furniture."""
    found: dict[bytes, str] = {}
    for line in body.split("\n"):
        stripped = line.strip()
        if stripped and len(stripped) <= LEARNED_MAX_CHARS:
            found.setdefault(line_key(stripped), stripped)
    return found


def remove_learned(body: str, keys: Collection[bytes]) -> Cleaned:
    """Drop the lines whose key is learned furniture of the document's group.

    Like remove(), keeps the body and flags it when every line would go: a document
    that is nothing but its site's repeated lines is more likely a rule's mistake.
    """
    if not keys:
        return Cleaned(body)
    removed: list[Removal] = []
    paragraphs: list[str] = []
    for paragraph in body.split("\n\n"):
        kept = []
        for line in paragraph.split("\n"):
            stripped = line.strip()
            if stripped and len(stripped) <= LEARNED_MAX_CHARS and line_key(stripped) in keys:
                removed.append(Removal(LEARNED, line))
            else:
                kept.append(line)
        if kept:
            paragraphs.append("\n".join(kept))
    if not removed:
        return Cleaned(body)
    if not paragraphs:
        return Cleaned(body, (), (FLAG_KEPT,))
    return Cleaned("\n\n".join(paragraphs), tuple(removed))


def is_furniture(stories: int, group_documents: int, min_documents: int, min_fraction: float) -> bool:
    """Whether a line found in ``stories`` different stories of a group is furniture.

    Both thresholds must hold: enough stories (a quote shared by two syndicated copies
    is one story, and never enough), and a large enough share of the group (a phrase
    common in news is still rare among one site's articles; its footer is in most).
    """
    return stories >= min_documents and group_documents > 0 and stories >= min_fraction * group_documents


def folder_source(path: str, source_map: tuple[tuple[str, str], ...]) -> str | None:
    """The source configured for the deepest folder holding ``path``."""
    best: tuple[int, str | None] = (-1, None)
    for folder, source in source_map:
        if path.startswith(folder.rstrip("/") + "/") and len(folder) > best[0]:
            best = (len(folder), source)
    return best[1]


def line_group(path: str, source_map: tuple[tuple[str, str], ...]) -> str:
    """The group a document's lines are counted in for learned furniture.

    The source configured for its folder (every folder of one site counts together),
    else the folder the file lies in. Not the source named in the text: a wire story's
    agency reaches us through many sites, each with its own furniture.
    """
    return group_of(path, folder_source(path, source_map))


def group_of(path: str, source: str | None) -> str:
    """``line_group`` given the folder's configured source (None: none is)."""
    return f"source:{source}" if source is not None else f"folder:{posixpath.dirname(path)}"


def lines_of_stored(body: str, removed_json: str) -> dict[bytes, tuple[str, bool]]:
    """key -> (text, furniture) of a stored document's short lines before learned rules:
    its body's lines and the lines learned rules removed from it."""
    learned = {r["text"].strip() for r in json.loads(removed_json or "[]") if r.get("rule") == LEARNED}
    found = {k: (text, False) for k, text in short_lines(body).items()}
    for k, text in short_lines("\n".join(learned)).items():
        found[k] = (text, True)
    return found


def counted_lines(
    path: str, body: str, removed_json: str, source_map: tuple[tuple[str, str], ...]
) -> tuple[bytes, list[tuple[bytes, bool]]]:
    """(group key, (line key, furniture) pairs) of a stored document, as its analysis
    would have counted them."""
    lines = [(key, furniture) for key, (_, furniture) in lines_of_stored(body, removed_json).items()]
    return group_key(line_group(path, source_map)), lines


def fill_in_lines(
    db: Database, source_map: tuple[tuple[str, str], ...], batch_size: int, should_stop: Callable[[], bool]
) -> int:
    """Count the lines of documents stored before learning existed (or brought back from
    a tombstone), from their stored text: no file is read again. One transaction per
    ``batch_size`` documents; returns how many were counted."""
    from indexer.db import lines

    with db.read() as session:
        if not lines.lines_missing(session):
            return 0
    done = last_id = 0
    while not should_stop():
        with db.write() as session:
            rows = lines.documents_without_lines(session, last_id, batch_size)
            if not rows:
                break
            lines.write_lines(
                session,
                [
                    (doc_id, *counted_lines(path, body, removed, source_map))
                    for doc_id, path, body, removed in rows
                ],
            )
        last_id = rows[-1][0]
        done += len(rows)
    return done


def learn_rules(
    db: Database,
    source_map: tuple[tuple[str, str], ...],
    min_documents: int,
    min_fraction: float,
    now: datetime,
) -> tuple[int, int]:
    """Recompute the learned lines from the counts; returns (added, dropped).

    A line is learned when enough different stories of its group have it
    (``is_furniture``): near-duplicates, one cluster, count once.
    """
    from indexer.db import lines
    from indexer.db.models import LearnedLine

    rules = []
    with db.read() as session:
        sizes, frequent = lines.count_lines(session, min_documents)
        # Documents bound the stories from above: only lines passing on documents are
        # worth counting stories for (a join with the documents).
        candidates = [
            (g, k) for g, k, n in frequent if is_furniture(n, sizes.get(g, 0), min_documents, min_fraction)
        ]
        stories = lines.count_stories(session, candidates)
        known = {(r.group_key, r.line_key): (r.group_name, r.text) for r in lines.learned_lines(session)}
        for g, k in candidates:
            n = stories.get((g, k), 0)
            if not is_furniture(n, sizes[g], min_documents, min_fraction):
                continue
            if (g, k) in known:
                name, text = known[(g, k)]
            else:
                sample = lines.line_sample(session, g, k)
                if sample is None:
                    continue
                path, body, removed = sample
                name = line_group(path, source_map)
                text = lines_of_stored(body, removed).get(k, ("", False))[0]
            rules.append(
                LearnedLine(
                    group_key=g,
                    line_key=k,
                    group_name=name,
                    text=text,
                    documents=n,
                    group_documents=sizes[g],
                    learned_at=now,
                )
            )
    with db.write() as session:
        return lines.replace_learned(session, rules)


def rules_if_changed(db: Database, version: int) -> tuple[int, Mapping[bytes, frozenset[bytes]]] | None:
    """(version, group key -> learned line keys) when the learned rules are no longer at
    ``version`` (learned by this node's job or another's), else None: one small query
    when nothing moved."""
    from indexer.db import lines

    with db.read() as session:
        current = lines.learned_version(session)
        if current == version:
            return None
        return current, lines.learned_rules(session)
