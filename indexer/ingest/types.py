"""The typed values that flow between ingest stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

__all__ = ["Analysis", "Candidate", "Decoded", "FileFailure", "RawFile", "Removal", "Unlisted"]


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
    lines: tuple[tuple[bytes, bool], ...] = ()
    normalizer_version: int = 0
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
