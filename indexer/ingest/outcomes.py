"""A batch's outcomes into the database: db/batch.py writes them, ingest/cluster.py decides
the clusters of its new and changed texts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from indexer.db.batch import BatchWriter
from indexer.ingest.cluster import NEAR_DUPLICATE_THRESHOLD, assign_clusters
from indexer.records import Analysis, BatchCounts, FileFailure, Linked

__all__ = ["apply_batch"]


def apply_batch(
    session: Session,
    now: datetime,
    analyses: Sequence[Analysis] = (),
    links: Sequence[tuple[Linked, int]] = (),
    failures: Sequence[FileFailure] = (),
    removed: Sequence[str] = (),
    force: bool = False,
    near_threshold: float = NEAR_DUPLICATE_THRESHOLD,
) -> BatchCounts:
    """Write one batch of outcomes in the caller's transaction and sequence the changes."""
    paths = [
        *removed,
        *(link.path for link, _ in links),
        *(a.path for a in analyses),
        *(f.path for f in failures),
    ]
    writer = BatchWriter(session, now, paths, [a.body_sha256 for a in analyses], force)
    for path in removed:
        writer.remove_path(path)
    for link, doc_id in links:
        writer.add_link(link, doc_id)
    for a in analyses:
        writer.add_analysis(a)
    for f in failures:
        writer.add_failure(f)
    clusters = assign_clusters(writer.near_duplicate_candidates(), near_threshold)
    return writer.finish(clusters)
