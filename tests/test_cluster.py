"""Near-duplicate clustering as a pure function: fingerprints and candidates in, clusters out."""

from __future__ import annotations

from indexer.ingest.cluster import assign_clusters
from indexer.ingest.fingerprint import fingerprint
from indexer.lsh import BANDS, band_keys
from indexer.records import ClusterAssignment, ClusterInput

STORY = (
    "The city council voted on Tuesday to close the old bridge for repairs after engineers "
    "found cracks in two of its supporting piers during a routine inspection last month."
)
REWRITE = STORY.replace("on Tuesday", "late on Tuesday").replace("last month", "in November")
OTHER = (
    "A local bakery won the regional prize for its sourdough bread, beating forty other "
    "entries from across the province in a blind tasting held at the town hall."
)


def _fp(text: str) -> bytes:
    signature = fingerprint(text)
    assert signature is not None
    return signature


def _banded(stored: dict[int, bytes]) -> list[dict[int, list[int]]]:
    """Per band, key -> stored ids: what db/ fetches for the batch's keys."""
    bands: list[dict[int, list[int]]] = [{} for _ in range(BANDS)]
    for doc_id, signature in stored.items():
        for band, key in enumerate(band_keys(signature)):
            bands[band].setdefault(key, []).append(doc_id)
    return bands


def _input(
    texts: list[tuple[int, bytes, int | None]], stored: dict[int, tuple[bytes, int | None]]
) -> ClusterInput:
    return ClusterInput(
        texts,
        {doc_id: band_keys(fp) for doc_id, fp, _ in texts},
        _banded({i: fp for i, (fp, _) in stored.items()}),
        stored,
    )


def test_a_rewrite_joins_the_stored_story_and_another_story_stays_alone() -> None:
    stored = {1: (_fp(STORY), None)}
    found = _input([(5, _fp(REWRITE), None), (6, _fp(OTHER), None)], stored)
    assert assign_clusters(found) == ClusterAssignment([(5, 1)], {1: 1}, [])


def test_the_lowest_cluster_wins_and_texts_of_one_batch_cluster_together() -> None:
    stored = {3: (_fp(STORY), 2)}  # in cluster 2 already
    found = _input(
        [(7, _fp(OTHER), None), (8, _fp(OTHER + " Updated."), None), (9, _fp(REWRITE), None)], stored
    )
    assignment = assign_clusters(found)
    assert assignment.texts == [(8, 7), (9, 2)]
    assert assignment.joining == {7: 7}  # the batch's earlier text becomes its cluster's first story
    assert assignment.left == []


def test_a_first_story_rewritten_away_leaves_its_cluster() -> None:
    stored = {4: (_fp(REWRITE), 3)}
    found = _input([(3, _fp(OTHER), 3)], stored)  # story 3 was the cluster's first; now it is another text
    assert assign_clusters(found) == ClusterAssignment([(3, None)], {}, [3])


def test_the_threshold_decides() -> None:
    stored = {1: (_fp(STORY), None)}
    found = _input([(2, _fp(REWRITE), None)], stored)
    assert assign_clusters(found, threshold=1.01) == ClusterAssignment([], {}, [])
    assert assign_clusters(found, threshold=0.0).texts == [(2, 1)]
