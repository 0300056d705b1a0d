"""Folders that go away (moved, unmounted, unreadable) keep their documents until they are back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from indexer.ingest.discover import Rules, discover
from indexer.ingest.folders import EMPTY_REASON, MASS_VANISH_FILES, unavailable, vanished_at_once
from indexer.ingest.types import Unlisted
from tests.conftest import Project, running_daemon, wait_for
from tests.test_daemon import _article, _docs, _search_ids


def _fill(project: Project) -> dict[str, int]:
    for i, topic in enumerate(["harbour", "railway", "orchard"]):
        project.write(f"{topic}.txt", _article(topic, i))
    project.write("sub/glacier.txt", _article("glacier", 9))
    project.run("ingest", "inbox")
    docs = _docs(project)
    assert len(docs) == 4 and len(set(docs.values())) == 4
    return docs


def _move_away(project: Project, recreate: bool) -> Path:
    away = project.root / "inbox.away"
    project.inbox.rename(away)
    if recreate:  # an unmounted share: its mount point is an empty folder
        project.inbox.mkdir()
    return away


def _move_back(project: Project, away: Path) -> None:
    if project.inbox.exists():
        project.inbox.rmdir()
    away.rename(project.inbox)


def _unavailable(project: Project) -> list[str]:
    return [f["path"] for f in project.json("status")["unavailable_folders"]]


def _all_searchable(project: Project, docs: dict[str, int]) -> bool:
    return sorted(_search_ids(project, "committee")) == sorted(docs.values())


@pytest.mark.parametrize("recreate", [False, True], ids=["moved", "emptied"])
def test_an_inbox_moved_away_keeps_its_documents(project: Project, recreate: bool) -> None:
    docs = _fill(project)
    away = _move_away(project, recreate)
    inbox = str(project.inbox.resolve())

    ingest = project.run("ingest", "inbox", check=False)
    assert ingest.returncode != 0
    last = ingest.stderr.strip().splitlines()[-1]
    assert last.startswith("indexer: ") and ("inbox" in last if not recreate else f"{inbox}: " in last)
    repair = project.run("verify", "--repair", "--json", check=False)
    assert repair.returncode == 1
    report = json.loads(repair.stdout)
    assert [f["path"] for f in report["unavailable"]] == [inbox]
    assert report["orphaned"] == [] and report["remaining"] >= 1
    assert _unavailable(project) == [inbox]
    assert _docs(project) == docs
    assert _all_searchable(project, docs)

    _move_back(project, away)
    project.run("ingest", "inbox")
    assert project.run("verify").stdout.strip().endswith("ok")
    assert _docs(project) == docs
    assert _unavailable(project) == []
    assert _all_searchable(project, docs)


def test_an_inbox_emptied_for_real_keeps_a_file(project: Project) -> None:
    docs = _fill(project)
    for path in docs:
        Path(path).unlink()
    (project.inbox / "sub").rmdir()
    assert project.run("ingest", "inbox", check=False).returncode == 1  # as if unmounted
    assert _docs(project) == docs
    (project.inbox / ".keep").write_text("")
    assert "4 deleted" in project.run("ingest", "inbox").stdout
    assert _docs(project) == {}


def _replace_with_a_stray_file(project: Project) -> Path:
    """`mv inbox away; mkdir inbox; echo ... > inbox/new.txt`, or a share unmounted under
    a mount point that holds a file of its own."""
    away = _move_away(project, recreate=True)
    project.write("new.txt", _article("lighthouse", 7))
    return away


def test_a_replaced_inbox_with_a_stray_file_keeps_its_documents(project: Project) -> None:
    docs = _fill(project)
    away = _replace_with_a_stray_file(project)
    inbox = str(project.inbox.resolve())

    ingest = project.run("ingest", "inbox", check=False)
    assert ingest.returncode == 1
    assert "1 added" in ingest.stdout and "deleted" not in ingest.stdout
    assert (
        f"{inbox}: folder was replaced or unmounted" in ingest.stderr and "--accept-vanished" in ingest.stderr
    )
    repair = project.run("verify", "--repair", "--json", check=False)
    assert repair.returncode == 1
    report = json.loads(repair.stdout)
    assert [f["path"] for f in report["unavailable"]] == [inbox] and report["orphaned"] == []
    assert _unavailable(project) == [inbox]
    assert set(docs.values()) < set(_search_ids(project, "committee"))  # the old documents and the new one
    assert len(_docs(project)) == len(docs) + 1

    # Put back: the stray file goes with the empty mount point, the old files are there.
    (project.inbox / "new.txt").unlink()
    _move_back(project, away)
    assert "1 deleted" in project.run("ingest", "inbox").stdout
    assert project.run("verify").stdout.strip().endswith("ok")
    assert _docs(project) == docs and _unavailable(project) == []


def test_an_unmounted_share_with_a_file_in_its_mount_point_keeps_its_documents(any_project: Project) -> None:
    """On both databases: a tmp folder mounted over the inbox (a share), unmounted while
    its mount point holds a file of its own."""
    project = any_project
    share = project.root / "share"
    share.mkdir()
    (project.inbox / "mountpoint-note.txt").write_text(_article("lighthouse", 7))
    project.inbox.rename(project.root / "mountpoint")
    share.rename(project.inbox)  # "mounted": another folder at the inbox path
    for i, topic in enumerate(["harbour", "railway", "orchard"]):
        project.write(f"{topic}.txt", _article(topic, i))
    project.run("ingest", "inbox")
    ids = _search_ids(project, "committee")
    assert len(ids) == 3
    project.inbox.rename(share)  # "unmounted": the mount point with its own file is back
    (project.root / "mountpoint").rename(project.inbox)
    assert project.run("ingest", "inbox", check=False).returncode == 1
    assert project.run("verify", "--repair", check=False).returncode == 1
    assert set(ids) < set(_search_ids(project, "committee"))
    assert project.json("status")["documents"] == 4
    assert [f["path"] for f in project.json("status")["unavailable_folders"]] == [
        str(project.inbox.resolve())
    ]


@contextmanager
def _tmpfs(folder: Path) -> Iterator[Callable[[], None]]:
    """A tmpfs mounted at ``folder`` (a share); yields its unmount. Skips where mounting is
    not allowed (not root, no CAP_SYS_ADMIN)."""
    folder.mkdir(exist_ok=True)
    if (
        os.geteuid() != 0
        or subprocess.run(["mount", "-t", "tmpfs", "none", str(folder)], capture_output=True).returncode != 0
    ):
        pytest.skip("mounting a tmpfs needs root with CAP_SYS_ADMIN")
    mounted = [True]

    def unmount() -> None:
        if mounted[0]:
            subprocess.run(["umount", str(folder)], check=True)
            mounted[0] = False

    try:
        yield unmount
    finally:
        unmount()


@pytest.mark.parametrize("again", ["unmounted", "another filesystem, a few files"])
def test_a_share_mounted_inside_the_inbox_keeps_its_documents_when_unmounted(
    project: Project, again: str
) -> None:
    docs = _fill(project)
    wire = project.inbox / "wire"
    with _tmpfs(wire) as unmount:
        for n in range(6):
            project.write(f"wire/w{n}.txt", _article(f"wire{n}", n))
        project.run("ingest", "inbox")
        shared = _docs(project)
        assert len(shared) == len(docs) + 6
        unmount()
        if again == "unmounted":
            ingest = project.run("ingest", "inbox", check=False)
            verify = project.run("verify", "--repair", check=False)
        else:  # a fresh tmpfs at the same place, its root inode the same, with 2 of the 6 files
            with _tmpfs(wire):
                for n in range(2):
                    project.write(f"wire/w{n}.txt", _article(f"wire{n}", n))
                    os.utime(wire / f"w{n}.txt", ns=(os.stat(project.inbox / "harbour.txt").st_mtime_ns,) * 2)
                ingest = project.run("ingest", "inbox", check=False)
                verify = project.run("verify", "--repair", check=False)
    assert ingest.returncode == 1 and "deleted" not in ingest.stdout, ingest.stdout
    assert f"{wire.resolve()}: folder was replaced or unmounted" in ingest.stderr
    assert verify.returncode == 1 and "removed" not in verify.stdout
    assert _docs(project).keys() == shared.keys()


def test_a_replaced_inbox_is_taken_as_it_is_when_the_user_says_so(project: Project) -> None:
    docs = _fill(project)
    _replace_with_a_stray_file(project)
    assert project.run("ingest", "inbox", check=False).returncode == 1
    accepted = project.run("ingest", "--accept-vanished", "inbox")
    assert f"{len(docs)} deleted" in accepted.stdout
    assert list(_docs(project)) == [str(project.inbox.resolve() / "new.txt")]
    assert _unavailable(project) == []
    assert project.run("verify").stdout.strip().endswith("ok")
    # From now on this is the inbox: one file deleted from it goes as usual.
    (project.inbox / "new.txt").unlink()
    (project.inbox / ".keep").write_text("")
    assert "1 deleted" in project.run("ingest", "inbox").stdout


def test_files_vanishing_all_at_once_are_kept_and_a_few_go(project: Project) -> None:
    many = MASS_VANISH_FILES + 5
    for n in range(many):
        project.write(f"many/r{n:02d}.txt", _article(f"river{n}", n))
    project.run("ingest", "inbox")
    # A few deleted while nothing ran: they go.
    for n in range(3):
        (project.inbox / "many" / f"r{n:02d}.txt").unlink()
    assert "3 deleted" in project.run("ingest", "inbox").stdout
    # Nearly all the rest at once (one left, the folder still there): kept, and said.
    for n in range(3, many - 1):
        (project.inbox / "many" / f"r{n:02d}.txt").unlink()
    ingest = project.run("ingest", "inbox", check=False)
    assert ingest.returncode == 1 and "deleted" not in ingest.stdout
    assert f"{many - 4} of its {many - 3} known files vanished at once" in ingest.stderr
    assert len(_docs(project)) == many - 3
    assert project.run("verify", "--repair", check=False).returncode == 1
    assert len(_docs(project)) == many - 3
    assert f"{many - 4} deleted" in project.run("ingest", "--accept-vanished", "inbox").stdout
    assert len(_docs(project)) == 1


def test_which_files_vanished_at_once(tmp_path: Path) -> None:
    root, other = str(tmp_path / "a"), str(tmp_path / "b")
    known = [f"{root}/{n}.txt" for n in range(100)] + [f"{other}/{n}.txt" for n in range(5)]
    never = lambda r: False  # noqa: E731
    folders = [root, other]
    assert vanished_at_once(folders, lambda: known, known[:89], never) == []  # 89%: deleted
    held = vanished_at_once(folders, lambda: known, known[:90], never)
    assert [f.path for f in held] == [root] and "90 of its 100 known files vanished at once" in held[0].reason
    # Few files: all gone is a deletion, unless the folder is not the one indexed.
    assert vanished_at_once(folders, lambda: known, known[100:], never) == []
    held = vanished_at_once(folders, lambda: known, known[100:103], lambda r: r == other)
    assert [f.path for f in held] == [other] and "was replaced" in held[0].reason
    # A replaced folder (a remounted share) that lost a few files while away: they go.
    assert vanished_at_once(folders, lambda: known, known[:10], lambda r: True) == []
    # A mount point inside an inbox folder is judged on its own files.
    mount = f"{root}/wire"
    known += [f"{mount}/{n}.txt" for n in range(10)]
    held = vanished_at_once([root, mount], lambda: known, known[-10:], lambda r: r == mount)
    assert [f.path for f in held] == [mount]
    # Nothing gone: the known files are not even counted.
    assert vanished_at_once(folders, lambda: 1 / 0, [], never) == []


@pytest.fixture
def daemon(project: Project) -> Iterator[subprocess.Popen[str]]:
    yield from running_daemon(project)


def _folder_failures(project: Project) -> list[str]:
    return [f["path"] for f in project.json("failures")["failures"] if f["stage"] == "folder"]


@pytest.mark.parametrize("recreate", [False, True], ids=["moved", "emptied"])
def test_the_daemon_keeps_the_documents_of_an_inbox_moved_away(
    project: Project, daemon: subprocess.Popen[str], recreate: bool
) -> None:
    docs = _fill(project)
    wait_for(lambda: _all_searchable(project, docs), what="ingested files searchable")
    away = _move_away(project, recreate)
    inbox = str(project.inbox.resolve())
    # The safety scan records the folder in the transaction that would have removed its files.
    wait_for(lambda: _folder_failures(project) == [inbox], what="the daemon's scan records the inbox")
    assert project.run("verify", "--repair", check=False).returncode == 1
    assert _docs(project) == docs
    assert _all_searchable(project, docs)
    assert daemon.poll() is None, project.log()
    assert "scan.folder_unavailable" in project.log()

    _move_back(project, away)
    wait_for(lambda: not _folder_failures(project), what="the failure clears once the inbox is back")
    assert project.run("verify").stdout.strip().endswith("ok")
    assert _docs(project) == docs
    assert _all_searchable(project, docs)


def test_the_daemon_keeps_the_documents_of_an_inbox_replaced_under_it(
    project: Project, daemon: subprocess.Popen[str]
) -> None:
    docs = _fill(project)
    wait_for(lambda: _all_searchable(project, docs), what="ingested files searchable")
    away = _replace_with_a_stray_file(project)
    inbox = str(project.inbox.resolve())
    wait_for(lambda: len(_search_ids(project, "lighthouse")) == 1, what="the stray file searchable")
    wait_for(lambda: _folder_failures(project) == [inbox], what="the daemon's scan records the inbox")
    assert set(docs.values()) < set(_search_ids(project, "committee"))
    assert "ingest.removed" not in project.log(), project.log()[-3000:]
    assert daemon.poll() is None, project.log()

    (project.inbox / "new.txt").unlink()
    _move_back(project, away)
    wait_for(lambda: not _folder_failures(project), what="the failure clears once the inbox is back")
    wait_for(lambda: not _search_ids(project, "lighthouse"), what="the stray file's document gone")
    assert _docs(project) == docs
    assert project.run("verify").stdout.strip().endswith("ok")


def test_the_daemon_starts_with_an_inbox_away_and_watches_it_once_back(project: Project) -> None:
    docs = _fill(project)
    away = _move_away(project, recreate=False)
    with _daemon_running(project) as proc:
        status = project.json("status")
        assert status["documents"] == len(docs)
        assert "missing" in " ".join(status["daemon"]["unwatched"].values()), status["daemon"]
        assert _all_searchable(project, docs)
        _move_back(project, away)
        project.write("late.txt", _article("lighthouse", 8))
        wait_for(lambda: len(_search_ids(project, "lighthouse")) == 1, what="a new file in the inbox back")
        assert proc.poll() is None
    assert _docs(project).keys() > docs.keys()


def test_the_daemon_of_a_new_install_refuses_a_missing_inbox_and_creates_nothing(tmp_path: Path) -> None:
    project = Project(tmp_path)
    project.config.write_text('[paths]\ninbox = ["nowhere"]\ndata_dir = "var"\n\n[log]\nfile = "log/x.log"\n')
    proc = project.run("daemon", check=False, timeout=30)
    assert proc.returncode == 2 and proc.stderr.strip().startswith("indexer: inbox folder does not exist:")
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]


@contextmanager
def _daemon_running(project: Project) -> Iterator[subprocess.Popen[str]]:
    proc = project.spawn("daemon")
    try:
        wait_for(
            lambda: (project.data / "daemon.json").exists() or proc.poll() is not None, what="daemon start"
        )
        assert proc.poll() is None, project.log()
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0, project.log()[-3000:]


def test_the_daemon_follows_an_inbox_symlink_to_its_new_folder_and_reads_the_old_one_no_more(
    project: Project,
) -> None:
    first, second = project.root / "first", project.root / "second"
    for folder in (first, second):
        folder.mkdir()
    link = project.root / "link"
    link.symlink_to(first)
    project.config.write_text(project.config.read_text().replace('inbox = ["inbox"]', 'inbox = ["link"]'))
    assert 'inbox = ["link"]' in project.config.read_text()
    (first / "a.txt").write_text(_article("harbour", 1))
    with _daemon_running(project) as proc:
        wait_for(lambda: len(_search_ids(project, "harbour")) == 1, what="a file in the first folder")
        pid = proc.pid
        (project.root / "next").symlink_to(second)
        (project.root / "next").rename(link)  # retargeted at once, as `ln -sfn` does
        wait_for(lambda: project.log().count('"daemon.start"') == 2, what="the daemon started again")
        (second / "b.txt").write_text(_article("railway", 2))
        (first / "c.txt").write_text(_article("orchard", 3))  # no inbox any more
        wait_for(lambda: len(_search_ids(project, "railway")) == 1, what="a file in the new folder")
        time.sleep(1.0)
        assert _search_ids(project, "orchard") == []
        assert proc.poll() is None and json.loads((project.data / "daemon.json").read_text())["pid"] == pid
        assert '"daemon.inbox_moved"' in project.log()


def test_an_unreadable_folder_is_a_failure_and_keeps_its_documents(unprivileged_project: Project) -> None:
    project = unprivileged_project
    docs = _fill(project)
    sub = project.inbox / "sub"
    sub.chmod(0)
    ingest = project.run("ingest", "inbox", check=False)
    assert ingest.returncode == 1
    assert ingest.stderr.strip().splitlines()[-1] == (
        f"indexer: folder unavailable, its documents are kept: {sub}: "
        "folder cannot be listed: permission denied"
    )
    assert "deleted" not in ingest.stdout
    failures = project.json("failures")["failures"]
    assert [(f["path"], f["stage"], f["reason"], f["transient"]) for f in failures] == [
        (str(sub), "folder", "folder cannot be listed: permission denied", True)
    ]
    assert f"{sub}: folder: folder cannot be listed: permission denied" in project.run("status").stdout
    verify = project.run("verify", "--repair", check=False)
    assert verify.returncode == 1
    assert (
        f"unavailable folder (its documents are kept): {sub}: folder cannot be listed: permission denied"
        in verify.stdout
    )
    assert _docs(project) == docs

    sub.chmod(0o755)
    project.write("sub/tundra.txt", _article("tundra", 5))
    assert "1 added" in project.run("retry", "--all").stdout
    assert project.json("failures")["total"] == 0
    assert project.run("verify").stdout.strip().endswith("ok")
    assert len(_docs(project)) == 5


@pytest.mark.parametrize("which", ["sub", "root"])
def test_a_folder_listed_but_not_entered_keeps_its_documents(
    unprivileged_project: Project, which: str
) -> None:
    """Read without execute (`chmod 444`): the names list, but nothing in it can be stat'ed."""
    project = unprivileged_project
    docs = _fill(project)
    folder = project.inbox / "sub" if which == "sub" else project.inbox
    folder.chmod(0o444)
    try:
        ingest = project.run("ingest", "inbox", check=False)
        verify = project.run("verify", "--repair", check=False)
    finally:
        folder.chmod(0o755)
    assert ingest.returncode == 1 and "deleted" not in ingest.stdout, ingest.stdout
    assert f"{folder.resolve()}: folder cannot be entered: permission denied" in ingest.stderr
    assert verify.returncode == 1 and "removed" not in verify.stdout, verify.stdout
    assert _docs(project) == docs
    project.run("ingest", "inbox")
    assert project.run("verify").stdout.strip().endswith("ok")
    assert _docs(project) == docs


