"""Bad input: each kind gets a clear recorded reason, and the good files around it go on."""

from __future__ import annotations

import os
import signal

from tests.conftest import Project, wait_for

GOOD = "Good article\n\nThis perfectly ordinary article about the harbour should be ingested.\n"


def _failures(project: Project) -> dict[str, str]:
    data = project.json("failures")
    return {os.path.basename(f["path"]): f"{f['stage']}: {f['reason']}" for f in data["failures"]}


def _make_bad_inbox(project: Project) -> None:
    inbox = project.inbox
    project.write("good.txt", GOOD)
    project.write("good space and emoji 🎉.txt", GOOD.replace("harbour", "lighthouse"))
    project.write("empty.txt", b"")
    project.write("blank.txt", "   \n\n\t  \n")
    project.write("image.txt", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    project.write("nul.txt", b"Some text\x00with a NUL byte inside it and more text after.\n")
    project.write("huge.txt", b"x" * (2 * 1_000_000 + 10))  # the test config allows 2 MB
    project.write("oneline.txt", (b"word " * 300_000))  # 1.5 MB on one line, under the limit
    (inbox / "folder.txt").mkdir()
    (inbox / "folder.txt" / "inside.txt").write_text(GOOD.replace("harbour", "folder"))
    os.mkfifo(inbox / "fifo.txt")
    outside = project.root / "outside.txt"
    outside.write_text(GOOD.replace("harbour", "secret"))
    (inbox / "link-out.txt").symlink_to(outside)
    (inbox / "loop.txt").symlink_to(inbox / "loop.txt")
    (inbox / "name\nwith newline.txt").write_text(GOOD.replace("harbour", "newline"))
    os.makedirs(inbox / "latin", exist_ok=True)
    with open(os.path.join(os.fsencode(inbox / "latin"), b"caf\xe9.txt"), "wb") as f:
        f.write(GOOD.encode())


def test_every_bad_input_is_recorded_and_good_files_go_on(project: Project) -> None:
    project.config.write_text(project.config.read_text() + "\n[ingest]\nmax_file_size_mb = 2.0\n")
    _make_bad_inbox(project)
    proc = project.run("ingest", "inbox", timeout=60)
    assert "Traceback" not in proc.stderr
    failures = _failures(project)
    assert failures["empty.txt"] == "normalize: empty file"
    assert failures["blank.txt"] == "normalize: no text (whitespace only)"
    assert failures["image.txt"].startswith("decode: binary content (PNG image")
    assert failures["nul.txt"].startswith("decode: binary content")
    assert failures["huge.txt"].startswith("read: too large")
    assert failures["fifo.txt"] == "read: not a regular file"
    assert failures["link-out.txt"] == "read: symlink (follow_symlinks is off)"
    assert failures["loop.txt"] == "read: symlink (follow_symlinks is off)"
    assert "caf\\xe9.txt" not in failures  # a Latin-1 name is a file like any other (test_names.py)
    status = project.json("status")
    # good, emoji name, folder.txt/inside, newline name, one long line
    assert status["documents"] == 5, status
    assert project.json("search", "secret")["total"] == 0  # never read outside the inbox
    assert project.json("search", "lighthouse")["total"] == 1
    assert project.json("search", "newline")["total"] == 1
    again = project.run("ingest", "inbox", timeout=60)
    assert "0 added" in again.stdout and "0 failed" in again.stdout  # recorded once, not retried blindly


def test_symlinks_inside_followed_only_when_allowed(project: Project) -> None:
    project.config.write_text(
        project.config.read_text().replace('data_dir = "var"', 'data_dir = "var"\nfollow_symlinks = true')
    )
    target = project.write("real/a.txt", GOOD)
    (project.inbox / "alias.txt").symlink_to(target)
    outside = project.root / "outside.txt"
    outside.write_text(GOOD.replace("harbour", "secret"))
    (project.inbox / "out.txt").symlink_to(outside)
    project.run("ingest", "inbox")
    assert project.json("search", "secret")["total"] == 0
    failures = _failures(project)
    assert failures["out.txt"] == "read: symlink points outside the inbox"
    shown = project.json("show", str(project.json("search", "harbour")["hits"][0]["id"]))
    assert sorted(os.path.basename(p) for p in shown["paths"]) == ["a.txt", "alias.txt"]


def test_unreadable_file_is_a_transient_failure(unprivileged_project: Project) -> None:
    project = unprivileged_project
    path = project.write("locked.txt", GOOD)
    path.chmod(0)
    project.run("ingest", "inbox")
    assert _failures(project)["locked.txt"] == "read: permission denied"
    path.chmod(0o644)
    project.run("retry", "--all")
    assert project.json("search", "harbour")["total"] == 1


def test_retry_after_a_fix_and_failures_listing(project: Project) -> None:
    path = project.write("later.txt", b"")
    project.run("ingest", "inbox")
    listing = project.run("failures").stdout
    assert "later.txt: normalize: empty file [attempts 1]" in listing
    path.write_text(GOOD)
    retried = project.run("retry", str(path))
    assert "1 added" in retried.stdout
    assert project.run("failures").stdout.strip() == "no failures"


def test_daemon_keeps_running_through_bad_input(project: Project) -> None:
    daemon = project.spawn("daemon")
    try:
        wait_for(lambda: (project.data / "daemon.json").exists(), what="daemon start")
        _make_bad_inbox(project)
        project.write("late/ok.txt", GOOD.replace("harbour", "meadow"))
        wait_for(
            lambda: project.json("search", "meadow")["total"] == 1,
            timeout=30,
            what="good file after bad ones",
        )
        assert daemon.poll() is None
    finally:
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(timeout=10)
    assert code == 0
    assert "Traceback" not in project.log()


def test_startup_errors_are_one_line(project: Project) -> None:
    ro = project.root / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    if os.geteuid() != 0:
        proc = project.run("status", check=False, INDEXER_DATA_DIR=str(ro / "data"))
        assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1
    proc = project.run("ingest", "no-such-folder", check=False)
    assert proc.returncode == 1 and proc.stderr.strip() == "indexer: no such file or folder: no-such-folder"
    project.config.write_text('[paths]\ninbox = ["missing-inbox"]\n')
    proc = project.run("daemon", check=False, timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("indexer: inbox folder does not exist:")
