"""Near-duplicate fingerprints: MinHash over word shingles, and LSH band keys for lookup."""

from __future__ import annotations

import hashlib
import re

__all__ = ["BANDS", "band_keys", "fingerprint", "similarity"]

NUM_PERM = 64
SHINGLE_WORDS = 3
# 21 bands of 3 rows: documents with Jaccard 0.5 share a band 94% of the time, with 0.1
# (two stories on one topic) 2%: candidates stay few and every candidate is then checked.
BANDS, ROWS = 21, 3
_SEED = 1  # fixed: fingerprints must compare across processes and runs
_WORD = re.compile(r"\w+")
_MIN_SHINGLES = 5


def fingerprint(body: str) -> str | None:
    """The document's MinHash signature as hex, or None when the text is too short."""
    words = _WORD.findall(body.lower())
    shingles = {" ".join(words[i : i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)}
    if len(shingles) < _MIN_SHINGLES:
        return None
    from datasketch import MinHash  # imported here: only ingest workers pay for it

    minhash = MinHash(num_perm=NUM_PERM, seed=_SEED)
    minhash.update_batch([s.encode("utf-8") for s in shingles])
    return "".join(f"{int(v):08x}" for v in minhash.hashvalues)


def _values(signature: str) -> list[str]:
    return [signature[i : i + 8] for i in range(0, len(signature), 8)]


def band_keys(signature: str) -> list[str]:
    """One short key per band; documents sharing any key are near-duplicate candidates."""
    values = _values(signature)
    keys = []
    for band in range(BANDS):
        chunk = "".join(values[band * ROWS : (band + 1) * ROWS])
        keys.append(hashlib.blake2b(chunk.encode(), digest_size=8).hexdigest())
    return keys


def similarity(a: str, b: str) -> float:
    """Estimated Jaccard similarity of the two documents' shingle sets."""
    va, vb = _values(a), _values(b)
    return sum(x == y for x, y in zip(va, vb)) / max(len(va), 1)
