"""Daemons with their own data dirs on one PostgreSQL database: three with overlapping
inboxes, one killed half-way, and a search-only node (every file becomes one document and
every node's index converges); two on one shared inbox, where the node that stores
nothing still follows; a cluster-wide job taken over from a leader that died."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import Engine
from structlog.testing import capture_logs

from indexer import config, jobs
from indexer.context import Context, open_context
from indexer.daemon import Daemon
from indexer.db.models import Claim, Document, Failure, File, JobRun
from indexer.search.index import Generations
from tests.conftest import NOTE_WORDS, Project, postgres_database, wait_for, write_config

FILES = 1000
LEASE_SECONDS = 3.0  # short, so the killed node's files are taken over within the test
WATCHES = {"a": ("inbox1", "inbox2"), "b": ("inbox2", "inbox3"), "c": ("inbox1", "inbox3")}


def _article(n: int) -> str:
    a, b = NOTE_WORDS[n % 12], NOTE_WORDS[(n // 12) % 12]
    return (
        f"Bulletin {n} from the {a} office\n\nThe {a} office released bulletin number {n} on "
        f"the state of the {b} and the roads near it, with {n * 7 % 101} items to report.\n"
    )


# verify every minute: the nodes take turns through the leader lease.
RACING = (
    "[daemon]\nscan_interval_seconds = 0.5\nsafety_scan_seconds = 0.5\nsettle_seconds = 0.2\n"
    'verify_cron = "* * * * *"\nreindex_cron = ""\noptimize_cron = ""\n'
)


def _node(
    root: Path, name: str, url: str, folders: tuple[str, ...] | None = None, daemon: str = RACING
) -> Project:
    node = Project(root / f"node-{name}", url)
    node.root.mkdir()
    inboxes = ", ".join(f'"{root / folder}"' for folder in (WATCHES[name] if folders is None else folders))
    node.config.write_text(
        f'[paths]\ninbox = [{inboxes}]\ndata_dir = "var"\n\n'
        f"[database]\nclaim_lease_seconds = {LEASE_SECONDS}\n\n"
        # Small batches: many claims and commits while the nodes race; no worker pool.
        "[ingest]\nbatch_size = 20\nworkers = 1\n\n" + daemon,
        encoding="utf-8",
    )
    return node


def _indexed(node: Project) -> int:
    store = Generations(node.data)
    if store.live_dir() is None:
        return 0
    ix = store.open_reader_index()
    try:
        return ix.doc_count()
    finally:
        ix.close()


def _index_ids(node: Project) -> set[int]:
    ix = Generations(node.data).open_reader_index()
    try:
        with ix.searcher() as searcher:
            return {int(fields["id"]) for fields in searcher.all_stored_fields()}
    finally:
        ix.close()


@pytest.fixture
def cluster_db() -> Iterator[tuple[str, Engine]]:
    with postgres_database() as url:
        engine = create_engine(url)
        yield url, engine
        engine.dispose()


def _count(engine: Engine, statement) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return int(conn.execute(statement).scalar_one())


def _stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


@pytest.mark.slow
def test_three_nodes_share_the_work_and_survive_one_killed(
    tmp_path: Path, cluster_db: tuple[str, Engine]
) -> None:
    url, engine = cluster_db
    for folder in ("inbox1", "inbox2", "inbox3"):
        (tmp_path / folder).mkdir()
    nodes = {name: _node(tmp_path, name, url) for name in WATCHES}
    nodes["d"] = _node(tmp_path, "d", url, folders=())  # search-only: `inbox = []`
    nodes["a"].run("db", "upgrade")  # as an operator would, before starting the nodes
    # Verify ran yesterday, so the minute each node starts in is a missed slot it catches
    # up at once (a job that never ran is not caught up): the nodes race for the lease.
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "insert into job_runs (job, started_at, outcome, counts) "
            "values ('verify', now() - interval '1 day', 'ok', '{}')"
        )
    procs = {name: node.spawn("daemon") for name, node in nodes.items()}
    try:
        for name, node in nodes.items():
            wait_for(
                lambda node=node: (node.data / "daemon.json").exists(), timeout=30, what=f"node {name} start"
            )
        staging = tmp_path / "staging"
        staging.mkdir()
        for n in range(FILES):
            source = staging / f"b{n:04d}.txt"
            source.write_text(_article(n), encoding="utf-8")
            os.rename(source, tmp_path / f"inbox{n % 3 + 1}" / source.name)

        # Kill node b half-way, while it holds claims on files it has not stored yet: it is
        # stopped (SIGSTOP) when seen holding some, and killed only if it still holds them
        # (a stopped node neither stores, drops nor renews them; the lease outlasts the look).
        unstored = ~select(File.id).where(File.path == Claim.path).exists()
        b_pending = select(Claim.path).where(Claim.node.like("%node-b%"), unstored)

        def b_stopped_holding_claims() -> bool:
            if _count(engine, select(func.count()).select_from(File)) < FILES // 5:
                return False
            with engine.connect() as conn:
                if not conn.execute(b_pending).first():
                    return False
            procs["b"].send_signal(signal.SIGSTOP)
            with engine.connect() as conn:
                held = conn.execute(b_pending).first() is not None
            if not held:
                procs["b"].send_signal(signal.SIGCONT)
            return held

        wait_for(b_stopped_holding_claims, timeout=60, interval=0.05, what="node b holding claims half-way")
        procs["b"].kill()
        procs["b"].wait(10)
        with engine.connect() as conn:
            orphaned = set(conn.execute(b_pending).scalars())
            stored_at_kill = conn.execute(select(func.count()).select_from(File)).scalar_one()
        assert orphaned, "node b held no claims on files still to store when killed"
        assert stored_at_kill < FILES, "node b was killed too late to leave work behind"

        wait_for(
            lambda: _count(engine, select(func.count()).select_from(File)) == FILES,
            timeout=60,
            what=f"all {FILES} files stored by the nodes left (b held {len(orphaned)} claims when killed)",
        )
        # The lease ran out and the others took b's claimed files over.
        taken_over = select(func.count()).select_from(File).where(File.path.in_(orphaned))
        assert _count(engine, taken_over) == len(orphaned)
        for name in ("a", "c", "d"):
            wait_for(
                lambda name=name: _indexed(nodes[name]) == FILES, timeout=30, what=f"node {name}'s index"
            )
        # Node b comes back: its index follows the shared sequence to the same documents.
        procs["b"] = nodes["b"].spawn("daemon")
        wait_for(lambda: _indexed(nodes["b"]) == FILES, timeout=30, what="node b's index after restart")

        with engine.connect() as conn:
            assert conn.execute(select(func.count(func.distinct(File.path)))).scalar_one() == FILES
            assert conn.execute(select(func.count(func.distinct(File.document_id)))).scalar_one() == FILES
            live = select(func.count()).select_from(Document).where(Document.deleted_at.is_(None))
            assert conn.execute(live).scalar_one() == FILES
            assert conn.execute(select(func.count()).select_from(Failure)).scalar_one() == 0
        status = nodes["b"].json("status")
        assert status["documents"] == FILES and status["index"]["lag"] == 0, status["index"]
        # Every index holds the same documents, the database's live ones, the search-only
        # node's too, and answers a query with the same ids.
        with engine.connect() as conn:
            live_ids = set(conn.execute(select(Document.id).where(Document.deleted_at.is_(None))).scalars())
        for name, node in nodes.items():
            assert _index_ids(node) == live_ids, name
        answers = {
            name: node.json("search", "harbour", "-n", str(FILES), "--no-snippets", "--all")
            for name, node in nodes.items()
        }
        ids = {name: sorted(hit["id"] for hit in a["hits"]) for name, a in answers.items()}
        assert answers["a"]["total"] == len(ids["a"]) > FILES // 10
        assert ids["a"] == ids["b"] == ids["c"] == ids["d"]
        assert _stored_by(nodes["d"]) == 0
        # The caught-up verify ran beside the ingest (if node b was running it when killed,
        # the next minute's run does).
        finished = (
            select(func.count())
            .select_from(JobRun)
            .where(JobRun.job == "verify", JobRun.outcome == "ok", JobRun.ended_at.is_not(None))
        )
        wait_for(lambda: _count(engine, finished) >= 1, timeout=90, what="a verify run finished by a node")
    finally:
        codes = {name: _stop(proc) for name, proc in procs.items() if proc.poll() is None}
    for name, node in nodes.items():
        log = node.log()
        assert "Traceback" not in log, (name, log[-3000:])
        assert "daemon.job_failed" not in log and "daemon.batch_failed" not in log, (name, log[-3000:])
    assert codes == {"a": 0, "b": 0, "c": 0, "d": 0}
    shared = "".join(node.log() for node in nodes.values())
    assert shared.count('"ingest.done"') >= FILES  # b's lost batch was analysed again elsewhere
    assert '"job.verify"' in shared


SHARED = 20
# File events only: the safety scan (which follows too) cannot run within the test.
EVENTS_ONLY = (
    '[daemon]\nwatch = "events"\nsafety_scan_seconds = 300.0\nsettle_seconds = 0.2\n'
    'verify_cron = ""\nreindex_cron = ""\noptimize_cron = ""\nlearn_cron = ""\n'
)


def _stored_by(node: Project) -> int:
    return sum(
        json.loads(line).get("event") == "ingest.done"
        for line in node.log().splitlines()
        if line.startswith("{")
    )


def test_a_node_that_stores_nothing_still_follows_the_shared_sequence(
    tmp_path: Path, cluster_db: tuple[str, Engine]
) -> None:
    """Two daemons on one shared inbox: whichever node claims a file stores it; the other
    skips it as claimed elsewhere, and its index follows the other's changes all the same,
    within seconds (not at its next safety scan)."""
    url, _ = cluster_db
    (tmp_path / "shared").mkdir()
    nodes = {name: _node(tmp_path, name, url, ("shared",), EVENTS_ONLY) for name in ("a", "b")}
    nodes["a"].run("db", "upgrade")
    procs = {name: node.spawn("daemon") for name, node in nodes.items()}
    try:
        for name, node in nodes.items():
            wait_for(
                lambda node=node: (node.data / "daemon.json").exists(), timeout=30, what=f"node {name} start"
            )
        staging = tmp_path / "staging"
        staging.mkdir()
        for n in range(SHARED):
            source = staging / f"s{n:02d}.txt"
            source.write_text(_article(n), encoding="utf-8")
            os.rename(source, tmp_path / "shared" / source.name)
        for name, node in nodes.items():
            wait_for(lambda node=node: _indexed(node) == SHARED, timeout=10, what=f"node {name}'s index")
        names = {f"{socket.gethostname()}:{node.data.resolve()}" for node in nodes.values()}
        for name, node in nodes.items():
            assert node.json("search", "*")["total"] == SHARED, name
            status = node.json("status")
            assert status["index"]["lag"] == 0, name
            # The runs of the whole cluster, each named by the node that ran it.
            assert status["last_runs"]["scan"]["node"] in names, status["last_runs"]
        stored = {name: _stored_by(node) for name, node in nodes.items()}
        assert sum(stored.values()) == SHARED, stored
    finally:
        codes = {name: _stop(proc) for name, proc in procs.items() if proc.poll() is None}
    assert codes == {"a": 0, "b": 0}


# -- cluster-wide jobs: a leader that dies is replaced within a lease -------------------------

TAKEOVER_LEASE = 1.5  # claim_lease_seconds: a node that skipped looks again every 0.5 s


def _context(root: Path, url: str) -> Context:
    (root / "inbox").mkdir(parents=True)
    write_config(root, f"\n[database]\nclaim_lease_seconds = {TAKEOVER_LEASE}\n")
    return open_context(config.load(root / "config.toml", env={"INDEXER_DATABASE_URL": url}))


# job -> the run its leader records for the cluster-wide part
LEADER_RUNS = {"verify": "verify", "learn": "learn-rules"}


def _leader_runs(engine: Engine, job: str, node: str) -> int:
    ended = (JobRun.job == LEADER_RUNS[job], JobRun.node == node, JobRun.ended_at.is_not(None))
    return _count(engine, select(func.count()).select_from(JobRun).where(*ended))


@contextmanager
def _watching_daemon(ctx: Context) -> Iterator[Daemon]:
    """A Daemon whose scheduler runs (the follow-up looks at the lease) but no main loop."""
    from apscheduler.schedulers.background import BackgroundScheduler

    daemon = Daemon(ctx, threading.Event())
    scheduler = BackgroundScheduler()
    scheduler.start()
    daemon._scheduler = scheduler
    try:
        yield daemon
    finally:
        daemon.stop.set()
        scheduler.shutdown(wait=True)


@pytest.mark.parametrize("job", ["verify", "learn"])
def test_a_node_runs_a_cluster_job_in_place_of_a_leader_that_died_and_not_after_one_that_finished(
    job: str, tmp_path: Path, cluster_db: tuple[str, Engine]
) -> None:
    url, engine = cluster_db
    b = _context(tmp_path / "b", url)
    node_b = b.config.node_name
    # The leader: holds the job's lease and has started its run, then is SIGKILLed.
    code = (
        "import time; from datetime import UTC, datetime; from pathlib import Path; "
        "from indexer.db import runs; from indexer.db.session import open_database; "
        f"db = open_database({url!r}, Path({str(tmp_path / 'leader')!r})); "
        f"lease = db.leader({job!r}); assert lease.__enter__(); s = db.write(); session = s.__enter__(); "
        f"runs.start_run(session, {LEADER_RUNS[job]!r}, datetime.now(UTC), 'leader'); "
        "s.__exit__(None, None, None); print('leading', flush=True); time.sleep(60)"
    )
    leader = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert leader.stdout is not None and leader.stdout.readline().strip() == "leading"
        with _watching_daemon(b) as daemon, capture_logs() as logs:
            getattr(daemon, f"_{job}")()
            time.sleep(TAKEOVER_LEASE + 0.5)  # b has looked again a few times
            assert _leader_runs(engine, job, node_b) == 0  # the leader is alive: b waits
            leader.kill()
            leader.wait(10)
            wait_for(
                lambda: _leader_runs(engine, job, node_b) == 1, timeout=TAKEOVER_LEASE + 10, what="takeover"
            )
            assert [e["job"] for e in logs if e["event"] == "daemon.leader_taken_over"] == [job]
    finally:
        if leader.poll() is None:
            leader.kill()
            leader.wait(10)
    # A leader that runs the job to the end: b, not leading, does not run it again.
    a = _context(tmp_path / "a", url)
    try:
        with _watching_daemon(b) as daemon:
            with a.db.leader(job):
                getattr(daemon, f"_{job}")()
                time.sleep(TAKEOVER_LEASE)
                if job == "verify":
                    jobs.verify(a)
                else:
                    jobs.learn(a)
            wait_for(
                lambda: daemon._scheduler.get_job(f"{job}-leader") is None, timeout=10, what="b's last look"
            )
        assert _leader_runs(engine, job, node_b) == 1 and _leader_runs(engine, job, a.config.node_name) == 1
    finally:
        a.close()
        b.close()
