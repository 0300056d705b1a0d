"""The long-running loop: one daemon per data dir, scheduled jobs, a graceful stop."""

from __future__ import annotations

import os
import threading
import time

import structlog

from indexer import jobs
from indexer.errors import AlreadyRunningError
from indexer.jobs import Context
from indexer.locks import FileLock, held_by
from indexer.scheduler import build_scheduler

__all__ = ["DAEMON_LOCK", "Daemon", "running_pid"]

log = structlog.get_logger(__name__)

DAEMON_LOCK = "daemon.lock"
STOP_GRACE_SECONDS = 8.0  # SIGTERM must end us within 10 s, batch rolled back or done


def running_pid(ctx: Context) -> int | None:
    return held_by(ctx.config.data_dir / DAEMON_LOCK)


class Daemon:
    def __init__(self, ctx: Context, stop: threading.Event) -> None:
        self.ctx = ctx
        self.stop = stop
        self._busy = threading.Lock()  # held while a job touches the DB or the index

    def _scan_and_follow(self) -> None:
        if self.stop.is_set():
            return
        with self._busy:
            try:
                jobs.scan(self.ctx)
                jobs.follow(self.ctx)
            except Exception as e:  # one bad run must not stop the daemon; it is logged
                log.error("daemon.job_failed", job="scan", error=str(e), exc_info=True)

    def run(self) -> None:
        lock = FileLock(self.ctx.config.data_dir / DAEMON_LOCK)
        if not lock.try_acquire():
            raise AlreadyRunningError(held_by(lock.path))
        try:
            for folder in self.ctx.config.inbox_dirs:
                folder.mkdir(parents=True, exist_ok=True)
            log.info(
                "daemon.start",
                pid=os.getpid(),
                inbox=[str(p) for p in self.ctx.config.inbox_dirs],
                data_dir=str(self.ctx.config.data_dir),
            )
            scheduler = build_scheduler(self.ctx.config, scan=self._scan_and_follow)
            scheduler.start()
            self.stop.wait()
            log.info("daemon.stopping")
            # shutdown(wait=True) would log a false error for a job still running; we
            # stop taking new runs and wait for the current one ourselves instead.
            scheduler.shutdown(wait=False)
            deadline = time.monotonic() + STOP_GRACE_SECONDS
            if self._busy.acquire(timeout=max(0.0, deadline - time.monotonic())):
                self._busy.release()
            log.info("daemon.stopped")
        finally:
            lock.release()
