"""Bytes to text: BOMs, strict UTF-8, Western single-byte fallbacks, mojibake repair."""

from __future__ import annotations

import codecs
import re
import unicodedata

from indexer.errors import InputError
from indexer.ingest.types import Decoded

__all__ = ["decode", "windows_1252"]

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

# Windows-1252 as browsers read it (WHATWG): the five bytes cp1252 leaves undefined map to
# the latin-1 control characters, so every byte sequence decodes and nothing is lost.
_WINDOWS_1252 = {b: (bytes([b]).decode("cp1252", errors="ignore") or chr(b)) for b in range(0x80, 0x100)}
_WINDOWS_1252_TABLE = str.maketrans({chr(b): ch for b, ch in _WINDOWS_1252.items()})
_WINDOWS_1252_INVERSE = str.maketrans({ch: chr(b) for b, ch in _WINDOWS_1252.items()})

# In Western text bytes >= 0x80 are the odd accented letter or typographic quote among
# ASCII words (a third of a short German line at most). When they are half the letters,
# the text is in another script (Cyrillic, Greek, CJK in a legacy code page) and cp1252
# would turn it into garbage.
_MAX_WESTERN_HIGH_SHARE = 0.5
# Symbols cp1252 gives for bytes that are letters in cp1250/cp1257 ("¹", "³", "¿", ...):
# seen between two letters, they mean the text is not cp1252.
_ODD_IN_WORD = frozenset("¡¢¤¥¦¨ª¬¯°±²³´µ¶·¸¹º¼½¾¿×÷")


def windows_1252(data: bytes) -> str:
    """Decode as browsers do windows-1252: never fails, undefined bytes become C1 controls."""
    return data.decode("latin-1").translate(_WINDOWS_1252_TABLE)


_STRAY = re.compile("[\udc80-\udcff]")


def _mixed_utf8(data: bytes) -> str | None:
    """Stray Windows-1252 bytes inside valid UTF-8 (files pasted together from several
    sources): keep every good UTF-8 sequence, read each bad byte alone as cp1252.

    Real cp1252 text almost never forms valid multi-byte UTF-8 sequences, so the UTF-8
    reading is taken only when its good non-ASCII characters outnumber the bad bytes.
    """
    text = data.decode("utf-8", errors="surrogateescape")
    stray = len(_STRAY.findall(text))
    good = sum(1 for ch in text if ch > "\x7f") - stray
    if good < max(1, stray):
        return None
    return _STRAY.sub(lambda m: windows_1252(bytes([ord(m.group()) - 0xDC00])), text)


def _magic(data: bytes) -> str | None:
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return f"binary content ({kind})"
    return None


def _binary_reason(data: bytes) -> str | None:
    if b"\x00" in data:
        return "binary content (NUL bytes)"
    sample = data[:65536]
    controls = sum(sample.count(bytes([b])) for b in _CONTROL)
    if controls > max(2, len(sample) * _MAX_CONTROL_RATIO):
        return "binary content (control bytes)"
    return None


def _looks_like_text(text: str) -> bool:
    sample = text[:8192]
    if not sample:
        return False
    bad = sum(
        1 for ch in sample if ch not in "\t\n\r\f" and unicodedata.category(ch) in ("Cc", "Cn", "Co", "Cs")
    )
    return bad <= len(sample) * _MAX_CONTROL_RATIO