def test_an_unreadable_folder_clears_on_the_next_scan(unprivileged_project: Project) -> None:
    project = unprivileged_project
    docs = _fill(project)
    sub = project.inbox / "sub"
    sub.chmod(0)
    assert project.run("ingest", "inbox", check=False).returncode == 1
    assert project.run("ingest", "inbox", check=False).returncode == 1  # still unreadable: kept
    assert _docs(project) == docs
    sub.chmod(0o755)
    (sub / "glacier.txt").unlink()  # gone while it could not be listed: goes once it can
    ingest = project.run("ingest", "inbox")
    assert "1 deleted" in ingest.stdout
    assert project.json("failures")["total"] == 0
    assert project.run("verify").stdout.strip().endswith("ok")


def test_discover_reports_the_folders_it_cannot_list(tmp_path: Path) -> None:
    (tmp_path / "inbox" / "sub").mkdir(parents=True)
    (tmp_path / "inbox" / "a.txt").write_text("a")
    unlisted: list[Unlisted] = []
    found = list(discover([tmp_path / "inbox", tmp_path / "gone"], Rules(), unlisted))
    assert [c.path for c in found] == [str(tmp_path / "inbox" / "a.txt")]
    assert unlisted == [Unlisted(str(tmp_path / "gone"), "folder is missing", missing=True)]


