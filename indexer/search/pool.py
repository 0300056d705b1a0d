"""The name under which index segments record their codec: ``indexer.search.pool.CompactCodec``.

Whoosh pickles each segment's codec, by module and class name, into the index's table of
contents. The codec is defined in ``_whoosh/writer.py``; it is found under this name, so
every index written with it opens, and new segments record the same name.
"""

from __future__ import annotations

from indexer.search._whoosh.writer import CompactCodec

__all__ = ["CompactCodec"]
