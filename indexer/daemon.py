"""The long-running loop: one daemon per data dir, watcher + scheduler, a graceful stop."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from indexer import jobs
from indexer.alerts.definitions import check_queries, load_alerts
from indexer.alerts.runner import AlertRunner
from indexer.config import Config
from indexer.context import Context
from indexer.db import changes, claims, files, runs
from indexer.errors import AlreadyRunningError, Cancelled, ConfigError
from indexer.ingest.folders import FolderMarks, is_under
from indexer.ingest.ingester import ScanHooks
from indexer.ingest.paths import fs_path
from indexer.ingest.watch import Pending, Watcher, start_observer
from indexer.locks import FileLock, held_by
from indexer.records import Candidate
from indexer.scheduler import CRON_JOBS, build_scheduler, missed_since
from indexer.server import SearchServer

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler

__all__ = ["DAEMON_LOCK", "STATUS_FILE", "Daemon", "read_status", "running_pid"]

log = structlog.get_logger(__name__)

DAEMON_LOCK = "daemon.lock"
STATUS_FILE = "daemon.json"
STOP_GRACE_SECONDS = 8.0  # SIGTERM must end us within 10 s, batch rolled back or done
STATUS_EVERY_SECONDS = 5.0  # how often the status file is refreshed while busy
IDLE_WAKE_SECONDS = 60.0  # with nothing pending, the loop sleeps this long (no busy polling)
WORKERS_IDLE_SECONDS = 30.0  # analysis workers unused this long are stopped (memory back)
# Other writers (the nodes sharing a PostgreSQL database, `indexer ingest` or `retry` in
# another process) commit changes no file event tells us of: one tiny query this often
# (the DB's sequence against the index checkpoint) makes the index follow them in seconds.
# On PostgreSQL their commits are also heard at once (LISTEN/NOTIFY); this is the net.
FOLLOW_POLL_SECONDS = 2.0
# How often the loop looks (a few stats) for an inbox root moved away, deleted or recreated
# (its inotify watch follows the old folder) and for a deleted live index (every search
# fails until it is rebuilt).
CHECK_EVERY_SECONDS = 2.0


def running_pid(ctx: Context) -> int | None:
    return held_by(ctx.config.data_dir / DAEMON_LOCK)


def read_status(ctx: Context) -> dict[str, Any] | None:
    """The running daemon's last status report, or None when no daemon runs."""
    if running_pid(ctx) is None:
        return None
    try:
        status: dict[str, Any] = json.loads((ctx.config.data_dir / STATUS_FILE).read_text())
        return status
    except (OSError, ValueError):
        return None


def _outermost(folders: list[str]) -> list[Path]:
    """The folders not inside another of them (a scan of both would see files twice)."""
    kept: list[str] = []
    for folder in sorted(folders):
        if not any(folder == k or folder.startswith(k.rstrip(os.sep) + os.sep) for k in kept):
            kept.append(folder)
    return [Path(k) for k in kept]


def missing_inbox(cfg: Config, folder: Path) -> str:
    where = f" (fix [paths] inbox in {cfg.source})" if cfg.source else ""
    return f"inbox folder does not exist: {folder}{where}"


