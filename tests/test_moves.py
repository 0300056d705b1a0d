"""Moves keep their document: the watcher pairs a rename's halves, and a delete followed
by a create of the same bytes (in separate batches) brings the tombstoned document back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from structlog.testing import capture_logs

from indexer import jobs
from indexer.context import Context
from indexer.db import changes, files
from indexer.db.models import DocBand, Document
from indexer.ingest.ingester import REJOIN_SECONDS, candidate_for
from indexer.ingest.watch import Pending

TEXT = (
    "Harbour report\n\nThe committee published its findings on the harbour today. "
    "Officials said the harbour review would continue next year.\n"
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# -- the watcher's pending set ----------------------------------------------------------


def test_a_rename_leaves_in_the_batch_that_takes_its_destination(tmp_path: Path) -> None:
    src, dest = tmp_path / "a.txt", tmp_path / "b.txt"
    src.write_text(TEXT)
    src.rename(dest)
    clock = Clock()
    pending = Pending(0.2, clock)
    pending.moved(str(src), str(dest))
    # The old path is gone at once, the new one must settle: released on their own, the
    # old path would leave a batch earlier and the document would be tombstoned.
    assert not pending.take_ready(100)
    clock.now += 0.3
    ready = pending.take_ready(100)
    assert (ready.files, ready.gone) == ([str(dest)], [str(src)])
    assert len(pending) == 0


def test_a_chain_of_renames_and_a_vanished_destination(tmp_path: Path) -> None:
    a, b, c = (str(tmp_path / n) for n in ("a.txt", "b.txt", "c.txt"))
    clock = Clock()
    pending = Pending(0.2, clock)
    pending.moved(a, b)
    pending.moved(b, c)  # renamed again before it settled; then deleted
    ready = pending.take_ready(100)
    assert (ready.files, sorted(ready.gone)) == ([], [a, b, c])


def test_a_source_that_exists_again_is_not_gone(tmp_path: Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text(TEXT)
    b.write_text(TEXT)  # a copy and a new a.txt, say
    clock = Clock()
    pending = Pending(0.0, clock)
    pending.moved(str(a), str(b))
    pending.take_ready(100)
    ready = pending.take_ready(100)
    assert (ready.files, ready.gone) == ([str(b)], [])


def test_a_file_still_open_for_writing_waits_longer_and_a_close_releases_it(tmp_path: Path) -> None:
    """A write event without a close: the writer may pause longer than one settle window
    (a slow download), so the file waits OPEN_SETTLE_FACTOR windows; a close-after-write
    releases it at once. A change seen by a scan settles as usual."""
    from indexer.ingest.watch import OPEN_SETTLE_FACTOR

    slow, scanned = tmp_path / "slow.txt", tmp_path / "scanned.txt"
    slow.write_text(TEXT)
    scanned.write_text(TEXT)
    clock = Clock()
    pending = Pending(1.0, clock)
    pending.touch(str(slow), writing=True)
    pending.touch(str(scanned))
    pending.take_ready(100)  # first look: both signatures recorded
    clock.now += 1.5
    assert pending.take_ready(100).files == [str(scanned)]
    assert pending.next_due() == pytest.approx(OPEN_SETTLE_FACTOR - 1.5)
    assert pending.take_ready(100).files == []  # quiet 1.5 s, still open: waits
    pending.touch(str(slow), closed=True)
    assert pending.take_ready(100).files == [str(slow)]
    pending.touch(str(slow), writing=True)  # written again and left open
    pending.take_ready(100)
    clock.now += OPEN_SETTLE_FACTOR + 0.1
    assert pending.take_ready(100).files == [str(slow)]  # a writer that never closes: in the end


# -- the store: a delete and a create in separate batches --------------------------------


def _live(ctx: Context) -> dict[str, int]:
    with ctx.db.read() as session:
        return {path: doc_id for _, path, _, _, _, doc_id in files.live_file_states(session, 0, 1000)}


def _bands(ctx: Context, doc_id: int) -> int:
    with ctx.db.read() as session:
        count = select(func.count()).select_from(DocBand).where(DocBand.document_id == doc_id)
        return session.scalar(count) or 0


def _move_in_two_batches(ctx: Context, src: Path, dest: Path) -> list[dict[str, object]]:
    """The race the daemon lost: the old path's removal commits before the new path is read."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    src.rename(dest)
    with capture_logs() as logs:
        ctx.ingester.ingest([], removed=[str(src)])
        assert _live(ctx) == {}  # tombstoned in between, as the daemon stored it
        candidate = candidate_for(str(dest))
        assert candidate is not None
        ctx.ingester.ingest([candidate])
    return logs


