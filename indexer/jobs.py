"""Plain functions the scheduler and the CLI call: scan, follow, reindex, each run recorded."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from indexer.config import Config
from indexer.db.models import JobRun
from indexer.db.session import Database, open_database
from indexer.ingest.discover import Rules
from indexer.ingest.pipeline import AnalyzeOptions, Ingester, IngestResult
from indexer.search.index import FollowResult, IndexStore, RebuildResult

__all__ = ["Context", "follow", "open_context", "recorded", "reindex", "scan"]

log = structlog.get_logger(__name__)


@dataclass
class Context:
    """What every job needs, opened once at the edge from the config."""

    config: Config
    db: Database
    index: IndexStore
    ingester: Ingester

    def close(self) -> None:
        self.db.dispose()


def open_context(config: Config) -> Context:
    db = open_database(config.database_url, config.data_dir, config.database.busy_timeout_seconds)
    rules = Rules(
        include=tuple(config.paths.include),
        exclude=tuple(config.paths.exclude),
        follow_symlinks=config.paths.follow_symlinks,
    )
    options = AnalyzeOptions(
        min_words=config.ingest.min_words,
        language_min_chars=config.language.min_chars,
        language_min_probability=config.language.min_probability,
        allowed_languages=tuple(config.language.allowed),
    )
    ingester = Ingester(
        db, rules, options, int(config.ingest.max_file_size_mb * 1_000_000), config.ingest.batch_size
    )
    return Context(config, db, IndexStore(config.data_dir), ingester)


@contextmanager
def recorded(ctx: Context, job: str) -> Iterator[dict[str, Any]]:
    """Record one run in ``job_runs`` and log one canonical line for it."""
    counts: dict[str, Any] = {}
    started = datetime.now(UTC)
    t0 = time.monotonic()
    with ctx.db.write() as session:
        run = JobRun(job=job, started_at=started)
        session.add(run)
        session.flush()
        run_id = run.id
    outcome, error = "ok", None
    try:
        yield counts
    except BaseException as e:
        outcome, error = "failed", f"{type(e).__name__}: {e}"
        raise
    finally:
        ms = round((time.monotonic() - t0) * 1000, 1)
        try:
            with ctx.db.write() as session:
                row = session.get(JobRun, run_id)
                if row is not None:
                    row.ended_at = datetime.now(UTC)
                    row.outcome = outcome
                    row.counts = json.dumps(counts, default=str)
                    row.error = error
        except Exception as e:  # the job's own outcome matters more than its record
            log.warning("job.record_failed", job=job, error=str(e))
        event = log.info if outcome == "ok" else log.error
        event(f"job.{job}", outcome=outcome, ms=ms, error=error, **counts)


def scan(
    ctx: Context, roots: list[Path] | None = None, progress: Callable[[int], None] | None = None
) -> IngestResult:
    """Ingest what is new or changed under ``roots`` (the inbox by default), then follow."""
    with recorded(ctx, "scan") as counts:
        result = ctx.ingester.scan(roots or ctx.config.inbox_dirs, progress)
        counts.update(result.as_dict())
    return result


def follow(ctx: Context, on_wait: Callable[[int | None], None] | None = None) -> FollowResult:
    result = ctx.index.follow(ctx.db, on_wait=on_wait)
    if result.applied:
        log.info("index.follow", applied=result.applied, checkpoint=result.checkpoint, commits=result.commits)
    return result


def reindex(ctx: Context, progress: Callable[[int, int], None] | None = None) -> RebuildResult:
    with recorded(ctx, "reindex") as counts:
        result = ctx.index.rebuild(ctx.db, progress)
        counts.update(documents=result.documents, generation=result.generation)
    return result
