"""Concurrent writers, a full disk, and file permissions."""

from __future__ import annotations

import os
import resource
import signal
import stat
import subprocess
import sys

import pytest

from tests.conftest import Project


def _article(tag: str, n: int) -> str:
    return f"{tag} bulletin {n}\n\nThe {tag} office released bulletin {n} on water levels and roads.\n"


def test_two_ingests_at_once_both_finish_or_say_busy(project: Project) -> None:
    for n in range(150):
        project.write(f"a/a{n}.txt", _article("north", n))
        project.write(f"b/b{n}.txt", _article("south", n))
    procs = [project.spawn("ingest", str(project.inbox / part)) for part in ("a", "b")]
    codes = [p.wait(timeout=180) for p in procs]
    log = project.log()
    assert "Traceback" not in log
    assert all(code in (0, 75) for code in codes), (codes, log)
    if 75 in codes:
        assert "busy, retry" in log
        project.run("ingest", "inbox")
    assert project.json("status")["documents"] == 300
    assert project.json("search", "north")["total"] + project.json("search", "south")["total"] == 300


def _limited(max_bytes: int):  # type: ignore[no-untyped-def]
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return apply


@pytest.mark.slow
@pytest.mark.timeout(600)  # its own waits allow up to 300 s on a busy machine
def test_full_disk_is_a_clear_error_and_work_resumes(project: Project) -> None:
    project.write("first.txt", _article("east", 0))
    project.run("ingest", "inbox")
    for n in range(1, 400):
        project.write(f"more/m{n}.txt", _article("east", n) * 20)
    db_size = (project.data / "indexer.db").stat().st_size
    proc = subprocess.run(
        [sys.executable, "-m", "indexer", "ingest", "inbox"],
        cwd=project.root,
        env=project.env(),
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_limited(db_size + 64 * 1024),
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert (
        lines and lines[-1].startswith("indexer: ") and ("full" in lines[-1] or "too large" in lines[-1])
    ), lines
    assert "Traceback" not in proc.stderr
    # Space is back: the same command finishes the work; nothing is corrupted or lost.
    project.run("ingest", "inbox", timeout=300)
    assert project.run("verify", check=False).returncode == 0
    assert project.json("status")["documents"] == 400
    with open(project.data / "indexer.db", "rb") as f:
        assert f.read(16) == b"SQLite format 3\x00"


def test_data_dir_and_files_are_private(project: Project) -> None:
    project.write("x.txt", _article("west", 1))
    project.run("ingest", "inbox")
    assert stat.S_IMODE(project.data.stat().st_mode) == 0o700
    for path in project.data.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert not stat.S_IMODE(path.stat().st_mode) & 0o007, f"{path} is world-accessible"
    assert os.access(project.data / "indexer.db", os.R_OK)
