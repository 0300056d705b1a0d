"""job_runs: one row per job run (scan, follow, learn ...), and what the last ones did."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from indexer.db.models import JobRun

__all__ = [
    "end_run",
    "last_finished",
    "last_finished_id",
    "last_scan_counts",
    "last_started",
    "prune_runs",
    "start_run",
]


def start_run(session: Session, job: str, started: datetime, node: str | None) -> int:
    """Record that ``job`` started; returns the run's id."""
    run = JobRun(job=job, started_at=started, node=node)
    session.add(run)
    session.flush()
    return run.id


def end_run(
    session: Session, run_id: int, ended: datetime, outcome: str, counts: str, error: str | None
) -> None:
    """Record how a run ended (``counts`` as JSON)."""
    row = session.get(JobRun, run_id)
    if row is not None:
        row.ended_at = ended
        row.outcome = outcome
        row.counts = counts
        row.error = error


def prune_runs(session: Session, job: str, before: datetime) -> None:
    """Forget the runs of ``job`` started before ``before``."""
    session.execute(delete(JobRun).where(JobRun.job == job, JobRun.started_at < before))


def last_started(session: Session, job: str, node: str | None = None) -> datetime | None:
    """When ``job`` last started, on ``node`` (or by a program from before job_runs.node) when given."""
    statement = select(JobRun.started_at).where(JobRun.job == job)
    if node is not None:
        statement = statement.where(or_(JobRun.node == node, JobRun.node.is_(None)))
    return session.scalar(statement.order_by(JobRun.id.desc()).limit(1))


def last_finished_id(session: Session, job: str) -> int:
    """The id of the last run of ``job`` that ended, not cancelled (0 when none did).

    A run whose process died (even by SIGKILL) never ends; one stopped by a signal ends
    "cancelled": neither did the job's work.
    """
    statement = select(JobRun.id).where(
        JobRun.job == job, JobRun.ended_at.is_not(None), JobRun.outcome != "cancelled"
    )
    return session.scalar(statement.order_by(JobRun.id.desc()).limit(1)) or 0


def last_finished(session: Session, job: str, node: str) -> tuple[datetime, dict[str, Any]] | None:
    """When the last finished run of ``job`` on ``node`` ended, and its counts."""
    row = session.execute(
        select(JobRun.ended_at, JobRun.counts)
        .where(JobRun.job == job, JobRun.node == node, JobRun.ended_at.is_not(None))
        .order_by(JobRun.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    try:
        counts = json.loads(row.counts) if row.counts else {}
    except ValueError:
        counts = {}
    return row.ended_at, counts if isinstance(counts, dict) else {}


def last_scan_counts(session: Session) -> dict[str, Any]:
    """The counts the last finished scan recorded (empty before the first one)."""
    counts = session.scalar(
        select(JobRun.counts)
        .where(JobRun.job == "scan", JobRun.outcome == "ok")
        .order_by(JobRun.id.desc())
        .limit(1)
    )
    try:
        value = json.loads(counts) if counts else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
