"""The records db/ and ingest/ exchange: files found, analyses, outcomes, batch counts.

Plain frozen values with no behaviour beyond their own fields, in a module that imports
neither layer, so that ingest/ can hand them to db/ and db/ can return them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

__all__ = [
    "Analysis",
    "BatchCounts",
    "Candidate",
    "Cleaned",
    "ClusterAssignment",
    "ClusterInput",
    "Decoded",
    "FileFailure",
    "Linked",
    "RawFile",
    "Removal",
    "Unlisted",
]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A file found on disk, known only by its stat."""

    path: str
    size: int
    mtime_ns: int
    inode: int = 0
    error: str | None = None  # set for things that must be recorded, never opened


@dataclass(frozen=True, slots=True)
class Unlisted:
    """A folder a scan could not list: what is known under it is neither new nor gone."""

    path: str
    reason: str
    missing: bool = False  # it does not exist (gone, or its inbox folder moved or unmounted)


@dataclass(frozen=True, slots=True)
class RawFile:
    path: str
    data: bytes
    size: int
    mtime_ns: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Decoded:
    text: str
    encoding: str
    repaired: bool = False


@dataclass(frozen=True, slots=True)
class Removal:
    """A line or paragraph normalization dropped, and the rule that dropped it."""

    rule: str
    text: str


@dataclass(frozen=True, slots=True)
class Cleaned:
    """A body with furniture taken out: what was removed, and flags (all of it kept)."""

    body: str
    removed: tuple[Removal, ...] = ()
    flags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Analysis:
    """Everything the database stores about one file's text."""

    path: str
    size: int
    mtime_ns: int
    sha256: str
    encoding: str
    repaired: bool
    body: str
    body_sha256: str
    title: str
    language: str
    language_prob: float
    language_alt: str | None = None
    languages: tuple[str, ...] = ()
    language_shares: tuple[float, ...] = ()  # of the prose, for each of ``languages``
    source: str | None = None
    dateline: str | None = None
    byline: str | None = None
    published: date | None = None
    date_source: str | None = None  # where published was read: metadata.TEXT_LINE, ...
    title_derived: bool = False  # no headline: the title is cut from the lede
    word_count: int = 0
    char_count: int = 0
    paragraph_count: int = 0
    summary: str = ""
    removed: tuple[Removal, ...] = ()
    flags: tuple[str, ...] = ()
    fingerprint: bytes | None = None
    # Learned furniture: the group this document is counted in ("folder:...", "source:..."),
    # and (line key, judged furniture) for each short line before learned rules ran.
    line_group: str = ""
    line_group_key: bytes = b""  # learned.group_key(line_group): how doc_lines keys the group
    lines: tuple[tuple[bytes, bool], ...] = ()
    normalizer_version: int = 0
    index_form: object | None = None  # AnalyzeOptions.index_form's, for the index writer
    ms: float = 0.0
    stage_ms: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FileFailure:
    """A file that did not become a document: where it failed and why."""

    path: str
    stage: str
    reason: str
    size: int | None = None
    mtime_ns: int | None = None
    transient: bool = False


@dataclass(frozen=True, slots=True)
class Linked:
    """A file whose bytes are already known: it joins that document without analysis."""

    path: str
    size: int
    mtime_ns: int
    sha256: str


@dataclass
class BatchCounts:
    """What one stored batch did, counted; merged over the batches of a scan."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    failed: int = 0
    deleted: int = 0
    failed_paths: list[tuple[str, str]] = field(default_factory=list)
    doc_ids: dict[str, int] = field(default_factory=dict)  # path -> document, for logging
    # Paths left to another batch of this process that had them in progress: the caller
    # looks at them again once that one is stored (they may have changed since it read them).
    in_other_batch: list[str] = field(default_factory=list)

    def merge(self, other: BatchCounts) -> None:
        for name in ("added", "updated", "unchanged", "duplicates", "failed", "deleted"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.failed_paths.extend(other.failed_paths)
        self.in_other_batch.extend(other.in_other_batch)

    def as_dict(self) -> dict[str, int]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "duplicates": self.duplicates,
            "failed": self.failed,
            "deleted": self.deleted,
        }


@dataclass(frozen=True, slots=True)
class ClusterInput:
    """A batch's new or changed texts and their near-duplicate candidates, as stored.

    ``texts``: (document id, fingerprint, cluster id) of each, in the batch's order;
    ``keys``: each text's band keys; ``banded``: per band, key -> ids of the stored
    documents that have it; ``stored``: candidate id -> (fingerprint, cluster id) of
    the live stored documents among them.
    """

    texts: Sequence[tuple[int, bytes, int | None]]
    keys: Mapping[int, Sequence[int]]
    banded: Sequence[Mapping[int, Sequence[int]]]
    stored: Mapping[int, tuple[bytes, int | None]]


@dataclass(frozen=True, slots=True)
class ClusterAssignment:
    """What clustering decided for a batch: the clusters to write.

    ``texts``: (document id, new cluster id) of the batch's texts whose cluster changes;
    ``joining``: stored or earlier documents without a cluster that one of the texts
    joins, and the cluster they get; ``left``: clusters whose first story left them
    (their members are regrouped).
    """

    texts: Sequence[tuple[int, int | None]] = ()
    joining: Mapping[int, int | None] = field(default_factory=dict)
    left: Sequence[int] = ()
