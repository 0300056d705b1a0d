"""Near-duplicates: syndicated rewrites of one story cluster; different stories do not."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from indexer import jobs
from indexer.context import Context
from indexer.db import documents, files
from indexer.db.models import DocBand, Document
from indexer.ingest.fingerprint import BANDS, band_keys, fingerprint, similarity
from indexer.ingest.ingester import candidate_for
from tests.conftest import Project, corpora_or_skip

WIRE = (
    "Floods close mountain pass\n\n"
    "Heavy rain closed the northern mountain pass on Tuesday, stranding hundreds of lorries. "
    "Engineers said the road would stay shut until the river level falls. "
    "The regional governor asked drivers to use the coastal route instead. "
    "Forecasters expect more rain in the valleys over the weekend, with strong winds on the ridges. "
    "Local schools were closed and the army sent two helicopters to help families leave the villages.\n"
)
REWRITE = (
    "Mountain pass shut by floods\n\n"
    "The regional governor asked drivers to use the coastal route instead. "
    "Heavy rain closed the northern mountain pass on Tuesday, stranding hundreds of trucks. "
    "Engineers said the road would stay shut until the river level falls. "
    "Local schools were closed and the army sent two helicopters to help families leave the villages. "
    "Forecasters expect more rain in the valleys over the weekend, with strong winds on the ridges.\n"
)
OTHER = (
    "Bridge repairs begin\n\n"
    "Work to repair the old stone bridge over the river began on Monday after months of delay. "
    "The council said the bridge would reopen to pedestrians in the spring. "
    "Engineers found cracks in two arches during an inspection last year, after heavy rain.\n"
)


def test_rewrites_cluster_and_other_stories_do_not(project: Project) -> None:
    project.write("agency/wire.txt", WIRE)
    project.write("paper/rewrite.txt", REWRITE)
    project.write("paper/other.txt", OTHER)
    project.run("ingest", "inbox")
    clusters = project.json("duplicates")["clusters"]
    assert len(clusters) == 1
    paths = sorted(Path(d["path"]).name for d in clusters[0]["documents"])
    assert paths == ["rewrite.txt", "wire.txt"]
    assert "1 clusters" in project.run("duplicates").stdout


def _rewrite(text: str, rng: random.Random) -> str:
    title, _, body = text.partition("\n\n")
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", body.replace("\n", " ")) if s.strip()]
    rng.shuffle(sentences)
    edited = []
    for sentence in sentences:
        words = sentence.split()
        if len(words) > 8 and rng.random() < 0.3:
            words[rng.randrange(len(words))] = rng.choice(["reportedly", "also", "officially"])
        edited.append(" ".join(words))
    return title + "\n\n" + " ".join(edited)


def test_real_articles_purity_and_recall() -> None:
    bbc = corpora_or_skip("bbc")
    rng = random.Random(7)
    articles = [
        p.read_text(encoding="utf-8", errors="replace") for p in sorted((bbc / "politics").glob("*.txt"))[:60]
    ]
    signatures = [fingerprint(a) for a in articles]
    rewrites = [fingerprint(_rewrite(a, rng)) for a in articles]
    recall = sum(similarity(s, r) >= 0.5 for s, r in zip(signatures, rewrites, strict=True)) / len(articles)
    false = sum(similarity(signatures[i], signatures[j]) >= 0.5 for i in range(60) for j in range(i + 1, 60))
    assert recall >= 0.95, recall
    assert false == 0  # sixty politics stories of one category: none is taken for another


def test_a_story_becoming_a_cluster_keeps_its_index_entry(project: Project) -> None:
    """The first story of a cluster is indexed once: its index entry names itself as its
    cluster from the start, so a rewrite arriving later changes only the rewrite's entry,
    and search still folds the two and shows the cluster."""
    project.write("agency/wire.txt", WIRE)
    project.write("paper/other.txt", OTHER)
    project.run("ingest", "inbox")
    alone = project.json("search", "bridge", "--json")["hits"]
    assert [h["cluster"] for h in alone] == [None] and alone[0]["near_duplicates"] == []
    wire = project.json("search", "lorries", "--json")["hits"][0]
    assert wire["cluster"] is None
    seq_before = project.json("status", "--json")["index"]["db_seq"]

    project.write("paper/rewrite.txt", REWRITE)
    project.run("ingest", "inbox")
    assert project.json("status", "--json")["index"]["db_seq"] == seq_before + 1  # the rewrite only
    folded = project.json("search", "mountain pass", "--json")
    assert folded["total"] == 2 and len(folded["hits"]) == 1
    hit = folded["hits"][0]
    other_id = ({wire["id"]} ^ {hit["id"], *hit["near_duplicates"]}).pop()
    assert hit["cluster"] == wire["id"] and len(hit["near_duplicates"]) == 1
    every = project.json("search", "mountain pass", "--all", "--json")["hits"]
    assert sorted(h["id"] for h in every) == sorted([wire["id"], other_id])
    assert {h["cluster"] for h in every} == {wire["id"]}
    similar = project.json("similar", str(wire["id"]), "--json")["hits"]
    assert all(h["id"] != other_id for h in similar)  # its own cluster is left out


def test_a_story_rewritten_out_of_its_cluster_leaves_its_copies_apart(project: Project) -> None:
    """The first story of a cluster is rewritten into another story: its former copy is
    no longer folded with it (the index names a lone story's own id as its cluster)."""
    wire = project.write("agency/wire.txt", WIRE)
    project.write("paper/rewrite.txt", REWRITE)
    project.run("ingest", "inbox")
    assert len(project.json("duplicates")["clusters"]) == 1
    wire.write_text(OTHER.replace("Bridge repairs begin", "Harbour bridge repairs begin"))
    project.run("ingest", "inbox")
    assert project.json("duplicates")["clusters"] == []
    for query in ("mountain pass", "bridge"):
        result = project.json("search", query, "--json")
        assert [(h["cluster"], h["near_duplicates"]) for h in result["hits"]] == [(None, [])], query
    assert project.run("verify").returncode == 0


def _bands_are_the_live_fingerprints(ctx: Context) -> None:
    """doc_bands holds exactly the band keys of the live documents' fingerprints: rows are
    deleted by the keys of the fingerprint they were made from, so none may be left over."""
    with ctx.db.read() as session:
        stored = session.execute(select(DocBand.document_id, DocBand.band, DocBand.key))
        rows = sorted(tuple(row) for row in stored)
        live = session.execute(
            select(Document.id, Document.fingerprint).where(
                Document.deleted_at.is_(None), Document.fingerprint.is_not(None)
            )
        )
        expected = sorted((i, b, k) for i, signature in live for b, k in enumerate(band_keys(signature)))
    assert rows == expected


def test_band_rows_follow_edits_deletes_moves_and_tombstones(ctx: Context) -> None:
    inbox = ctx.config.inbox_dirs[0]
    short = "Short note\n\nSee you soon.\n"  # too few words for a fingerprint
    texts = {
        "wire.txt": WIRE,
        "rewrite.txt": REWRITE,
        "other.txt": OTHER,
        "short.txt": short,
        "copy1.txt": OTHER + "\nCopied.\n",
        "copy2.txt": OTHER + "\nCopied.\n",
    }
    for name, text in texts.items():
        (inbox / name).write_text(text)
    jobs.scan(ctx)
    _bands_are_the_live_fingerprints(ctx)
    with ctx.db.read() as session:
        assert session.scalar(select(func.count()).select_from(DocBand)) == 4 * BANDS

    (inbox / "wire.txt").write_text(WIRE.replace("lorries", "buses").replace("Tuesday", "Monday"))  # new keys
    (inbox / "rewrite.txt").write_text(short.replace("soon", "later"))  # its fingerprint goes
    (inbox / "short.txt").write_text(REWRITE.replace("Heavy rain", "Torrential rain"))  # gets one
    (inbox / "copy1.txt").write_text(WIRE + "\nEdited.\n")  # leaves the document it shared
    (inbox / "other.txt").unlink()
    counts = jobs.scan(ctx).counts
    assert (counts.updated, counts.deleted) == (4, 1)
    _bands_are_the_live_fingerprints(ctx)

    # A move seen as a delete, then a create: tombstoned, then brought back.
    moved = inbox / "moved.txt"
    (inbox / "wire.txt").rename(moved)
    ctx.ingester.ingest([], removed=[str(inbox / "wire.txt")])
    _bands_are_the_live_fingerprints(ctx)
    candidate = candidate_for(str(moved))
    assert candidate is not None
    ctx.ingester.ingest([candidate])
    _bands_are_the_live_fingerprints(ctx)
    ctx.ingester.ingest([candidate], force=True)  # re-analysed: same fingerprint, rows replaced
    _bands_are_the_live_fingerprints(ctx)

    # verify --repair tombstones a document whose files are gone from the database.
    with ctx.db.read() as session:
        (doc_id,) = [row[5] for row in files.live_file_states(session, 0, 100) if row[1] == str(moved)]
    with ctx.db.write() as session:
        documents.tombstone(session, datetime.now(UTC), [doc_id])
    _bands_are_the_live_fingerprints(ctx)


def test_fingerprints_estimate_shingle_overlap_and_never_change_silently() -> None:
    """The estimate follows the true Jaccard similarity of the 3-word shingles; a stored
    fingerprint must stay comparable with new ones, so the function is pinned (changing it
    takes a migration that recomputes them, as 0006 did)."""
    rng = random.Random(4)
    words = [f"w{rng.randrange(400)}" for _ in range(600)]

    def shingles(ws: list[str]) -> set[tuple[str, ...]]:
        return {tuple(ws[i : i + 3]) for i in range(len(ws) - 2)}

    for edits in (10, 60, 200):
        edited = list(words)
        for _ in range(edits):
            edited[rng.randrange(len(edited))] = f"x{rng.randrange(10**6)}"
        truth = len(shingles(words) & shingles(edited)) / len(shingles(words) | shingles(edited))
        estimate = similarity(fingerprint(" ".join(words)), fingerprint(" ".join(edited)))  # type: ignore[arg-type]
        assert abs(estimate - truth) < 0.15, (edits, estimate, truth)
    other = [f"w{rng.randrange(400)}" for _ in range(600)]
    assert similarity(fingerprint(" ".join(words)), fingerprint(" ".join(other))) < 0.1  # type: ignore[arg-type]
    text = (
        "Story 0: the harbour board met again to discuss the ferry timetable, the fares and the new quay 0."
    )
    assert fingerprint(text).hex()[:24] == "00b1847411298191012fbc01"  # type: ignore[union-attr]
    assert fingerprint("too few words here") is None


def test_similarity_is_the_share_of_equal_values() -> None:
    a = bytes(range(256))
    b = bytearray(a)
    for word in (0, 5, 63):  # three of the 64 values differ, in one byte each
        b[word * 4 + 3] ^= 0xFF
    assert similarity(a, bytes(b)) == 61 / 64
    assert similarity(a, a) == 1.0
    assert similarity(a, bytes(256)) == 0.0
