"""Settings: declared once (name, default, help), loaded once into frozen dataclasses.

Sources, later ones winning: the defaults below, the TOML file (``--config`` or
``INDEXER_CONFIG``), then the environment overrides ``INDEXER_DATA_DIR`` and
``INDEXER_DATABASE_URL``. Relative paths resolve against the config file's folder.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import socket
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from indexer import configfile
from indexer.configfile import DEFAULT_DATA_DIR, ENV_CONFIG, ENV_DATA_DIR
from indexer.errors import ConfigError

__all__ = ["ENV_CONFIG", "AlertConfig", "Config", "iter_settings", "load"]


_T = TypeVar("_T")


def _setting(default: _T, help: str, **checks: object) -> _T:
    """A setting's field: its default (a fresh copy per instance for lists and dicts), its
    help, and the checks ``_check`` applies to a configured value."""
    metadata = {"help": help, **checks}
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: copy.copy(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class PathsConfig:
    inbox: list[str] = _setting(["inbox"], "folders watched for new text files")
    data_dir: str = _setting(DEFAULT_DATA_DIR, "where the SQLite database, the index and the locks live")
    include: list[str] = _setting(["*.txt"], "file name patterns that are ingested (case-insensitive)")
    exclude: list[str] = _setting(
        [], "file name or relative path patterns that are skipped (case-insensitive)"
    )
    follow_symlinks: bool = _setting(False, "follow symlinks that stay inside the inbox")


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = _setting("", "SQLAlchemy URL; empty means a SQLite file in data_dir")
    busy_timeout_seconds: float = _setting(30.0, "how long a writer waits for a locked database", min=0)
    auto_migrate: bool = _setting(False, "upgrade an older database schema at start instead of refusing")
    node: str = _setting(
        "", "this node's name in file claims; empty means host name and data dir", max_chars=100
    )
    claim_lease_seconds: float = _setting(
        60.0, "a file claimed by a node that stopped answering is taken over after this", min=1
    )


@dataclass(frozen=True)
class IngestConfig:
    max_file_size_mb: float = _setting(20.0, "larger files are recorded as failures", min=0)
    batch_size: int = _setting(500, "files per database transaction and index commit", min=1)
    workers: int = _setting(0, "analysis processes; 0 means one per core", min=0)
    worker_nice: int = _setting(
        10,
        "niceness of the daemon's analysis workers; `indexer ingest`'s run at normal priority",
        min=0,
        max=19,
    )
    min_words: int = _setting(1, "documents with fewer words are recorded as failures", min=0)
    boilerplate_rules: list[str] = _setting(
        [], "regexes: a line in which one is found is site furniture and removed", regexes=True
    )
    sources: dict[str, str] = _setting(
        {}, "folder -> source name, for files whose text names no source", folders=True
    )
    near_duplicate_threshold: float = _setting(
        0.5, "estimated similarity from which two texts are one story (a cluster)", min=0, max=1
    )
    learn_min_documents: int = _setting(
        5,
        "a line is learned furniture when at least this many stories of its source or folder have it",
        min=2,
    )
    learn_min_fraction: float = _setting(
        0.2, "... and at least this share of the source's or folder's documents", min=0, max=1
    )


@dataclass(frozen=True)
class LanguageConfig:
    allowed: list[str] = _setting([], "if set, other detected languages become 'und'")
    min_chars: int = _setting(20, "shorter texts are 'und'", min=0)
    min_probability: float = _setting(0.70, "less certain detections are 'und'", min=0, max=1)


@dataclass(frozen=True)
class DaemonConfig:
    watch: str = _setting("auto", "auto, events or poll", choices=("auto", "events", "poll"))
    scan_interval_seconds: float = _setting(
        10.0, "full rescan of the inbox when polling (no file events)", min=0.1
    )
    safety_scan_seconds: float = _setting(
        300.0, "full rescan of the inbox while file events work: the safety net for missed events", min=0.1
    )
    settle_seconds: float = _setting(1.0, "a file must be unchanged this long before ingest", min=0)
    commit_interval_seconds: float = _setting(0.5, "minimum time between index commits", min=0)
    reindex_cron: str = _setting(
        "0 3 * * *",
        "crontab schedule of the index check: a rebuild only when needed (see reindex_always); empty disables",
        crontab=True,
    )
    reindex_always: bool = _setting(
        False, "the scheduled reindex rebuilds the whole index every time, needed or not"
    )
    optimize_cron: str = _setting(
        "30 4 * * 0", "crontab schedule of the index merge; empty disables", crontab=True
    )
    verify_cron: str = _setting(
        "0 5 * * *", "crontab schedule of the consistency check; empty disables", crontab=True
    )
    learn_cron: str = _setting(
        "0 2 * * *",
        "crontab schedule of boilerplate learning (and re-analysis); empty disables",
        crontab=True,
    )
    misfire_grace_seconds: float = _setting(
        21600.0, "a scheduled job missed by less than this (daemon down) runs at start", min=0
    )


@dataclass(frozen=True)
class DeliveryConfig:
    timeout_seconds: float = _setting(
        10.0, "an alert's exec or webhook delivery taking longer fails (and is tried again later)", min=0.1
    )
    webhook_attempts: int = _setting(3, "tries of a webhook POST per delivery, 0.5 s, 1 s, ... apart", min=1)


@dataclass(frozen=True)
class AlertConfig:
    """One ``[[alerts]]`` table: a standing query and where its matches go."""

    name: str = _setting("", "the alert's name, unique among all alerts", max_chars=100)
    query: str = _setting("", "the standing query, in the search syntax")
    lang: list[str] = _setting([], "only documents in these languages (as search --lang)")
    source: list[str] = _setting([], "only documents from these sources (as search --source)")
    every_copy: bool = _setting(False, "notify every copy of a story, not only the first")
    file: list[str] = _setting([], "files to append one JSON line per match to")
    exec: list[str] = _setting([], "commands run with a match's JSON on stdin (by /bin/sh)")
    webhook: list[str] = _setting([], "URLs a match's JSON is POSTed to")


@dataclass(frozen=True)
class LogConfig:
    level: str = _setting(
        "info", "debug, info, warning or error", choices=("debug", "info", "warning", "error")
    )
    file: str = _setting("", "write JSON log lines to this file instead of stdout")


@dataclass(frozen=True)
class Config:
    paths: PathsConfig = field(default_factory=PathsConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    language: LanguageConfig = field(default_factory=LanguageConfig)
    daemon: DaemonConfig = field(default_factory=DaemonConfig)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    log: LogConfig = field(default_factory=LogConfig)
    alerts: tuple[AlertConfig, ...] = ()  # the [[alerts]] tables
    source: Path | None = None  # the file it came from, for messages
    base_dir: Path = field(default_factory=Path.cwd)

    @property
    def data_dir(self) -> Path:
        return self.resolve(self.paths.data_dir)

    @property
    def inbox_dirs(self) -> list[Path]:
        return [self.resolve(p) for p in self.paths.inbox]

    @property
    def log_file(self) -> Path | None:
        """``[log] file``, relative to the config file as the other paths are."""
        return self.resolve(self.log.file) if self.log.file else None

    @property
    def database_url(self) -> str:
        return self.database.url or configfile.sqlite_url(self.data_dir)

    @property
    def node_name(self) -> str:
        """This node's name in claims: stable across restarts, so a restarted node takes
        its own unexpired claims back at once."""
        if self.database.node:
            return self.database.node
        host = socket.gethostname()
        name = f"{host}:{self.data_dir}"
        if len(name) > 100:  # the claims column's width
            import hashlib  # here: loading OpenSSL would slow every `indexer search`

            name = f"{host[:60]}:{hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:16]}"
        return name

    @property
    def source_map(self) -> tuple[tuple[str, str], ...]:
        return tuple((str(self.resolve(folder)), source) for folder, source in self.ingest.sources.items())

    def resolve(self, value: str) -> Path:
        return Path(configfile.resolve(str(self.base_dir), value))


_SECTIONS: dict[str, type] = {
    "paths": PathsConfig,
    "database": DatabaseConfig,
    "ingest": IngestConfig,
    "language": LanguageConfig,
    "daemon": DaemonConfig,
    "delivery": DeliveryConfig,
    "log": LogConfig,
}


def iter_settings() -> list[tuple[str, str, Any, str]]:
    """Every setting as (section, key, default, help), in declaration order."""
    rows = []
    for section, cls in _SECTIONS.items():
        defaults = cls()
        for f in dataclasses.fields(cls):
            rows.append((section, f.name, getattr(defaults, f.name), f.metadata["help"]))
    return rows


def _check(where: str, f: dataclasses.Field[Any], default: Any, value: Any) -> Any:
    expected = type(default)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: expected {expected.__name__}, got {value!r}")
    if expected is dict and not all(isinstance(v, str) for v in value.values()):
        raise ConfigError(f"{where}: expected a table of strings, got {value!r}")
    if expected is list and not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{where}: expected a list of strings, got {value!r}")
    meta = f.metadata
    if "min" in meta and value < meta["min"]:
        raise ConfigError(f"{where}: must be at least {meta['min']}, got {value!r}")
    if "max" in meta and value > meta["max"]:
        raise ConfigError(f"{where}: must be at most {meta['max']}, got {value!r}")
    if "max_chars" in meta and len(value) > meta["max_chars"]:
        raise ConfigError(f"{where}: at most {meta['max_chars']} characters, got {len(value)}")
    if "regexes" in meta:
        from indexer.ingest.boilerplate import compile_rules

        try:
            compile_rules(tuple(value))
        except ValueError as e:
            raise ConfigError(f"{where}: {e}") from None
    if "crontab" in meta and value:
        _check_crontab(where, value)
    if "choices" in meta and value not in meta["choices"]:
        raise ConfigError(f"{where}: must be one of {', '.join(meta['choices'])}, got {value!r}")
    return value


def _check_crontab(where: str, value: str) -> None:
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(value)
    except ValueError as e:
        raise ConfigError(f"{where}: not a crontab schedule ({e}): {value!r}") from None


def _build_alerts(raw: Any, label: str) -> tuple[AlertConfig, ...]:
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        raise ConfigError(f"{label}: alerts must be [[alerts]] tables")
    fields = {f.name: f for f in dataclasses.fields(AlertConfig)}
    defaults = AlertConfig()
    alerts: list[AlertConfig] = []
    for n, table in enumerate(raw, 1):
        kwargs = {}
        for key, value in table.items():
            where = f"{label}: [[alerts]] #{n} {key}"
            if key not in fields:
                raise ConfigError(f"{label}: unknown setting [[alerts]] #{n} {key}")
            if isinstance(getattr(defaults, key), list) and isinstance(value, str):
                value = [value]  # one delivery (or language) needs no list
            kwargs[key] = _check(where, fields[key], getattr(defaults, key), value)
        alert = AlertConfig(**kwargs)
        where = f"{label}: [[alerts]] #{n}"
        if not alert.name.strip() or not alert.query.strip():
            raise ConfigError(f"{where}: an alert needs a name and a query")
        if not (alert.file or alert.exec or alert.webhook):
            raise ConfigError(f"{where} ({alert.name}): give at least one delivery: file, exec or webhook")
        if any(a.name == alert.name for a in alerts):
            raise ConfigError(f"{where}: two alerts are named {alert.name!r}")
        alerts.append(alert)
    return tuple(alerts)


def _build(raw: dict[str, Any], label: str) -> dict[str, Any]:
    built: dict[str, Any] = {}
    classes = _SECTIONS
    for section, values in raw.items():
        if section == "alerts":
            built["alerts"] = _build_alerts(values, label)
            continue
        if section not in classes:
            raise ConfigError(f"{label}: unknown section [{section}]")
        if not isinstance(values, dict):
            raise ConfigError(f"{label}: [{section}] must be a table")
        cls = classes[section]
        fields = {f.name: f for f in dataclasses.fields(cls)}
        defaults = cls()
        kwargs = {}
        for key, value in values.items():
            where = f"{label}: [{section}] {key}"
            if key not in fields:
                raise ConfigError(f"{label}: unknown setting [{section}] {key}")
            kwargs[key] = _check(where, fields[key], getattr(defaults, key), value)
        built[section] = cls(**kwargs)
    return built


def load(
    path: str | Path | None = None, env: dict[str, str] | None = None, cwd: str | Path | None = None
) -> Config:
    """Load the configuration; ``path`` wins over ``INDEXER_CONFIG``; no file means defaults.

    ``cwd``: where a relative ``path``, ``INDEXER_CONFIG`` or ``INDEXER_DATA_DIR`` starts (the
    current directory unless the command line came from another process).
    """
    env = dict(os.environ) if env is None else env
    cwd = os.getcwd() if cwd is None else os.fspath(cwd)
    chosen = configfile.config_file(path, env, cwd)
    raw: dict[str, Any] = {}
    source: Path | None = None
    base_dir = Path(cwd)
    if chosen:
        source = Path(chosen)
        try:
            raw = configfile.read(chosen)
        except FileNotFoundError:
            raise ConfigError(f"{source}: config file not found") from None
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{source}: cannot read config file: {e}") from e
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{source}: invalid TOML: {e}") from e
        base_dir = source.parent
    sections = _build(raw, str(source) if source else "defaults")
    config = Config(**sections, source=source, base_dir=base_dir)
    if env.get(ENV_DATA_DIR):
        # An environment override is relative to where the command runs, not to the config file.
        data_dir = configfile.resolve(cwd, env[ENV_DATA_DIR])
        config = dataclasses.replace(config, paths=dataclasses.replace(config.paths, data_dir=data_dir))
    if env.get("INDEXER_DATABASE_URL"):
        database = dataclasses.replace(config.database, url=env["INDEXER_DATABASE_URL"])
        config = dataclasses.replace(config, database=database)
    return config
