"""Index forms: the terms of a document's text made beside its analysis (in the ingest's
workers) and filed by the process writing the index, which then writes the same index a
rebuild from the database writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from whoosh.filedb.filestore import FileStorage

from indexer import jobs
from indexer.context import Context
from indexer.db.models import Document
from indexer.search import index as index_module
from indexer.search.forms import IndexForm, RecentForms, index_form

TOPICS = ["harbour", "election", "football", "vineyard", "railway", "orchestra"]


def _write_articles(inbox: Path, count: int) -> None:
    for n in range(count):
        topic, other = TOPICS[n % 6], TOPICS[(n // 6) % 6]
        (inbox / f"story-{n:03d}.txt").write_text(
            f"The {topic} report number {n}\n\nThe {topic} committee met on Tuesday about the "
            f"{other} plans, and agreed on {n * 13 % 97} measures. Residents welcomed the news.\n\n"
            f"Die {other} Pläne wurden am Dienstag besprochen.\n",
            encoding="utf-8",
        )


def _by_id(ctx: Context) -> dict[str, Any]:
    """The live index's postings and field lengths, with documents named by their ids."""
    live = ctx.index.live_dir()
    assert live is not None
    ix = FileStorage(str(live)).open_index()
    with ix.reader() as r:
        ids = {docnum: fields["id"] for docnum, fields in r.iter_docs()}
        postings = {(field, text): _postings(r, field, text, ids) for field, text in r.all_terms()}
        lengths = {(ids[d], f): r.doc_field_length(d, f) for f in r.indexed_field_names() for d in ids}
    ix.close()
    return {"postings": postings, "lengths": lengths}


def _postings(r: Any, field: str, text: bytes, ids: dict[int, str]) -> list[tuple[str, float, bytes]]:
    found = []
    m = r.postings(field, text)
    while m.is_active():
        found.append((ids[m.id()], m.weight(), m.value()))
        m.next()
    return sorted(found)


def test_ingest_files_the_forms_of_its_analyses_and_writes_what_a_rebuild_writes(ctx: Context) -> None:
    inbox = ctx.config.inbox_dirs[0]
    _write_articles(inbox, 40)
    given: list[int] = []
    put = ctx.index.forms.put

    def counting_put(forms: Any) -> None:
        forms = list(forms)
        given.extend(doc_id for doc_id, _ in forms)
        put(forms)

    ctx.index.forms.put = counting_put  # type: ignore[method-assign]
    result = jobs.ingest(ctx, [inbox])
    assert result.counts.added == 40
    assert len(given) == 40, "the analyses brought no index forms"
    assert ctx.index.forms.take(given[0]) is None, "the follower did not take the forms"
    followed = _by_id(ctx)
    assert any(field == "b_en" for field, _ in followed["postings"])
    jobs.reindex(ctx)
    assert _by_id(ctx) == followed


def test_a_form_is_used_only_for_the_text_it_was_made_from() -> None:
    form = index_form("en", "Harbour news", "The harbour reopened.")
    doc = Document(language="en", title="Harbour news", body="The harbour reopened.")
    assert form.fits(doc)
    assert not form.fits(Document(language="en", title="Harbour news", body="The harbour closed."))
    assert not form.fits(Document(language="en", title="Harbour", body="The harbour reopened."))
    assert not form.fits(Document(language="de", title="Harbour news", body="The harbour reopened."))
    # Languages indexed alike (no stemmer of their own) share the form.
    assert index_form("und", "A", "b c").fits(Document(language="und", title="A", body="b c"))


def test_recent_forms_keep_the_newest_up_to_their_limit() -> None:
    forms = RecentForms(limit=3)
    made = {i: index_form("en", f"t{i}", f"body {i}") for i in range(5)}
    forms.put(made.items())
    forms.put([(2, made[2])])  # put again: the newest now
    assert forms.take(0) is None and forms.take(1) is None and forms.take(3) is made[3]
    assert forms.take(2) is made[2] and forms.take(4) is made[4]
    assert forms.take(4) is None
    assert isinstance(made[0], IndexForm)


def test_a_rebuild_writes_a_segment_at_a_time_and_the_same_index(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = ctx.config.inbox_dirs[0]
    _write_articles(inbox, 40)
    jobs.ingest(ctx, [inbox])
    whole = _by_id(ctx)
    monkeypatch.setattr(index_module, "REBUILD_SEGMENT_DOCS", 7)
    real = index_module.documents.iter_live_documents
    monkeypatch.setattr(index_module.documents, "iter_live_documents", lambda session: real(session, batch=4))
    jobs.reindex(ctx)
    live = ctx.index.live_dir()
    assert live is not None
    ix = FileStorage(str(live)).open_index()
    with ix.reader() as r:
        segments = len(list(r.leaf_readers()))
    ix.close()
    assert segments > 1  # 40 documents, a commit per 8: merged by tiers, not all into one
    assert _by_id(ctx) == whole
