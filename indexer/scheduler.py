"""APScheduler wiring only: which job runs when, and catching up runs missed while down."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from indexer.config import Config

__all__ = ["CRON_JOBS", "build_scheduler", "missed_since"]

# (job id, config attribute holding its crontab)
CRON_JOBS = (
    ("reindex", "reindex_cron"),
    ("optimize", "optimize_cron"),
    ("verify", "verify_cron"),
    ("learn", "learn_cron"),
)


def build_scheduler(
    config: Config, jobs: dict[str, Callable[[], None]], scan_seconds: float
) -> BackgroundScheduler:
    """One scheduler: the scan every ``scan_seconds``, maintenance jobs on crontabs.

    coalesce: a backlog of missed runs becomes one run; max_instances=1: a slow run is
    never overlapped by the next; misfire grace: a run that starts late still runs.
    """
    grace = int(config.daemon.misfire_grace_seconds) or None
    scheduler = BackgroundScheduler(
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": grace},
    )
    scheduler.add_job(
        jobs["scan"],
        IntervalTrigger(seconds=scan_seconds),
        id="scan",
        name="scan",
        next_run_time=datetime.now(scheduler.timezone),
    )
    for job_id, attribute in CRON_JOBS:
        crontab = getattr(config.daemon, attribute)
        if crontab and job_id in jobs:
            scheduler.add_job(jobs[job_id], CronTrigger.from_crontab(crontab), id=job_id, name=job_id)
    return scheduler


def missed_since(crontab: str, now: datetime, grace: timedelta) -> datetime | None:
    """The latest fire time of ``crontab`` within ``grace`` before ``now``, if any."""
    trigger = CronTrigger.from_crontab(crontab, timezone=now.tzinfo)
    fire = trigger.get_next_fire_time(None, now - grace)
    latest = None
    while fire is not None and fire <= now:
        latest = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return latest
