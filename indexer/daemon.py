"""The long-running loop: one daemon per data dir, watcher + scheduler, a graceful stop."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from indexer import jobs
from indexer.db import store
from indexer.errors import AlreadyRunningError, Cancelled, ConfigError
from indexer.ingest.ingester import candidate_for
from indexer.ingest.paths import fs_path
from indexer.ingest.types import Candidate
from indexer.ingest.watch import Pending, start_observer
from indexer.jobs import Context
from indexer.locks import FileLock, held_by
from indexer.scheduler import CRON_JOBS, build_scheduler, missed_since

__all__ = ["DAEMON_LOCK", "STATUS_FILE", "Daemon", "read_status", "running_pid"]

log = structlog.get_logger(__name__)

DAEMON_LOCK = "daemon.lock"
STATUS_FILE = "daemon.json"
STOP_GRACE_SECONDS = 8.0  # SIGTERM must end us within 10 s, batch rolled back or done
STATUS_EVERY_SECONDS = 5.0  # how often the status file is refreshed while busy
IDLE_WAKE_SECONDS = 60.0  # with nothing pending, the loop sleeps this long (no busy polling)
WORKERS_IDLE_SECONDS = 30.0  # analysis workers unused this long are stopped (memory back)


def running_pid(ctx: Context) -> int | None:
    return held_by(ctx.config.data_dir / DAEMON_LOCK)


def read_status(ctx: Context) -> dict[str, Any] | None:
    """The running daemon's last status report, or None when no daemon runs."""
    if running_pid(ctx) is None:
        return None
    try:
        return json.loads((ctx.config.data_dir / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None


def _outermost(folders: list[str]) -> list[Path]:
    """The folders not inside another of them (a scan of both would see files twice)."""
    kept: list[str] = []
    for folder in sorted(folders):
        if not any(folder == k or folder.startswith(k.rstrip(os.sep) + os.sep) for k in kept):
            kept.append(folder)
    return [Path(k) for k in kept]


class Daemon:
    def __init__(self, ctx: Context, stop: threading.Event, clock: Callable[[], float] = time.monotonic) -> None:
        self.ctx = ctx
        self.stop = stop
        self.clock = clock
        cfg = ctx.config.daemon
        self.pending = Pending(cfg.settle_seconds, clock)
        self._busy = threading.Lock()  # one writer of the DB at a time within the daemon
        self._follow_due = True
        self._last_commit = 0.0
        self._last_status = 0.0
        self._started = datetime.now(UTC)
        self._scheduler: Any = None
        self._searches: Any = None  # the search server (search/service.py), once listening
        self._mode = cfg.watch
        self._taken: frozenset[str] = frozenset()  # files the watcher's batch is ingesting now
        # A batch being analysed when SIGTERM arrives is abandoned before its transaction.
        ctx.ingester.should_stop = stop.is_set

    # -- jobs, run by the scheduler's threads -------------------------------------------

    def _guarded(self, job: str, fn: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            if self.stop.is_set():
                return
            try:
                fn()
            except Cancelled:
                log.info(f"job.{job}", outcome="cancelled")
            except Exception as e:  # one bad run must not stop the daemon; it is logged
                log.error("daemon.job_failed", job=job, error=str(e), exc_info=True)
            finally:
                self._refresh_searches()
                self._write_status(force=True)

        return run

    def _defer(self, candidate: Candidate) -> bool:
        # A file modified within the settle window may still be being written: hand it
        # to the watcher's pending set rather than reading it half-written.
        if candidate.error:
            return False
        if candidate.path in self._taken:
            # The watcher is ingesting it: a scan reading it too (its reads and hash lookups
            # run outside the lock) would analyse it a second time before that commits.
            return True
        if time.time() - candidate.mtime_ns / 1e9 < self.ctx.config.daemon.settle_seconds:
            self.pending.touch(candidate.path)
            return True
        return False

    def _scan(self) -> None:
        # The lock is taken per batch: files dropped during a long scan wait one batch's
        # commit, not the whole scan.
        result = jobs.scan(self.ctx, defer=self._defer, should_stop=self.stop.is_set, follow_each_batch=True,
                           store_lock=self._busy)
        # Follow even when this scan found nothing: other writers (`indexer ingest`, other
        # nodes) may have added changes.
        self._follow_due = True
        self.pending.wake.set()
        if result.counts.failed:
            log.info("daemon.scan_failures", failed=result.counts.failed)

    def _reindex(self) -> None:
        jobs.reindex(self.ctx, should_stop=self.stop.is_set)

    def _optimize(self) -> None:
        jobs.optimize(self.ctx)

    def _verify(self) -> None:
        # Cluster-wide: with several daemons on one database, the node that takes the
        # lease runs it and the others skip this run (node-local jobs run everywhere).
        with self.ctx.db.leader("verify") as leading:
            if not leading:
                log.info("job.verify", outcome="skipped", reason="another node holds the verify lease")
                return
            with self._busy:  # repairs write; the watcher's batches wait for them
                jobs.verify(self.ctx, repair=True)
                with self.ctx.db.write(exclusive=False) as session:
                    dropped = store.drop_expired_claims(session)
                if dropped:
                    log.info("daemon.claims_dropped", claims=dropped)

    def _learn(self) -> None:
        # Learning the rules is cluster-wide (one node counts for all); re-analysing runs
        # on every node for its own inbox, so a node whose leader learned new rules after
        # this node's run picks them up on its next one.
        with self.ctx.db.leader("learn") as leading:
            with self._busy:
                jobs.learn(self.ctx, learn_rules=leading, should_stop=self.stop.is_set)
        self._follow_due = True
        self.pending.wake.set()

    # -- searches -------------------------------------------------------------------

    def _serve_searches(self) -> None:
        """Answer `indexer search` over data_dir/search.sock with a warm searcher."""
        from indexer.search.service import SearchServer

        server = SearchServer(self.ctx.config.data_dir, self.ctx.config.database_url)
        try:
            server.start()
        except OSError as e:  # e.g. a socket path over 107 bytes: searches open the index
            log.warning("daemon.search_server_failed", error=str(e))
            return
        self._searches = server
        self._refresh_searches()

    def _refresh_searches(self) -> None:
        # After each index commit or swap, so no search waits for the segments to reopen.
        if self._searches is not None:
            try:
                self._searches.refresh()
            except Exception as e:  # a damaged index: searches report it themselves
                log.warning("daemon.search_refresh_failed", error=str(e), exc_info=True)

    def _stop_searches(self) -> None:
        if self._searches is not None:
            self._searches.stop()
            self._searches = None

    # -- the main loop -----------------------------------------------------------------

    def _process(self) -> None:
        ready = self.pending.take_ready(self.ctx.config.ingest.batch_size)
        if ready:
            with self._busy:
                if ready.folders:
                    # One scan for all: a folder renamed inside the inbox has its old and new
                    # paths in one batch, so its documents keep their ids.
                    jobs.scan(self.ctx, roots=_outermost(ready.folders), defer=self._defer,
                              should_stop=self.stop.is_set)
                rules, inbox = self.ctx.ingester.rules, self.ctx.config.inbox_dirs
                candidates = [c for path in ready.files if (c := candidate_for(path, rules, inbox)) is not None]
                gone = ready.gone + [p for p in ready.files if not os.path.lexists(p)]
                self._taken = frozenset(ready.files)
                try:
                    counts = self.ctx.ingester.ingest(candidates, removed=gone)
                    for path in counts.busy:  # a scan's batch has it: look again once settled
                        self.pending.touch(fs_path(path))
                except Exception:
                    for path in ready.files:  # try these again once the trouble passes
                        self.pending.touch(path)
                    raise
                finally:
                    self._taken = frozenset()
            self._follow_due = True
        now = self.clock()
        if self._follow_due and now - self._last_commit >= self.ctx.config.daemon.commit_interval_seconds:
            self._follow_due = False
            self._last_commit = now
            jobs.follow(self.ctx)
            self._refresh_searches()

    def _timeout(self) -> float:
        due = self.pending.next_due()
        timeout = IDLE_WAKE_SECONDS if due is None else due + 0.02
        if self._follow_due:
            wait = self._last_commit + self.ctx.config.daemon.commit_interval_seconds - self.clock()
            timeout = min(timeout, max(0.0, wait))
        return min(timeout, STATUS_EVERY_SECONDS)

    def _write_status(self, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self._last_status < STATUS_EVERY_SECONDS:
            return
        self._last_status = now
        next_runs = {}
        if self._scheduler is not None:
            for job in self._scheduler.get_jobs():
                next_runs[job.id] = job.next_run_time.isoformat() if job.next_run_time else None
        status = {
            "pid": os.getpid(),
            "started_at": self._started.isoformat(),
            "uptime_seconds": round((datetime.now(UTC) - self._started).total_seconds()),
            "watch": self._mode,
            "pending_files": len(self.pending),
            "next_runs": next_runs,
            "updated_at": datetime.now(UTC).isoformat(),
        }
        path = self.ctx.config.data_dir / STATUS_FILE
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(status))
            os.replace(tmp, path)
        except OSError as e:
            log.warning("daemon.status_write_failed", error=str(e))

    def _start_watching(self) -> Any:
        mode = self.ctx.config.daemon.watch
        if mode == "poll":
            return None
        try:
            return start_observer(self.ctx.config.inbox_dirs, self.ctx.ingester.rules, self.pending)
        except OSError as e:
            if mode == "events":
                raise ConfigError(f"cannot watch the inbox for events: {e}") from e
            log.warning("daemon.watch_fallback", reason=str(e), mode="poll")
            self._mode = "poll"
            return None

    def _catch_up(self, scheduler: Any) -> None:
        """Run now a cron job whose time passed while the daemon was down (within grace)."""
        grace = timedelta(seconds=self.ctx.config.daemon.misfire_grace_seconds)
        for job_id, attribute in CRON_JOBS:
            crontab = getattr(self.ctx.config.daemon, attribute)
            job = scheduler.get_job(job_id)
            if not crontab or job is None:
                continue
            now = datetime.now(scheduler.timezone)
            missed = missed_since(crontab, now, grace)
            last = jobs.last_run(self.ctx, job_id)
            if missed is not None and (last is None or last < missed):
                log.info("daemon.catch_up", job=job_id, missed=missed.isoformat())
                job.modify(next_run_time=now)

    def run(self) -> None:
        cfg = self.ctx.config
        for folder in cfg.inbox_dirs:
            if not folder.is_dir():
                where = f" (fix [paths] inbox in {cfg.source})" if cfg.source else ""
                raise ConfigError(f"inbox folder does not exist: {folder}{where}")
        lock = FileLock(cfg.data_dir / DAEMON_LOCK)
        if not lock.try_acquire():
            raise AlreadyRunningError(held_by(lock.path))
        observer = None
        try:
            observer = self._start_watching()
            self._serve_searches()
            # Polling is how files are found at all; with file events the scan is only the
            # safety net, and a tree of 100,000 files is not stat'ed every few seconds.
            scan_seconds = cfg.daemon.scan_interval_seconds if self._mode == "poll" else cfg.daemon.safety_scan_seconds
            log.info("daemon.start", pid=os.getpid(), watch=self._mode, inbox=[str(p) for p in cfg.inbox_dirs],
                     data_dir=str(cfg.data_dir), scan_seconds=scan_seconds)
            scheduler = build_scheduler(
                cfg,
                {
                    "scan": self._guarded("scan", self._scan),
                    "reindex": self._guarded("reindex", self._reindex),
                    "optimize": self._guarded("optimize", self._optimize),
                    "verify": self._guarded("verify", self._verify),
                    "learn": self._guarded("learn", self._learn),
                },
                scan_seconds,
            )
            scheduler.start()
            self._scheduler = scheduler
            self._catch_up(scheduler)
            while not self.stop.is_set():
                self._write_status()
                self.ctx.ingester.close_if_idle(WORKERS_IDLE_SECONDS)
                self.pending.wake.wait(self._timeout())
                self.pending.wake.clear()
                if self.stop.is_set():
                    break
                try:
                    self._process()
                except Cancelled:
                    break
                except Exception as e:  # logged; the daemon keeps running
                    log.error("daemon.batch_failed", error=str(e), exc_info=True)
                    self.stop.wait(1.0)
            log.info("daemon.stopping")
            # shutdown(wait=True) would log a false error for a job still running; stop
            # taking new runs and wait for the running one ourselves (it sees self.stop).
            scheduler.shutdown(wait=False)
            if self._busy.acquire(timeout=STOP_GRACE_SECONDS):
                self._busy.release()
            log.info("daemon.stopped")
        finally:
            self._stop_searches()
            if observer is not None:
                observer.stop()
            (cfg.data_dir / STATUS_FILE).unlink(missing_ok=True)
            lock.release()

    def request_stop(self) -> None:
        self.stop.set()
        self.pending.wake.set()
