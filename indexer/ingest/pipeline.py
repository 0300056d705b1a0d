"""The ordered stages: bytes in, an Analysis (or a recorded failure) out; no I/O."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from indexer.errors import InputError
from indexer.ingest import (
    boilerplate,
    decode,
    fingerprint,
    language,
    learned,
    metadata,
    normalize,
    pagefurniture,
)
from indexer.records import Analysis, FileFailure, RawFile

__all__ = ["AnalyzeOptions", "analyze"]


@dataclass(frozen=True)
class AnalyzeOptions:
    """The settings the pure stages need, as plain values (picklable for workers)."""

    min_words: int = 1
    language_min_chars: int = 20
    language_min_probability: float = 0.7
    allowed_languages: tuple[str, ...] = ()
    # Regexes from config: a line in which one is found is site furniture.
    boilerplate_rules: tuple[str, ...] = ()
    # (absolute folder, source name): files under a folder whose text names no source.
    source_map: tuple[tuple[str, str], ...] = ()
    # Learned furniture: group key -> keys of its lines (learned.line_key), from the DB.
    learned: Mapping[bytes, frozenset[bytes]] = field(default_factory=dict, hash=False)
    # (language, title, body) -> what the index writer files (``search.index.index_form``),
    # made here, in the workers, when set: a module-level function, so that it pickles.
    index_form: Callable[[str, str, str], object] | None = None


def analyze(raw: RawFile, options: AnalyzeOptions) -> Analysis | FileFailure:
    """Bytes to an Analysis, the stages in order: decode -> normalize -> boilerplate ->
    language -> metadata -> fingerprint. No I/O; expected outcomes come back as values."""
    started = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(stage: str, t0: float) -> float:
        now = time.perf_counter()
        timings[stage] = round((now - t0) * 1000, 3)
        return now

    try:
        decoded = decode.decode(raw.data, raw.path)
    except InputError as e:
        return FileFailure(raw.path, e.stage, e.reason, raw.size, raw.mtime_ns)
    t = lap("decode", started)
    body = normalize.normalize(decoded.text)
    t = lap("normalize", t)
    if not body:
        reason = "empty file" if not raw.data else "no text (whitespace only)"
        return FileFailure(raw.path, "normalize", reason, raw.size, raw.mtime_ns)
    cleaned = boilerplate.remove(body, options.boilerplate_rules)
    folder_source = learned.folder_source(raw.path, options.source_map)
    group = learned.group_of(raw.path, folder_source)
    group_key = learned.group_key(group)
    furniture = options.learned.get(group_key, frozenset())
    lines = tuple((key, key in furniture) for key in learned.short_lines(cleaned.body))
    without_learned = learned.remove_learned(cleaned.body, furniture)
    page = pagefurniture.remove(without_learned.body)
    removed = cleaned.removed + without_learned.removed + page.removed
    flags = tuple(dict.fromkeys(cleaned.flags + without_learned.flags + page.flags))
    body = page.body
    t = lap("boilerplate", t)
    detection = language.detect(
        body, options.language_min_chars, options.language_min_probability, options.allowed_languages
    )
    t = lap("language", t)
    meta = metadata.extract(
        body, furniture=[r.text for r in removed], default_source=folder_source, path=raw.path
    )
    if page.removed:
        # The headline is found among the page's own first lines (the page title, the
        # headline echoed under the menu), which page furniture may have taken away.
        head = metadata.extract(
            without_learned.body, furniture=[r.text for r in cleaned.removed + without_learned.removed]
        )
        if head.title and not head.title_derived:
            meta = dataclasses.replace(meta, title=head.title, title_derived=False)
    t = lap("metadata", t)
    if meta.word_count < options.min_words:
        return FileFailure(
            raw.path, "normalize", f"too short: {meta.word_count} words", raw.size, raw.mtime_ns
        )
    signature = fingerprint.fingerprint(body)
    t = lap("fingerprint", t)
    form = options.index_form(detection.language, meta.title, body) if options.index_form else None
    if form is not None:
        lap("index_form", t)
    return Analysis(
        path=raw.path,
        size=raw.size,
        mtime_ns=raw.mtime_ns,
        sha256=raw.sha256,
        encoding=decoded.encoding,
        repaired=decoded.repaired,
        body=body,
        body_sha256=hashlib.sha256(body.encode("utf-8")).hexdigest(),
        title=meta.title,
        title_derived=meta.title_derived,
        language=detection.language,
        language_prob=detection.probability,
        language_alt=detection.runner_up,
        languages=detection.languages,
        language_shares=detection.shares,
        source=meta.source,
        dateline=meta.dateline,
        byline=meta.byline,
        published=meta.published,
        date_source=meta.date_source,
        word_count=meta.word_count,
        char_count=meta.char_count,
        paragraph_count=meta.paragraph_count,
        summary=meta.summary,
        removed=removed,
        flags=flags,
        fingerprint=signature,
        line_group=group,
        line_group_key=group_key,
        lines=lines,
        normalizer_version=normalize.NORMALIZER_VERSION,
        index_form=form,
        ms=round((time.perf_counter() - started) * 1000, 3),
        stage_ms=timings,
    )


def warm_up(options: AnalyzeOptions, nice: int = 0) -> None:
    """Load the language profiles and the rest once per worker, not on its first file.

    It lives here, not in ingester.py, so that a worker imports only the analysis and
    the index schema (``index_form``), not SQLAlchemy or Whoosh's writer and reader. ``nice``: the daemon's workers
    run at a lower priority, so that the machine's own work comes first; a person waiting
    for `indexer ingest` gets its workers at normal priority.
    """
    _exit_with_parent()
    if nice:
        with contextlib.suppress(OSError):
            os.nice(nice)
    sample = b"Warm-up text\n\nThis short English paragraph loads the language profiles.\n"
    analyze(RawFile("warm-up.txt", sample, len(sample), 0, ""), options)


def _exit_with_parent() -> None:
    """In a worker process: exit as soon as the process that started it is gone.

    A pool's workers hold its queues' pipes at both ends, so a parent killed with
    SIGKILL would leave them (and the forkserver) waiting forever.
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
