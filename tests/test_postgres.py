"""Several writers on one database, in-process, on SQLite and PostgreSQL: sequence order,
claims, duplicates across nodes, the leader lease, busy errors."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from structlog.testing import capture_logs

from indexer import config, jobs
from indexer.daemon import Daemon
from indexer.db import changes, claims
from indexer.db.models import Claim, Document, File, JobRun
from indexer.db.session import Database, open_database
from indexer.errors import BusyError
from indexer.ingest.discover import Rules
from indexer.ingest.ingester import Ingester, candidate_for
from indexer.ingest.outcomes import apply_batch
from indexer.ingest.pipeline import AnalyzeOptions, analyze
from indexer.ingest.types import Analysis, RawFile
from tests.conftest import NOTE_WORDS, postgres_database, write_config


def _text(n: int) -> str:
    a, b, c = NOTE_WORDS[n % 12], NOTE_WORDS[(n // 12) % 12], NOTE_WORDS[(n // 144) % 12]
    return f"Note {n} on the {a}\n\nA short report number {n} about the {a}, the {b} and the {c} today.\n"


def _analysis(path: str, text: str) -> Analysis:
    data = text.encode()
    result = analyze(RawFile(path, data, len(data), 1, hashlib.sha256(data).hexdigest()), AnalyzeOptions())
    assert isinstance(result, Analysis), result
    return result


@pytest.fixture
def url(tmp_path: Path, database_url: str) -> str:
    return database_url or f"sqlite:///{tmp_path / 'var' / 'indexer.db'}"


@pytest.fixture
def db(url: str, tmp_path: Path) -> Iterator[Database]:
    database = open_database(url, tmp_path / "var", busy_timeout=10.0)
    yield database
    database.dispose()


def _node(db: Database, name: str, lease: float = 60.0) -> Ingester:
    return Ingester(db, Rules(), AnalyzeOptions(), 1_000_000, node=name, lease_seconds=lease)


def test_a_writer_waits_for_the_one_before_so_commits_follow_the_sequence(url: str, tmp_path: Path) -> None:
    first_db = open_database(url, tmp_path / "var", busy_timeout=10.0)
    second_db = open_database(url, tmp_path / "var", busy_timeout=10.0)  # another node
    taken: dict[str, range] = {}
    second_done = threading.Event()

    def second() -> None:
        with second_db.write() as session:
            taken["second"] = changes.next_seqs(session, 1)
        second_done.set()

    try:
        with first_db.write() as session:
            taken["first"] = changes.next_seqs(session, 3)
            thread = threading.Thread(target=second)
            thread.start()
            # Until this transaction commits, the other writer must not get anywhere.
            assert not second_done.wait(0.5)
        thread.join(10)
        assert second_done.is_set()
        assert list(taken["first"]) == [1, 2, 3] and list(taken["second"]) == [4]
    finally:
        first_db.dispose()
        second_db.dispose()


def test_a_follower_never_skips_a_change_while_nodes_write_at_once(url: str, tmp_path: Path) -> None:
    """Writers on four connections commit batches while a follower reads past its
    checkpoint: a change committed behind one with a higher number would be lost."""
    writers, batches, per_batch = 4, 5, 3
    analyses = {
        (w, b): [
            _analysis(f"/inbox/w{w}/b{b}-{i}.txt", _text(w * 1000 + b * 10 + i)) for i in range(per_batch)
        ]
        for w in range(writers)
        for b in range(batches)
    }
    dbs = [open_database(url, tmp_path / "var", busy_timeout=30.0) for _ in range(writers + 1)]
    seen: list[int] = []
    done = threading.Event()
    errors: list[BaseException] = []
    start = threading.Barrier(writers + 1)

    def write(w: int) -> None:
        try:
            start.wait()
            for b in range(batches):
                dbs[w].retrying(apply_batch, datetime.now(UTC), analyses=analyses[w, b])
        except BaseException as e:
            errors.append(e)

    def follow() -> None:
        checkpoint = 0
        start.wait()
        while True:
            last_round = done.is_set()
            with dbs[-1].read() as session:
                found = changes.changes_since(session, checkpoint, 1000)
            seen.extend(doc.seq for doc in found)
            if found:
                checkpoint = found[-1].seq
            elif last_round:
                return

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    follower = threading.Thread(target=follow)
    try:
        for t in [*threads, follower]:
            t.start()
        for t in threads:
            t.join(120)
        done.set()
        follower.join(30)
        assert errors == []
        with dbs[0].read() as session:
            final = set(session.scalars(select(Document.seq)))
            assert len(final) == writers * batches * per_batch
            assert max(seen) == changes.current_seq(session)
        # Every document's last change reached the follower (re-clustered neighbours get
        # new numbers, so earlier numbers may have been overtaken before it read them).
        assert final <= set(seen)
        assert len(seen) == len(set(seen))
    finally:
        for database in dbs:
            database.dispose()


def test_claims_one_node_at_a_time_expired_ones_taken_over(db: Database) -> None:
    paths = ["/inbox/a.txt", "/inbox/b.txt"]
    assert db.retrying(claims.claim_paths, paths, "node-a", 60.0, exclusive=False) == set(paths)
    assert db.retrying(claims.claim_paths, [*paths, "/inbox/c.txt"], "node-b", 60.0, exclusive=False) == {
        "/inbox/c.txt"
    }
    assert db.retrying(claims.claim_paths, paths, "node-a", 60.0, exclusive=False) == set(paths)  # renewed
    # node-a dies: once its lease has run out, node-b takes its files over.
    with db.write() as session:
        session.execute(
            update(Claim)
            .where(Claim.node == "node-a")
            .values(expires_at=claims.db_now(session) - timedelta(seconds=1))
        )
    assert db.retrying(claims.claim_paths, paths, "node-b", 60.0, exclusive=False) == set(paths)
    with db.write() as session:
        assert claims.claims_by_node(session) == {"node-b": 3}
        assert claims.release_claims(session, [*paths, "/inbox/c.txt"], "node-a") == 0  # not node-a's
        assert claims.release_claims(session, [*paths, "/inbox/c.txt"], "node-b") == 3
        assert claims.claims_by_node(session) == {}


def test_a_batch_analysed_for_longer_than_a_lease_keeps_its_claims(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """node-a's lease is 1 s and its analysis takes 3: the claims are renewed meanwhile,
    so node-b, scanning the same inbox, leaves the file alone instead of doing it twice."""
    from indexer.ingest import ingester as ingester_module

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    path = inbox / "slow.txt"
    path.write_text(_text(7))
    analysing = threading.Event()

    def slow_analyze(raw: RawFile, options: AnalyzeOptions) -> object:
        analysing.set()
        time.sleep(3.0)
        return analyze(raw, options)

    monkeypatch.setattr(ingester_module, "analyze", slow_analyze)
    node_a = _node(db, "node-a", lease=1.0)
    done: dict[str, int] = {}
    thread = threading.Thread(
        target=lambda: done.update(added=node_a.ingest([candidate_for(str(path))]).added)
    )
    try:
        thread.start()
        assert analysing.wait(10)
        time.sleep(1.8)  # node-a's first lease has run out by now
        assert db.retrying(claims.claim_paths, [str(path)], "node-b", 60.0, exclusive=False) == set()
        thread.join(30)
        assert done == {"added": 1}
        with db.read() as session:
            assert claims.claims_by_node(session) == {}
    finally:
        thread.join(30)
        node_a.close()


def test_two_nodes_claiming_the_same_files_at_once_split_them(url: str, tmp_path: Path) -> None:
    paths = [f"/inbox/f{n}.txt" for n in range(300)]
    nodes = [open_database(url, tmp_path / "var", busy_timeout=30.0) for _ in range(3)]
    won: dict[int, set[str]] = {}
    start = threading.Barrier(3)

    def claim(n: int) -> None:
        start.wait()
        won[n] = nodes[n].retrying(claims.claim_paths, paths, f"node-{n}", 60.0, exclusive=False)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(3)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sum(len(w) for w in won.values()) == len(paths)
        assert set().union(*won.values()) == set(paths)
    finally:
        for database in nodes:
            database.dispose()


def test_a_file_claimed_by_another_node_is_left_alone(db: Database, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    path = inbox / "a.txt"
    path.write_text(_text(1))
    db.retrying(claims.claim_paths, [str(path)], "node-a", 60.0, exclusive=False)
    node_b = _node(db, "node-b")
    with capture_logs() as logs:
        counts = node_b.ingest([candidate_for(str(path))])
    assert counts.added == 0
    assert [e["files"] for e in logs if e["event"] == "ingest.claimed_elsewhere"] == [1]
    node_a = _node(db, "node-a")
    assert node_a.ingest([candidate_for(str(path))]).added == 1
    with db.read() as session:
        assert claims.claims_by_node(session) == {}  # released once the batch committed


def test_copies_and_rewrites_on_two_nodes_at_once_are_one_document_and_one_cluster(
    url: str, tmp_path: Path
) -> None:
    """Exact and near duplicates are found across nodes: each batch sees the batches
    committed before it, even when both were analysed at the same time."""
    story = (
        "Floods close mountain pass\n\nHeavy rain closed the northern mountain pass on Tuesday, stranding "
        "hundreds of lorries. Engineers said the road would stay shut until the river level falls. The "
        "regional governor asked drivers to use the coastal route instead. Local schools were closed.\n"
    )
    rewrite = story.replace("lorries", "trucks").replace("Local schools were closed.", "Schools shut.")
    rounds = 5
    for r in range(rounds):
        for node in ("a", "b"):
            folder = tmp_path / f"inbox-{node}"
            folder.mkdir(exist_ok=True)
            body = story if node == "a" else rewrite
            (folder / f"copy{r}.txt").write_text(body.replace("Tuesday", f"day {r}"))
            (folder / f"same{r}.txt").write_text(story.replace("Tuesday", f"weekday {r}"))
    nodes = {n: open_database(url, tmp_path / "var", busy_timeout=30.0) for n in ("a", "b")}
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(node: str) -> None:
        ingester = _node(nodes[node], f"node-{node}")
        try:
            for r in range(rounds):
                start.wait()
                folder = tmp_path / f"inbox-{node}"
                ingester.ingest(
                    [candidate_for(str(folder / f"copy{r}.txt")), candidate_for(str(folder / f"same{r}.txt"))]
                )
        except BaseException as e:
            errors.append(e)
            start.abort()

    threads = [threading.Thread(target=run, args=(n,)) for n in nodes]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == []
        with nodes["a"].read() as session:
            docs = session.scalars(select(Document).where(Document.deleted_at.is_(None))).all()
            assert session.scalar(select(func.count()).select_from(File)) == 4 * rounds
            by_body: dict[str, int] = {}
            for doc in docs:
                by_body[doc.body_sha256] = by_body.get(doc.body_sha256, 0) + 1
            assert all(count == 1 for count in by_body.values()), "a text stored twice"
            assert len(docs) == 3 * rounds  # copy a, rewrite b, and the shared story per round
            for r in range(rounds):
                pair = [d for d in docs if f"on day {r}," in d.body]
                assert len(pair) == 2 and pair[0].cluster_id is not None
                assert pair[0].cluster_id == pair[1].cluster_id
    finally:
        for database in nodes.values():
            database.dispose()


def test_a_writer_kept_waiting_past_the_busy_timeout_gets_busy_error(url: str, tmp_path: Path) -> None:
    holder = open_database(url, tmp_path / "var", busy_timeout=10.0)
    waiter = open_database(url, tmp_path / "var", busy_timeout=0.3)
    try:
        with holder.write() as session:
            changes.next_seqs(session, 1)
            started = time.monotonic()
            with pytest.raises(BusyError, match="database is busy"), waiter.write() as other:
                changes.next_seqs(other, 1)
            assert time.monotonic() - started < 5
    finally:
        holder.dispose()
        waiter.dispose()


# -- the leader lease for cluster-wide jobs (PostgreSQL) -------------------------------------


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


def test_one_leader_at_a_time_and_a_dead_leader_frees_the_lease(pg_url: str, tmp_path: Path) -> None:
    a = open_database(pg_url, tmp_path / "a")
    b = open_database(pg_url, tmp_path / "b")
    try:
        with a.leader("verify") as leading_a:
            assert leading_a
            with b.leader("verify") as leading_b:
                assert not leading_b
            with b.leader("other-job") as leading_other:
                assert leading_other
        with b.leader("verify") as leading_b:
            assert leading_b
        # A holder killed with SIGKILL: its connection drops and the server frees the lock.
        code = (
            "import sys, time; from pathlib import Path; from indexer.db.session import open_database; "
            f"db = open_database({pg_url!r}, Path({str(tmp_path / 'c')!r})); "
            "lease = db.leader('verify'); assert lease.__enter__(); print('leading', flush=True); time.sleep(60)"
        )
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "leading"
            with a.leader("verify") as leading_a:
                assert not leading_a
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        deadline = time.monotonic() + 10
        while True:
            with a.leader("verify") as leading_a:
                if leading_a:
                    break
            assert time.monotonic() < deadline, "the dead leader's lease was not freed"
            time.sleep(0.1)
    finally:
        a.dispose()
        b.dispose()


def _context(root: Path, url: str) -> jobs.Context:
    (root / "inbox").mkdir(parents=True)
    write_config(root, "\n[database]\nclaim_lease_seconds = 5.0\n")
    return jobs.open_context(config.load(root / "config.toml", env={"INDEXER_DATABASE_URL": url}))


def test_the_daemon_verify_job_runs_on_the_node_holding_the_lease(pg_url: str, tmp_path: Path) -> None:
    a, b = _context(tmp_path / "a", pg_url), _context(tmp_path / "b", pg_url)
    try:
        assert a.config.node_name != b.config.node_name
        daemon_b = Daemon(b, threading.Event())
        with a.db.leader("verify"), capture_logs() as logs:
            daemon_b._verify()
        assert [e.get("outcome") for e in logs if e["event"] == "job.verify"] == ["skipped"]
        with b.db.write() as session:  # a claim left by a node that died long ago
            session.add(
                Claim(path="/gone/x.txt", node="dead", expires_at=claims.db_now(session) - timedelta(hours=1))
            )
        with capture_logs() as logs:
            daemon_b._verify()
        assert [e.get("outcome") for e in logs if e["event"] == "job.verify"] == ["ok"]
        with b.db.read() as session:
            assert session.scalar(select(JobRun.outcome).where(JobRun.job == "verify")) == "ok"
            assert claims.claims_by_node(session) == {}
    finally:
        a.close()
        b.close()


def test_a_new_postgresql_database_gets_statistics_from_its_first_ingest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new database has none until autovacuum comes round, and meanwhile the planner
    misjudges every batch's near-duplicate lookup: the ingest itself runs ANALYZE."""
    from sqlalchemy import text

    from indexer.db import session as db_session

    monkeypatch.setattr(db_session, "ANALYZE_MIN_DOCUMENTS", 20)
    with postgres_database() as pg_url:
        (tmp_path / "inbox").mkdir()
        write_config(tmp_path)
        for n in range(30):
            (tmp_path / "inbox" / f"note-{n}.txt").write_text(_text(n), encoding="utf-8")
        ctx = jobs.open_context(config.load(tmp_path / "config.toml", env={"INDEXER_DATABASE_URL": pg_url}))
        try:
            analyzed = text(
                "SELECT relname, analyze_count FROM pg_stat_user_tables "
                "WHERE relname IN ('documents', 'doc_bands', 'files')"
            )
            with ctx.db.read() as session:
                assert {name: n for name, n in session.execute(analyzed)} == {
                    "documents": 0,
                    "doc_bands": 0,
                    "files": 0,
                }
            assert jobs.scan(ctx).counts.added == 30
            with ctx.db.read() as session:
                assert all(n == 1 for _, n in session.execute(analyzed))
                rows = session.execute(
                    text("SELECT reltuples FROM pg_class WHERE relname = 'documents'")
                ).scalar()
                assert rows == 30
        finally:
            ctx.close()


