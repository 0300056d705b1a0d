"""Alerts as one list: those of config.toml and those stored by `indexer alerts add`."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from indexer.config import Config
from indexer.db import alerts as alert_db
from indexer.db.models import Alert
from indexer.db.session import Database
from indexer.errors import ConfigError

__all__ = ["DELIVERY_KINDS", "AlertDef", "check_queries", "delivery", "load_alerts", "stored_row"]

DELIVERY_KINDS = ("file", "exec", "webhook")


@dataclass(frozen=True)
class AlertDef:
    """One alert, wherever it is defined. A delivery is "kind:target" ("file:/x.jsonl")."""

    name: str
    query: str
    langs: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    every_copy: bool = False
    deliveries: tuple[str, ...] = ()
    origin: str = "database"  # or "config"

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "query": self.query,
            "lang": list(self.langs),
            "source": list(self.sources),
            "every_copy": self.every_copy,
            "deliveries": list(self.deliveries),
            "origin": self.origin,
        }


def delivery(kind: str, target: str, base: str | None = None) -> str:
    """The delivery "kind:target"; a file's path made absolute against ``base`` (or the cwd)."""
    if kind not in DELIVERY_KINDS:
        raise ConfigError(f"unknown delivery {kind!r}: one of {', '.join(DELIVERY_KINDS)}")
    if not target.strip():
        raise ConfigError(f"a {kind} delivery needs a target")
    if kind == "file":
        target = os.path.abspath(os.path.join(base or os.getcwd(), os.path.expanduser(target)))
    if kind == "webhook" and not target.startswith(("http://", "https://")):
        raise ConfigError(f"a webhook is an http:// or https:// URL, got {target!r}")
    return f"{kind}:{target}"


def _split(values: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    return tuple(v.strip() for value in values for v in value.split(",") if v.strip())


def _from_config(config: Config) -> list[AlertDef]:
    found = []
    for a in config.alerts:
        base = str(config.base_dir)
        deliveries = tuple(
            [delivery("file", t, base) for t in a.file]
            + [delivery("exec", t) for t in a.exec]
            + [delivery("webhook", t) for t in a.webhook]
        )
        found.append(
            AlertDef(a.name, a.query, _split(a.lang), _split(a.source), a.every_copy, deliveries, "config")
        )
    return found


def _from_row(row: Alert) -> AlertDef:
    return AlertDef(
        row.name,
        row.query,
        _split([row.langs]),
        _split([row.sources]),
        row.every_copy,
        tuple(json.loads(row.deliveries)),
        "database",
    )


def stored_row(alert: AlertDef) -> dict[str, object]:
    """The columns of ``alert`` as `alerts add` stores it."""
    return {
        "name": alert.name,
        "query": alert.query,
        "langs": ",".join(alert.langs),
        "sources": ",".join(alert.sources),
        "every_copy": alert.every_copy,
        "deliveries": json.dumps(list(alert.deliveries)),
    }


def load_alerts(config: Config, db: Database) -> list[AlertDef]:
    """Every alert, config.toml's first; ConfigError when a name is defined in both."""
    configured = _from_config(config)
    with db.read() as session:
        stored = [_from_row(row) for row in alert_db.stored_alerts(session)]
    names = {a.name for a in configured}
    for alert in stored:
        if alert.name in names:
            where = config.source or "config.toml"
            raise ConfigError(
                f"alert {alert.name!r} is defined twice: in {where} and in the database "
                f"(`indexer alerts remove {alert.name}`, or rename one)"
            )
    return configured + stored


def check_queries(alerts: list[AlertDef]) -> None:
    """ConfigError naming the alert whose query does not parse."""
    from datetime import date

    from indexer.errors import QueryError
    from indexer.search.query import parse

    for alert in alerts:
        try:
            parse(alert.query, date.today())
        except QueryError as e:
            raise ConfigError(
                f"alert {alert.name!r}: {e}" + (f" (hint: {e.hint})" if e.hint else "")
            ) from None
