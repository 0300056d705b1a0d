"""Near-duplicate fingerprints: MinHash over word shingles, and LSH band keys for lookup."""

from __future__ import annotations

import re
import zlib
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:  # numpy itself is imported where it is used: only ingest workers need it
    import numpy as np
    import numpy.typing as npt

    _Hashes: TypeAlias = npt.NDArray[np.uint64]

from indexer.lsh import BANDS, band_keys

__all__ = ["BANDS", "band_keys", "fingerprint", "similarity"]

NUM_PERM = 64
SHINGLE_WORDS = 3
_SEED = 1  # fixed: fingerprints must compare across processes and runs
_WORD = re.compile(r"\w+")
_MIN_SHINGLES = 5
_CONSTANTS: tuple[_Hashes, _Hashes, _Hashes] | None = None  # made on first use in each process


def _constants() -> tuple[_Hashes, _Hashes, _Hashes]:
    """(shingle weights, a, b): odd 64-bit multipliers, fixed by the seed. Migration 0006
    holds a copy of this and of ``fingerprint``."""
    import numpy as np

    rng = np.random.RandomState(_SEED)
    weights = rng.randint(0, 1 << 62, size=SHINGLE_WORDS, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    a = rng.randint(0, 1 << 62, size=NUM_PERM, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.randint(0, 1 << 62, size=NUM_PERM, dtype=np.uint64)
    return weights, a, b


def _mix(x: _Hashes) -> _Hashes:
    """MurmurHash3's 64-bit finalizer, on a numpy uint64 array (a bijection)."""
    import numpy as np

    x ^= x >> np.uint64(33)
    x *= np.uint64(0xFF51AFD7ED558CCD)
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xC4CEB9FE1A85EC53)
    x ^= x >> np.uint64(33)
    return x


def fingerprint(body: str) -> bytes | None:
    """The document's MinHash signature (NUM_PERM big-endian 32-bit values, 256 bytes),
    or None when the text has fewer than five distinct shingles.

    Shingles are runs of SHINGLE_WORDS lower-cased words. Each word is hashed once
    (CRC-32), a shingle's hash mixes its words' hashes, and NUM_PERM multiply-shift hashes
    (a * x + b mod 2^64, the top 32 bits) stand for the permutations; the signature is
    the minimum of each. All in numpy but the word hashes: a hash per shingle through
    hashlib, and universal hashing modulo a prime, cost three times as much.
    """
    words = _WORD.findall(body.lower())
    if len(words) < SHINGLE_WORDS:
        return None
    import numpy as np

    global _CONSTANTS
    if _CONSTANTS is None:
        _CONSTANTS = _constants()
    weights, a, b = _CONSTANTS
    hashes = np.fromiter((zlib.crc32(w.encode("utf-8")) for w in words), dtype=np.uint64, count=len(words))
    count = len(words) - SHINGLE_WORDS + 1
    with np.errstate(over="ignore"):  # uint64 wrap-around is part of the hash
        mixed = sum(hashes[i : i + count] * weights[i] for i in range(SHINGLE_WORDS))
        shingles = np.unique(_mix(mixed) >> np.uint64(32))
        if len(shingles) < _MIN_SHINGLES:
            return None
        permuted = (shingles[:, None] * a + b) >> np.uint64(32)
    return bytes(permuted.min(axis=0).astype(">u4").tobytes())


def similarity(a: bytes, b: bytes) -> float:
    """Estimated Jaccard similarity of the two documents' shingle sets.

    Plain Python (values compared as they are stored): the process that writes the
    database checks candidates but never needs numpy, 12 MB it need not load. The values
    that agree are the zero words of the two signatures XORed as integers.
    """
    size = min(len(a), len(b)) // 4 * 4
    if not size:
        return 0.0
    xor = int.from_bytes(a[:size], "little") ^ int.from_bytes(b[:size], "little")
    differ = xor.to_bytes(size, "little")
    return memoryview(differ).cast("I").tolist().count(0) / (size // 4)
