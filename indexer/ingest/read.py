"""Read a file's bytes safely: bounded size, never blocking, never half-written."""

from __future__ import annotations

import errno
import hashlib
import os
import stat

from indexer.errors import InputError
from indexer.ingest.discover import SYMLINK_OFF
from indexer.ingest.types import RawFile

__all__ = ["read_file"]


def read_file(path: str, max_bytes: int, follow_symlinks: bool = False) -> RawFile:
    """Return the file's bytes and hash, or raise InputError(stage="read").

    Opened with O_NONBLOCK so a FIFO named ``x.txt`` cannot hang us, and re-checked with
    fstat after reading so a file that changed under us is retried, not stored half.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise InputError(path, "read", "file vanished before it could be read", transient=True) from None
    except PermissionError:
        raise InputError(path, "read", "permission denied", transient=True) from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise InputError(path, "read", SYMLINK_OFF) from e
        raise InputError(path, "read", e.strerror or str(e), transient=True) from e
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode):
            raise InputError(path, "read", "not a regular file")
        if before.st_size > max_bytes:
            raise InputError(
                path, "read", f"too large: {before.st_size / 1e6:.1f} MB > limit {max_bytes / 1e6:.1f} MB"
            )
        chunks = []
        total = 0
        while chunk := os.read(fd, 1 << 20):
            total += len(chunk)
            if total > max_bytes:
                raise InputError(path, "read", f"too large: grew past the {max_bytes / 1e6:.1f} MB limit")
            chunks.append(chunk)
        after = os.fstat(fd)
    except OSError as e:
        raise InputError(path, "read", e.strerror or str(e), transient=True) from e
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if after.st_size != len(data) or after.st_mtime_ns != before.st_mtime_ns:
        raise InputError(path, "read", "file changed while being read", transient=True)
    return RawFile(path, data, len(data), after.st_mtime_ns, hashlib.sha256(data).hexdigest())
