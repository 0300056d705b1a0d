"""Crash consistency: SIGKILL the daemon, `ingest` and `reindex` at random moments while
files keep arriving; after restarts the system converges with no duplicates and no gaps."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import threading
import time

import pytest

from tests.conftest import Project

KILLS = 24
FILES = 300


def _article(n: int) -> str:
    return (
        f"Dispatch {n}\n\nCorrespondents filed report number {n} about the river crossing "
        f"and the market in district {n % 17}. Officials promised answers by week {n % 52}.\n"
    )


@pytest.mark.slow
@pytest.mark.timeout(600)  # its own waits allow up to 300 s on a busy machine
def test_random_kills_lose_nothing_and_duplicate_nothing(project: Project) -> None:
    seed = int(os.environ.get("INDEXER_CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    print(f"crash test seed: {seed} (rerun with INDEXER_CRASH_SEED={seed})")
    written: list[str] = []
    done = threading.Event()

    def drop_files() -> None:
        for n in range(FILES):
            path = project.write(f"d{n % 7}/f{n}.txt", _article(n))
            written.append(str(path))
            time.sleep(rng.uniform(0.0, 0.06))
        done.set()

    dropper = threading.Thread(target=drop_files)
    dropper.start()
    kinds = ["daemon", "ingest", "reindex"]
    killed = {kind: 0 for kind in kinds}
    # A kill lands only while the process runs: one that finished first shortens the
    # delays drawn for its kind (ingest and reindex are quick), and the turn is taken again.
    longest = {kind: 1.6 for kind in kinds}
    try:
        for attempt in range(3 * KILLS):
            if sum(killed.values()) >= KILLS:
                break
            kind = kinds[attempt % 3]
            args = {"daemon": ["daemon"], "ingest": ["ingest", "inbox"], "reindex": ["reindex"]}[kind]
            proc = project.spawn(*args)
            delay = rng.uniform(0.2, longest[kind])
            time.sleep(delay)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                killed[kind] += 1
            else:
                longest[kind] = max(0.3, delay * 0.9)
            proc.wait(timeout=10)
    finally:
        dropper.join()
    assert sum(killed.values()) >= 20, f"only {killed} kills landed (seed {seed})"

    # Restart, no manual step: one ingest converges the DB, follow brings the index along.
    project.run("ingest", "inbox", timeout=300)
    verify = project.run("verify", "--json", check=False, timeout=120)
    assert verify.returncode == 0, f"seed {seed}: {verify.stdout}\n{verify.stderr}"
    with sqlite3.connect(project.data / "indexer.db") as conn:
        paths = [row[0] for row in conn.execute("select path from files")]
        live = conn.execute("select count(*) from documents where deleted_at is null").fetchone()[0]
        bodies = conn.execute(
            "select count(distinct body_sha256) from documents where deleted_at is null"
        ).fetchone()[0]
        failures = conn.execute("select count(*) from failures").fetchone()[0]
    assert sorted(paths) == sorted(written), f"seed {seed}"
    assert live == FILES == bodies, f"seed {seed}: {live} live documents for {FILES} files"
    assert failures == 0, f"seed {seed}"
    status = project.json("status")
    assert status["index"]["documents"] == FILES and status["index"]["lag"] == 0, f"seed {seed}"
    hits = project.json("search", "dispatch", "--limit", "1000")
    assert hits["total"] == FILES, f"seed {seed}"
    assert "complete" in (project.data / "index" / "state.json").read_text()
    project.run("reindex", timeout=120)  # the next rebuild clears what killed rebuilds left
    generations = [
        p for p in project.data.iterdir() if p.name.startswith("index.") and p.is_dir() and not p.is_symlink()
    ]
    assert len(generations) <= 2, f"seed {seed}: {generations}"
    print(f"crash test seed {seed}: kills {killed}")


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_helper_processes_exit_with_a_killed_ingest(project: Project) -> None:
    # A large ingest runs analysis workers under a forkserver: SIGKILL-ing it must not
    # leave any of them behind.
    for n in range(3000):
        project.write(f"d{n % 5}/f{n}.txt", _article(n) * 3)
    proc = project.spawn("ingest", "inbox")
    helpers: set[int] = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        helpers |= _descendants(proc.pid)
        if len(helpers) >= 3:  # forkserver and two workers
            break
        time.sleep(0.1)
    assert proc.poll() is None, "the ingest finished before its helpers could be seen"
    assert len(helpers) >= 3, helpers
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(map(_alive, helpers)):
        time.sleep(0.1)
    left = [pid for pid in helpers if _alive(pid)]
    assert not left, f"processes left behind by a killed ingest: {left}"
