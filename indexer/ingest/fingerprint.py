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


def fingerprint(body: str) -> str | None:
    """The document's MinHash signature as hex, or None when the text is too short.

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
    return "".join(f"{int(v):08x}" for v in permuted.min(axis=0))


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
