"""The daemon as a real subprocess: watching, settling, moves, deletes, locks and signals."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Project, running_daemon, wait_for, write_config


def _docs(project: Project) -> dict[str, int]:
    """path -> document id of live files, read straight from the SQLite file."""
    db = project.data / "indexer.db"
    if not db.exists():
        return {}
    with sqlite3.connect(db, timeout=10) as conn:
        rows = conn.execute(
            "select f.path, d.id from files f join documents d on d.id = f.document_id where d.deleted_at is null"
        ).fetchall()
    return dict(rows)


def _search_ids(project: Project, query: str) -> list[int]:
    proc = project.run("search", query, "--json", "--all", "--limit", "1000", check=False)
    if proc.returncode != 0:
        return []
    return [hit["id"] for hit in json.loads(proc.stdout)["hits"]]


def _article(topic: str, n: int = 0) -> str:
    return (
        f"Report on {topic} number {n}\n\nThe committee published its findings on {topic} today. "
        f"Officials said the {topic} review, item {n}, would continue next year.\n"
    )


@pytest.fixture
def daemon(project: Project) -> Iterator[subprocess.Popen[str]]:
    yield from running_daemon(project)


def _stop(proc: subprocess.Popen[str], project: Project) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    code = proc.wait(timeout=10)
    assert time.monotonic() - started < 10
    return code, project.log()


def test_drop_edit_rename_delete(project: Project, daemon: subprocess.Popen[str]) -> None:
    path = project.write("a.txt", _article("harbour"))
    wait_for(lambda: _search_ids(project, "harbour"), what="dropped file searchable")
    doc_id = _docs(project)[str(path)]

    path.write_text(_article("harbour") + "\nA lighthouse will be built.\n")
    wait_for(lambda: _search_ids(project, "lighthouse") == [doc_id], what="edit indexed under the same id")

    renamed = project.inbox / "sub" / "renamed.txt"
    renamed.parent.mkdir()
    path.rename(renamed)
    wait_for(
        lambda: _docs(project) == {str(renamed): doc_id},
        what=f"rename keeps the document {doc_id}: {_docs(project)}",
    )
    wait_for(lambda: _search_ids(project, f'path:"{renamed}"') == [doc_id], what="new path indexed")

    renamed.unlink()
    wait_for(lambda: not _docs(project), what="delete tombstones the document")
    wait_for(lambda: not _search_ids(project, "lighthouse"), what="deleted document leaves the index")
    code, stderr = _stop(daemon, project)
    assert code == 0, stderr


def test_renames_inside_the_inbox_keep_their_documents(
    project: Project, daemon: subprocess.Popen[str]
) -> None:
    # No new folder here: no folder scan links the new path before the old one leaves,
    # so this is the watcher's own pairing of a move's halves (and the tombstone rejoin).
    for n in range(3):
        project.write(f"desk/d{n}.txt", _article("quarry", n))
    wait_for(lambda: len(_docs(project)) == 3, what="three files ingested")
    before = _docs(project)
    first, renamed = project.inbox / "desk" / "d0.txt", project.inbox / "desk" / "renamed.txt"
    first.rename(renamed)
    moved = {str(renamed) if p == str(first) else p: i for p, i in before.items()}
    wait_for(lambda: _docs(project) == moved, what="a rename in one folder keeps the document")
    (project.inbox / "desk").rename(project.inbox / "archive")
    archived = {p.replace("/desk/", "/archive/"): i for p, i in moved.items()}
    wait_for(lambda: _docs(project) == archived, what="a folder renamed in the inbox keeps its documents")
    wait_for(lambda: sorted(_search_ids(project, "quarry")) == sorted(before.values()), what="index follows")
    done = [json.loads(line)["path"] for line in project.log().splitlines() if '"ingest.done"' in line]
    assert not [p for p in done if p not in before], "moves are linked, not analysed again"
    code, stderr = _stop(daemon, project)
    assert code == 0, stderr


def test_folder_moved_in_and_many_files_at_once(project: Project, daemon: subprocess.Popen[str]) -> None:
    outside = project.root / "outside" / "batch"
    outside.mkdir(parents=True)
    for n in range(30):
        (outside / f"f{n}.txt").write_text(_article("railway", n))
    outside.rename(project.inbox / "batch")
    for n in range(200):
        project.write(f"many/m{n}.txt", _article(f"topic{n}", n))
    wait_for(lambda: len(_docs(project)) == 230, timeout=60, what="230 files ingested")
    wait_for(lambda: project.json("status")["index"]["documents"] == 230, timeout=30, what="index caught up")
    (project.inbox / "batch").rename(project.root / "outside" / "gone")
    wait_for(lambda: len(_docs(project)) == 200, timeout=30, what="folder moved out is deleted")
    code, stderr = _stop(daemon, project)
    assert code == 0 and "Traceback" not in stderr


def test_slowly_written_file_is_ingested_once_complete(project: Project) -> None:
    write_config(project.root, "")  # the default settle window (1 s), longer than the writer's pauses
    project.config.write_text(
        project.config.read_text().replace("settle_seconds = 0.2", "settle_seconds = 1.0")
    )
    daemon = project.spawn("daemon")
    wait_for(lambda: (project.data / "daemon.json").exists(), what="daemon start")
    path = project.inbox / "slow.txt"
    chunks = [_article("volcano")] + [f"Paragraph {n} about the eruption continues here.\n" for n in range(6)]
    with open(path, "w") as f:
        for chunk in chunks:
            f.write(chunk)
            f.flush()
            time.sleep(0.5)  # the writer is slow on purpose: 3 s in all
        f.write("The final sentence mentions an aftershock.\n")
    wait_for(lambda: _search_ids(project, "aftershock"), what="complete file indexed")
    with sqlite3.connect(project.data / "indexer.db") as conn:
        bodies = conn.execute("select body_zlib, seq from documents").fetchall()
    assert len(bodies) == 1
    assert "aftershock" in zlib.decompress(bodies[0][0]).decode()
    with sqlite3.connect(project.data / "indexer.db") as conn:
        # ingested once: one insert, no half version before it
        assert conn.execute("select count(*) from documents where deleted_at is null").fetchone()[0] == 1
    _code, stderr = _stop(daemon, project)
    done = [json.loads(line) for line in stderr.splitlines() if '"ingest.done"' in line]
    assert [d["path"] for d in done] == [str(path)], done


def test_second_daemon_refuses_and_stale_lock_is_taken_over(
    project: Project, daemon: subprocess.Popen[str]
) -> None:
    second = project.run("daemon", check=False, timeout=30)
    assert second.returncode == 1
    assert second.stderr.strip().endswith(f"already running (pid {daemon.pid})")
    daemon.send_signal(signal.SIGKILL)
    daemon.wait(timeout=10)
    third = project.spawn("daemon")
    try:
        project.write("after.txt", _article("glacier"))
        wait_for(lambda: _search_ids(project, "glacier"), what="new daemon works after a SIGKILL")
        status = project.json("status")
        assert status["daemon"]["pid"] == third.pid
    finally:
        code, stderr = _stop(third, project)
    assert code == 0, stderr


def test_reindex_while_files_arrive_loses_nothing(project: Project, daemon: subprocess.Popen[str]) -> None:
    for n in range(50):
        project.write(f"early/e{n}.txt", _article("orchard", n))
    wait_for(lambda: len(_docs(project)) == 50, timeout=60, what="first files")
    errors: list[str] = []
    stop = threading.Event()

    def search_loop() -> None:
        while not stop.is_set():
            proc = project.run("search", "orchard", "--json", check=False)
            if proc.returncode != 0:
                errors.append(proc.stderr)

    searcher = threading.Thread(target=search_loop)
    searcher.start()
    try:
        writer_done = threading.Event()

        def writer() -> None:
            for n in range(60):
                project.write(f"late/l{n}.txt", _article("orchard", 100 + n))
                time.sleep(0.03)
            writer_done.set()

        w = threading.Thread(target=writer)
        w.start()
        for _ in range(2):
            proc = project.run("reindex", check=False, timeout=120)
            assert proc.returncode == 0, proc.stderr
        w.join()
        wait_for(lambda: len(_docs(project)) == 110, timeout=60, what="all files in the DB")
        wait_for(
            lambda: project.json("status")["index"]["documents"] == 110, timeout=30, what="index complete"
        )
        assert len(_search_ids(project, "orchard")) == 110
    finally:
        stop.set()
        searcher.join()
    assert not errors, errors[:3]
    generations = [p for p in project.data.glob("index.*") if p.is_dir() and not p.is_symlink()]
    assert len(generations) <= 2  # the live one and the previous one, nothing abandoned


def test_idle_daemon_uses_no_cpu(project: Project, daemon: subprocess.Popen[str]) -> None:
    time.sleep(1.0)  # let start-up finish; then measure over a quiet window

    def cpu() -> float:
        fields = Path(f"/proc/{daemon.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    before = cpu()
    time.sleep(3.0)
    used = cpu() - before
    # scan_interval is 0.5 s in tests, so a few safety scans of an empty inbox run here.
    assert used < 0.5, f"idle daemon used {used:.2f}s CPU in 3s"


def test_reindex_missed_while_down_runs_at_start(project: Project) -> None:
    """A daemon restarted at 03:05 still runs the 03:00 reindex (here: a minute ago)."""
    from datetime import datetime, timedelta

    missed = datetime.now().astimezone() - timedelta(minutes=1)
    project.config.write_text(
        project.config.read_text()
        + f'reindex_cron = "{missed.minute} {missed.hour} * * *"\nmisfire_grace_seconds = 600.0\n'
    )
    project.write("a.txt", _article("canal"))
    # Only a job that ran before can miss a slot: this data dir reindexed yesterday.
    project.run("reindex")
    with sqlite3.connect(project.data / "indexer.db") as conn:
        conn.execute("update job_runs set started_at = datetime(started_at, '-1 day') where job = 'reindex'")
    proc = project.spawn("daemon")
    try:
        wait_for(lambda: project.log().count('"job.reindex"') == 1, timeout=30, what="catch-up reindex")
        status = project.json("status")
        assert status["last_reindex"] is not None
        assert status["next_reindex"] is not None  # tomorrow's run, from the daemon
    finally:
        code, log = _stop(proc, project)
    assert code == 0
    assert '"daemon.catch_up"' in log


def _reindex_runs(log: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == "job.reindex"]


def test_the_nightly_reindex_rebuilds_only_when_needed(project: Project) -> None:
    """The scheduled reindex (here: caught up at start) skips an index that is up to date
    and rebuilds one whose documents an older normalizer analysed; `indexer reindex`
    always rebuilds."""
    from datetime import datetime, timedelta

    from indexer.ingest.normalize import NORMALIZER_VERSION

    missed = datetime.now().astimezone() - timedelta(minutes=1)
    project.config.write_text(
        project.config.read_text()
        + f'reindex_cron = "{missed.minute} {missed.hour} * * *"\nmisfire_grace_seconds = 600.0\n'
    )
    project.write("a.txt", _article("canal"))
    project.write("b.txt", _article("harbour", 1))
    project.run("ingest", str(project.inbox))
    project.run("reindex")
    built = os.readlink(project.data / "index")
    built_at = project.json("status")["index"]["built_at"]

    def run_nightly_reindex() -> dict[str, object]:
        # The reindex ran yesterday: the daemon catches up the slot it missed a minute ago.
        with sqlite3.connect(project.data / "indexer.db") as conn:
            conn.execute(
                "update job_runs set started_at = datetime(started_at, '-1 day') where job = 'reindex'"
            )
        project.log_path.unlink(missing_ok=True)
        proc = project.spawn("daemon")
        try:
            wait_for(lambda: _reindex_runs(project.log()), timeout=60, what="the nightly reindex")
        finally:
            code, log = _stop(proc, project)
        assert code == 0 and "Traceback" not in log, log[-3000:]
        (run,) = _reindex_runs(log)
        return run

    run = run_nightly_reindex()
    assert (run["outcome"], run["reason"]) == ("skipped", "up to date"), run
    assert os.readlink(project.data / "index") == built  # no new generation
    assert f"index built: {built_at}" in project.run("status").stdout

    with sqlite3.connect(project.data / "indexer.db") as conn:
        conn.execute("update documents set normalizer_version = ? where id = 1", (NORMALIZER_VERSION - 1,))
    run = run_nightly_reindex()
    assert run["outcome"] == "ok" and "normalizer" in str(run["reason"]), run
    assert run["reprocessed"] == 1 and run["documents"] == 2, run
    rebuilt = os.readlink(project.data / "index")
    assert rebuilt != built
    with sqlite3.connect(project.data / "indexer.db") as conn:
        assert conn.execute("select min(normalizer_version) from documents").fetchone() == (
            NORMALIZER_VERSION,
        )
    assert sorted(_search_ids(project, "committee")) == [1, 2]

    assert "index is current" in project.run("reindex", "--if-needed").stdout
    assert os.readlink(project.data / "index") == rebuilt
    project.run("reindex")  # by hand: always
    assert os.readlink(project.data / "index") != rebuilt


# The 10,000-file drop takes minutes on two cores; CI drops 2,000 (same code path:
# one folder moved in, batched ingest); scripts/bench measures the large case.
BULK = 2_000


@pytest.mark.slow
@pytest.mark.timeout(600)  # its own waits allow up to 300 s on a busy machine
def test_thousands_of_files_dropped_at_once(project: Project, daemon: subprocess.Popen[str]) -> None:
    words = ["harbour", "council", "railway", "orchard", "glacier", "volcano", "meadow", "canal"]
    staging = project.root / "staging"
    staging.mkdir()
    for n in range(BULK):
        (staging / f"n{n:05d}.txt").write_text(
            f"Note {n}\n\nShort note {n} about the {words[n % 8]} and the {words[(n // 8) % 8]} today.\n"
        )
    staging.rename(project.inbox / "bulk")  # all at once: one folder moved in
    wait_for(
        lambda: project.json("status")["index"]["documents"] == BULK,
        timeout=300,
        interval=2.0,
        what=f"{BULK} files searchable",
    )
    assert project.json("status")["failures"] == 0
    code, log = _stop(daemon, project)
    assert code == 0 and "Traceback" not in log


@pytest.mark.parametrize(("watch", "expected"), [("auto", 3600.0), ("poll", 30.0)])
def test_the_scan_is_a_rare_safety_net_while_events_work(
    project: Project, watch: str, expected: float
) -> None:
    """With inotify the full rescan runs every safety_scan_seconds; polling uses
    scan_interval_seconds. The daemon says which at start, and schedules it so."""
    write_config(project.root, "")
    text = project.config.read_text()
    text = text.replace("scan_interval_seconds = 0.5", "scan_interval_seconds = 30.0")
    text = text.replace("safety_scan_seconds = 0.5", f'safety_scan_seconds = 3600.0\nwatch = "{watch}"')
    project.config.write_text(text)
    daemon = project.spawn("daemon")
    try:
        wait_for(lambda: '"daemon.start"' in project.log(), what="daemon start")
        start = next(json.loads(line) for line in project.log().splitlines() if '"daemon.start"' in line)
        assert start["watch"] == watch and start["scan_seconds"] == expected
    finally:
        code, _ = _stop(daemon, project)
    assert code == 0


def test_changes_another_process_writes_are_followed_within_seconds(project: Project) -> None:
    """A writer the daemon hears nothing of (`indexer ingest` of a folder outside its inbox,
    with a data dir of its own, into the daemon's SQLite database): the daemon's index
    follows it within seconds, not at its next safety scan (five minutes away here)."""
    from indexer.configfile import sqlite_url

    text = project.config.read_text()
    project.config.write_text(
        text.replace("safety_scan_seconds = 0.5", 'safety_scan_seconds = 300.0\nwatch = "events"')
    )
    other = Project(project.root / "other", database_url=sqlite_url(project.data))
    other.inbox.mkdir(parents=True)
    write_config(other.root)
    daemon = project.spawn("daemon")
    try:
        wait_for(lambda: (project.data / "daemon.json").exists(), what="daemon start")
        for n in range(3):
            other.write(f"o{n}.txt", _article("orchard", n))
        other.run("ingest", "inbox")
        wait_for(
            lambda: len(_search_ids(project, "orchard")) == 3, timeout=10, what="the daemon's index following"
        )
        assert project.json("status")["index"]["lag"] == 0
    finally:
        code, log = _stop(daemon, project)
    assert code == 0 and "Traceback" not in log


def _scan_ended(project: Project) -> bool:
    with sqlite3.connect(project.data / "indexer.db", timeout=10) as conn:
        return bool(
            conn.execute("select 1 from job_runs where job = 'scan' and ended_at is not null").fetchall()
        )


def test_the_change_poll_leaves_the_index_to_another_process_writing_it(project: Project) -> None:
    """While another process holds this index's writer (as `indexer ingest` does between
    its commits), the poll that finds new changes does not wait for it: files dropped
    meanwhile are still stored at once, and the index follows once the writer is free."""
    from indexer.configfile import sqlite_url
    from indexer.daemon import FOLLOW_POLL_SECONDS
    from indexer.locks import FileLock

    text = project.config.read_text()
    project.config.write_text(
        text.replace("safety_scan_seconds = 0.5", 'safety_scan_seconds = 300.0\nwatch = "events"')
    )
    other = Project(project.root / "other", database_url=sqlite_url(project.data))
    other.inbox.mkdir(parents=True)
    write_config(other.root)
    other.write("o.txt", _article("orchard"))
    daemon = project.spawn("daemon")
    writer = FileLock(project.data / "index.lock")
    try:
        wait_for(lambda: (project.data / "daemon.json").exists(), what="daemon start")
        wait_for(lambda: _scan_ended(project), what="first scan")
        time.sleep(1.0)  # and the follow after it (commit_interval_seconds): the daemon is idle
        writer.acquire(timeout=10)
        other.run("ingest", "inbox")  # changes the daemon's index lacks
        time.sleep(FOLLOW_POLL_SECONDS + 0.5)  # the daemon's poll has found them
        path = project.write("a.txt", _article("meadow"))
        # Well inside the 60 s a writer would wait for the lock (busy timeout + commit), so a
        # poll that waited for it still fails here; a busy machine needs more than 5 s.
        wait_for(lambda: str(path) in _docs(project), timeout=20, what="the dropped file stored")
        writer.release()
        wait_for(
            lambda: len(_search_ids(project, "orchard OR meadow")) == 2,
            timeout=10,
            what="the daemon's index following",
        )
    finally:
        writer.release()
        code, log = _stop(daemon, project)
    assert code == 0 and "Traceback" not in log
