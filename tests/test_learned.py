"""Learned furniture: lines repeated across one folder's documents are learned, removed,
explained, searchable no more; real sentences and rare lines stay; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from indexer import config, jobs
from indexer.context import Context
from indexer.db import documents, lines
from indexer.db.models import DocLine
from indexer.ingest.boilerplate import line_key
from indexer.ingest.types import Removal
from indexer.search.engine import SearchEngine, SearchOptions
from tests.conftest import Project, write_config

FIXTURES = Path(__file__).parent / "fixtures" / "learned" / "bugle"
MASTHEAD = "THE DAILY BUGLE | New York's Finest Newspaper Since 1898"
FOOTER = "Got a tip? Write to tips@dailybugle.example or call 555-0100."
SHARED = "The mayor said the city would not be intimidated."  # a real sentence, in 2 stories
RARE = "Section: Metro"  # in 4 stories: one fewer than learn_min_documents
ONLY_FURNITURE = "09-masthead-only.txt"


def _context(tmp_path: Path, database_url: str, extra: str = "") -> Context:
    write_config(tmp_path, extra)
    env = {"INDEXER_DATABASE_URL": database_url} if database_url else {}
    return jobs.open_context(config.load(tmp_path / "config.toml", env=env))


@pytest.fixture
def ctx(tmp_path: Path, database_url: str) -> Iterator[Context]:
    shutil.copytree(FIXTURES, tmp_path / "inbox" / "bugle")
    (tmp_path / "inbox" / "other").mkdir()
    context = _context(tmp_path, database_url)
    jobs.scan(context)
    jobs.follow(context)
    yield context
    context.close()


def _docs(ctx: Context) -> dict[str, tuple[str, str, list[dict[str, str]], str]]:
    """file name -> (title, body, removed, flags) of every live document."""
    with ctx.db.read() as session:
        return {
            Path(doc.path).name: (doc.title, doc.body, json.loads(doc.removed), doc.flags)
            for docs in documents.iter_live_documents(session)
            for doc in docs
        }


def _found(ctx: Context, query: str) -> int:
    with SearchEngine(ctx.config.data_dir) as engine:
        return engine.search(query, SearchOptions(snippets=False)).total


def test_a_folders_repeated_lines_are_learned_removed_and_explained(ctx: Context) -> None:
    before = _docs(ctx)
    assert all(MASTHEAD in body for _, body, _, _ in before.values())
    # Not learned yet, the masthead is not the title: the headline below it is.
    assert before["02-subway.txt"][0] == "Subway fares to rise in March"
    assert _found(ctx, '"finest newspaper"') == 9

    result = jobs.learn(ctx)
    jobs.follow(ctx)

    assert (result.added, result.dropped, result.groups, result.lines) == (2, 0, 1, 2)
    assert result.filled_in == 0  # every document's lines were counted when it was stored
    assert result.reanalysed == 9
    with ctx.db.read() as session:
        learned = {(r.text, r.documents, r.group_documents) for r in lines.learned_lines(session)}
        names = {r.group_name for r in lines.learned_lines(session)}
    assert learned == {(MASTHEAD, 9, 9), (FOOTER, 9, 9)}
    assert names == {f"folder:{ctx.config.inbox_dirs[0] / 'bugle'}"}
    after = _docs(ctx)
    for name, (title, body, removed, _flags) in after.items():
        if name == ONLY_FURNITURE:
            continue
        assert MASTHEAD not in body and FOOTER not in body, name
        assert title != MASTHEAD and body.startswith(title)
        assert {"rule": "learned", "text": MASTHEAD} in removed and {
            "rule": "learned",
            "text": FOOTER,
        } in removed
    assert after["02-subway.txt"][0] == "Subway fares to rise in March"
    # Below the thresholds: a real sentence of two stories, a line of four.
    assert SHARED in after["02-subway.txt"][1] and SHARED in after["05-council.txt"][1]
    assert all(
        RARE in after[f][1] for f in ("01-bridge.txt", "02-subway.txt", "03-museum.txt", "04-harbor.txt")
    )
    # A document that is nothing but furniture is kept whole and flagged.
    title, body, removed, flags = after[ONLY_FURNITURE]
    assert MASTHEAD in body and removed == [] and "boilerplate_kept" in flags.split(",")
    # The index follows: the furniture is no longer found, the stories are.
    assert _found(ctx, '"finest newspaper"') == 1  # the flagged document alone
    assert _found(ctx, '"would not be intimidated"') == 2

    again = jobs.learn(ctx)  # idempotent: nothing new, nothing re-analysed (not even the flagged one)
    assert (again.added, again.dropped, again.reanalysed) == (0, 0, 0)


def test_new_files_are_cleaned_at_once_and_other_folders_are_untouched(ctx: Context) -> None:
    jobs.learn(ctx)
    inbox = ctx.config.inbox_dirs[0]
    text = (FIXTURES / "06-marathon.txt").read_text().replace("marathon", "triathlon")
    (inbox / "bugle" / "10-triathlon.txt").write_text(text.replace("Record field", "A record field"))
    (inbox / "other" / "a.txt").write_text(f"{MASTHEAD}\n\nA quoted masthead\n\nAnother folder quotes it.\n")
    jobs.scan(ctx)
    docs = _docs(ctx)
    assert MASTHEAD not in docs["10-triathlon.txt"][1]
    assert Removal("learned", MASTHEAD).text in [r["text"] for r in docs["10-triathlon.txt"][2]]
    assert MASTHEAD in docs["a.txt"][1]  # learned for the bugle folder, not for every folder
    assert jobs.learn(ctx).reanalysed == 0


def test_raised_thresholds_unlearn_and_restore_the_lines(
    ctx: Context, tmp_path: Path, database_url: str
) -> None:
    jobs.learn(ctx)
    stricter = _context(tmp_path, database_url, "\n[ingest]\nlearn_min_documents = 10\n")
    try:
        result = jobs.learn(stricter)
        assert (result.added, result.dropped, result.reanalysed) == (0, 2, 9)
        docs = _docs(stricter)
        assert all(MASTHEAD in body for _, body, _, _ in docs.values())
        assert all(r["rule"] != "learned" for _, _, removed, _ in docs.values() for r in removed)
    finally:
        stricter.close()


def test_a_fraction_below_the_threshold_is_not_learned(
    ctx: Context, tmp_path: Path, database_url: str
) -> None:
    picky = _context(tmp_path, database_url, "\n[ingest]\nlearn_min_fraction = 0.95\n")
    try:
        assert jobs.learn(picky).added == 2  # 9 of 9 documents
        inbox = picky.config.inbox_dirs[0] / "bugle"
        (inbox / "10-plain.txt").write_text(
            "Harbour notice\n\nThe harbour office published new mooring fees today.\n"
        )
        jobs.scan(picky)
        result = jobs.learn(picky)
        assert (result.dropped, result.lines) == (2, 0)  # 9 of 10 documents: below 95%
    finally:
        picky.close()


def test_near_duplicates_count_as_one_story(ctx: Context) -> None:
    """Five copies of one story in a small folder share every line: none is learned."""
    inbox = ctx.config.inbox_dirs[0] / "copies"
    inbox.mkdir()
    story = (FIXTURES / "04-harbor.txt").read_text().replace(MASTHEAD, "").replace(FOOTER, "").strip()
    for n in range(5):
        (inbox / f"copy{n}.txt").write_text(f"{story}\n\nUpdated edition number {n} of the evening paper.\n")
    jobs.scan(ctx)
    with ctx.db.read() as session:
        assert (
            len(
                {
                    d.cluster_id
                    for docs in documents.iter_live_documents(session)
                    for d in docs
                    if "copies" in d.path
                }
            )
            == 1
        )
    jobs.learn(ctx)
    with ctx.db.read() as session:
        assert {r.text for r in lines.learned_lines(session)} == {MASTHEAD, FOOTER}


def test_documents_stored_before_learning_are_counted_and_reprocess_fixes_them(ctx: Context) -> None:
    """Older documents have no counted lines: the learning run counts them from the stored
    text. A run stopped after learning leaves documents for `reindex --reprocess`."""
    with ctx.db.write() as session:
        session.execute(delete(DocLine))
    stopped = iter([False, False, True])  # fill in, learn, then stop before re-analysing
    result = jobs.learn(ctx, should_stop=lambda: next(stopped, True))
    assert (result.filled_in, result.added, result.reanalysed) == (9, 2, 0)
    assert all(MASTHEAD in body for _, body, _, _ in _docs(ctx).values())
    with ctx.db.read() as session:
        assert len(lines.stale_furniture_documents(session, 0, 100)) == 9
        keys = set(session.scalars(select(DocLine.line_key).where(DocLine.furniture.is_(True))))
    assert keys == set()
    assert jobs.reindex(ctx, reprocess_first=True).documents == 9
    docs = _docs(ctx)
    assert sum(MASTHEAD in body for _, body, _, _ in docs.values()) == 1  # the flagged one
    with ctx.db.read() as session:
        assert lines.stale_furniture_documents(session, 0, 100) == []
        assert line_key(MASTHEAD) in set(
            session.scalars(select(DocLine.line_key).where(DocLine.furniture.is_(True)))
        )


def test_cli_boilerplate_show_explain_and_search(project: Project) -> None:
    shutil.copytree(FIXTURES, project.inbox / "bugle", ignore=shutil.ignore_patterns(ONLY_FURNITURE))
    project.run("ingest", "inbox")
    assert project.run("boilerplate").stdout.strip() == "no learned furniture"
    data = project.json("boilerplate", "--learn")
    assert data["learn"]["added"] == 2 and data["learn"]["reanalysed"] == 8 and data["total"] == 2
    (group,) = data["groups"]
    assert group["group"] == f"folder:{project.inbox.resolve() / 'bugle'}" and group["documents"] == 8
    assert {(line["text"], line["documents"]) for line in group["lines"]} == {(MASTHEAD, 8), (FOOTER, 8)}
    listing = project.run("boilerplate").stdout
    assert f"       8  {MASTHEAD}" in listing and listing.strip().endswith("2 learned lines in 1 group")
    hits = project.json("search", "subway", "fares")["hits"]
    explained = project.run("show", str(hits[0]["id"]), "--explain").stdout
    assert f"[learned] {MASTHEAD}" in explained and f"[learned] {FOOTER}" in explained
    assert "title: Subway fares to rise in March" in explained
    assert project.json("search", '"finest newspaper"')["total"] == 0
    assert project.run("boilerplate", "--learn").stdout.startswith(
        "learned 0 new, dropped 0; re-analysed 0 documents"
    )


def test_the_daemon_learns_on_its_schedule(project: Project) -> None:
    """learn_cron a minute ago, within the misfire grace: the daemon learns at start,
    re-analyses the folder and the index follows."""
    import signal
    from datetime import datetime, timedelta

    from tests.conftest import wait_for

    shutil.copytree(FIXTURES, project.inbox / "bugle", ignore=shutil.ignore_patterns(ONLY_FURNITURE))
    project.run("ingest", "inbox")
    # Only a job that ran before can miss a slot: this data dir learned yesterday.
    with sqlite3.connect(project.data / "indexer.db") as conn:
        conn.execute(
            "insert into job_runs (job, started_at, outcome, counts) "
            "values ('learn', datetime('now', '-1 day'), 'ok', '{}')"
        )
    missed = datetime.now().astimezone() - timedelta(minutes=1)
    project.config.write_text(
        project.config.read_text()
        + f'learn_cron = "{missed.minute} {missed.hour} * * *"\nmisfire_grace_seconds = 600.0\n'
    )
    proc = project.spawn("daemon")
    try:
        wait_for(lambda: '"job.learn"' in project.log(), timeout=30, what="catch-up learn")
        wait_for(lambda: project.json("search", '"finest newspaper"')["total"] == 0, what="index follows")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    (line,) = [json.loads(x) for x in project.log().splitlines() if '"job.learn"' in x]
    assert (line["outcome"], line["added"], line["reanalysed"]) == ("ok", 2, 8)


def test_on_postgresql_the_lease_holder_learns_and_every_node_reanalyses_its_inbox(tmp_path: Path) -> None:
    import threading

    from structlog.testing import capture_logs

    from indexer.daemon import Daemon
    from tests.conftest import postgres_database

    with postgres_database() as url:
        shutil.copytree(FIXTURES, tmp_path / "a" / "inbox" / "bugle")
        (tmp_path / "b" / "inbox").mkdir(parents=True)
        a, b = _context(tmp_path / "a", url), _context(tmp_path / "b", url)
        try:
            jobs.scan(a)
            with a.db.leader("learn"), capture_logs() as logs:
                Daemon(b, threading.Event())._learn()  # another node holds the lease: b only re-analyses
            (learned,) = [e for e in logs if e["event"] == "job.learn"]
            assert (learned["added"], learned["reanalysed"]) == (0, 0)
            b_learns = Daemon(b, threading.Event())
            b_learns._learn()  # b leads now and learns, but a's inbox is not b's to read
            with b.db.read() as session:
                assert len(lines.learned_lines(session)) == 2
                assert len(lines.stale_furniture_documents(session, 0, 100)) == 9
            assert jobs.learn(a, learn_rules=False).reanalysed == 9  # a's own run
            assert sum(MASTHEAD in body for _, body, _, _ in _docs(a).values()) == 1
        finally:
            a.close()
            b.close()