def test_a_move_seen_as_delete_then_create_keeps_its_document(ctx: Context) -> None:
    src = ctx.config.inbox_dirs[0] / "a.txt"
    src.write_text(TEXT)
    jobs.scan(ctx)
    jobs.follow(ctx)
    (doc_id,) = _live(ctx).values()
    bands = _bands(ctx, doc_id)
    dest = ctx.config.inbox_dirs[0] / "sub" / "renamed.txt"
    logs = _move_in_two_batches(ctx, src, dest)
    assert _live(ctx) == {str(dest): doc_id}
    events = [e["event"] for e in logs if e["event"].startswith("ingest.")]
    assert events == ["ingest.removed", "ingest.linked"]  # linked again, not analysed
    assert _bands(ctx, doc_id) == bands > 0  # near-duplicate lookup finds it again
    jobs.follow(ctx)
    hits = ctx.index.open_reader_index()
    try:
        with hits.searcher() as searcher:
            stored = list(searcher.all_stored_fields())
    finally:
        hits.close()
    assert [(f["id"], f["path"]) for f in stored] == [(str(doc_id), [str(dest)])]  # every path: one


def test_a_tombstone_older_than_the_window_stays_deleted(ctx: Context) -> None:
    src = ctx.config.inbox_dirs[0] / "a.txt"
    src.write_text(TEXT)
    jobs.scan(ctx)
    (doc_id,) = _live(ctx).values()
    dest = ctx.config.inbox_dirs[0] / "b.txt"
    dest.parent.mkdir(exist_ok=True)
    src.rename(dest)
    ctx.ingester.ingest([], removed=[str(src)])
    later = datetime.now(UTC) + timedelta(seconds=REJOIN_SECONDS + 60)
    ctx.ingester.clock = lambda: later
    candidate = candidate_for(str(dest))
    assert candidate is not None
    ctx.ingester.ingest([candidate])
    (new_id,) = _live(ctx).values()
    assert new_id != doc_id


def test_a_tombstone_whose_text_is_live_again_is_not_revived(ctx: Context) -> None:
    inbox = ctx.config.inbox_dirs[0]
    src = inbox / "a.txt"
    src.write_bytes(TEXT.encode())
    jobs.scan(ctx)
    (doc_id,) = _live(ctx).values()
    src.rename(inbox / "moved.txt")
    ctx.ingester.ingest([], removed=[str(src)])
    # Other bytes, the same text (a BOM): a document of its own while the first is gone.
    (inbox / "bom.txt").write_bytes(b"\xef\xbb\xbf" + TEXT.encode())
    candidate = candidate_for(str(inbox / "bom.txt"))
    assert candidate is not None
    ctx.ingester.ingest([candidate])
    bom_id = _live(ctx)[str(inbox / "bom.txt")]
    assert bom_id != doc_id
    jobs.scan(ctx)
    assert _live(ctx) == {str(inbox / "bom.txt"): bom_id, str(inbox / "moved.txt"): bom_id}


def test_a_document_changed_again_while_the_index_follows(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = ctx.config.inbox_dirs[0]
    (inbox / "a.txt").write_text(TEXT)
    (inbox / "b.txt").write_text(TEXT.replace("harbour", "orchard"))
    jobs.scan(ctx)
    jobs.follow(ctx)  # the index exists; now both change while a follow writes
    (inbox / "a.txt").rename(inbox / "c.txt")
    jobs.scan(ctx)  # the move: document 1 with its new path
    real = changes.changes_since
    calls = 0

    def changes_since(session: Session, seq: int, limit: int) -> list[Document]:
        nonlocal calls
        calls += 1
        if calls == 2:  # another writer commits between two fetches of one Whoosh writer
            (inbox / "c.txt").unlink()
            jobs.scan(ctx)
        return real(session, seq, limit)

    monkeypatch.setattr(changes, "changes_since", changes_since)
    ctx.index.follow(ctx.db, batch=1)
    monkeypatch.undo()
    assert _live(ctx) == {str(inbox / "b.txt"): 2}
    ix = ctx.index.open_reader_index()
    try:
        with ix.searcher() as searcher:
            stored = sorted((f["id"], f["path"]) for f in searcher.all_stored_fields())
    finally:
        ix.close()
    assert stored == [("2", [str(inbox / "b.txt")])]  # the deleted document left, no copy stayed
