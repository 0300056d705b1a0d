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
_PRIME = (1 << 61) - 1
_PERMS = None  # (a, b) arrays, made on first use in each process


def _permutations():  # type: ignore[no-untyped-def]
    import numpy as np

    rng = np.random.RandomState(_SEED)
    a = rng.randint(1, _PRIME, size=NUM_PERM, dtype=np.uint64)
    b = rng.randint(0, _PRIME, size=NUM_PERM, dtype=np.uint64)
    return a, b


def fingerprint(body: str) -> bytes | None:
    """The document's MinHash signature (NUM_PERM big-endian 32-bit values, 256 bytes),
    or None when the text is too short.

    The classic scheme (as in datasketch): one 32-bit hash per shingle, NUM_PERM
    universal-hash permutations, the minimum of each. Written out with numpy rather than
    taking datasketch, whose scipy import costs each worker ~60 MB of memory.
    """
    words = _WORD.findall(body.lower())
    shingles = {" ".join(words[i : i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)}
    if len(shingles) < _MIN_SHINGLES:
        return None
    import numpy as np

    global _PERMS
    if _PERMS is None:
        _PERMS = _permutations()
    a, b = _PERMS
    hashes = np.fromiter(
        (int.from_bytes(hashlib.blake2b(s.encode("utf-8"), digest_size=4).digest(), "little") for s in shingles),
        dtype=np.uint64,
        count=len(shingles),
    )
    with np.errstate(over="ignore"):  # uint64 wrap-around is part of the hash
        permuted = ((hashes[:, None] * a + b) % np.uint64(_PRIME)) & np.uint64(0xFFFFFFFF)
    return bytes(permuted.min(axis=0).astype(">u4").tobytes())


def band_keys(signature: bytes) -> list[int]:
    """One 64-bit key per band (signed, to fit any database's BIGINT); documents sharing
    any key are near-duplicate candidates. Migration 0004 holds a copy of this."""
    size = ROWS * 4
    return [
        int.from_bytes(hashlib.blake2b(signature[band * size : (band + 1) * size], digest_size=8).digest(),
                       "little", signed=True)
        for band in range(BANDS)
    ]


def similarity(a: bytes, b: bytes) -> float:
    """Estimated Jaccard similarity of the two documents' shingle sets.

    Plain Python (values compared as they are stored): the process that writes the
    database checks candidates but never needs numpy, 12 MB it need not load.
    """
    va, vb = memoryview(a).cast("I"), memoryview(b).cast("I")
    return sum(x == y for x, y in zip(va, vb)) / max(len(va), 1)
