"""Bytes to text: BOMs, strict UTF-8, Western single-byte fallbacks, mojibake repair."""

from __future__ import annotations

import codecs

from indexer.errors import InputError
from indexer.ingest.types import Decoded

__all__ = ["decode"]

_BOMS = (  # UTF-32 first: its little-endian BOM begins with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

_MAGIC = (
    (b"\x89PNG", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF8", "GIF image"),
    (b"%PDF", "PDF document"),
    (b"PK\x03\x04", "ZIP archive"),
    (b"\x1f\x8b", "gzip archive"),
    (b"\x7fELF", "executable"),
)

# Control characters other than tab/newline/CR/form feed: a few are noise in real text,
# many mean the bytes are not text at all.
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 12, 13)) + b"\x7f"
_MAX_CONTROL_RATIO = 0.01


def _binary_reason(data: bytes) -> str | None:
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return f"binary content ({kind})"
    if b"\x00" in data:
        return "binary content (NUL bytes)"
    sample = data[:65536]
    controls = sum(sample.count(bytes([b])) for b in _CONTROL)
    if controls > max(2, len(sample) * _MAX_CONTROL_RATIO):
        return "binary content (control bytes)"
    return None


def _utf16_without_bom(data: bytes) -> str | None:
    # UTF-16 text of Latin-script languages has a NUL in every other byte.
    sample = data[:4096]
    if len(sample) < 4 or len(sample) % 2:
        return None
    even_nuls = sample[0::2].count(0) / (len(sample) / 2)
    odd_nuls = sample[1::2].count(0) / (len(sample) / 2)
    if odd_nuls > 0.3 and even_nuls < 0.05:
        return "utf-16-le"
    if even_nuls > 0.3 and odd_nuls < 0.05:
        return "utf-16-be"
    return None


def _repair(text: str) -> tuple[str, bool]:
    """Undo mojibake ("FranÃ§ais" -> "Français") with ftfy, touching nothing else."""
    if text.isascii():
        return text, False
    import ftfy

    fixed = ftfy.fix_encoding(text)
    return fixed, fixed != text


def decode(data: bytes, path: str = "") -> Decoded:
    """Decode ``data`` or raise InputError(stage="decode") naming why it is not text."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                text = data[len(bom) :].decode(encoding.replace("-sig", ""))
            except UnicodeDecodeError as e:
                raise InputError(path, "decode", f"invalid {encoding} after its BOM") from e
            text, repaired = _repair(text)
            return Decoded(text, encoding, repaired)
    if (utf16 := _utf16_without_bom(data)) is not None:
        try:
            return Decoded(data.decode(utf16), utf16)
        except UnicodeDecodeError:
            pass
    if (reason := _binary_reason(data)) is not None:
        raise InputError(path, "decode", reason)
    try:
        text = data.decode("utf-8")
        encoding = "utf-8" if not data.isascii() else "ascii"
    except UnicodeDecodeError:
        text, encoding = _decode_legacy(data, path)
    text, repaired = _repair(text)
    return Decoded(text, encoding, repaired)


def _decode_legacy(data: bytes, path: str) -> tuple[str, str]:
    # cp1252 first: Western text from Windows and the web; it is latin-1 plus typographic
    # quotes and dashes in 0x80-0x9F, where latin-1 has only invisible controls.
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is not None and best.encoding:
        return str(best), best.encoding
    raise InputError(path, "decode", "bytes match no known text encoding")
