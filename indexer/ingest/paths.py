"""A file path as the database stores it, and back: lossless for names that are not UTF-8.

Python hands a name that is not valid UTF-8 (an archive from a Windows or ISO-8859
share: ``b"caf\\xe9.txt"``) as a str with lone surrogates, which SQLite, PostgreSQL and
Whoosh cannot hold. The database form writes each such byte as ``\\x..`` (lower-case
hex, 80-ff) and a literal backslash that would read as one of those escapes as
``\\x5c``; every other path, which is every UTF-8 path in practice, is stored unchanged.
The escaped form is also the one shown (status, failures, search hits) and searched.
"""

from __future__ import annotations

import os
import re

__all__ = ["db_path", "fs_path", "printable", "typed_path"]

_AMBIGUOUS = re.compile(r"\\(?=x(?:5c|[89a-f][0-9a-f]))")
_SURROGATE = re.compile("[\udc80-\udcff]")
_ESCAPE = re.compile(r"\\x(5c|[89a-f][0-9a-f])")
# C0 and C1 controls (and DEL): a newline or an escape sequence in a name would break a
# line of text output or drive the terminal.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# The escapes of both forms, as a user types them back from the output.
_TYPED = re.compile(r"\\(x[0-9a-f]{2}|[nrt])")
_UNNAMED = {"n": "\n", "r": "\r", "t": "\t"}


def db_path(path: str) -> str:
    """The database (and display) form of a path as the file system API gave it."""
    if "\\" not in path and not _SURROGATE.search(path):
        return path  # the common case, and it must stay cheap: runs for every file a scan sees
    path = _AMBIGUOUS.sub(r"\\x5c", path)
    return _SURROGATE.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", path)


def fs_path(path: str) -> str:
    """The path to open for a database path (the inverse of ``db_path``)."""
    if "\\" not in path:
        return path
    return _ESCAPE.sub(lambda m: "\\" if m.group(1) == "5c" else chr(0xDC00 + int(m.group(1), 16)), path)


def printable(text: str) -> str:
    """``text`` with control characters escaped (``\\n``, ``\\x1b``), for one line of text output."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda m: _NAMED.get(m.group(), f"\\x{ord(m.group()):02x}"), text)


def typed_path(text: str) -> str:
    """A path typed on a command line as indexer shows it (``caf\\xe9.txt``, ``a\\nb``),
    as the file system names it; unchanged when it names an existing file as it is."""
    if "\\" not in text or os.path.lexists(text):
        return text

    def byte(m: re.Match[str]) -> str:
        code = m.group(1)
        if code in _UNNAMED:
            return _UNNAMED[code]
        n = int(code[1:], 16)
        return "\\" if n == 0x5C else chr(0xDC00 + n) if n >= 0x80 else chr(n)

    return _TYPED.sub(byte, text)