class Daemon:
    def __init__(
        self, ctx: Context, stop: threading.Event, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ctx = ctx
        self.stop = stop
        self.clock = clock
        cfg = ctx.config.daemon
        self.pending = Pending(cfg.settle_seconds, clock)
        self._write_lock = threading.Lock()  # one writer of the DB at a time within the daemon
        self._follow_due = True
        self._last_commit = 0.0
        self._last_status = 0.0
        self._next_poll = 0.0
        self._poll_wait = FOLLOW_POLL_SECONDS  # doubled while polls or follows fail
        self._started = datetime.now(UTC)
        self._scheduler: BackgroundScheduler | None = None
        self._searches: SearchServer | None = None  # once listening
        self._mode = cfg.watch
        self._taken: frozenset[str] = frozenset()  # files the watcher's batch is ingesting now
        self._reopen_log = False  # SIGHUP: the main loop opens [log] file again
        self._watcher: Watcher | None = None  # with file events
        self._last_check = 0.0
        self._unwatched: dict[str, str] = {}  # inbox root -> why its events are not seen
        self._scan_seconds = cfg.safety_scan_seconds if cfg.watch != "poll" else cfg.scan_interval_seconds
        # Set when an inbox given through a symlink now leads elsewhere: the command starts
        # the daemon again (the folders are resolved once, at start).
        self.restart = False
        self._inboxes = ctx.config.inbox_dirs  # resolved now, as the ingester's rules are
        self._alerts = AlertRunner(ctx)  # matches and delivers in a thread of its own
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
        if self._inbox_resolves_elsewhere():
            return
        # The lock is taken per batch: files dropped during a long scan wait one batch's
        # commit, not the whole scan.
        hooks = ScanHooks(defer=self._defer, should_stop=self.stop.is_set, store_lock=self._write_lock)
        result = jobs.scan(self.ctx, hooks=hooks, follow_each_batch=True)
        # Follow even when this scan found nothing: other writers (`indexer ingest`, other
        # nodes) may have added changes.
        self._follow_due = True
        self.pending.wake.set()
        if result.counts.failed:
            log.info("daemon.scan_failures", failed=result.counts.failed)

    def _reindex(self) -> None:
        # Re-analysis (documents of an older normalizer) takes turns with the watcher's
        # batches; the rebuild itself reads the database beside them.
        if self.ctx.config.daemon.reindex_always:
            jobs.reindex(self.ctx, should_stop=self.stop.is_set)
        else:
            jobs.reindex_if_needed(self.ctx, should_stop=self.stop.is_set, store_lock=self._write_lock)
        self._follow_due = True

    def _optimize(self) -> None:
        jobs.optimize(self.ctx)

    def _finished_runs(self, job: str) -> int:
        with self.ctx.db.read() as session:
            return runs.last_finished_id(session, job)

    def _watch_leader(self, job: str, again: Callable[[], None]) -> None:
        """Run ``again`` in a third of ``claim_lease_seconds``: a node that found another
        leading ``job`` looks once more, until it gets the lease (the leader done or dead)."""
        if self._scheduler is None or self.stop.is_set():
            return
        seconds = self.ctx.config.database.claim_lease_seconds / 3
        self._scheduler.add_job(
            self._guarded(job, again),
            "date",
            run_date=datetime.now(self._scheduler.timezone) + timedelta(seconds=seconds),
            id=f"{job}-leader",
            replace_existing=True,
        )

    def _verify(self, after: int | None = None) -> None:
        """Cluster-wide: with several daemons on one database, the node that takes the
        lease runs it and the others skip this run (node-local jobs run everywhere).

        A node that skipped watches the lease (``after``: the last finished run when it
        first looked): once it gets it, it runs verify in the leader's place if no run
        ended meanwhile (the leader died, or was stopped, before the end).
        """
        finished = self._finished_runs("verify") if after is None else after
        with self.ctx.db.leader("verify") as leading:
            if not leading:
                if after is None:
                    log.info("job.verify", outcome="skipped", reason="another node holds the verify lease")
                self._watch_leader("verify", lambda: self._verify(finished))
                return
            if after is not None:
                if self._finished_runs("verify") > after:
                    return  # the leader ran it to the end
                log.info("daemon.leader_taken_over", job="verify", reason="its leader stopped before the end")
            with self._write_lock:  # repairs write; the watcher's batches wait for them
                # Not the files outside the inboxes: a mistyped inbox would empty the catalog.
                jobs.verify(self.ctx, repair=True, outside=False)
                with self.ctx.db.write(exclusive=False) as session:
                    dropped = claims.drop_expired_claims(session)
                if dropped:
                    log.info("daemon.claims_dropped", claims=dropped)

    def _learn(self, after: int | None = None) -> None:
        """Learning the rules is cluster-wide (one node counts for all); re-analysing runs
        on every node for its own inbox, so a node whose leader learned new rules after
        this node's run picks them up on its next one.

        A node that did not lead watches the lease as for verify (``after``: the last
        finished "learn-rules" run when it first looked) and learns in the place of a
        leader that stopped before the end.
        """
        finished = self._finished_runs("learn-rules") if after is None else after
        with self.ctx.db.leader("learn") as leading:
            if after is not None:  # looking again: only the leader's part is left
                if not leading:
                    self._watch_leader("learn", lambda: self._learn(finished))
                    return
                if self._finished_runs("learn-rules") > after:
                    return  # the leader learned to the end
                log.info("daemon.leader_taken_over", job="learn", reason="its leader stopped before the end")
            with self._write_lock:
                jobs.learn(self.ctx, learn_rules=leading, should_stop=self.stop.is_set)
            if not leading:
                self._watch_leader("learn", lambda: self._learn(finished))
        self._follow_due = True
        self.pending.wake.set()

    # -- searches -------------------------------------------------------------------

    def _serve_searches(self) -> None:
        """Answer `indexer search` over data_dir/search.sock with a warm searcher."""
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
            with self._write_lock:
                if ready.folders:
                    # One scan for all: a folder renamed inside the inbox has its old and new
                    # paths in one batch, so its documents keep their ids.
                    hooks = ScanHooks(defer=self._defer, should_stop=self.stop.is_set)
                    jobs.scan(self.ctx, roots=_outermost(ready.folders), hooks=hooks)
                gone = self._really_gone(ready.gone + [p for p in ready.files if not os.path.lexists(p)])
                self._taken = frozenset(ready.files)
                try:
                    counts = jobs.ingest_paths(self.ctx, ready.files, removed=gone)
                    for path in counts.in_other_batch:  # a scan's batch has it: look again once settled
                        self.pending.touch(fs_path(path))
                except Exception:
                    for path in ready.files:  # try these again once the trouble passes
                        self.pending.touch(path)
                    raise
                finally:
                    self._taken = frozenset()
            self._follow_due = True
        self._poll_changes()
        now = self.clock()
        if self._follow_due and now - self._last_commit >= self.ctx.config.daemon.commit_interval_seconds:
            self._follow_due = False
            self._last_commit = now
            if jobs.follow(self.ctx).applied:
                self._alerts.poke()
            self._poll_wait = FOLLOW_POLL_SECONDS
            self._refresh_searches()

    def _heard_changes(self) -> None:
        """From the listening thread: a transaction somewhere changed documents; the loop
        looks at once instead of at its next poll."""
        self._next_poll = -math.inf
        self.pending.wake.set()

    def _poll_changes(self) -> None:
        """Mark a follow due when the DB holds changes the index has not applied."""
        now = self.clock()
        if self._follow_due or now < self._next_poll:
            return
        # Set before the query: a database or index that keeps failing is asked less often
        # (up to IDLE_WAKE_SECONDS), not every few seconds with an error logged each time.
        self._next_poll = now + self._poll_wait
        self._poll_wait = min(self._poll_wait * 2, IDLE_WAKE_SECONDS)
        with self.ctx.db.read() as session:
            seq = changes.current_seq(session)
        if seq <= (self.ctx.index.checkpoint() or 0):
            self._poll_wait = FOLLOW_POLL_SECONDS
        elif self.ctx.index.writer_pid() in (None, os.getpid()):
            self._follow_due = True
        else:
            # Another process (`indexer ingest`) writes this index and applies the changes
            # itself: waiting for its writer (up to 30 s between its commits) would hold up
            # the watcher's batches.
            self._poll_wait = FOLLOW_POLL_SECONDS

    def _check(self) -> None:
        """Watch again a root whose folder changed, and rebuild a deleted live index."""
        now = self.clock()
        stale = self._watcher is not None and self._watcher.stale.is_set()
        if now - self._last_check < CHECK_EVERY_SECONDS and not stale:
            return
        self._last_check = now
        if self._inbox_resolves_elsewhere():
            return
        if self._watcher is not None:
            for root in self._watcher.check():
                self.pending.folder(root)  # files that came while it was not watched
            unwatched = self._watcher.unwatched()
            if unwatched != self._unwatched:
                self._unwatched = unwatched
                self._rescan_every(
                    self.ctx.config.daemon.scan_interval_seconds
                    if unwatched
                    else self.ctx.config.daemon.safety_scan_seconds
                )
                self._write_status(force=True)
        if self.ctx.index.missing():
            # Following rebuilds a missing index from the database (beside, then swapped in);
            # searches meanwhile are told to retry (search/engine.py: missing_index).
            if not self._follow_due:  # a follow already due (the first one) builds it anyway
                log.warning("daemon.index_missing", data_dir=str(self.ctx.config.data_dir))
            self._follow_due = True
            self._last_commit = -math.inf

    def _inbox_resolves_elsewhere(self) -> bool:
        """Whether a configured inbox (`inbox = ["link"]`, or a folder replaced by a
        symlink) now resolves to another folder than at start: then the daemon stops, to
        start again on it, before it reads the old folder, which is no inbox any more."""
        changed = [
            (was, new)
            for was, new in zip(self._inboxes, self.ctx.config.inbox_dirs, strict=True)
            if was != new
        ]
        for was, new in changed:
            log.warning("daemon.inbox_moved", inbox=str(new), was=str(was), action="restarting")
        if changed:
            self.restart = True
            self.stop.set()
        return bool(changed)

    def _rescan_every(self, seconds: float) -> None:
        # Scans are how an unwatched root's files are found: as often as when polling.
        if seconds == self._scan_seconds or self._scheduler is None:
            return
        from apscheduler.triggers.interval import IntervalTrigger

        self._scan_seconds = seconds
        self._scheduler.reschedule_job("scan", trigger=IntervalTrigger(seconds=seconds))

    def _really_gone(self, paths: list[str]) -> list[str]:
        """``paths`` less those under an inbox folder that is unavailable now (moved away,
        unmounted, emptied, unreadable): the scan keeps their documents and says why."""
        if not paths:
            return paths
        kept = [fs_path(f.path) for f in jobs.unavailable_folders(self.ctx)]
        # A folder replaced since its files were taken (`mv inbox x; mkdir inbox`): the
        # next scan judges what vanished from it, all at once.
        marks = FolderMarks(self.ctx.ingester.marks_path)
        kept += [f for f in marks.folders(self.ctx.ingester.inbox) if marks.replaced(f)]
        return [p for p in paths if not is_under(p, kept)]

    def _timeout(self) -> float:
        due = self.pending.next_due()
        timeout = IDLE_WAKE_SECONDS if due is None else due + 0.02
        if self._follow_due:
            wait = self._last_commit + self.ctx.config.daemon.commit_interval_seconds - self.clock()
            timeout = min(timeout, max(0.0, wait))
        else:
            timeout = min(timeout, max(0.0, self._next_poll - self.clock()))
        return min(timeout, STATUS_EVERY_SECONDS, CHECK_EVERY_SECONDS)

    def _write_status(self, force: bool = False) -> None:
        if self.stop.is_set():  # a job ending after the stop must not write it back once removed
            return
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
            "unwatched": self._unwatched,
            "scan_seconds": self._scan_seconds,
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

    def _start_watching(self) -> Watcher | None:
        mode = self.ctx.config.daemon.watch
        if mode == "poll":
            return None
        try:
            self._watcher = start_observer(self.ctx.config.inbox_dirs, self.ctx.ingester.rules, self.pending)
            return self._watcher
        except OSError as e:
            if mode == "events":
                raise ConfigError(f"cannot watch the inbox for events: {e}") from e
            log.warning("daemon.watch_fallback", reason=str(e), mode="poll")
            self._mode = "poll"
            self._scan_seconds = self.ctx.config.daemon.scan_interval_seconds
            return None

    def _catch_up(self, scheduler: BackgroundScheduler) -> None:
        """Run now a cron job whose time passed while the daemon was down (within grace).

        Only a job that ran before can have missed a slot: on a new data dir nothing was
        missed, and a reindex and a verify at once would only race the first index build.
        """
        grace = timedelta(seconds=self.ctx.config.daemon.misfire_grace_seconds)
        for job_id, attribute in CRON_JOBS:
            crontab = getattr(self.ctx.config.daemon, attribute)
            job = scheduler.get_job(job_id)
            if not crontab or job is None:
                continue
            now = datetime.now(scheduler.timezone)
            missed = missed_since(crontab, now, grace)
            last = jobs.last_run(self.ctx, job_id)
            if missed is not None and last is not None and last < missed:
                log.info("daemon.catch_up", job=job_id, missed=missed.isoformat())
                job.modify(next_run_time=now)

    def run(self) -> None:
        cfg = self.ctx.config
        for folder in cfg.inbox_dirs:
            if folder.is_dir():
                continue
            with self.ctx.db.read() as session:
                known = files.files_under(session, str(folder.resolve()))
            if not known:  # a typo, or a new inbox that was never made
                raise ConfigError(missing_inbox(cfg, folder))
            # An inbox with documents that is away (an unmounted share): the others are
            # served; it is watched again, and scanned, once it is back.
            log.warning("daemon.inbox_unavailable", inbox=str(folder), reason="missing")
        check_queries(load_alerts(cfg, self.ctx.db))  # a bad alert is a bad configuration
        lock = FileLock(cfg.data_dir / DAEMON_LOCK)
        if not lock.try_acquire():
            raise AlreadyRunningError(held_by(lock.path))
        observer = None
        try:
            observer = self._start_watching()
            self._serve_searches()
            # Polling is how files are found at all; with file events the scan is only the
            # safety net, and a tree of 100,000 files is not stat'ed every few seconds.
            scan_seconds = self._scan_seconds
            log.info(
                "daemon.start",
                pid=os.getpid(),
                watch=self._mode,
                inbox=[str(p) for p in cfg.inbox_dirs],
                data_dir=str(cfg.data_dir),
                scan_seconds=scan_seconds,
            )
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
            self._alerts.start()
            # On PostgreSQL, another node's commit is heard at once; the poll stays as the net.
            threading.Thread(
                target=self.ctx.db.listen_for_changes,
                args=(self._heard_changes, self.stop),
                name="listen-changes",
                daemon=True,
            ).start()
            self._catch_up(scheduler)
            while not self.stop.is_set():
                self._write_status()
                self.ctx.ingester.close_if_idle(WORKERS_IDLE_SECONDS)
                self.pending.wake.wait(self._timeout())
                self.pending.wake.clear()
                if self.stop.is_set():
                    break
                if self._reopen_log:
                    self._reopen_log = False
                    self._reopen_log_file()
                try:
                    self._check()
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
            if self._write_lock.acquire(timeout=STOP_GRACE_SECONDS):
                self._write_lock.release()
            log.info("daemon.stopped")
        finally:
            self._alerts.stop()
            self._stop_searches()
            if observer is not None:
                observer.stop()
            (cfg.data_dir / STATUS_FILE).unlink(missing_ok=True)
            lock.release()

    def _reopen_log_file(self) -> None:
        from indexer.log import reopen

        try:
            reopen()
        except OSError as e:  # the old file stays in use; the next SIGHUP tries again
            log.warning("daemon.log_reopen_failed", error=str(e))
            return
        log.info("daemon.log_reopened", file=str(self.ctx.config.log_file or "") or None)

    def request_log_reopen(self) -> None:
        """Open ``[log] file`` again, from the main loop (safe from a signal handler)."""
        self._reopen_log = True
        self.pending.wake.set()

    def request_stop(self) -> None:
        self.stop.set()
        self.pending.wake.set()
