"""Postings read a block at a time, and each document's field length byte at once.

Whoosh's matchers hand out a posting per Python call (``id()``, ``weight()``, ``next()``);
its W3 leaf matcher decodes a whole block of ids and weights into arrays first. Reading
those arrays directly costs one call per block, not per posting. A segment with deleted
documents wraps its leaf matchers in a ``FilterMatcher``, which would cost a call per
posting again: its leaf is read by blocks and the deleted documents dropped from each.
Any other matcher (inlined postings) is read through its public calls.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from typing import Any

from whoosh.codec.whoosh3 import LENGTHS_COLUMN, W3LeafMatcher
from whoosh.matching.wrappers import FilterMatcher

__all__ = [
    "length_bytes",
    "postings_ids",
    "postings_of",
    "postings_weights",
    "postings_weights_among",
    "term_docs",
]


def postings_ids(m: Any, deleted: frozenset[int] | None = None) -> Iterator[int]:
    """The document numbers of a fresh postings matcher, a block at a time where possible;
    ``deleted``: the segment's deleted documents, when ``m`` filters them out."""
    leaf = _unwrap(m, deleted)
    if leaf is None:  # inlined postings
        yield from m.all_ids()
        return
    while leaf.is_active():
        leaf._read_ids()  # Whoosh's own block decoding, without a Python call per posting
        ids = leaf._ids[leaf._i :]
        yield from (d for d in ids if d not in deleted) if deleted else ids
        leaf._next_block()


def postings_weights(m: Any, deleted: frozenset[int] | None = None) -> Iterator[tuple[int, float]]:
    """(docnum, weight) of a fresh postings matcher, a block at a time where possible."""
    leaf = _unwrap(m, deleted)
    if leaf is None:
        while m.is_active():
            yield m.id(), m.weight()
            m.next()
        return
    while leaf.is_active():
        leaf._read_ids()
        leaf._read_weights()
        pairs = zip(leaf._ids[leaf._i :], leaf._weights[leaf._i :], strict=False)
        yield from (p for p in pairs if p[0] not in deleted) if deleted else pairs
        leaf._next_block()


def postings_weights_among(
    m: Any, deleted: frozenset[int] | None, wanted: list[int]
) -> Iterator[tuple[int, float]]:
    """(docnum, weight) of a fresh postings matcher for the documents of ``wanted`` (sorted)
    only: a block none of them falls in is passed over unread (its header only)."""
    leaf = _unwrap(m, deleted)
    if leaf is None:
        for d in wanted:
            if not m.is_active():
                return
            if m.id() < d:
                m.skip_to(d)
                if not m.is_active():
                    return
            if m.id() == d:
                yield d, m.weight()
        return
    i, n = 0, len(wanted)
    while i < n and leaf.is_active():
        last = leaf.block_max_id()
        if wanted[i] > last:
            leaf._next_block()
            continue
        j = bisect_right(wanted, last, i)
        leaf._read_ids()
        leaf._read_weights()
        block = dict(zip(leaf._ids, leaf._weights, strict=False))
        for d in wanted[i:j]:
            w = block.get(d)
            if w is not None and not (deleted and d in deleted):
                yield d, w
        i = j
        leaf._next_block()


def _unwrap(m: Any, deleted: frozenset[int] | None) -> Any:
    """The W3 leaf matcher to read by blocks: ``m`` itself, or the leaf a FilterMatcher
    wraps when ``deleted`` (the segment's deletions, what the wrapper excludes) is given;
    None when ``m`` must be read through its public calls."""
    if type(m) is W3LeafMatcher:
        return m
    if deleted is not None and type(m) is FilterMatcher and type(m.child) is W3LeafMatcher:
        # The wrapper has moved its leaf past any deleted documents at the start already.
        return m.child
    return None


def length_bytes(leaf: Any, fieldname: str) -> bytes | None:
    """Each document's length byte in ``fieldname`` (Whoosh keeps one byte per document),
    read from the segment's length column at once; None if it cannot be."""
    try:
        column = leaf._perdoc._cached_reader(f"_{fieldname}_len", LENGTHS_COLUMN)
        raw = column._dbfile.get(column._basepos, column._count) if column is not None else b""
    except AttributeError:  # another codec: let Whoosh score it
        return None
    return bytes(raw) + bytes(leaf.doc_count_all() - len(raw))


def postings_of(leaf: Any, fieldname: str, text: Any) -> tuple[Any, frozenset[int] | None]:
    """A segment's postings matcher for the term, and the deleted documents it excludes
    (None when the segment has none), for ``postings_ids`` and ``postings_weights``."""
    return leaf.postings(fieldname, text), (leaf.deleted_docs_set if leaf.has_deletions() else None)


def term_docs(reader: Any, fieldname: str, text: Any, lo: int = 0, hi: int | None = None) -> set[int]:
    """The document numbers holding the term, over every segment of ``reader``; from
    ``lo`` to below ``hi`` only when given (blocks outside are passed over unread)."""
    docs: set[int] = set()
    for leaf, offset in reader.leaf_readers():
        end = offset + leaf.doc_count_all()
        if end <= lo or (hi is not None and offset >= hi) or (fieldname, text) not in leaf:
            continue
        if lo <= offset and (hi is None or end <= hi):
            ids = postings_ids(*postings_of(leaf, fieldname, text))
        else:
            ids = _ids_between(*postings_of(leaf, fieldname, text), lo - offset, (hi or end) - offset)
        docs.update(ids if offset == 0 else (offset + d for d in ids))
    return docs


def term_docs_among(reader: Any, fieldname: str, text: Any, among: set[int]) -> set[int]:
    """``term_docs(...) & among``, reading only the blocks of postings where one of
    ``among`` would be (the others' headers only)."""
    docs: set[int] = set()
    wanted = sorted(among)
    for leaf, offset in reader.leaf_readers():
        end = offset + leaf.doc_count_all()
        local = [d - offset for d in wanted[bisect_left(wanted, offset) : bisect_left(wanted, end)]]
        if local and (fieldname, text) in leaf:
            found = postings_weights_among(*postings_of(leaf, fieldname, text), local)
            docs.update(offset + d for d, _w in found)
    return docs


def _ids_between(m: Any, deleted: frozenset[int] | None, lo: int, hi: int) -> Iterator[int]:
    leaf = _unwrap(m, deleted)
    if leaf is None:
        yield from (d for d in m.all_ids() if lo <= d < hi)
        return
    while leaf.is_active():
        last = leaf.block_max_id()
        if last >= lo:
            leaf._read_ids()
            yield from (d for d in leaf._ids[leaf._i :] if lo <= d < hi and not (deleted and d in deleted))
            if last >= hi - 1:
                return
        leaf._next_block()
