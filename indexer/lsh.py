"""LSH band keys of a fingerprint: how near-duplicate candidates are found and stored.

Neutral ground: ingest/ makes fingerprints, db/ keys the doc_bands rows by these.
"""

from __future__ import annotations

import hashlib

__all__ = ["BANDS", "ROWS", "band_keys"]

# 21 bands of 3 rows: documents with Jaccard 0.5 share a band 94% of the time, with 0.1
# (two stories on one topic) 2%: candidates stay few and every candidate is then checked.
BANDS, ROWS = 21, 3


def band_keys(signature: bytes) -> list[int]:
    """One 64-bit key per band (signed, to fit any database's BIGINT); documents sharing
    any key are near-duplicate candidates. Migration 0004 holds a copy of this."""
    size = ROWS * 4
    return [
        int.from_bytes(
            hashlib.blake2b(signature[band * size : (band + 1) * size], digest_size=8).digest(),
            "little",
            signed=True,
        )
        for band in range(BANDS)
    ]
