"""Normalization: one canonical form, hyphenation joined, hard wraps undone, structure kept."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from indexer.ingest.normalize import normalize
from tools.quality import body_of

FIXTURES = Path(__file__).parent / "fixtures" / "text"


def test_nfc() -> None:
    assert normalize("Cafe\u0301 cre\u0300me") == "Café crème"


def test_line_endings() -> None:
    assert normalize("one\r\ntwo\rthree\u2028four") == "one\ntwo\nthree\nfour"


def test_paragraph_separators_become_blank_lines() -> None:
    assert normalize("first\u2029second\x0cthird") == "first\n\nsecond\n\nthird"


def test_controls_and_zero_width_removed() -> None:
    assert normalize("Pre\u200bsident\x07 said\ufeff it\u2060 was \x1bfine") == "President said it was fine"


def test_joiners_inside_words_kept_stray_ones_removed() -> None:
    persian = "می\u200cخواهم"  # ZWNJ is spelling in Persian
    assert normalize(f"{persian} \u200c\u200d") == persian


def test_spaces() -> None:
    assert normalize("  Prices\u00a0rose\t\t 3%\u202fyesterday  ") == "Prices rose 3% yesterday"
    # Each kind alone (the substitution is skipped for texts with none at all).
    assert normalize("Prices\u00a0rose") == normalize("Prices\trose") == "Prices rose"
    assert normalize("Prices  rose") == normalize("Prices\u3000rose") == "Prices rose"


def test_blank_lines_collapsed_and_trimmed() -> None:
    assert normalize("\n\n\nTitle\n\n\n\n\nBody line.\n   \n\n") == "Title\n\nBody line."


@pytest.mark.parametrize("hyphen", ["-", "\u2010", "\u00ad"])
def test_word_broken_across_lines_joined(hyphen: str) -> None:
    text = f"The inter{hyphen}\nnational consortium met again on Monday."
    assert normalize(text) == "The international consortium met again on Monday."


def test_soft_hyphens_elsewhere_removed() -> None:
    assert normalize("Bundes\u00adverfassungs\u00adgericht") == "Bundesverfassungsgericht"


def test_compound_kept_when_the_document_writes_it() -> None:
    text = "A well-known figure spoke first. Then came a well-\nknown rival of his."
    assert normalize(text) == "A well-known figure spoke first. Then came a well-known rival of his."


def test_dash_at_line_end_is_not_a_broken_word() -> None:
    # "decline -" is a dash, and the next line starts a list item of the author's.
    assert (
        normalize("Exports are in decline -\n- says the report")
        == "Exports are in decline -\n- says the report"
    )


def test_hard_wrapped_article_unwrapped() -> None:
    got = normalize((FIXTURES / "wrapped_en.txt").read_text(encoding="utf-8"))
    assert got == (FIXTURES / "wrapped_en.expected.txt").read_text(encoding="utf-8").strip()


def test_headline_above_wrapped_text_stays_apart() -> None:
    got = normalize((FIXTURES / "wrapped_en.txt").read_text(encoding="utf-8"))
    assert got.split("\n")[0] == "Council approves new cycle lanes for city centre"


def test_bbc_layout_unchanged() -> None:
    # Title, blank line, one line per paragraph: nothing to join.
    text = (FIXTURES / "bbc_style_en.txt").read_text(encoding="utf-8")
    assert normalize(text) == text.strip()


def test_list_of_similar_lines_not_joined() -> None:
    text = (
        "Opening hours from Monday\n"
        "Central library open until nine in the evening\n"
        "Northern branch open until seven in the evening\n"
        "Riverside branch open until eight in the evening\n"
        "Mobile library visits on Tuesday and Thursday\n"
    )
    assert normalize(text) == text.strip()


def test_one_paragraph_per_line_not_joined() -> None:
    lines = [
        "The finance minister presented the budget to parliament on Wednesday afternoon and defended it.",
        "Opposition parties said the spending plans did not add up and called for an independent review.",
        "Markets were calm, with the currency barely moving against the dollar in late trading.",
    ]
    assert normalize("\n".join(lines)) == "\n".join(lines)


def test_wrapped_chinese_joined_without_space() -> None:
    paragraphs = [
        "国家统计局今天公布一季度数据，国内生产总值同比增长百分之五点三，专家认为消费回暖是主要原因。",
        "工业生产保持稳定增长，制造业采购经理指数连续三个月位于扩张区间。",
    ]
    wrapped = "\n\n".join("\n".join(p[i : i + 20] for i in range(0, len(p), 20)) for p in paragraphs)
    assert normalize(wrapped) == "\n\n".join(paragraphs)


def test_chinese_lines_ending_sentences_stay_apart() -> None:
    lines = [
        "国家统计局今天公布一季度数据。",
        "工业生产保持稳定增长态势良好。",
        "专家认为消费回暖是主要原因之一。",
    ]
    assert normalize("\n".join(lines)) == "\n".join(lines)


def test_textwrap_round_trip_of_own_article() -> None:
    text = (FIXTURES / "bbc_style_en.txt").read_text(encoding="utf-8").strip()
    for width in (60, 72, 80):
        wrapped = "\n\n".join(
            "\n".join(textwrap.wrap(p, width, break_on_hyphens=False)) for p in text.split("\n\n")
        )
        assert normalize(wrapped) == text, width


def test_an_article_pasted_twice_one_line_per_paragraph_is_kept_once() -> None:
    # Each paragraph one line, no blank lines, the whole article again below (a scraper
    # that read the page twice); one line starts in lower case, as wrapped text would.
    text = (FIXTURES / "doubled_de.txt").read_text(encoding="utf-8")
    lines = text.strip().split("\n")
    assert normalize(text) == text.strip()  # complete paragraphs are not unwrapped
    once = "\n".join(lines[:8])
    assert body_of(text.encode("utf-8")) == once


@pytest.mark.parametrize(
    ("text", "joined"),
    [
        # A link on a line of its own in the middle of a sentence.
        (
            "The report was written by\nAmnesty International\nand published on Monday.",
            "The report was written by Amnesty International and published on Monday.",
        ),
        (
            "Experten des Fachverbands gehen auf die zunehmende Verbreitung\nvon freier Software ein.",
            "Experten des Fachverbands gehen auf die zunehmende Verbreitung von freier Software ein.",
        ),
        (
            "Le rapport publié par\nl'observatoire régional\n, qui suit les prix depuis 2010, le confirme.",
            "Le rapport publié par l'observatoire régional, qui suit les prix depuis 2010, le confirme.",
        ),
        (
            "Laporan itu disusun oleh\nBadan Pusat Statistik\ndan diumumkan pada hari Senin.",
            "Laporan itu disusun oleh Badan Pusat Statistik dan diumumkan pada hari Senin.",
        ),
    ],
)
def test_a_sentence_broken_by_a_scraper_is_joined(text: str, joined: str) -> None:
    assert normalize(text) == joined


@pytest.mark.parametrize(
    "text",
    [
        "Council approves new cycle lanes\n\nThe council voted on Tuesday.",  # a headline
        "Ingredients for the cake\n- flour\n- sugar",  # a list
        "Home\n\nnews\n\nsport",  # menu items: too short to run on
        "The vote was close.\nmembers will meet again in May.",  # a sentence ended
        "Lisez la suite dans notre dossier spécial\n\n12 mars 2025",  # a date, not a word
        "The draw secured qualification for\n\nagainst Olympiakos on Wednesday.",  # the author's break
    ],
)
def test_lines_that_are_not_one_sentence_stay_apart(text: str) -> None:
    assert normalize(text) == text