def test_a_commit_on_one_node_is_heard_by_the_others_at_once(pg_url: str, tmp_path: Path) -> None:
    """LISTEN/NOTIFY: a node's daemon hears another node's commit when it happens, and
    does not wait for its next poll; a write that changes no document is not heard."""
    listener = open_database(pg_url, tmp_path / "a", busy_timeout=10.0)
    writer = open_database(pg_url, tmp_path / "b", busy_timeout=10.0)
    heard: list[float] = []
    stop = threading.Event()
    thread = threading.Thread(
        target=listener.listen_for_changes, args=(lambda: heard.append(time.monotonic()), stop)
    )
    try:
        thread.start()
        deadline = time.monotonic() + 10
        while not heard and time.monotonic() < deadline:  # once on connecting
            time.sleep(0.05)
        assert len(heard) == 1
        with writer.write() as session:
            claims.claim_paths(session, ["/inbox/x.txt"], "node-b", 60.0)  # no document changed
        writer.retrying(apply_batch, datetime.now(UTC), analyses=[_analysis("/inbox/a.txt", _text(1))])
        committed = time.monotonic()
        while len(heard) < 2 and time.monotonic() < committed + 10:
            time.sleep(0.02)
        time.sleep(0.5)
        assert len(heard) == 2, "the commit was not heard, or the claim was"
    finally:
        stop.set()
        thread.join(10)
        listener.dispose()
        writer.dispose()


def test_listening_on_sqlite_returns_at_once(db: Database) -> None:
    if not db.is_sqlite:
        pytest.skip("the SQLite case")
    db.listen_for_changes(lambda: pytest.fail("nothing to hear on SQLite"), threading.Event())
