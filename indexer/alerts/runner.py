"""The thread alert passes run in, beside ingest: a slow or dead delivery never holds up
a batch. The daemon keeps one running; `indexer ingest` runs one while it ingests and a
last pass once its index is committed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import structlog

from indexer.alerts.definitions import load_alerts
from indexer.alerts.evaluate import PassResult, evaluating, prepare_marks, run_pass

if TYPE_CHECKING:
    from indexer.jobs import Context
    from indexer.search.engine import SearchEngine

__all__ = ["AlertRunner", "alerts_running"]

log = structlog.get_logger(__name__)

# Besides being woken after each index commit of its own process, a pass runs this often:
# other processes and nodes commit changes (and failed deliveries come due) unannounced.
POLL_SECONDS = 2.0
STOP_WAIT_SECONDS = 2.0  # a delivery still running then is abandoned: its mark says what is due


class AlertRunner:
    def __init__(self, ctx: Context, poll_seconds: float = POLL_SECONDS) -> None:
        self.ctx = ctx
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._engine: SearchEngine | None = None
        self._last_error = ""

    def start(self) -> None:
        """Start the thread; alerts seen for the first time fire from now on (not on what
        this process is about to ingest)."""
        try:
            with evaluating(self.ctx) as leading:
                if leading:
                    prepare_marks(self.ctx, load_alerts(self.ctx.config, self.ctx.db))
        except Exception as e:  # the passes will say it again
            log.error("alerts.prepare_failed", error=str(e))
        self._thread = threading.Thread(target=self._loop, name="alerts", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        """Something became searchable: run a pass soon."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(STOP_WAIT_SECONDS)
            if self._thread.is_alive():
                log.warning("alerts.stop_abandoned", reason="a delivery is still running")
                return  # it may still use the engine
        self._close_engine()

    def run_once(self, last: bool = False) -> PassResult | None:
        """One pass, its failure logged (one bad pass must not stop ingest or the daemon).
        ``last``: the one after the thread stopped (`ingest`'s), not cut short by the stop."""
        try:
            alerts = load_alerts(self.ctx.config, self.ctx.db)
            if not alerts:
                return None
            if self._engine is None:
                from indexer.search.engine import SearchEngine

                self._engine = SearchEngine(self.ctx.config.data_dir, self.ctx.config.database_url)
            result = run_pass(
                self.ctx, self._engine, alerts, should_stop=(lambda: False) if last else self._stop.is_set
            )
        except Exception as e:
            if str(e) != self._last_error:  # not again every few seconds
                log.error("alerts.pass_failed", error=str(e), exc_info=True)
            self._last_error = str(e)
            return None
        self._last_error = ""
        if result.matched or result.delivered or result.failed:
            log.info("alerts.pass", **result.as_dict())
        return result

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
            if self._stop.is_set():
                break
            self.run_once()

    def _close_engine(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None


@contextmanager
def alerts_running(ctx: Context) -> Iterator[AlertRunner]:
    """For `indexer ingest`: passes in the background while the block runs, then one
    more once it has ended (its index committed)."""
    runner = AlertRunner(ctx)
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()
    runner.run_once(last=True)
    runner._close_engine()
