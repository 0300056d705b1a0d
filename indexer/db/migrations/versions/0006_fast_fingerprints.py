"""Fingerprints made the faster way: each word hashed once (CRC-32), shingles mixed from
their words' hashes, multiply-shift hashes for the permutations (a third of the CPU).

Every stored fingerprint is recomputed from the document's stored text, and doc_bands
is filled anew from them (the band key function is unchanged). Near-duplicate clusters
stay as they are. The fingerprint functions, old and new, are copied here: a migration
must not change when the program does.

Revision ID: 0006_fast_fingerprints
Revises: 0005_lean_keys
Create Date: 2026-11-26
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import numpy as np
import sqlalchemy as sa
from alembic import op

revision = "0006_fast_fingerprints"
down_revision = "0005_lean_keys"
branch_labels = None
depends_on = None

NUM_PERM, SHINGLE_WORDS, MIN_SHINGLES = 64, 3, 5
BANDS, ROWS = 21, 3
BATCH = 500
_WORD = re.compile(r"\w+")

documents = sa.table(
    "documents",
    sa.column("id", sa.Integer),
    sa.column("body_zlib", sa.LargeBinary),
    sa.column("fingerprint", sa.LargeBinary),
    sa.column("deleted_at", sa.DateTime(timezone=True)),
)
doc_bands = sa.table(
    "doc_bands",
    sa.column("band", sa.SmallInteger),
    sa.column("key", sa.BigInteger),
    sa.column("document_id", sa.Integer),
)


@cache
def _new_constants() -> tuple[Any, Any, Any]:
    rng = np.random.RandomState(1)
    weights = rng.randint(0, 1 << 62, size=SHINGLE_WORDS, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    a = rng.randint(0, 1 << 62, size=NUM_PERM, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.randint(0, 1 << 62, size=NUM_PERM, dtype=np.uint64)
    return weights, a, b


@cache
def _old_constants() -> tuple[Any, Any]:
    rng = np.random.RandomState(1)
    prime = (1 << 61) - 1
    return rng.randint(1, prime, size=NUM_PERM, dtype=np.uint64), rng.randint(
        0, prime, size=NUM_PERM, dtype=np.uint64
    )


def _new(body: str) -> bytes | None:
    words = _WORD.findall(body.lower())
    if len(words) < SHINGLE_WORDS:
        return None
    weights, a, b = _new_constants()
    hashes = np.fromiter((zlib.crc32(w.encode("utf-8")) for w in words), dtype=np.uint64, count=len(words))
    count = len(words) - SHINGLE_WORDS + 1
    with np.errstate(over="ignore"):
        x = sum(hashes[i : i + count] * weights[i] for i in range(SHINGLE_WORDS))
        for multiplier in (0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53):
            x ^= x >> np.uint64(33)
            x *= np.uint64(multiplier)
        x ^= x >> np.uint64(33)
        shingles = np.unique(x >> np.uint64(32))
        if len(shingles) < MIN_SHINGLES:
            return None
        permuted = (shingles[:, None] * a + b) >> np.uint64(32)
    return bytes(permuted.min(axis=0).astype(">u4").tobytes())


def _old(body: str) -> bytes | None:
    words = _WORD.findall(body.lower())
    shingles = {" ".join(words[i : i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)}
    if len(shingles) < MIN_SHINGLES:
        return None
    prime = (1 << 61) - 1
    a, b = _old_constants()
    hashes = np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(s.encode("utf-8"), digest_size=4).digest(), "little")
            for s in shingles
        ),
        dtype=np.uint64,
        count=len(shingles),
    )
    with np.errstate(over="ignore"):
        permuted = ((hashes[:, None] * a + b) % np.uint64(prime)) & np.uint64(0xFFFFFFFF)
    return bytes(permuted.min(axis=0).astype(">u4").tobytes())


def _band_keys(signature: bytes) -> list[int]:
    size = ROWS * 4
    return [
        int.from_bytes(
            hashlib.blake2b(signature[b * size : (b + 1) * size], digest_size=8).digest(),
            "little",
            signed=True,
        )
        for b in range(BANDS)
    ]


def _refingerprint(make: Callable[[str], bytes | None]) -> None:
    """Recompute every stored fingerprint from its text; fill doc_bands anew for the live ones."""
    bind = op.get_bind()
    bind.execute(doc_bands.delete())
    last = 0
    while True:
        rows: Sequence[Any] = bind.execute(
            sa.select(documents.c.id, documents.c.body_zlib, documents.c.deleted_at)
            .where(documents.c.id > last, documents.c.fingerprint.is_not(None))
            .order_by(documents.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        last = rows[-1][0]
        signatures = {doc_id: make(zlib.decompress(body).decode("utf-8")) for doc_id, body, _ in rows}
        bind.execute(
            documents.update()
            .where(documents.c.id == sa.bindparam("doc_id"))
            .values(fingerprint=sa.bindparam("value")),
            [{"doc_id": doc_id, "value": signature} for doc_id, signature in signatures.items()],
        )
        bands = [
            {"band": band, "key": key, "document_id": doc_id}
            for doc_id, _, deleted_at in rows
            if deleted_at is None and (signature := signatures[doc_id])
            for band, key in enumerate(_band_keys(signature))
        ]
        if bands:
            bind.execute(doc_bands.insert(), bands)


def upgrade() -> None:
    _refingerprint(_new)


def downgrade() -> None:
    _refingerprint(_old)
