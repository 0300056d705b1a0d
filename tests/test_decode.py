"""Decoding: BOMs, strict UTF-8, Western fallbacks, UTF-16 without BOM, mojibake, binary."""

from __future__ import annotations

import codecs

import pytest

from indexer.errors import InputError
from indexer.ingest.decode import decode, windows_1252

FRENCH = "Le Conseil d'État a validé jeudi la réforme des retraites, « une étape décisive », selon l'Élysée."
CHINESE = "国家统计局今天公布，一季度国内生产总值同比增长百分之五。\n专家认为，消费回暖是主要原因。"
RUSSIAN = "Правительство утвердило новый бюджет на следующий год.\nРасходы на образование вырастут."


@pytest.mark.parametrize(
    ("bom", "codec", "name"),
    [
        (codecs.BOM_UTF8, "utf-8", "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be", "utf-16-be"),
        (codecs.BOM_UTF32_LE, "utf-32-le", "utf-32-le"),
        (codecs.BOM_UTF32_BE, "utf-32-be", "utf-32-be"),
    ],
)
def test_byte_order_marks(bom: bytes, codec: str, name: str) -> None:
    decoded = decode(bom + FRENCH.encode(codec))
    assert decoded.text == FRENCH
    assert decoded.encoding == name
    assert not decoded.repaired


def test_ascii_and_strict_utf8() -> None:
    assert decode(b"Plain news text.\n").encoding == "ascii"
    decoded = decode(FRENCH.encode("utf-8"))
    assert (decoded.text, decoded.encoding, decoded.repaired) == (FRENCH, "utf-8", False)


def test_short_cp1252_text_reads_as_western() -> None:
    # Short Windows text: typographic quotes, a dash, an euro sign, accented letters.
    data = "Café „Zürich“ – 5 € für’s Frühstück".encode("cp1252")
    decoded = decode(data)
    assert decoded.text == "Café „Zürich“ – 5 € für’s Frühstück"
    assert decoded.encoding == "cp1252"


def test_single_latin1_pound_sign() -> None:
    # As in the BBC corpus: one 0xA3 byte in an otherwise ASCII article.
    data = b"The club paid \xa32.5m for the striker, its chairman said.\n"
    assert decode(data).text == "The club paid £2.5m for the striker, its chairman said.\n"


def test_bytes_cp1252_leaves_undefined_still_decode() -> None:
    # 0x81 is undefined in cp1252; browsers read it as U+0081, and so do we.
    assert decode(b"caf\xe9 \x81 ok").text == "café \x81 ok"


def test_stray_cp1252_bytes_inside_utf8() -> None:
    data = "naïve — “quoted” ".encode() + b"caf\xe9"
    decoded = decode(data)
    assert decoded.text == "naïve — “quoted” café"
    assert decoded.encoding == "utf-8+cp1252"


def test_cyrillic_legacy_code_page_goes_to_charset_normalizer() -> None:
    decoded = decode(RUSSIAN.encode("cp1251"))
    assert decoded.text == RUSSIAN
    assert decoded.encoding == "cp1251"


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("text", [FRENCH + "\n", CHINESE, RUSSIAN])
def test_utf16_without_bom(codec: str, text: str) -> None:
    decoded = decode(text.encode(codec))
    assert decoded.text == text
    assert decoded.encoding == codec


def test_mojibake_repaired() -> None:
    decoded = decode("FranÃ§ais et cafÃ©".encode())
    assert decoded.text == "Français et café"
    assert decoded.repaired


@pytest.mark.parametrize(
    "text",
    [
        FRENCH,
        CHINESE,
        RUSSIAN,
        # The Arabic comma (D8 8C) is a piece ftfy alone leaves as "ØŒ".
        "قالت الوزارة، في بيان اليوم، إن الأسعار ستبقى مستقرة.",
    ],
)
def test_whole_text_mojibake_repaired(text: str) -> None:
    mojibake = windows_1252(text.encode("utf-8")).encode("utf-8")
    decoded = decode(mojibake)
    assert decoded.text == text
    assert decoded.repaired


def test_clean_text_is_not_repaired() -> None:
    assert not decode("Él dijo: «sí», y añadió 50 €.".encode()).repaired


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"text\x00with\x00nuls\x00\x01\x02\xff\xfe\xfd binary", "binary content (NUL bytes)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary content (PNG image)"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3", "binary content (PDF document)"),
        (b"\x7fELF\x02\x01\x01\x00", "binary content (executable)"),
        (bytes([1, 2, 3, 4, 5, 6, 7, 8]) * 20 + b"some text", "binary content (control bytes)"),
    ],
)
def test_binary_content_is_an_input_error(data: bytes, reason: str) -> None:
    with pytest.raises(InputError) as caught:
        decode(data, "inbox/file.txt")
    assert caught.value.stage == "decode"
    assert caught.value.reason == reason
    assert caught.value.path == "inbox/file.txt"


def test_invalid_bytes_after_a_bom() -> None:
    with pytest.raises(InputError) as caught:
        decode(codecs.BOM_UTF8 + b"\xff\xfe\xfa broken")
    assert caught.value.stage == "decode"
    assert "after its BOM" in caught.value.reason
