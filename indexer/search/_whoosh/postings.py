"""Postings read a block at a time, and each document's field length byte at once.

Whoosh's matchers hand out a posting per Python call (``id()``, ``weight()``, ``next()``);
its W3 leaf matcher decodes a whole block of ids and weights into arrays first. Reading
those arrays directly costs one call per block, not per posting. Any other matcher (inlined
postings, deletions filtered out) is read through its public calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from whoosh.codec.whoosh3 import LENGTHS_COLUMN, W3LeafMatcher

__all__ = ["length_bytes", "postings_ids", "postings_weights", "term_docs"]


def postings_ids(m: Any) -> Iterator[int]:
    """The document numbers of a fresh postings matcher, a block at a time where possible."""
    if type(m) is not W3LeafMatcher:  # inlined postings, or deletions filtered out
        yield from m.all_ids()
        return
    while m.is_active():
        m._read_ids()  # Whoosh's own block decoding, without a Python call per posting
        yield from m._ids[m._i :]
        m._next_block()


def postings_weights(m: Any) -> Iterator[tuple[int, float]]:
    """(docnum, weight) of a fresh postings matcher, a block at a time where possible."""
    if type(m) is not W3LeafMatcher:
        while m.is_active():
            yield m.id(), m.weight()
            m.next()
        return
    while m.is_active():
        m._read_ids()
        m._read_weights()
        yield from zip(m._ids[m._i :], m._weights[m._i :], strict=False)
        m._next_block()


def length_bytes(leaf: Any, fieldname: str) -> bytes | None:
    """Each document's length byte in ``fieldname`` (Whoosh keeps one byte per document),
    read from the segment's length column at once; None if it cannot be."""
    try:
        column = leaf._perdoc._cached_reader(f"_{fieldname}_len", LENGTHS_COLUMN)
        raw = column._dbfile.get(column._basepos, column._count) if column is not None else b""
    except AttributeError:  # another codec: let Whoosh score it
        return None
    return bytes(raw) + bytes(leaf.doc_count_all() - len(raw))


def term_docs(reader: Any, fieldname: str, text: Any) -> set[int]:
    """The document numbers holding the term, over every segment of ``reader``."""
    docs: set[int] = set()
    for leaf, offset in reader.leaf_readers():
        if (fieldname, text) in leaf:
            ids = postings_ids(leaf.postings(fieldname, text))
            docs.update(ids if offset == 0 else (offset + d for d in ids))
    return docs
