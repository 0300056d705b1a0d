"""Jobs in-process on real SQLite or PostgreSQL and Whoosh: follow, rebuild, crash healing, catch-up, logs."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from indexer import jobs
from indexer.context import Context
from indexer.db import changes, documents
from indexer.ingest.outcomes import apply_batch
from indexer.records import BatchCounts
from indexer.scheduler import missed_since
from indexer.search import index


def _write(ctx: Context, name: str, text: str) -> Path:
    path = ctx.config.inbox_dirs[0] / name
    path.write_text(text)
    return path


def _index_ids_stored(ctx: Context) -> set[str]:
    ix = ctx.index.open_reader_index()
    try:
        with ix.searcher() as s:
            return {fields["id"] for fields in s.all_stored_fields()}
    finally:
        ix.close()


def test_ingest_logs_one_canonical_line_per_file(ctx: Context) -> None:
    path = _write(ctx, "a.txt", "Bridge reopens\n\nThe old bridge reopened to traffic this morning.\n")
    _write(ctx, "bad.txt", "")
    with capture_logs() as logs:
        jobs.scan(ctx)
    done = [e for e in logs if e["event"] == "ingest.done"]
    failed = [e for e in logs if e["event"] == "ingest.failed"]
    assert len(done) == 1 and done[0]["path"] == str(path)
    assert done[0]["doc_id"] == 1 and done[0]["lang"] == "en" and done[0]["ms"] > 0
    assert len(failed) == 1 and failed[0]["reason"] == "empty file"
    scan = [e for e in logs if e["event"] == "job.scan"]
    assert len(scan) == 1 and scan[0]["added"] == 1 and scan[0]["failed"] == 1


def test_ingest_paths_passes_over_gone_files_and_removes_the_removed(ctx: Context) -> None:
    """The one way the watcher, retry, re-analysis and verify --repair ingest named files."""
    a = _write(ctx, "a.txt", "Bridge reopens\n\nThe old bridge reopened to traffic this morning.\n")
    b = _write(ctx, "b.txt", "Bakery wins\n\nA local bakery won the regional prize for its bread.\n")
    counts = jobs.ingest_paths(ctx, [str(a), str(b), str(a.with_name("never.txt"))])
    assert (counts.added, counts.failed) == (2, 0)
    a.unlink()
    counts = jobs.ingest_paths(ctx, [str(b)], removed=[str(a)])
    assert (counts.deleted, counts.unchanged, counts.updated) == (1, 1, 0)
    assert jobs.ingest_paths(ctx, [str(b)], force=True).updated == 1  # analysed again, same bytes
    assert jobs.ingest_paths(ctx, []).as_dict() == BatchCounts().as_dict()


def test_follow_is_idempotent_and_a_lost_checkpoint_heals(ctx: Context) -> None:
    assert jobs.follow(ctx).applied == 0  # creates the empty index
    for n in range(5):
        _write(ctx, f"f{n}.txt", f"Story {n}\n\nA report about matter number {n} and its consequences.\n")
    jobs.scan(ctx)
    first = jobs.follow(ctx)
    assert first.applied == 5 and first.commits == 1
    assert jobs.follow(ctx).applied == 0
    # A crash between the Whoosh commit and the checkpoint write: the changes are applied again.
    live = ctx.index.live_dir()
    state = json.loads((live / "state.json").read_text())
    state["checkpoint"] = 0
    (live / "state.json").write_text(json.dumps(state))
    assert jobs.follow(ctx).applied == 5
    assert len(_index_ids_stored(ctx)) == 5


def test_deletes_and_edits_reach_the_index(ctx: Context) -> None:
    a = _write(ctx, "a.txt", "Alpha\n\nThe first story is about apples.\n")
    _write(ctx, "b.txt", "Beta\n\nThe second story is about bananas.\n")
    jobs.scan(ctx)
    jobs.follow(ctx)
    a.unlink()
    jobs.scan(ctx)
    jobs.follow(ctx)
    with ctx.db.read() as session:
        summary = documents.summary(session)
    assert summary["documents"] == 1
    assert _index_ids_stored(ctx) == {"2"}


def test_rebuild_swaps_generations_and_picks_up_late_changes(ctx: Context) -> None:
    _write(ctx, "a.txt", "Alpha\n\nThe first story is about apples.\n")
    jobs.scan(ctx)
    jobs.follow(ctx)
    old = ctx.index.live_dir()
    result = jobs.reindex(ctx)
    assert result.documents == 1
    new = ctx.index.live_dir()
    assert new != old and old.exists()  # the previous generation stays for readers in flight
    _write(ctx, "b.txt", "Beta\n\nThe second story is about bananas.\n")
    jobs.scan(ctx)
    jobs.follow(ctx)
    assert _index_ids_stored(ctx) == {"1", "2"}
    jobs.reindex(ctx)
    assert not old.exists()  # two rebuilds later it is gone


def test_damaged_or_old_index_is_rebuilt_from_the_db(ctx: Context) -> None:
    _write(ctx, "a.txt", "Alpha\n\nThe first story is about apples.\n")
    jobs.scan(ctx)
    jobs.follow(ctx)
    live = ctx.index.live_dir()
    for f in live.glob("*.seg"):
        f.write_bytes(b"garbage")
    for f in live.glob("_MAIN_*.toc"):
        f.write_bytes(b"garbage")
    assert ctx.index.needs_rebuild() is not None
    jobs.follow(ctx)
    assert ctx.index.live_dir() != live and _index_ids_stored(ctx) == {"1"}
    state_file = ctx.index.live_dir() / "state.json"
    state = json.loads(state_file.read_text())
    state["schema_version"] = -1
    state_file.write_text(json.dumps(state))
    assert "schema version" in ctx.index.needs_rebuild()
    jobs.follow(ctx)
    assert _index_ids_stored(ctx) == {"1"}


def test_reindex_if_needed_skips_an_index_that_is_up_to_date_and_rebuilds_one_that_is_not(
    ctx: Context,
) -> None:
    """The nightly job: cheap when following keeps the index right, a rebuild otherwise
    (another recorded schema version, an older normalizer's documents, lost changes)."""
    from indexer.ingest.normalize import NORMALIZER_VERSION

    _write(ctx, "a.txt", "Alpha\n\nThe first story is about apples.\n")
    _write(ctx, "b.txt", "Beta\n\nThe second story is about bananas.\n")
    jobs.scan(ctx)
    jobs.follow(ctx)
    live = ctx.index.live_dir()
    with capture_logs() as logs:
        assert jobs.reindex_if_needed(ctx) is None
    (line,) = [e for e in logs if e["event"] == "job.reindex"]
    assert (line["outcome"], line["reason"]) == ("skipped", "up to date")
    with ctx.db.read() as session:
        assert documents.summary(session)["last_runs"]["reindex"][2] == "skipped"
    # Skipped, it still catches the index up with the change sequence.
    _write(ctx, "c.txt", "Gamma\n\nThe third story is about cherries.\n")
    jobs.scan(ctx)
    assert jobs.reindex_if_needed(ctx) is None
    assert ctx.index.live_dir() == live and _index_ids_stored(ctx) == {"1", "2", "3"}

    def rebuilt_because(reason: str) -> None:
        before = ctx.index.live_dir()
        with capture_logs() as logs:
            result = jobs.reindex_if_needed(ctx)
        assert result is not None and result.documents == 3
        assert ctx.index.live_dir() != before and _index_ids_stored(ctx) == {"1", "2", "3"}
        (line,) = [e for e in logs if e["event"] == "job.reindex"]
        assert line["outcome"] == "ok" and reason in line["reason"], line
        assert jobs.reindex_if_needed(ctx) is None  # and then it is up to date

    state_file = ctx.index.live_dir() / "state.json"
    state = json.loads(state_file.read_text())
    state["schema_version"] -= 1  # an index built by an older program
    state_file.write_text(json.dumps(state))
    rebuilt_because("schema version")

    with ctx.db.write() as session:
        documents.get_document(session, 2).normalizer_version = NORMALIZER_VERSION - 1
    rebuilt_because("normalizer")
    with ctx.db.read() as session:
        assert documents.get_document(session, 2).normalizer_version == NORMALIZER_VERSION

    ctx.index.delete_ids([2])  # a change the index lost: following cannot bring it back
    rebuilt_because("index holds 2 documents, the database 3")

    ctx.index.delete_ids([3])
    assert jobs.verify(ctx).not_indexed == [3]  # found, not repaired
    rebuilt_because("verify found 1 documents")
    assert jobs.verify(ctx).problems == 0

    # By hand (`indexer reindex`), always.
    before = ctx.index.live_dir()
    assert jobs.reindex(ctx).documents == 3 and ctx.index.live_dir() != before


def test_reindex_if_needed_compares_counts_only_while_nothing_commits(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A busy node (a change committed between every look) is not rebuilt on counts that
    do not belong together: the run says it could not compare them."""
    _write(ctx, "a.txt", "Alpha\n\nThe first story is about apples.\n")
    jobs.scan(ctx)
    jobs.follow(ctx)
    ctx.index.delete_ids([1])  # drifted: a settled look would rebuild
    real = changes.current_seq
    calls = iter(range(1, 1000))

    def moving(session):  # type: ignore[no-untyped-def]
        return real(session) + next(calls)  # another node commits as we look

    monkeypatch.setattr(changes, "current_seq", moving)
    with capture_logs() as logs:
        assert jobs.reindex_if_needed(ctx) is None
    (line,) = [e for e in logs if e["event"] == "job.reindex"]
    assert (line["outcome"], line["unsettled"]) == ("skipped", True)
    monkeypatch.setattr(changes, "current_seq", real)
    assert jobs.reindex_if_needed(ctx) is not None


def test_verify_reads_the_index_s_ids_as_its_stored_fields_name_them(ctx: Context) -> None:
    """verify's id column read, against Whoosh's stored fields: several segments, deletes."""
    from indexer.verify import _index_ids

    for n in range(6):
        _write(ctx, f"f{n}.txt", f"Story {n}\n\nA report about matter number {n} and its consequences.\n")
        jobs.scan(ctx)
        jobs.follow(ctx)  # a segment each
    for n in (1, 4):
        (ctx.config.inbox_dirs[0] / f"f{n}.txt").unlink()
    jobs.scan(ctx)
    jobs.follow(ctx)
    ids, count = _index_ids(ctx.index.live_dir())
    assert ids == {int(i) for i in _index_ids_stored(ctx)} == {1, 3, 4, 6} and count == 4
    report = jobs.verify(ctx)
    assert report.problems == 0 and report.index_documents == 4


def test_optimize_merges_into_one_segment_of_the_compact_codec(ctx: Context) -> None:
    """The weekly merge rewrites every posting: through Whoosh's own writer it would undo
    CompactCodec (its default codec pickles postings by protocol 2)."""
    from indexer.search.pool import CompactCodec

    for n in range(3):
        _write(ctx, f"s{n}.txt", f"Story {n}\n\nThe ferry timetable for route {n} changes next week.\n")
        jobs.scan(ctx)
        jobs.follow(ctx)
    assert jobs.optimize(ctx) == 3
    ix = ctx.index.open_reader_index()
    try:
        assert [type(segment.codec()) for segment in ix._segments()] == [CompactCodec]
    finally:
        ix.close()
    assert _index_ids_stored(ctx) == {"1", "2", "3"}


def test_abandoned_rebuild_is_cleaned_and_old_index_stays(ctx: Context) -> None:
    _write(ctx, "a.txt", "Alpha\n\nThe first story is about apples.\n")
    jobs.scan(ctx)
    jobs.follow(ctx)
    live = ctx.index.live_dir()
    half = ctx.config.data_dir / "index.half-built"
    shutil.copytree(live, half)
    (half / "state.json").write_text(json.dumps({"complete": False}))
    assert ctx.index.live_dir() == live
    jobs.reindex(ctx)
    assert not half.exists()


def test_missed_cron_run_is_found_within_grace() -> None:
    at = datetime(2026, 3, 2, 3, 5, tzinfo=UTC)
    assert missed_since("0 3 * * *", at, timedelta(hours=6)) == datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
    assert missed_since("0 3 * * *", at, timedelta(minutes=4)) is None
    assert missed_since("0 3 * * *", datetime(2026, 3, 2, 2, 59, tzinfo=UTC), timedelta(hours=6)) is None


def test_reprocess_reapplies_newer_rules_keeping_ids(ctx: Context) -> None:
    _write(ctx, "a.txt", "Alpha\n\nThe first story is about apples.\n")
    jobs.scan(ctx)
    with ctx.db.write() as session:
        doc = documents.get_document(session, 1)
        doc.normalizer_version = 0
        doc.body = "stale"
    assert jobs.reprocess(ctx) == 1
    with ctx.db.read() as session:
        doc = documents.get_document(session, 1)
        assert doc.body.startswith("Alpha") and doc.normalizer_version > 0


def test_overlong_metadata_is_clipped_not_a_failure(ctx: Context) -> None:
    from dataclasses import replace

    from indexer.ingest.pipeline import AnalyzeOptions, analyze
    from indexer.ingest.read import read_file

    path = _write(ctx, "long.txt", "Long lead\n\nA story whose lead names a very long source indeed.\n")
    analysis = replace(
        analyze(read_file(str(path), 10**6), AnalyzeOptions()), source="S" * 500, dateline="D" * 300
    )
    with ctx.db.write() as session:
        counts = apply_batch(session, datetime.now(UTC), analyses=[analysis])
    assert counts.added == 1
    with ctx.db.read() as session:
        doc = documents.get_document(session, counts.doc_ids[str(path)])
        assert doc.source == "S" * 200 and doc.dateline == "D" * 200


def test_the_daemon_s_analysis_workers_run_at_its_configured_niceness(
    tmp_path: Path, database_url: str
) -> None:
    from indexer import config
    from indexer.ingest.ingester import POOL_THRESHOLD
    from tests.conftest import write_config

    (tmp_path / "inbox").mkdir()
    write_config(tmp_path, "\n[ingest]\nworkers = 2\nworker_nice = 7\n")
    env = {"INDEXER_DATABASE_URL": database_url} if database_url else {}
    ctx = jobs.open_context(config.load(tmp_path / "config.toml", env=env), background=True)
    try:
        for i in range(POOL_THRESHOLD):
            _write(
                ctx,
                f"story-{i}.txt",
                f"Story {i}\n\nThe harbour board met for the {i}th time to discuss the ferry.\n",
            )
        assert jobs.scan(ctx).counts.added == POOL_THRESHOLD
        assert ctx.ingester._pool is not None
        assert ctx.ingester._pool.submit(os.nice, 0).result() == min(19, os.nice(0) + 7)
    finally:
        ctx.close()


def test_analysis_workers_stop_when_idle_and_start_again(ctx: Context) -> None:
    from indexer.ingest.ingester import POOL_THRESHOLD

    ctx.ingester.workers = 2
    for i in range(POOL_THRESHOLD):
        _write(
            ctx,
            f"first-{i}.txt",
            f"Story {i}\n\nThe harbour board met for the {i}th time to discuss the ferry.\n",
        )
    assert jobs.scan(ctx).counts.added == POOL_THRESHOLD
    assert ctx.ingester._pool is not None  # a large batch went to the workers
    # Someone waits for `indexer ingest`: its workers run at this process's priority.
    assert ctx.ingester._pool.submit(os.nice, 0).result() == os.nice(0)
    assert not ctx.ingester.close_if_idle(3600)  # used a moment ago: kept
    assert ctx.ingester.close_if_idle(0) and ctx.ingester._pool is None
    for i in range(POOL_THRESHOLD):
        _write(
            ctx,
            f"second-{i}.txt",
            f"Report {i}\n\nThe orchard harvest {i} was weighed at the co-operative.\n",
        )
    assert jobs.scan(ctx).counts.added == POOL_THRESHOLD
    assert ctx.ingester._pool is not None


def test_a_document_changed_during_a_follow_is_indexed_once(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One follow commit spans several fetches; a document that changes again between two
    of them (another writer, a cluster join) must replace itself, not appear twice."""
    jobs.follow(ctx)  # an empty index: what follows is applied change by change
    for name in ("a", "b", "c", "d"):
        _write(
            ctx, f"{name}.txt", f"Item {name}\n\nThe ferry timetable for route {name} changes next week.\n"
        )
    jobs.scan(ctx)
    fetches = []
    real = changes.changes_since

    def changes_since(session, seq, limit):  # type: ignore[no-untyped-def]
        docs = real(session, seq, limit)
        fetches.append([d.id for d in docs])
        if len(fetches) == 1:  # doc 1 changes again while the follow goes on
            with ctx.db.write() as writer_session:
                changes.resequence(writer_session, [1])
        return docs

    monkeypatch.setattr(changes, "changes_since", changes_since)
    result = ctx.index.follow(ctx.db, batch=2)  # fetched two at a time, committed once
    assert fetches[0] == [1, 2] and any(1 in f for f in fetches[1:])  # back within the same follow
    ix = ctx.index.open_reader_index()
    try:
        assert ix.doc_count() == 4
    finally:
        ix.close()
    assert sorted(_index_ids_stored(ctx)) == ["1", "2", "3", "4"] and result.commits == 2


def test_ingest_indexes_batch_by_batch_through_one_writer(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`indexer ingest` (jobs.ingest) adds each stored batch to an open index writer and
    commits when its interval has passed: documents become searchable as a long ingest
    goes, each change is applied once, and nothing is left for the follow after it."""
    monkeypatch.setattr(jobs, "INGEST_COMMIT_SECONDS", 0.0)  # a commit after every batch
    ctx.ingester.batch_size = 2
    for n in range(6):
        _write(ctx, f"s{n}.txt", f"Story {n}\n\nThe ferry timetable for route {n} changes next week.\n")
    seen: list[int] = []
    real_step = index.Follower.step

    def step(self: index.Follower) -> None:
        real_step(self)
        if self.commit_seconds == 0.0:  # the ingest's follower (not the first, empty build's)
            seen.append(len(_index_ids_stored(ctx)))  # searchable after each batch, not at the end

    monkeypatch.setattr(index.Follower, "step", step)
    with capture_logs() as logs:
        assert jobs.ingest(ctx, ctx.config.inbox_dirs).counts.added == 6
    assert seen == [2, 4, 6]
    follows = [e for e in logs if e["event"] == "index.follow"]
    assert follows[0]["applied"] == 6 and follows[0]["commits"] == 3
    assert jobs.follow(ctx).applied == 0 and len(_index_ids_stored(ctx)) == 6


def test_an_ingest_that_fails_keeps_what_it_committed_and_the_rest_follows(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ingest stopped by an error drops only the index writes not yet committed; the
    documents are in the DB, so the next follow indexes them (the checkpoint was not moved)."""
    monkeypatch.setattr(jobs, "INGEST_COMMIT_SECONDS", 3600.0)  # no commit before the error
    ctx.ingester.batch_size = 2
    for n in range(4):
        _write(ctx, f"s{n}.txt", f"Story {n}\n\nThe ferry timetable for route {n} changes next week.\n")
    calls = 0
    real_step = index.Follower.step

    def step(self: index.Follower) -> None:
        nonlocal calls
        real_step(self)
        calls += self.commit_seconds == 3600.0  # the ingest's follower
        if calls == 2:
            raise OSError("disk gone")

    monkeypatch.setattr(index.Follower, "step", step)
    with pytest.raises(OSError, match="disk gone"):
        jobs.ingest(ctx, ctx.config.inbox_dirs)
    assert _index_ids_stored(ctx) == set()  # the open writer was cancelled, its lock released
    monkeypatch.setattr(index.Follower, "step", real_step)
    assert jobs.follow(ctx).applied == 4 and len(_index_ids_stored(ctx)) == 4


def test_a_file_in_a_started_batch_is_left_to_that_batch(ctx: Context) -> None:
    """The daemon's watcher and its scan can come upon one file at once: the second batch
    leaves it to the first instead of analysing it again; once stored, it is free again."""
    from indexer.ingest.ingester import candidate_for

    path = _write(ctx, "a.txt", "Ferry strike\n\nThe ferry crews walked out on Monday morning.\n")
    first = ctx.ingester._start([candidate_for(str(path))])
    second = ctx.ingester._start([candidate_for(str(path))])
    with capture_logs() as logs:
        left = ctx.ingester._finish(second)
        assert left.added == 0 and left.in_other_batch == [str(path)]  # the caller looks at it again later
        assert ctx.ingester._finish(first).added == 1
    assert [e["path"] for e in logs if e["event"] == "ingest.done"] == [str(path)]
    path.write_text("Ferry strike ends\n\nThe ferry crews went back to work on Friday.\n")
    assert ctx.ingester.ingest([candidate_for(str(path))]).updated == 1


def test_a_scan_that_fails_lets_go_of_its_files(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx.ingester.batch_size = 1
    for n in range(4):
        _write(ctx, f"s{n}.txt", f"Story {n}\n\nThe ferry timetable for route {n} changes next week.\n")
    real_store = ctx.ingester._store

    def failing(batch):  # type: ignore[no-untyped-def]
        raise RuntimeError("database gone")

    monkeypatch.setattr(ctx.ingester, "_store", failing)
    with pytest.raises(RuntimeError):
        ctx.ingester.scan(ctx.config.inbox_dirs)  # fails with batches still in flight
    monkeypatch.setattr(ctx.ingester, "_store", real_store)
    assert jobs.scan(ctx).counts.added == 4  # none of them is held by the failed scan


def test_a_failed_index_commit_does_not_keep_the_index_locked(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk at commit: one clear error, and the next follow (the daemon's, minutes
    later) succeeds instead of finding Whoosh's write lock still held."""
    import errno

    from indexer.errors import StorageError
    from indexer.search._whoosh.writer import TermSegmentWriter

    jobs.follow(ctx)
    _write(ctx, "a.txt", "Ferry strike\n\nThe ferry crews walked out on Monday morning.\n")
    jobs.scan(ctx)
    real = TermSegmentWriter._flush_segment

    def full_disk(self: TermSegmentWriter) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(TermSegmentWriter, "_flush_segment", full_disk)
    with pytest.raises(StorageError, match="No space left"):
        jobs.follow(ctx)
    monkeypatch.setattr(TermSegmentWriter, "_flush_segment", real)
    assert jobs.follow(ctx).applied == 1 and _index_ids_stored(ctx) == {"1"}


def test_verify_leaves_a_file_still_settling_to_the_watcher(ctx: Context) -> None:
    """The daemon's verify job repairs: it must not ingest a file changed within the
    settle window (a writer may still be at it), nor count it as a problem."""
    import time

    jobs.follow(ctx)  # an index, so that the file is the only thing to look at
    path = _write(ctx, "a.txt", "Ferry strike\n\nThe ferry crews walked out on Monday morning.\n")
    now = time.time()
    os.utime(path, (now + 30, now + 30))  # changed "just now", whatever the test's speed
    report = jobs.verify(ctx, repair=True)
    assert report.missing == [] and report.problems == 0
    with ctx.db.read() as session:
        assert documents.summary(session)["documents"] == 0
    os.utime(path, (now - 60, now - 60))  # settled
    report = jobs.verify(ctx, repair=True)
    assert report.missing == [str(path)] and report.repaired["ingested"] == 1
    with ctx.db.read() as session:
        assert documents.summary(session)["documents"] == 1


def test_index_writer_waiters_allow_for_an_ingest_s_commit_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An `indexer ingest` keeps the index writer up to INGEST_COMMIT_SECONDS between
    commits: a follow waits that long beyond the busy timeout, and then says busy."""
    import subprocess
    import sys
    import time

    from indexer import config, context
    from indexer.errors import BusyError
    from tests.conftest import write_config

    (tmp_path / "inbox").mkdir()
    write_config(tmp_path, "\n[database]\nbusy_timeout_seconds = 0.2\n")
    monkeypatch.setattr(context, "INGEST_COMMIT_SECONDS", 0.8)
    ctx = context.open_context(config.load(tmp_path / "config.toml", env={}))
    jobs.follow(ctx)  # the index exists
    holder = (
        "import fcntl, sys, time; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); "
        "print(flush=True); time.sleep(float(sys.argv[2]))"
    )  # another process holding the index writer
    try:
        for seconds, fails in ((0.6, False), (3.0, True)):
            lock = str(ctx.config.data_dir / "index.lock")
            other = subprocess.Popen(
                [sys.executable, "-c", holder, lock, str(seconds)], stdout=subprocess.PIPE, text=True
            )
            assert other.stdout is not None and other.stdout.readline() == "\n"  # it holds the lock
            started = time.monotonic()
            if fails:
                with pytest.raises(BusyError):
                    jobs.follow(ctx)
                assert 0.9 < time.monotonic() - started < 2.5
            else:
                jobs.follow(ctx)  # waited past the busy timeout, within the commit interval
            other.wait(timeout=10)
    finally:
        ctx.close()
