"""The daemon under a service manager: SIGHUP and logrotate, fatal signals, a first start,
and read-only commands that create nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import Project, postgres_database, wait_for


def _log_lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def _start(project: Project) -> subprocess.Popen[str]:
    proc = project.spawn("daemon")
    wait_for(lambda: (project.data / "daemon.json").exists() or proc.poll() is not None, what="daemon start")
    assert proc.poll() is None, project.log()
    return proc


@pytest.fixture
def logged(project: Project) -> Iterator[Path]:
    """``project`` with ``[log] file`` set; yields the log file's path."""
    log_file = project.root / "applog" / "indexer.log"  # not logs/: the spawned processes' stderr is there
    log_file.parent.mkdir()
    project.config.write_text(project.config.read_text() + f'\n[log]\nfile = "{log_file}"\n')
    yield log_file


@pytest.mark.parametrize("away", ["rotated", "folder removed"])
def test_sighup_reopens_the_log_file_as_logrotate_does(project: Project, logged: Path, away: str) -> None:
    proc = _start(project)
    wait_for(lambda: any(x["event"] == "daemon.start" for x in _log_lines(logged)), what="start logged")
    # The README's logrotate steps: rename the file, then `kill -HUP` the pid of daemon.json.
    rotated = logged.parent.with_name("old-logs") / "indexer.log.1"
    rotated.parent.mkdir()
    logged.rename(rotated)
    if away == "folder removed":
        logged.parent.rmdir()
    pid = json.loads((project.data / "daemon.json").read_text())["pid"]
    assert pid == proc.pid
    os.kill(pid, signal.SIGHUP)
    wait_for(
        lambda: any(x["event"] == "daemon.log_reopened" for x in _log_lines(logged)), what="log reopened"
    )
    project.write(
        "a.txt", "Harbour report\n\nThe harbour committee published its findings on the harbour today.\n"
    )
    wait_for(
        lambda: any(x["event"] == "ingest.done" for x in _log_lines(logged)), what="new lines in the new file"
    )
    assert proc.poll() is None
    assert not any(x["event"] == "ingest.done" for x in _log_lines(rotated))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert any(x["event"] == "daemon.stopped" for x in _log_lines(logged))
    assert not (project.data / "daemon.json").exists()


@pytest.mark.parametrize(
    "signum",
    [signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2],
    ids=lambda s: signal.Signals(s).name,
)
def test_a_signal_that_would_kill_stops_cleanly(project: Project, signum: int) -> None:
    proc = _start(project)
    wait_for(lambda: (project.data / "search.sock").exists(), what="search server")
    proc.send_signal(signum)
    assert proc.wait(timeout=10) == 0, project.log()
    assert not (project.data / "daemon.json").exists()
    assert not (project.data / "search.sock").exists()
    assert '"daemon.stopped"' in project.log()


def test_after_sigkill_searches_do_not_hang_and_the_next_start_works(project: Project) -> None:
    project.write("a.txt", "Canal report\n\nThe canal committee published its findings on the canal today.\n")
    proc = _start(project)
    wait_for(lambda: project.json("search", "canal")["total"] == 1, what="file searchable")
    proc.kill()
    proc.wait(timeout=10)
    assert (project.data / "search.sock").exists()  # left behind: nobody listens on it
    started = time.monotonic()
    assert project.json("search", "canal")["total"] == 1  # connection refused: searched here
    assert time.monotonic() - started < 10
    assert project.json("status")["daemon"]["pid"] is None
    again = _start(project)
    wait_for(
        lambda: json.loads((project.data / "daemon.json").read_text())["pid"] == again.pid, what="new status"
    )
    assert project.json("search", "canal")["total"] == 1
    again.send_signal(signal.SIGTERM)
    assert again.wait(timeout=10) == 0


def _crons_a_minute_ago(project: Project) -> None:
    missed = datetime.now().astimezone() - timedelta(minutes=1)
    cron = f"{missed.minute} {missed.hour} * * *"
    project.config.write_text(
        project.config.read_text() + f'reindex_cron = "{cron}"\nverify_cron = "{cron}"\n'
        "misfire_grace_seconds = 600.0\n"
    )


def test_a_first_start_catches_nothing_up_and_builds_the_index_once(project: Project) -> None:
    _crons_a_minute_ago(project)
    proc = _start(project)
    wait_for(lambda: '"index.rebuilt"' in project.log(), what="the index built")
    wait_for(lambda: project.json("status")["last_scan"], what="a scan ran")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    events = [json.loads(x)["event"] for x in project.log().splitlines() if x.startswith("{")]
    assert "daemon.catch_up" not in events
    assert "job.reindex" not in events and "job.verify" not in events
    assert events.count("index.rebuilt") == 1
    assert project.run("verify").stdout.endswith("ok\n")


def _bare(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """indexer in ``root`` with no config file and no INDEXER_* settings but ``env``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("INDEXER_")}
    return subprocess.run(
        [sys.executable, "-m", "indexer", *args],
        cwd=root,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "command", ["status", "show 1", "failures", "duplicates", "boilerplate", "verify", "db current"]
)
def test_a_read_only_command_in_an_empty_folder_creates_nothing(tmp_path: Path, command: str) -> None:
    proc = _bare(tmp_path, *command.split())
    assert proc.returncode == 1
    assert proc.stderr == (
        f"indexer: no database at {tmp_path.resolve() / 'var' / 'indexer.db'} "
        "(config: none found; run `indexer init` or `indexer ingest`)\n"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["status", "verify", "db current"])
def test_a_read_only_command_creates_no_log_file(tmp_path: Path, command: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[paths]\ninbox = ["inbox"]\n\n[log]\nfile = "logs/indexer.log"\n', encoding="utf-8")
    proc = _bare(tmp_path / "..", "--config", str(config), *command.split())  # not from the config's folder
    assert proc.returncode == 1
    assert proc.stderr.startswith("indexer: no database at ") and f"(config: {config}; " in proc.stderr
    assert list(tmp_path.iterdir()) == [config]
    # A command that writes creates it, with its folder, beside the config file.
    _bare(tmp_path / "..", "--config", str(config), "init")
    assert (tmp_path / "logs" / "indexer.log").is_file()


def test_status_on_an_empty_postgresql_database_creates_no_tables(tmp_path: Path) -> None:
    from sqlalchemy import create_engine, inspect

    with postgres_database() as url:
        proc = _bare(tmp_path, "status", INDEXER_DATABASE_URL=url)
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.startswith("indexer: no tables in the database postgresql")
        assert proc.stderr.count("\n") == 1 and "config: none found" in proc.stderr
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                assert inspect(conn).get_table_names() == []
        finally:
            engine.dispose()
    assert list(tmp_path.iterdir()) == []


def test_verify_and_status_work_on_a_read_only_data_dir(unprivileged_project: Project) -> None:
    project = unprivileged_project
    project.write("a.txt", "Canal report\n\nThe canal committee published its findings on the canal today.\n")
    if project.user is not None:
        os.chown(project.inbox / "a.txt", *project.user)
    project.run("ingest", "inbox")
    project.data.chmod(0o555)
    try:
        proc = project.run("verify", check=False)
        assert (proc.returncode, proc.stdout.splitlines()[-1:]) == (0, ["ok"]), proc.stderr
        assert project.json("status")["documents"] == 1
        assert project.json("failures")["total"] == 0
    finally:
        project.data.chmod(0o700)