def _utf16_without_bom(data: bytes) -> tuple[str, str] | None:
    """UTF-16 saved without a BOM: spaces, newlines and digits carry a NUL byte each.

    Only called when the bytes hold NULs, which neither UTF-8 nor single-byte text does;
    otherwise ASCII pairs would read as plausible CJK ideographs. Of the two byte orders
    the right one is the reading with more ASCII: the wrong one turns a space into U+2000
    and a newline into U+0A00, and Chinese (where "一" is 00 4E) puts NULs on both sides.
    """
    if len(data) < 4 or len(data) % 2:
        return None
    sample = data[:8192]
    best: tuple[int, str] | None = None
    for encoding in ("utf-16-le", "utf-16-be"):
        try:
            text = sample.decode(encoding)
        except UnicodeDecodeError:
            continue  # a surrogate cut at the sample's end or not UTF-16: the full decode decides
        ascii_chars = sum(1 for ch in text if " " <= ch < "\x7f" or ch in "\n\r\t")
        if best is None or ascii_chars > best[0]:
            best = (ascii_chars, encoding)
    if best is None or best[0] == 0:
        return None
    try:
        text = data.decode(best[1])
    except UnicodeDecodeError:
        return None
    return (text, best[1]) if _looks_like_text(text) else None


_ASCII = bytes(range(0x80))
_ASCII_LETTERS = bytes(range(65, 91)) + bytes(range(97, 123))


def _plausible_cp1252(data: bytes) -> bool:
    sample = data[:65536]
    high = len(sample.translate(None, _ASCII))
    letters = len(sample) - len(sample.translate(None, _ASCII_LETTERS))
    if high > (high + letters) * _MAX_WESTERN_HIGH_SHARE:
        return False
    text = windows_1252(sample)
    odd = sum(
        1
        for i in range(1, len(text) - 1)
        if text[i] in _ODD_IN_WORD and text[i - 1].isalpha() and text[i + 1].isalpha()
    )
    return odd <= max(1, high // 50)


def _undo_windows_1252(text: str) -> str | None:
    """The whole text as UTF-8 bytes once read as Windows-1252, or None if it is not that.

    ftfy repairs mojibake piece by piece and leaves some pieces (Arabic "ØŒ", a comma);
    when every character maps back to a byte and the bytes are valid UTF-8 throughout,
    the whole text was mojibake: a real Western text almost never re-encodes that way.
    """
    try:
        data = text.translate(_WINDOWS_1252_INVERSE).encode("latin-1")
        fixed = data.decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return None
    return fixed if fixed != text else None


def _repair(text: str) -> tuple[str, bool]:
    """Undo mojibake ("FranÃ§ais" -> "Français") with ftfy, touching nothing else."""
    if text.isascii():
        return text, False
    import ftfy

    fixed = ftfy.fix_encoding(_undo_windows_1252(text) or text)
    return fixed, fixed != text


def decode(data: bytes, path: str = "") -> Decoded:
    """Decode ``data`` or raise InputError(stage="decode") naming why it is not text."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                text = data[len(bom) :].decode(encoding.replace("-sig", ""))
            except UnicodeDecodeError as e:
                raise InputError(path, "decode", f"invalid {encoding} after its BOM") from e
            return _decoded(text, encoding)
    if (reason := _magic(data)) is not None:
        raise InputError(path, "decode", reason)
    if b"\x00" in data and (utf16 := _utf16_without_bom(data)) is not None:
        return _decoded(*utf16)
    if (reason := _binary_reason(data)) is not None:
        raise InputError(path, "decode", reason)
    if data.isascii():
        return Decoded(data.decode("ascii"), "ascii")
    try:
        return _decoded(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    if (mixed := _mixed_utf8(data)) is not None:
        return _decoded(mixed, "utf-8+cp1252")
    return _decoded(*_decode_legacy(data, path))


def _decoded(text: str, encoding: str) -> Decoded:
    text, repaired = _repair(text)
    return Decoded(text, encoding, repaired)


def _decode_legacy(data: bytes, path: str) -> tuple[str, str]:
    # cp1252 first: Western text from Windows and the web; it is latin-1 plus typographic
    # quotes and dashes in 0x80-0x9F, where latin-1 has only invisible controls.
    # charset-normalizer only when cp1252 is implausible: it misreads short cp1252 text.
    if _plausible_cp1252(data):
        return windows_1252(data), "cp1252"
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is not None and best.encoding:
        return str(best), best.encoding
    raise InputError(path, "decode", "binary content (no text encoding fits)")
