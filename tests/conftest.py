"""Shared fixtures: a project folder in tmp, the CLI as a subprocess, real corpora when present."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from indexer.context import Context

REPO = Path(__file__).resolve().parent.parent
CORPORA = REPO.parent / "shared" / "corpora"
# Twelve words from which the PostgreSQL tests make many distinct short notes.
NOTE_WORDS = (
    "harbour",
    "council",
    "railway",
    "orchard",
    "glacier",
    "volcano",
    "meadow",
    "canal",
    "bridge",
    "market",
    "river",
    "tower",
)


def corpora_or_skip(sub: str = "") -> Path:
    path = CORPORA / sub
    if not path.exists():
        pytest.skip(f"real corpora not found at {path} (they live beside the project, not in it)")
    return path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests marked slow first (in their order), then the rest: on several workers
    (pytest-xdist) a minute-long test handed out last would run alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


# Every process a test spawned; those still running when it ends (it failed before
# stopping them) are killed, so a failing test never leaves a daemon behind.
_SPAWNED: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _reap_spawned() -> Iterator[None]:
    yield
    while _SPAWNED:
        proc = _SPAWNED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


@dataclass
class Project:
    """A config file, an inbox and a data dir in a tmp folder, and ways to run indexer."""

    root: Path
    database_url: str = ""  # empty: SQLite in the data dir
    user: tuple[int, int] | None = None  # (uid, gid) the commands run as; None: as the test
    prefix: tuple[str, ...] = ()  # a command the commands run under (setpriv ...)

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def data(self) -> Path:
        return self.root / "var"

    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INDEXER_")}
        env["INDEXER_CONFIG"] = str(self.config)
        if self.database_url:
            env["INDEXER_DATABASE_URL"] = self.database_url
        env.update(extra)
        return env

    def run(
        self, *args: str, check: bool = True, timeout: float = 120, **env: str
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [*self.prefix, sys.executable, "-m", "indexer", *args],
            cwd=self.root,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
            **self._as_user(),
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"indexer {' '.join(args)} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc

    def json(self, *args: str) -> dict:
        return json.loads(self.run(*args, "--json").stdout)

    def spawn(self, *args: str, **env: str) -> subprocess.Popen[str]:
        """Start indexer in the background; its stderr goes to a log file (a pipe nobody
        reads would fill up and block the process)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a") as log:
            proc = subprocess.Popen(
                [*self.prefix, sys.executable, "-m", "indexer", *args],
                cwd=self.root,
                env=self.env(**env),
                stdout=subprocess.DEVNULL,
                stderr=log,
                text=True,
                **self._as_user(),
            )
        _SPAWNED.append(proc)
        return proc

    def _as_user(self) -> dict[str, object]:
        if self.user is None:
            return {}
        uid, gid = self.user
        return {"user": uid, "group": gid, "extra_groups": []}

    @property
    def log_path(self) -> Path:
        return self.root / "logs" / "spawned.log"

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def write(self, relative: str, text: str | bytes) -> Path:
        path = self.inbox / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path


def running_daemon(project: Project) -> Iterator[subprocess.Popen[str]]:
    """For a fixture: a daemon on ``project``, started and waited for, then stopped by
    SIGTERM (killed when it has not stopped after 10 s)."""
    proc = project.spawn("daemon")
    wait_for(lambda: (project.data / "daemon.json").exists() or proc.poll() is not None, what="daemon start")
    assert proc.poll() is None, project.log()
    yield proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def write_config(root: Path, extra: str = "") -> Path:
    config = root / "config.toml"
    config.write_text(
        '[paths]\ninbox = ["inbox"]\ndata_dir = "var"\n\n'
        "[daemon]\nscan_interval_seconds = 0.5\nsafety_scan_seconds = 0.5\nsettle_seconds = 0.2\n" + extra,
        encoding="utf-8",
    )
    return config


@pytest.fixture
def project(tmp_path: Path) -> Project:
    (tmp_path / "inbox").mkdir()
    write_config(tmp_path)
    return Project(tmp_path)


UNPRIVILEGED_USER = "indexer-test"
# Root without the two capabilities that let it ignore file modes: where a normal user
# cannot reach this interpreter (a Python under /root, mode 700), this is how a test
# sees mode-000 files and folders as a normal user would.
_NO_DAC = (
    "setpriv",
    "--inh-caps=-dac_override,-dac_read_search",
    "--bounding-set=-dac_override,-dac_read_search",
    "--",
)


@dataclass(frozen=True)
class Unprivileged:
    """How a test runs a command so that file permissions apply to it."""

    user: tuple[int, int] | None = None  # (uid, gid) to run as
    prefix: tuple[str, ...] = ()  # or a command that drops root's override of file modes


