"""Opening an index for reading through mmap without Whoosh copying it into memory first;
counting an index's segments.

Whoosh 2.7 maps a compound segment file, then wraps each of its sub-files in a BufferFile
whose ``__init__`` copies the sub-file into a BytesIO: opening BBC x10 copies 100 MB and
takes 150 ms, on every open. ``open_index`` swaps in a BufferFile that reads the mapped
bytes in place (the same bytes, no copy). Without mmap (``supports_mmap=False``) nothing
is copied either, but every term lookup then costs two system calls (18 µs against 6).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from whoosh.filedb import compound
from whoosh.filedb.filestore import FileStorage
from whoosh.filedb.structfile import BufferFile
from whoosh.index import Index

__all__ = ["open_index", "segment_count"]


class _ViewReader:
    """The file interface StructFile uses (read, readline, seek, tell), over a memoryview."""

    def __init__(self, view: memoryview) -> None:
        self._view = view
        self._pos = 0

    def read(self, size: int | None = -1) -> bytes:
        end = len(self._view) if size is None or size < 0 else min(len(self._view), self._pos + size)
        data = bytes(self._view[self._pos : end])
        self._pos = max(self._pos, end)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:
        line = bytearray()
        while size is None or size < 0 or len(line) < size:
            byte = self.read(1)
            if not byte:
                break
            line += byte
            if byte == b"\n":
                break
        return bytes(line)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: len(self._view)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        pass


class _MappedFile(BufferFile):  # type: ignore[misc]
    def __init__(self, buf: Any, name: str | None = None, onclose: Any = None) -> None:
        self._buf = buf
        self._name = name
        self.file = _ViewReader(memoryview(buf))
        self.onclose = onclose
        self.is_real = False
        self.is_closed = False


def open_index(directory: Path) -> Index:
    """The index in ``directory``, read-only."""
    compound.BufferFile = _MappedFile  # CompoundStorage.open_file builds its sub-files with it
    return FileStorage(str(directory), readonly=True).open_index()


def segment_count(ix: Index) -> int:
    """The segments of ``ix``'s latest generation (Whoosh has no public call for it)."""
    return len(ix._segments())
