"""The term-grouped segment writer (search/_whoosh/writer.py) writes the very index Whoosh's own does."""

from __future__ import annotations

import pickle
import random
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from whoosh.codec.whoosh3 import W3Codec
from whoosh.filedb.filestore import FileStorage
from whoosh.index import Index
from whoosh.writing import MERGE_SMALL, SegmentWriter

from indexer.search._whoosh import writer as writer_module
from indexer.search._whoosh.writer import CompactCodec, TermSegmentWriter, tiered_merge
from indexer.search.forms import index_form, text_fields
from indexer.search.schema import WORDS_FIELD, build_schema

WORDS = [
    "the",
    "market",
    "growth",
    "bank",
    "rates",
    "election",
    "minister",
    "football",
    "final",
    "club",
    "film",
    "award",
    "music",
    "Wahl",
    "Regierung",
    "Münchner",
    "Straße",
    "économie",
    "élection",
    "ministre",
    "l'Élysée",
    "東京",
    "経済",
    "政策",
    "über",
    "naïve",
    "café",
    "rapid",
    "rapidly",
    "running",
    "runner",
    "run",
    "2025",
    "1,200",
]


def _documents(count: int, seed: int = 3) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    docs = []
    for n in range(count):
        lang = rng.choice(["en", "de", "fr", "xx"])
        body = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 400)))
        title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 9)))
        docs.append(
            {
                "id": str(n),
                "path": f"/in/{n}.txt",
                "title": title,
                "lang": lang,
                "source": rng.choice(["bbc", "tempo.co", ""]),
                f"t_{lang}": title,
                f"b_{lang}": body,
            }
        )
    return docs


