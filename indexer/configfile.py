"""Which config file applies and where the data dir is, with the standard library alone.

config.load() builds on these; `indexer search` uses them to find a running daemon's socket
before click and the settings are imported (see indexer/__main__.py). Paths are strings:
pathlib is one more import on that path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

__all__ = [
    "DEFAULT_DATA_DIR",
    "ENV_CONFIG",
    "ENV_DATA_DIR",
    "config_file",
    "data_dir",
    "read",
    "resolve",
    "sqlite_url",
]

ENV_CONFIG = "INDEXER_CONFIG"
ENV_DATA_DIR = "INDEXER_DATA_DIR"
DEFAULT_DATA_DIR = "var"


def resolve(base: str, value: str) -> str:
    """``value`` (``~`` expanded) relative to the folder ``base``, absolute, symlinks resolved."""
    return os.path.realpath(os.path.join(base, os.path.expanduser(value)))


def sqlite_url(data_dir: str | os.PathLike[str]) -> str:
    """The database used when none is configured: a SQLite file in the data dir.

    SQLAlchemy ends a URL's path at the first ``?`` and percent-decodes it: those two
    characters are encoded, or a data dir named ``news?2025`` would put the database in
    ``news`` (search/texts.py decodes the path the same way).
    """
    path = os.path.join(data_dir, "indexer.db").replace("%", "%25").replace("?", "%3F")
    return f"sqlite:///{path}"


def config_file(path: str | os.PathLike[str] | None, env: Mapping[str, str], cwd: str) -> str | None:
    """The config file to read: ``path`` (``--config``), else ``INDEXER_CONFIG``, relative to
    ``cwd``; None when neither is given (the defaults apply)."""
    chosen = path or env.get(ENV_CONFIG) or None
    return resolve(cwd, os.fspath(chosen)) if chosen else None


def read(source: str) -> dict[str, Any]:
    """The TOML file's tables. Raises OSError, UnicodeDecodeError or tomllib.TOMLDecodeError."""
    import tomllib  # only when there is a file to read: its import slows every start

    with open(source, encoding="utf-8") as f:
        return tomllib.loads(f.read())


def data_dir(path: str | None, env: Mapping[str, str], cwd: str) -> str | None:
    """The data dir config.load() gives, found by reading ``[paths] data_dir`` alone; None when
    the file cannot be read or that value is not a string (load() says what is wrong)."""
    if env.get(ENV_DATA_DIR):
        return resolve(cwd, env[ENV_DATA_DIR])
    source = config_file(path, env, cwd)
    if source is None:
        return resolve(cwd, DEFAULT_DATA_DIR)
    try:
        paths = read(source).get("paths", {})
    except (OSError, ValueError):  # TOMLDecodeError and UnicodeDecodeError are ValueErrors
        return None
    value = paths.get("data_dir", DEFAULT_DATA_DIR) if isinstance(paths, dict) else None
    return resolve(os.path.dirname(source), value) if isinstance(value, str) else None
