"""One pass over the alerts: match what became searchable past each alert's mark, record
the matches, deliver them past each delivery's mark.

Exactly once, across crashes and nodes, from two kinds of high-water marks on the change
sequence (db/alerts.py): an alert's matching mark moves in the same transaction that
records the matches of the changes up to it, so a change is matched once; a delivery's
mark moves after each successful delivery, so a restart sends what was not delivered and
nothing that was. A crash between a delivery and its record sends that one again.

Matching searches the changed documents only (the segments holding them), every alert
against the same searcher, through the engine's one code path for `search`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog

from indexer.alerts.definitions import AlertDef, load_alerts
from indexer.alerts.deliver import deliver, one_at_a_time
from indexer.db import alerts as alert_db
from indexer.db import changes
from indexer.errors import DeliveryError
from indexer.ingest.retry import retry_delay
from indexer.locks import FileLock

if TYPE_CHECKING:
    from indexer.jobs import Context
    from indexer.search.engine import Hit, SearchEngine, SearchOptions

__all__ = [
    "PassResult",
    "backfill",
    "dry_run",
    "evaluating",
    "new_marks",
    "payload",
    "prepare_marks",
    "run_pass",
]

log = structlog.get_logger(__name__)

# Changes matched per transaction: bounds memory after a long downtime (one mark per chunk).
CHUNK_DOCUMENTS = 2000
LOCK_FILE = "alerts.lock"
# A slow command or server gets this long per pass, then the other alerts get their turn
# (and new batches are matched); the rest of its backlog goes out in the next passes.
DELIVERY_SECONDS_PER_PASS = 10.0


@dataclass
class PassResult:
    alerts: int = 0
    changes: int = 0  # documents looked at
    matched: int = 0  # documents newly matched (notices and folded copies)
    notices: int = 0
    delivered: int = 0
    failed: list[str] = field(default_factory=list)  # "alert delivery: error"
    skipped: bool = False  # another process or node is evaluating the alerts
    match_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "alerts": self.alerts,
            "changes": self.changes,
            "matched": self.matched,
            "notices": self.notices,
            "delivered": self.delivered,
            "failed": len(self.failed),
            "match_ms": round(self.match_ms, 1),
        }


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def options_of(alert: AlertDef) -> SearchOptions:
    """The alert's search; its snippets are made afterwards, for its notices only."""
    from indexer.search.engine import SearchOptions

    return SearchOptions(langs=alert.langs, sources=alert.sources, snippets=False, collapse=False)


def payload(alert: str, hit: Hit) -> dict[str, Any]:
    """What every delivery sends for one match (README: "Alerts")."""
    from indexer.search.render import hit_dict

    shown = hit_dict(hit, 0)
    return {
        "alert": alert,
        **{
            k: shown[k]
            for k in (
                "id",
                "title",
                "path",
                "source",
                "language",
                "published",
                "ingested",
                "snippet",
                "cluster",
            )
        },
    }


@contextmanager
def evaluating(ctx: Context) -> Iterator[bool]:
    """Whether this process may evaluate the alerts now: one process (SQLite: a lock file
    in the data dir) or one node (PostgreSQL: the leader lease) at a time."""
    if ctx.db.is_postgres:
        with ctx.db.leader("alerts") as leading:
            yield leading
        return
    lock = FileLock(ctx.config.data_dir / LOCK_FILE)
    if not lock.try_acquire():
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


def new_marks(ctx: Context, alert: AlertDef, seq: int, deliveries_from: int | None = None) -> None:
    """Marks for an alert seen for the first time: matched up to ``seq`` (what was
    searchable), delivered up to ``deliveries_from`` (default: the same)."""
    with ctx.db.write(exclusive=False) as session:
        _new_marks(session, alert, seq, deliveries_from)


def _new_marks(session: Any, alert: AlertDef, seq: int, deliveries_from: int | None = None) -> None:
    alert_db.ensure_mark(session, alert.name, alert_db.MATCHING, seq)
    for d in alert.deliveries:
        alert_db.ensure_mark(session, alert.name, d, seq if deliveries_from is None else deliveries_from)


