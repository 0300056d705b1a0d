"""News metadata: title, dateline and source, byline, published date, counts, summary."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from indexer.ingest.metadata import extract, find_date, parse_lead

FIXTURES = Path(__file__).parent / "fixtures" / "text"


def test_headline_first_line() -> None:
    text = (FIXTURES / "bbc_style_en.txt").read_text(encoding="utf-8").strip()
    meta = extract(text)
    assert meta.title == "Regional airline expands winter timetable"
    assert meta.summary.startswith("A regional airline has added eleven routes")
    assert meta.paragraph_count == 4
    assert meta.word_count == len(text.split())  # no standalone punctuation in this text
    assert meta.char_count == len(text)
    assert (meta.source, meta.dateline, meta.byline, meta.published) == (None, None, None, None)


def test_title_from_first_sentence_when_no_headline() -> None:
    text = "Mr. Smith, the mayor, opened the new bridge on Monday. He said it had cost less than planned."
    meta = extract(text)
    assert meta.title == "Mr. Smith, the mayor, opened the new bridge on Monday."
    assert meta.summary == text


def test_title_skips_the_dateline_lead() -> None:
    meta = extract(
        "LONDON (Reuters) - Oil prices rose on Monday as supply worries grew. Traders said more was to come."
    )
    assert meta.title == "Oil prices rose on Monday as supply worries grew."
    assert (meta.dateline, meta.source) == ("London", "Reuters")


def test_long_first_sentence_is_clipped() -> None:
    sentence = "The committee " + "reviewed the evidence again and " * 12 + "agreed."
    assert len(extract(sentence).title) <= 201
    assert extract(sentence).title.endswith("…")


def test_chinese_first_sentence() -> None:
    meta = extract("民航局今天发布了新的规定。新规定将于下月实施。")
    assert meta.title == "民航局今天发布了新的规定。"
    assert meta.word_count == 21  # one per ideograph and punctuation excluded


@pytest.mark.parametrize(
    ("lead", "place", "source"),
    [
        ("TEMPO.CO, Jakarta - Presiden meresmikan jalan tol baru.", "Jakarta", "TEMPO.CO"),
        ("REPUBLIKA.CO.ID, JAKARTA -- Pemerintah resmi menaikkan harga.", "Jakarta", "REPUBLIKA.CO.ID"),
        (
            "Jakarta, CNN Indonesia -- Komisi menyatakan telah mengetahui sketsa wajah.",
            "Jakarta",
            "CNN Indonesia",
        ),
        ("LONDON (Reuters) - Oil prices rose on Monday.", "London", "Reuters"),
        ("NEW YORK, March 3 (Reuters) - Stocks fell.", "New York", "Reuters"),
        ("WASHINGTON — The Senate passed the bill on Tuesday.", "Washington", None),
        ("Berlin (dpa) - Die Bundesregierung hat neue Regeln beschlossen.", "Berlin", "dpa"),
        ("PARIS (AFP) — Le gouvernement a annoncé de nouvelles mesures.", "Paris", "AFP"),
        ("RIO DE JANEIRO (AP) — Heavy rain flooded the city.", "Rio de Janeiro", "AP"),
        ("Merdeka.com - Hari-hari perancang busana muslim itu kini suram.", None, "Merdeka.com"),
    ],
)
def test_leads(lead: str, place: str | None, source: str | None) -> None:
    meta = extract(f"Headline of the story\n\n{lead}")
    assert (meta.dateline, meta.source) == (place, source)


@pytest.mark.parametrize(
    "text",
    [
        "STANDARD: Warum tut sich die Ukraine so schwer?",
        "VÍDEO: Lula e Dilma tinham conhecimento, diz delator.",
        "Obama — the former president — spoke on Monday.",
        "The minister, Jane Doe - who was appointed in May - resigned.",
    ],
)
def test_not_leads(text: str) -> None:
    assert parse_lead(text) is None


def test_place_after_a_teaser_sentence() -> None:
    # Austrian papers: a teaser sentence, then "Wien – ..."
    text = "Gewerkschaften vereinbaren erneut eine Freizeitoption. Wien – Bei den Verhandlungen gab es eine Einigung."
    meta = extract(text)
    assert (meta.dateline, meta.source) == ("Wien", None)
    assert meta.title == "Gewerkschaften vereinbaren erneut eine Freizeitoption."


def test_default_source() -> None:
    assert (
        extract("Headline\n\nBody text here.", default_source="Example Gazette").source == "Example Gazette"
    )
    assert extract("Headline\n\nBerlin (dpa) - Text.", default_source="Example Gazette").source == "dpa"


@pytest.mark.parametrize(
    ("line", "byline"),
    [
        ("By Jane Doe", "Jane Doe"),
        ("By Jane Doe and John Smith, BBC News", "Jane Doe and John Smith"),
        ("BY Maria da Silva", "Maria da Silva"),
        ("Von Max Mustermann, Berlin", "Max Mustermann"),
        ("Par Claire Dubois", "Claire Dubois"),
        ("Por Ana García", "Ana García"),
        ("Oleh Budi Santoso", "Budi Santoso"),
    ],
)
def test_bylines(line: str, byline: str) -> None:
    meta = extract(f"Headline of the story\n{line}\n\nThe first paragraph of the story.")
    assert meta.byline == byline
    assert meta.title == "Headline of the story"
    assert meta.summary == "The first paragraph of the story."


@pytest.mark.parametrize(
    "line", ["Por qué si eres mujer te interesa", "By the end of the year, prices had doubled."]
)
def test_not_bylines(line: str) -> None:
    assert extract(f"Headline\n{line}\n\nBody.").byline is None


@pytest.mark.parametrize(
    ("line", "day"),
    [
        ("Published: 3 March 2025", date(2025, 3, 3)),
        ("March 3, 2025", date(2025, 3, 3)),
        ("2025-03-03", date(2025, 3, 3)),
        ("3. März 2025", date(2025, 3, 3)),
        ("Jakarta, 12 Januari 2025", date(2025, 1, 12)),
        ("Monday, 3 March 2025, 14:32 GMT", date(2025, 3, 3)),
        ("Publicado el 3 de marzo de 2025", date(2025, 3, 3)),
        ("Publié le 1er mars 2025 à 14h32", date(2025, 3, 1)),
        ("Veröffentlicht am 03.03.2025", date(2025, 3, 3)),
    ],
)
def test_published_date_lines(line: str, day: date) -> None:
    meta = extract(f"Headline of the story\n\n{line}\n\nThe first paragraph of the story.")
    assert meta.published == day
    assert meta.summary == "The first paragraph of the story."


def test_date_in_the_story_is_not_the_publication_date() -> None:
    text = "Election date set\n\nVoters will go to the polls on March 3, 2025, the commission said."
    assert extract(text).published is None
    assert extract("Il 27 novembre 2020 la redazione ha ricevuto una segnalazione. Altro.").published is None


def test_headline_with_a_date_stays_the_title() -> None:
    meta = extract("Election set for March 3, 2025\n\nVoters will go to the polls.")
    assert meta.title == "Election set for March 3, 2025"
    assert meta.published is None


def test_date_opening_the_text() -> None:
    meta = extract("Sexta-feira, 9 de junho de 2017. Boa noite! Aqui estão as principais notícias.")
    assert meta.published == date(2017, 6, 9)


def test_date_from_removed_furniture() -> None:
    meta = extract("Headline\n\nBody.", furniture=["Share this article", "Published on 14 November 2024"])
    assert meta.published == date(2024, 11, 14)


def test_dateline_date() -> None:
    assert extract("Headline\n\nJakarta, 12 Januari 2025 - Pemerintah mengumumkan.").published == date(
        2025, 1, 12
    )


@pytest.mark.parametrize(
    ("text", "day"), [("31 February 2025", None), ("on 2024-02-29", date(2024, 2, 29)), ("no date", None)]
)
def test_find_date(text: str, day: date | None) -> None:
    assert find_date(text) == day


def test_furniture_fixture_metadata() -> None:
    text = (FIXTURES / "furniture_id.clean.txt").read_text(encoding="utf-8")
    meta = extract(text)
    assert meta.title == "Pemerintah kota tambah armada bus listrik"
    assert (meta.source, meta.dateline) == ("TEMPO.CO", "Jakarta")
    assert meta.summary.startswith("TEMPO.CO, Jakarta - Pemerintah kota")
