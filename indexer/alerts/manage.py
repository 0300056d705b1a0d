"""What the `indexer alerts` commands do: add, remove, describe, dry-run. Data only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, time
from typing import TYPE_CHECKING, Any

from indexer.alerts.definitions import AlertDef, check_queries, load_alerts, stored_row
from indexer.alerts.evaluate import backfill, dry_run, evaluating, new_marks, run_pass
from indexer.db import alerts as alert_db
from indexer.db import changes
from indexer.db.models import Alert
from indexer.errors import BusyError, ConfigError, NotFoundError, QueryError

if TYPE_CHECKING:
    from indexer.jobs import Context
    from indexer.search.engine import SearchEngine

__all__ = ["add", "describe", "find", "remove", "since_datetime", "test"]


def since_datetime(value: str | None) -> datetime | None:
    """``--since`` (7d, 2w, 2025-12-03 ... as search's dates) as the start of its span, UTC."""
    if value is None:
        return None
    from datetime import date

    from indexer.search.dates import DATE_HINT, DateError, parse_date

    try:
        start = parse_date(value, date.today()).start
    except DateError as e:
        raise QueryError(f"query error: {e}", DATE_HINT) from None
    return datetime.combine(start, time.min, UTC)


def _engine(ctx: Context) -> SearchEngine:
    from indexer.search.engine import SearchEngine

    return SearchEngine(ctx.config.data_dir, ctx.config.database_url)


def find(ctx: Context, name: str) -> AlertDef:
    for alert in load_alerts(ctx.config, ctx.db):
        if alert.name == name:
            return alert
    raise NotFoundError(f"no alert named {name!r} (`indexer alerts list`)")


def add(ctx: Context, alert: AlertDef, backfill_since: datetime | None = None) -> dict[str, int]:
    """Store an alert; with a backfill, first record and deliver what it would have fired
    on the documents ingested since then. Returns {"backfilled": notices, "delivered": n}."""
    if not alert.name.strip() or len(alert.name) > 100:
        raise ConfigError("an alert's name has 1 to 100 characters")
    if not alert.deliveries:
        raise ConfigError("give at least one delivery: --file PATH, --exec CMD or --webhook URL")
    check_queries([alert])
    existing = load_alerts(ctx.config, ctx.db)
    for other in existing:
        if other.name == alert.name:
            where = ctx.config.source if other.origin == "config" else "the database"
            raise ConfigError(f"an alert named {alert.name!r} exists already, in {where}")
    engine = None
    if backfill_since is not None:
        engine = _engine(ctx)
        engine.searcher()  # no index to look back in: an error before anything is stored
    with ctx.db.write(exclusive=False) as session:
        alert_db.add_alert(session, Alert(**stored_row(alert), created_at=datetime.now(UTC)))
    counts = {"backfilled": 0, "delivered": 0}
    if engine is None:
        with ctx.db.read() as session:
            seq = (
                ctx.index.checkpoint() if ctx.index.checkpoint() is not None else changes.current_seq(session)
            )
        new_marks(ctx, alert, seq or 0)
        return counts
    try:
        # Under the evaluation lock: a pass in between would mark it from now on, and the
        # backfill would never be delivered.
        with _evaluating_soon(ctx):
            counts["backfilled"] = backfill(ctx, engine, alert, backfill_since)
        counts["delivered"] = run_pass(ctx, engine, [alert]).delivered
    finally:
        engine.close()
    return counts


@contextmanager
def _evaluating_soon(ctx: Context, timeout: float = 60.0) -> Iterator[None]:
    """The alerts' evaluation lock, waited for (a daemon's pass holds it for a while)."""
    import time as clock

    deadline = clock.monotonic() + timeout
    while True:
        with evaluating(ctx) as leading:
            if leading:
                yield
                return
        if clock.monotonic() > deadline:
            raise BusyError("another process is evaluating the alerts: try again")
        clock.sleep(0.2)


def remove(ctx: Context, name: str) -> None:
    alert = find(ctx, name)
    if alert.origin == "config":
        raise ConfigError(f"alert {name!r} is defined in {ctx.config.source}: remove it there")
    with ctx.db.write(exclusive=False) as session:
        alert_db.remove_alert(session, name)


def test(ctx: Context, alert: AlertDef, since: datetime | None) -> list[dict[str, Any]]:
    """What ``alert`` would have fired on the documents ingested since ``since``."""
    check_queries([alert])
    engine = _engine(ctx)
    try:
        return [{**entry, "copies": copies} for entry, copies in dry_run(ctx, engine, alert, since)]
    finally:
        engine.close()


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value.replace(tzinfo=UTC) if value.tzinfo is None else value).isoformat()


def describe(ctx: Context, alert: AlertDef, recent: int = 0) -> dict[str, Any]:
    """The alert, its deliveries' state (delivered up to, pending, failures) and, with
    ``recent``, its latest notices with the copies folded into them."""
    with ctx.db.read() as session:
        marks = alert_db.marks_of(session, alert.name)
        matched = marks.get(alert_db.MATCHING)
        deliveries: list[dict[str, object]] = []
        reached: list[tuple[str, int]] = []  # (delivery, delivered up to)
        for d in alert.deliveries:
            mark = marks.get(d)
            after = mark.seq if mark is not None else (matched.seq if matched is not None else 0)
            deliveries.append(
                {
                    "delivery": d,
                    "delivered": mark.delivered if mark is not None else 0,
                    "pending": alert_db.count_notices(session, alert.name, after),
                    "delivered_seq": after,
                    "failures": mark.failures if mark is not None else 0,
                    "last_error": mark.last_error if mark is not None else None,
                    "last_attempt": _iso(mark.last_attempt_at) if mark is not None else None,
                    "retry_at": _iso(mark.retry_at) if mark is not None else None,
                }
            )
            reached.append((d, after))
        data: dict[str, Any] = {
            **alert.as_dict(),
            "matched_seq": matched.seq if matched is not None else None,
            "deliveries": deliveries,
        }
        if recent:
            notices = alert_db.recent_notices(session, alert.name, recent)
            copies = alert_db.copies_of(session, [n.id for n in notices])
            data["recent"] = [
                {
                    **json.loads(n.payload),
                    "seq": n.seq,
                    "matched_at": _iso(n.matched_at),
                    "copies": copies.get(n.id, []),
                    "delivered_to": [d for d, seq in reached if seq >= n.seq],
                }
                for n in notices
            ]
    return data


def failing(ctx: Context) -> list[dict[str, Any]]:
    """Deliveries whose last attempt failed (for `status`)."""
    with ctx.db.read() as session:
        return [
            {
                "alert": m.alert,
                "delivery": m.delivery,
                "failures": m.failures,
                "last_error": m.last_error,
                "retry_at": _iso(m.retry_at),
            }
            for m in alert_db.failing_marks(session)
        ]