def unprivileged() -> Unprivileged:
    """A normal user for tests of permissions (root reads mode-000 files).

    As a normal user, the tests run as themselves. As root: a user created once
    (useradd), when it can run this interpreter; else root without the capabilities to
    override file modes (setpriv). Skips with the reason when neither works.
    """
    import fcntl
    import pwd
    import tempfile

    if os.geteuid() != 0:
        return Unprivileged()
    reasons = []
    try:
        # One worker at a time (pytest-xdist): a second useradd meanwhile fails on its lock.
        with open(Path(tempfile.gettempdir()) / "indexer-test-useradd.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                entry = pwd.getpwnam(UNPRIVILEGED_USER)
            except KeyError:
                subprocess.run(
                    [
                        "useradd",
                        "--system",
                        "--no-create-home",
                        "--shell",
                        "/usr/sbin/nologin",
                        UNPRIVILEGED_USER,
                    ],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                entry = pwd.getpwnam(UNPRIVILEGED_USER)
        probe = subprocess.run(
            [sys.executable, "-c", "import indexer"],
            capture_output=True,
            text=True,
            user=entry.pw_uid,
            group=entry.pw_gid,
            extra_groups=[],
            cwd="/",
            check=False,
        )
        if probe.returncode == 0:
            return Unprivileged(user=(entry.pw_uid, entry.pw_gid))
        reasons.append(f"user {UNPRIVILEGED_USER} cannot run {sys.executable}")
    except (KeyError, OSError) as e:
        reasons.append(f"cannot create the user {UNPRIVILEGED_USER}: {e}")
    if shutil.which("setpriv"):
        probe = subprocess.run(
            [*_NO_DAC, sys.executable, "-c", "import indexer"], capture_output=True, text=True, check=False
        )
        if probe.returncode == 0:
            return Unprivileged(prefix=_NO_DAC)
        reasons.append(f"setpriv failed: {probe.stderr.strip()[-200:]}")
    else:
        reasons.append("no setpriv to drop root's file-mode override")
    pytest.skip("cannot drop privileges: " + "; ".join(reasons))


@pytest.fixture
def unprivileged_project() -> Iterator[Project]:
    """``project`` whose commands run without root's power over file modes (see
    ``unprivileged``), in a folder outside pytest's tmp (which only root may enter)."""
    import tempfile

    how = unprivileged()
    root = Path(tempfile.mkdtemp(prefix="indexer-unprivileged-"))
    root.chmod(0o755)
    (root / "inbox").mkdir()
    write_config(root)
    if how.user is not None:
        for path in (root, root / "inbox", root / "config.toml"):
            os.chown(path, *how.user)
    try:
        yield Project(root, user=how.user, prefix=how.prefix)
    finally:
        for path in [root, *root.rglob("*")]:  # a test may leave mode-000 folders behind
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def ctx(tmp_path: Path, database_url: str) -> Iterator[Context]:
    """An in-process context (jobs, ingester, index) on an empty inbox, on each database."""
    from indexer import config, jobs

    (tmp_path / "inbox").mkdir()
    write_config(tmp_path)
    env = {"INDEXER_DATABASE_URL": database_url} if database_url else {}
    context = jobs.open_context(config.load(tmp_path / "config.toml", env=env))
    yield context
    context.close()


@pytest.fixture
def bbc_sample(project: Project) -> list[Path]:
    """Forty real BBC articles (eight per category) copied into the project's inbox."""
    bbc = corpora_or_skip("bbc")
    copied = []
    for category in sorted(p.name for p in bbc.iterdir() if p.is_dir()):
        for source in sorted((bbc / category).glob("*.txt"))[:8]:
            target = project.inbox / category / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            copied.append(target)
    return copied


def wait_for(
    condition: Callable[[], object], timeout: float = 20.0, interval: float = 0.1, what: str = ""
) -> object:
    """Poll ``condition`` until it returns something truthy, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or condition} (last: {last!r})")


# -- PostgreSQL: a fresh database per test on the server CI runs ---------------------------

POSTGRES_ENV = "INDEXER_TEST_POSTGRES_URL"


@contextmanager
def postgres_database() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped afterwards (even if in use)."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(
            f"PostgreSQL tests need {POSTGRES_ENV}, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test"
        )
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(base)
    name = f"indexer_test_{secrets.token_hex(6)}"
    with psycopg.connect(
        url.set(drivername="postgresql").render_as_string(hide_password=False), autocommit=True
    ) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run a test on both databases: "" (SQLite in the data dir), or a fresh PostgreSQL one."""
    if request.param == "sqlite":
        yield ""
        return
    with postgres_database() as url:
        yield url


@pytest.fixture
def any_project(tmp_path: Path, database_url: str) -> Project:
    """``project`` on SQLite and on PostgreSQL (INDEXER_DATABASE_URL for every command)."""
    (tmp_path / "inbox").mkdir()
    write_config(tmp_path)
    return Project(tmp_path, database_url)