def test_which_folders_are_unavailable(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    (inbox / "sub").mkdir(parents=True)
    root, sub, gone = str(inbox), str(inbox / "sub"), str(inbox / "gone")
    locked = Unlisted(sub, "folder cannot be listed: permission denied")
    removed = Unlisted(gone, "folder is missing", missing=True)
    # An inbox folder with entries: a folder in it that is missing was deleted; one that
    # cannot be listed is kept.
    (inbox / ".keep").write_text("")
    assert unavailable([root], [locked, removed], [root], lambda r: True) == [locked]
    # Empty while files are known under it: unmounted. Empty and nothing known: just empty.
    (inbox / ".keep").unlink()
    (inbox / "sub").rmdir()
    assert unavailable([root], [], [root], lambda r: True) == [Unlisted(root, EMPTY_REASON)]
    assert unavailable([root], [], [root], lambda r: False) == []
    # Missing: everything under it is kept, a scan of a folder inside it too.
    inbox.rmdir()
    assert unavailable([gone], [removed], [root], lambda r: True) == [
        Unlisted(root, "inbox folder is missing", missing=True)
    ]


@pytest.mark.parametrize("recreate", [False, True], ids=["moved", "emptied"])
def test_a_file_settling_when_its_inbox_goes_away_keeps_its_document(
    project: Project, recreate: bool
) -> None:
    # A long settle window: the edited file still waits in the watcher's pending set when
    # the inbox goes, and the watcher finds it vanished (it was taken for deleted).
    project.config.write_text(
        project.config.read_text().replace("settle_seconds = 0.2", "settle_seconds = 3.0")
    )
    docs = _fill(project)
    proc = project.spawn("daemon")
    try:
        wait_for(lambda: (project.data / "daemon.json").exists(), what="daemon start")
        with open(project.inbox / "sub" / "glacier.txt", "a") as edited:  # held open: still being written
            edited.write("A late correction.\n")
            edited.flush()
            time.sleep(0.5)  # the write event reaches the watcher
            away = _move_away(project, recreate)
            inbox = str(project.inbox.resolve())
            wait_for(lambda: _folder_failures(project) == [inbox], what="the daemon's scan records the inbox")
            time.sleep(3.0)  # the loop looks at its pending files at least every 2 s
            assert "ingest.removed" not in project.log(), project.log()[-3000:]
            assert _docs(project) == docs
        _move_back(project, away)
        wait_for(lambda: not _folder_failures(project), what="the failure clears once the inbox is back")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    assert _docs(project).keys() == docs.keys()