def _build(directory: Path, writer_class: Callable[..., SegmentWriter], docs: list[dict[str, Any]]) -> Index:
    """Several commits (so segments merge), a small memory limit (so postings spill into
    runs), deletions and a replaced document."""
    ix = FileStorage(str(directory), supports_mmap=False).create_index(build_schema())
    for part in range(4):
        writer = writer_class(ix, limitmb=0.05)
        for doc in docs[part::4]:
            writer.add_document(**doc)
        if part == 2:
            writer.delete_by_term("id", "0")
            writer.update_document(**{**docs[len(docs) // 2], "title": "replaced"})
        writer.commit()
    return ix


def _contents(ix: Index) -> dict[str, Any]:
    with ix.reader() as r:
        postings = {}
        for fieldname, text in r.all_terms():
            info = r.term_info(fieldname, text)
            postings[fieldname, text] = (
                list(r.postings(fieldname, text).all_items()),
                (
                    info.weight(),
                    info.doc_frequency(),
                    info.min_length(),
                    info.max_length(),
                    info.max_weight(),
                ),
            )
        fields = sorted({name for name in r.indexed_field_names()})
        lengths = {f: [r.doc_field_length(d, f) for d in range(r.doc_count_all())] for f in fields}
        return {
            "postings": postings,
            "lengths": lengths,
            "stored": list(r.all_stored_fields()),
            "deleted": [r.is_deleted(d) for d in range(r.doc_count_all())],
        }


@pytest.mark.parametrize("count", [1, 40, 400])
def test_term_writer_writes_the_same_index_as_whoosh(tmp_path: Path, count: int) -> None:
    docs = _documents(count)
    (tmp_path / "ours").mkdir()
    (tmp_path / "whoosh").mkdir()
    ours = _contents(_build(tmp_path / "ours", TermSegmentWriter, docs))
    theirs = _contents(_build(tmp_path / "whoosh", SegmentWriter, docs))
    assert ours["postings"], "nothing was indexed"
    assert ours == theirs


def test_term_writer_with_whoosh_s_own_codec_writes_the_same_index(tmp_path: Path) -> None:
    """With a codec other than CompactCodec, postings reach its field writer one by one."""
    docs = _documents(120)
    (tmp_path / "ours").mkdir()
    (tmp_path / "whoosh").mkdir()
    ours = _contents(_build(tmp_path / "ours", partial(TermSegmentWriter, codec=W3Codec()), docs))
    theirs = _contents(_build(tmp_path / "whoosh", SegmentWriter, docs))
    assert ours["postings"], "nothing was indexed"
    assert ours == theirs


def test_term_pool_spills_runs_and_removes_them(tmp_path: Path) -> None:
    ix = FileStorage(str(tmp_path), supports_mmap=False).create_index(build_schema())
    writer = TermSegmentWriter(ix, limitmb=0.05)
    for doc in _documents(200):
        writer.add_document(**doc)
    runs = list(writer.pool.runs)
    assert len(runs) > 3
    assert all(writer._tempstorage.file_exists(name) for name in runs)
    writer.commit()
    assert not any(writer._tempstorage.file_exists(name) for name in runs)
    assert ix.doc_count() == 200


def _postings_bytes(ix: Index) -> int:
    total = 0
    for segment in ix._segments():
        files = segment.open_compound_file(ix.storage) if segment.is_compound() else ix.storage
        total += sum(files.file_length(name) for name in files.list() if name.endswith(".pst"))
    return total


def test_compact_codec_postings_are_smaller_than_whoosh_s(tmp_path: Path) -> None:
    docs = _documents(400)
    (tmp_path / "ours").mkdir()
    (tmp_path / "whoosh").mkdir()
    ours = _build(tmp_path / "ours", TermSegmentWriter, docs)
    theirs = _build(tmp_path / "whoosh", SegmentWriter, docs)
    assert all(isinstance(segment.codec(), CompactCodec) for segment in ours._segments())
    assert _postings_bytes(ours) < 0.8 * _postings_bytes(theirs)


def test_segments_written_by_whoosh_s_codec_merge_into_compact_ones(tmp_path: Path) -> None:
    """An index written before CompactCodec stays readable, and merges into the new codec."""
    docs = _documents(200)
    indexes = {}
    for name, writer_class in (("mixed", TermSegmentWriter), ("whoosh", SegmentWriter)):
        (tmp_path / name).mkdir()
        ix = indexes[name] = FileStorage(str(tmp_path / name), supports_mmap=False).create_index(
            build_schema()
        )
        old = SegmentWriter(ix)
        for doc in docs[:100]:
            old.add_document(**doc)
        old.commit()
        new = writer_class(ix)
        for doc in docs[100:]:
            new.add_document(**doc)
        new.commit(optimize=True)
    assert [type(segment.codec()) for segment in indexes["mixed"]._segments()] == [CompactCodec]
    assert _contents(indexes["mixed"]) == _contents(indexes["whoosh"])


def test_documents_with_boosts_go_through_whoosh_s_own_add(tmp_path: Path) -> None:
    """The field-at-a-time add handles plain documents; a boosted one takes Whoosh's path
    and is weighted as Whoosh weights it."""
    docs = _documents(40)
    for doc in docs[::3]:
        doc["_boost"] = 2.5
    (tmp_path / "ours").mkdir()
    (tmp_path / "whoosh").mkdir()
    ours = _contents(_build(tmp_path / "ours", TermSegmentWriter, docs))
    theirs = _contents(_build(tmp_path / "whoosh", SegmentWriter, docs))
    max_weights = {info[4] for _, info in ours["postings"].values()}
    assert any(w % 1 == 0.5 for w in max_weights), "no boosted weight was indexed"
    assert ours == theirs


def test_term_pool_gives_back_each_posting_as_added(tmp_path: Path) -> None:
    ix = FileStorage(str(tmp_path), supports_mmap=False).create_index(build_schema())
    writer = TermSegmentWriter(ix, limitmb=0.001)
    added = [("b_en", f"w{n % 7}".encode(), n, float(n % 3) + 0.5, bytes(range(n % 11))) for n in range(300)]
    for posting in added:
        writer.pool.add(posting)
    assert writer.pool.runs, "nothing spilled"
    assert list(writer.pool.iter_postings()) == sorted(added, key=lambda p: (p[0], p[1], p[2]))
    writer.cancel()


def test_fields_with_term_vectors_go_through_whoosh_s_own_add(tmp_path: Path) -> None:
    """A schema with a term-vector field: its documents take Whoosh's add_document, and
    the vectors are written as Whoosh writes them."""
    from whoosh.fields import ID, TEXT, Schema

    schema = Schema(id=ID(stored=True, unique=True), body=TEXT(vector=True))
    contents = []
    for name, writer_class in (("ours", TermSegmentWriter), ("whoosh", SegmentWriter)):
        (tmp_path / name).mkdir()
        ix = FileStorage(str(tmp_path / name), supports_mmap=False).create_index(schema)
        writer = writer_class(ix)
        for doc in _documents(30):
            writer.add_document(id=doc["id"], body=doc[f"b_{doc['lang']}"])
        writer.commit()
        with ix.reader() as r:
            vectors = [list(r.vector(d, "body").items_as("frequency")) for d in range(r.doc_count_all())]
        contents.append((_contents(ix), vectors))
    assert contents[0][1] and all(contents[0][1]), "no term vectors were written"
    assert contents[0] == contents[1]


def test_segments_record_the_codec_under_its_lasting_name(tmp_path: Path) -> None:
    """Whoosh pickles each segment's codec into the table of contents by module and class
    name; indexes on disk name ``indexer.search.pool.CompactCodec``, so that name must
    keep opening them, and new segments must record it too."""
    import pickle

    from indexer.search import pool

    assert pool.CompactCodec is CompactCodec
    assert b"indexer.search.pool" in pickle.dumps(CompactCodec()) and b"_whoosh" not in pickle.dumps(
        CompactCodec()
    )
    (tmp_path / "ours").mkdir()
    ix = _build(tmp_path / "ours", TermSegmentWriter, _documents(30))
    toc = (tmp_path / "ours" / f"_MAIN_{ix.latest_generation()}.toc").read_bytes()
    assert b"indexer.search.pool" in toc and b"CompactCodec" in toc and b"_whoosh" not in toc
    assert all(type(segment.codec()) is CompactCodec for segment in ix._segments())


def _build_prepared(directory: Path, docs: list[dict[str, Any]]) -> Index:
    """As ``_build``, each document's text fields filed from their ``index_form``, sent
    through pickle as an analysis worker sends it."""
    ix = FileStorage(str(directory), supports_mmap=False).create_index(build_schema())
    for part in range(4):
        writer = TermSegmentWriter(ix, limitmb=0.05)
        for doc in docs[part::4]:
            form = pickle.loads(pickle.dumps(index_form(doc["lang"], doc["title"], doc["body"])))
            writer.update_prepared(form.fields, **_with_text_fields(doc))
        writer.commit()
    return ix


def _with_text_fields(doc: dict[str, Any]) -> dict[str, Any]:
    fields = {k: v for k, v in doc.items() if k != "body"}
    return {**fields, **text_fields(doc["lang"], doc["title"], doc["body"])}


def test_index_forms_made_elsewhere_write_the_same_index(tmp_path: Path) -> None:
    rng = random.Random(5)
    docs = [
        {**doc, "body": " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 300)))}
        for doc in _documents(200)
    ]
    for doc in docs:
        del doc[f"t_{doc['lang']}"], doc[f"b_{doc['lang']}"]
    (tmp_path / "prepared").mkdir()
    (tmp_path / "whoosh").mkdir()
    ours = _contents(_build_prepared(tmp_path / "prepared", docs))
    ix = FileStorage(str(tmp_path / "whoosh"), supports_mmap=False).create_index(build_schema())
    for part in range(4):
        writer = SegmentWriter(ix, limitmb=0.05)
        for doc in docs[part::4]:
            writer.update_document(**_with_text_fields(doc))
        writer.commit()
    theirs = _contents(ix)
    assert any(field == WORDS_FIELD for field, _ in ours["postings"]), "the words field was not indexed"
    assert any(field.startswith("b_") for field, _ in ours["postings"]), "no body field was indexed"
    assert ours == theirs


def test_the_writer_files_the_form_it_is_given(tmp_path: Path) -> None:
    """The prepared terms are what is filed (not made again from the text): a form made
    from other text puts that text's terms in the index."""
    ix = FileStorage(str(tmp_path), supports_mmap=False).create_index(build_schema())
    writer = TermSegmentWriter(ix)
    form = index_form("en", "Harbour news", "The harbour reopened")
    writer.update_prepared(form.fields, id="1", **text_fields("en", "Market news", "The market opened"))
    writer.commit()
    with ix.searcher() as s:
        assert s.document_number(id="1") is not None
        assert list(s.lexicon("b_en")) == [b"harbour", b"reopen", b"the"]


def _commit_in_pairs(directory: Path, docs: list[dict[str, Any]], policy: Any) -> tuple[list[int], int]:
    """Two documents per commit: the segment count after each commit, and the most
    documents one commit's new segment held (its own and those it merged)."""
    ix = FileStorage(str(directory), supports_mmap=False).create_index(build_schema())
    counts, largest = [], 0
    for start in range(0, len(docs), 2):
        writer = TermSegmentWriter(ix)
        for doc in docs[start : start + 2]:
            writer.add_document(**doc)
        writer.commit(mergetype=policy)
        with ix.reader() as r:
            leaves = [sub for sub, _ in r.leaf_readers()]
            counts.append(len(leaves))
            largest = max(largest, leaves[-1].doc_count_all())  # the new segment comes last
    with ix.searcher() as s:
        assert sorted(int(f["id"]) for f in s.all_stored_fields()) == list(range(len(docs)))
    return counts, largest


def test_tiered_merge_bounds_each_commit_s_merge_and_the_segments_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commits of two documents each: FACTOR segments of a tier merge into one of the
    next, no commit merges more than MERGE_MAX_DOCS (Whoosh's own policy, on the same
    commits, merges most of the index at once), and every document stays."""
    monkeypatch.setattr(writer_module, "MERGE_FLOOR_DOCS", 4)
    monkeypatch.setattr(writer_module, "MERGE_FACTOR", 3)
    monkeypatch.setattr(writer_module, "MERGE_MAX_DOCS", 60)
    docs = _documents(300)
    (tmp_path / "tiered").mkdir()
    (tmp_path / "whoosh").mkdir()
    counts, largest = _commit_in_pairs(tmp_path / "tiered", docs, tiered_merge)
    _, whoosh_largest = _commit_in_pairs(tmp_path / "whoosh", docs, MERGE_SMALL)
    assert 36 < largest <= 60 + 2 < whoosh_largest, (largest, whoosh_largest)
    # Segments that could still merge stay fewer than FACTOR per tier (tiers of under 12,
    # 12-36 documents); those of 36 or more pile up (three would pass MERGE_MAX_DOCS).
    assert max(counts) <= 2 * 3 + 300 // 36
    assert counts[-1] > 1