def run_pass(
    ctx: Context,
    engine: SearchEngine,
    alerts: list[AlertDef] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    now: datetime | None = None,
) -> PassResult:
    """Match every alert against the changes now searchable, then deliver."""
    result = PassResult()
    alerts = load_alerts(ctx.config, ctx.db) if alerts is None else alerts
    result.alerts = len(alerts)
    if not alerts:
        return result
    with evaluating(ctx) as leading:
        if not leading:
            result.skipped = True
            return result
        upto = ctx.index.checkpoint()  # read before the searcher opens: it holds at least this
        if upto is None:
            return result
        _match(ctx, engine, alerts, upto, result)
        _deliver_all(ctx, alerts, result, should_stop, now or datetime.now(UTC))
    return result


def prepare_marks(ctx: Context, alerts: list[AlertDef], upto: int | None = None) -> None:
    """Marks for alerts (and deliveries) seen for the first time: they fire on what
    becomes searchable from now on (``upto``: the index's checkpoint)."""
    with ctx.db.read() as session:
        marks = alert_db.all_marks(session)
    fresh = [
        a
        for a in alerts
        if (a.name, alert_db.MATCHING) not in marks or any((a.name, d) not in marks for d in a.deliveries)
    ]
    if fresh and upto is None:
        upto = ctx.index.checkpoint()
        if upto is None:  # no index yet: from the database's changes
            with ctx.db.read() as session:
                upto = changes.current_seq(session)
    if not fresh:
        return
    with ctx.db.write(
        exclusive=False
    ) as session:  # one transaction for all: 200 alerts are 200 commits otherwise
        for alert in fresh:
            matching = marks.get((alert.name, alert_db.MATCHING))
            _new_marks(session, alert, matching.seq if matching is not None else upto or 0)


def _match(ctx: Context, engine: SearchEngine, alerts: list[AlertDef], upto: int, result: PassResult) -> None:
    prepare_marks(ctx, alerts, upto)
    with ctx.db.read() as session:
        marks = alert_db.all_marks(session)
    behind: dict[int, list[AlertDef]] = {}
    for alert in alerts:
        mark = marks[(alert.name, alert_db.MATCHING)].seq
        if mark < upto:
            behind.setdefault(mark, []).append(alert)
    for after, group in sorted(behind.items()):
        while after < upto:
            with ctx.db.read() as session:
                changed = alert_db.changed_documents(session, after, upto, CHUNK_DOCUMENTS)
            until = changed[-1][1] if len(changed) == CHUNK_DOCUMENTS else upto
            t0 = time.perf_counter()
            hits = engine.matching(
                [(a.query, options_of(a)) for a in group], [doc_id for doc_id, _, _ in changed]
            )
            result.match_ms += (time.perf_counter() - t0) * 1000
            result.changes += len(changed)
            _record(ctx, engine, list(zip(group, hits, strict=True)), changed, result, until)
            after = until


