"""Near-duplicate clustering: a batch's fingerprints and their candidates in, clusters out."""

from __future__ import annotations

from indexer.ingest.fingerprint import similarity
from indexer.records import ClusterAssignment, ClusterInput

__all__ = ["NEAR_DUPLICATE_THRESHOLD", "assign_clusters"]

# Estimated Jaccard similarity of word-trigram sets from which two texts are one story
# (rewrites of one wire story measured 0.59-0.95; distinct BBC articles at most 0.03).
NEAR_DUPLICATE_THRESHOLD = 0.5


def assign_clusters(found: ClusterInput, threshold: float = NEAR_DUPLICATE_THRESHOLD) -> ClusterAssignment:
    """Give each of the batch's texts the cluster of its near-duplicates (or none).

    A text's candidates are the stored documents sharing one of its band keys and the
    batch's earlier texts sharing one; those whose estimated similarity reaches
    ``threshold`` are its matches. It joins the lowest cluster among them (a match without
    a cluster stands for its own id), and matches without a cluster join it too. A
    cluster's first story that matches nothing of it any more leaves it: its members
    are regrouped.
    """
    fingerprint = {doc_id: fp for doc_id, fp, _ in found.texts}
    cluster_of: dict[int, int | None] = {doc_id: cluster for doc_id, _, cluster in found.texts}
    for doc_id, (fp, cluster) in found.stored.items():
        if doc_id not in fingerprint and fp:
            fingerprint[doc_id], cluster_of[doc_id] = fp, cluster
    bands = len(found.banded)
    earlier: list[dict[int, list[int]]] = [{} for _ in range(bands)]  # the batch's texts so far
    changed: list[tuple[int, int | None]] = []
    joining: dict[int, int | None] = {}  # unclustered documents a new text joins
    left: list[int] = []  # clusters whose first story left them
    for doc_id, fp, current in found.texts:
        candidates: set[int] = set()
        for stored, before, key in zip(found.banded, earlier, found.keys[doc_id], strict=True):
            candidates.update(stored.get(key, ()))
            if (ids := before.get(key)) is None:
                before[key] = [doc_id]
            else:
                candidates.update(ids)
                ids.append(doc_id)
        matches = sorted(
            c
            for c in candidates
            if c != doc_id and c in fingerprint and similarity(fp, fingerprint[c]) >= threshold
        )
        cluster = min((cluster_of[m] or m for m in matches), default=None)
        if current != cluster:
            if current == doc_id:  # a cluster's first story is not one of it now
                left.append(doc_id)
            changed.append((doc_id, cluster))
        cluster_of[doc_id] = cluster
        for other_id in matches:
            if cluster_of[other_id] is None:
                cluster_of[other_id] = joining[other_id] = cluster
    return ClusterAssignment(changed, joining, left)
