"""APScheduler wiring only: which job runs when."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

from indexer.config import Config

__all__ = ["build_scheduler"]

# A run that could not start on time (the machine slept, the daemon was restarted) still
# runs if it is less than this late; with coalesce, missed runs collapse into one.
MISFIRE_GRACE_SECONDS = 3600


def build_scheduler(config: Config, scan: Callable[[], None]) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(
        timezone=UTC,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_SECONDS},
    )
    scheduler.add_job(
        scan,
        "interval",
        seconds=config.daemon.scan_interval_seconds,
        id="scan",
        next_run_time=datetime.now(UTC),
    )
    return scheduler