def _record(
    ctx: Context,
    engine: SearchEngine,
    found: list[tuple[AlertDef, list[Hit]]],
    documents: Sequence[tuple[int, int, int]],
    result: PassResult | None,
    until: int | None = None,
) -> int:
    """Record each alert's matches among ``documents`` ((id, seq, cluster), in seq order)
    and, given ``until``, move the alerts' matching marks there in the same transaction:
    a document matched before is not again; a copy of a notified story is folded into its
    notice unless the alert wants every copy. Returns the notices.

    All alerts at once, a few statements in all (one each cost 200 alerts ~1,000 queries
    a batch). What they matched before is read ahead of the write transaction, so that
    the notices' snippets are made without holding the write lock: only the one evaluator
    (``evaluating``) adds matches of alerts that have marks."""
    seq_of = {row[0]: row for row in documents}
    matched: list[tuple[AlertDef, dict[int, Hit], list[tuple[int, int, int]]]] = []
    for alert, hits in found:
        rows = sorted((seq_of[hit.id] for hit in hits if hit.id in seq_of), key=lambda row: row[1])
        if rows:
            matched.append((alert, {hit.id: hit for hit in hits}, rows))
    known: set[tuple[str, int]] = set()
    notices: dict[tuple[str, int], int] = {}
    if matched:
        folding = [alert.name for alert, _, _ in matched if not alert.every_copy]
        with ctx.db.read() as session:
            known = alert_db.known_matches(
                session,
                [alert.name for alert, _, _ in matched],
                sorted({row[0] for _, _, rows in matched for row in rows}),
            )
            if folding:
                clusters = sorted(
                    {row[2] for alert, _, rows in matched if not alert.every_copy for row in rows}
                )
                notices = alert_db.notices_of_clusters(session, folding, clusters)
    now = datetime.now(UTC)

    def match(alert: AlertDef, hit: Hit, seq: int, cluster: int) -> dict[str, Any]:
        return {
            "alert": alert.name,
            "document_id": hit.id,
            "seq": seq,
            "cluster": cluster,
            "folded_into": None,
            "matched_at": now,
            "payload": json.dumps(payload(alert.name, hit), ensure_ascii=False),
        }

    # The first of each story not notified yet is a notice; the others fold into one.
    plans: list[
        tuple[AlertDef, dict[int, Hit], dict[int, tuple[int, int, int]], list[tuple[int, int, int]]]
    ] = []
    for alert, by_id, rows in matched:
        firsts: dict[int, tuple[int, int, int]] = {}  # cluster (every copy: document) -> row
        later: list[tuple[int, int, int]] = []
        for row in rows:
            doc_id, _seq, cluster = row
            if (alert.name, doc_id) in known:
                continue
            if alert.every_copy or ((alert.name, cluster) not in notices and cluster not in firsts):
                firsts[doc_id if alert.every_copy else cluster] = row
            else:
                later.append(row)
        plans.append((alert, by_id, firsts, later))
    engine.add_snippets(
        [(alert.query, [by_id[row[0]] for row in firsts.values()]) for alert, by_id, firsts, _ in plans]
    )
    new_notices = [
        (alert, [(key, match(alert, by_id[row[0]], row[1], row[2])) for key, row in firsts.items()])
        for alert, by_id, firsts, _ in plans
    ]
    # A copy's payload has no snippet: copies are never sent (nor shown by `alerts show`).
    copies = [
        (alert, [(row[2], match(alert, by_id[row[0]], row[1], row[2])) for row in later])
        for alert, by_id, _, later in plans
    ]
    with ctx.db.write(exclusive=False) as session:
        ids = iter(alert_db.insert_matches(session, [m for _, ms in new_notices for _, m in ms], ids=True))
        notice_of = {(alert.name, key): next(ids) for alert, ms in new_notices for key, _ in ms}
        for alert, folded in copies:
            for cluster, m in folded:
                key = (alert.name, cluster)
                m["folded_into"] = notice_of[key] if key in notice_of else notices[key]
        alert_db.insert_matches(session, [m for _, folded in copies for _, m in folded])
        if until is not None:
            alert_db.set_marks(session, [alert.name for alert, _ in found], alert_db.MATCHING, until)
    added = sum(len(ms) for _, ms in new_notices)
    if result is not None:
        result.notices += added
        result.matched += added + sum(len(folded) for _, folded in copies)
    return added


def _deliver_all(
    ctx: Context, alerts: list[AlertDef], result: PassResult, should_stop: Callable[[], bool], now: datetime
) -> None:
    """Deliver what is due; file deliveries are recorded together at the end (a commit
    each would cost 200 alerts as many disk syncs): a crash before that record appends
    this pass's lines again, never skips one."""
    with ctx.db.read() as session:
        marks = alert_db.all_marks(session)
        latest = alert_db.latest_notices(session)
    delivered: list[tuple[str, str, int, int]] = []  # (alert, delivery, up to seq, count)
    failed: list[tuple[str, str, str]] = []
    try:
        for alert in alerts:
            matched = marks[(alert.name, alert_db.MATCHING)].seq
            for d in alert.deliveries:
                mark = marks.get((alert.name, d))
                if mark is None or latest.get(alert.name, 0) <= mark.seq or should_stop():
                    continue
                retry_at = _utc(mark.retry_at)
                if retry_at is not None and retry_at > now:
                    continue
                _deliver(ctx, alert, d, mark.seq, matched, delivered, failed, should_stop)
    finally:
        if delivered or failed:
            _record_deliveries(ctx, delivered, failed, marks, result)


def _deliver(
    ctx: Context,
    alert: AlertDef,
    d: str,
    after: int,
    upto: int,
    delivered: list[tuple[str, str, int, int]],
    failed: list[tuple[str, str, str]],
    should_stop: Callable[[], bool],
) -> None:
    with ctx.db.read() as session:
        pending = alert_db.pending_notices(session, alert.name, after, upto)
    batches = [[n] for n in pending] if one_at_a_time(d) else [pending]
    started = time.monotonic()
    for n, batch in enumerate(batches):
        if not batch or should_stop() or (n and time.monotonic() - started > DELIVERY_SECONDS_PER_PASS):
            return
        try:
            deliver(d, [n.payload for n in batch], ctx.config.delivery, should_stop, alert.name)
        except DeliveryError as e:
            failed.append((alert.name, d, str(e)))
            log.warning("alerts.delivery_failed", alert=alert.name, delivery=d, error=str(e))
            return
        if one_at_a_time(d):
            # A command or a request is slow beside a commit: each is recorded at once, so a
            # crash re-sends at most the one in flight.
            with ctx.db.write(exclusive=False) as session:
                alert_db.record_delivered(
                    session, alert.name, d, batch[-1].seq, len(batch), datetime.now(UTC)
                )
            delivered.append((alert.name, d, batch[-1].seq, 0))
        else:
            delivered.append((alert.name, d, batch[-1].seq, len(batch)))


def _record_deliveries(
    ctx: Context,
    delivered: list[tuple[str, str, int, int]],
    failed: list[tuple[str, str, str]],
    marks: dict[tuple[str, str], Any],
    result: PassResult,
) -> None:
    now = datetime.now(UTC)
    with ctx.db.write(exclusive=False) as session:
        for alert, d, seq, count in delivered:
            if count:  # else recorded already
                alert_db.record_delivered(session, alert, d, seq, count, now)
            result.delivered += count or 1
        for alert, d, error in failed:
            mark = marks.get((alert, d))
            failures = (mark.failures if mark is not None else 0) + 1
            alert_db.record_failure(
                session, alert, d, error, now, now + timedelta(seconds=retry_delay(failures))
            )
            result.failed.append(f"{alert} {d}: {error}")


def dry_run(
    ctx: Context, engine: SearchEngine, alert: AlertDef, since: datetime | None
) -> list[tuple[dict[str, Any], list[int]]]:
    """What ``alert`` would have fired on the documents ingested since ``since`` (all
    when None): (payload, ids of the copies folded into it), in sequence order."""
    with ctx.db.read() as session:
        ids = alert_db.documents_ingested_since(session, since)
    [hits] = engine.matching([(alert.query, options_of(alert))], ids if since is not None else None)
    by_id = {hit.id: hit for hit in hits}
    with ctx.db.read() as session:
        rows = alert_db.document_states(session, sorted(by_id))
    clusters: dict[int, int] = {}  # cluster -> its notice's index in found
    found: list[tuple[Hit, list[int]]] = []
    for doc_id, _seq, cluster in rows:
        if not alert.every_copy and cluster in clusters:
            found[clusters[cluster]][1].append(doc_id)
            continue
        clusters[cluster] = len(found)
        found.append((by_id[doc_id], []))
    engine.add_snippets([(alert.query, [hit for hit, _ in found])])
    return [(payload(alert.name, hit), copies) for hit, copies in found]


def backfill(ctx: Context, engine: SearchEngine, alert: AlertDef, since: datetime | None) -> int:
    """Record as matches what ``alert`` would have fired since ``since``, before its marks
    exist, so that the first pass delivers them; returns the notices."""
    upto = ctx.index.checkpoint() or 0
    with ctx.db.read() as session:
        ids = alert_db.documents_ingested_since(session, since)
    [hits] = engine.matching([(alert.query, options_of(alert))], ids if since is not None else None)
    with ctx.db.read() as session:
        rows = alert_db.document_states(session, sorted(hit.id for hit in hits))
    notices = _record(ctx, engine, [(alert, hits)], rows, None)
    new_marks(ctx, alert, upto, deliveries_from=0)
    return notices
