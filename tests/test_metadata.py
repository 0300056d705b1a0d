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


# --- headlines, bylines and dates on scraped pages, a site's first article ---

MASTHEAD_PAGE = """Harbour Herald - Independent journalism since 1887
Ferry fares to rise for the first time in six years
By MARTA KOWALSKA, Associated Press
Published 2025-12-03T10:15:00Z

GDANSK (AP) — The harbour board voted on Wednesday to raise ferry fares by eight percent from March, its first increase since 2019.

Board members said fuel and crew costs had outgrown the old fares."""


def test_a_masthead_is_not_the_title_and_does_not_hide_the_head_below_it() -> None:
    meta = extract(MASTHEAD_PAGE)
    assert meta.title == "Ferry fares to rise for the first time in six years"
    assert not meta.title_derived
    assert meta.byline == "Marta Kowalska"  # in normal case
    assert (meta.published, meta.date_source) == (date(2025, 12, 3), "text line")
    assert (meta.dateline, meta.source) == ("Gdansk", "AP")
    assert meta.summary.startswith("GDANSK (AP) — The harbour board")


def test_the_agency_of_a_byline_is_the_source_when_no_lead_names_one() -> None:
    text = MASTHEAD_PAGE.replace("GDANSK (AP) — The", "The")
    assert extract(text).source == "Associated Press"
    assert extract(text, default_source="Harbour Herald").source == "Associated Press"


@pytest.mark.parametrize(
    "text",
    [
        # A section label, the headline, byline debris split over lines.
        "Weltgeschehen\nNeue Brücke über die Elbe freigegeben\nRedaktion\nVeröffentlicht\nam\n"
        "Die neue Brücke über die Elbe ist am Montag nach drei Jahren Bauzeit für den Verkehr freigegeben worden.",
        # A short menu and a section label above it.
        "Accueil\nMonde\nÉconomie\nNeue Brücke über die Elbe freigegeben\nPar Claire Dubois\n3 décembre 2025\n\n"
        "Die neue Brücke über die Elbe ist am Montag nach drei Jahren Bauzeit für den Verkehr freigegeben worden.",
    ],
)
def test_a_section_label_or_menu_above_the_headline_is_not_the_title(text: str) -> None:
    meta = extract(text)
    assert meta.title == "Neue Brücke über die Elbe freigegeben"
    assert meta.summary.startswith("Die neue Brücke")


MENU = "\n".join(["Inicio", "Política", "Economía", "Deportes", "Cultura", "Opinión", "Suscríbete"] * 3)


def test_the_page_title_said_again_below_the_menu_is_the_headline_without_the_site() -> None:
    text = (
        "Los embalses del sur recuperan agua tras las lluvias | Diario del Valle\n\n"
        f"Diario del Valle\n\n{MENU}\n\nLos embalses del sur recuperan agua tras las lluvias\n"
        "Por Ana García\n12 de marzo de 2025\n\n"
        "Los embalses de la cuenca del sur han ganado un diez por ciento de su capacidad en dos semanas de lluvias.\n\n"
        "Otros titulares de la semana"
    )
    meta = extract(text)
    assert meta.title == "Los embalses del sur recuperan agua tras las lluvias"
    assert (meta.byline, meta.published) == ("Ana García", date(2025, 3, 12))
    assert meta.summary.startswith("Los embalses de la cuenca")


@pytest.mark.parametrize(
    ("first", "title"),
    [
        # The site's name is on its own line again further down (its logo, its footer).
        ("Tram line opens to the airport | Metro Courier", "Tram line opens to the airport"),
        ("Tram line opens to the airport - metrocourier.example", "Tram line opens to the airport"),
        # A speaker after the dash is part of the headline: the text only mentions him.
        ("Tram line will pay for itself - Okafor", "Tram line will pay for itself - Okafor"),
    ],
)
def test_the_site_name_is_cut_from_a_page_title(first: str, title: str) -> None:
    text = (
        f"{first}\n\nThe new tram line to the airport opened on Sunday, the transport minister Okafor said.\n\n"
        "Metro Courier\n\n© 2025 Metro Courier Media"
    )
    assert extract(text).title == title


def test_a_headline_over_a_short_paragraph_stays_the_title() -> None:
    # The first line of a clean article is its headline, even when the text then starts
    # with short lines that look like headlines themselves.
    text = (
        "Winter timetable brings eleven new routes\n\nThe Alpine routes\n\nSunny Skies Airways\n\n"
        "The regional airline has added eleven routes to its winter timetable, its chief executive said on Monday."
    )
    assert extract(text).title == "Winter timetable brings eleven new routes"


def test_a_text_without_a_headline_gets_a_short_derived_title() -> None:
    text = (
        "The regional airline has added eleven routes to its winter timetable after bookings for December "
        "rose by eighteen percent, its chief executive said on Monday. More flights will follow in spring."
    )
    meta = extract(text)
    assert meta.title_derived
    assert meta.title == "The regional airline has added eleven routes to its winter timetable after…"
    assert len(meta.title.rstrip("…").split()) <= 12
    assert not extract(MASTHEAD_PAGE).title_derived


@pytest.mark.parametrize(
    ("line", "byline", "day"),
    [
        ("Published 2025-12-03T10:15:00Z", None, date(2025, 12, 3)),
        ("2025-12-03T10:15:00+01:00", None, date(2025, 12, 3)),
        ("Maria Rossi | 3 December 2025", "Maria Rossi", date(2025, 12, 3)),
        ("3.12.2025", None, date(2025, 12, 3)),
        ("December 3, 2025 at 10:15 am", None, date(2025, 12, 3)),
        ("Mittwoch, 3. Dezember 2025, 10:15 Uhr", None, date(2025, 12, 3)),
        ("Hans Meier · 3. Dez. 2025", "Hans Meier", date(2025, 12, 3)),
        ("mercredi 3 décembre 2025 à 10h15", None, date(2025, 12, 3)),
        ("Publicado el 3 de diciembre de 2025", None, date(2025, 12, 3)),
        ("Giulia Bianchi - 3 dicembre 2025", "Giulia Bianchi", date(2025, 12, 3)),
        ("Publicado em 3 de dezembro de 2025", None, date(2025, 12, 3)),
        ("woensdag 3 maart 2025", None, date(2025, 3, 3)),
        ("Gepubliceerd op 3 december 2025", None, date(2025, 12, 3)),
        ("Rabu, 3 Desember 2025 10:15 WIB", None, date(2025, 12, 3)),
    ],
)
def test_date_forms_of_scraped_feeds(line: str, byline: str | None, day: date) -> None:
    meta = extract(
        f"Harbour board raises ferry fares\n{line}\n\nThe harbour board voted to raise ferry fares on Wednesday."
    )
    assert (meta.byline, meta.published, meta.date_source) == (byline, day, "text line")
    assert meta.title == "Harbour board raises ferry fares"
    assert meta.summary == "The harbour board voted to raise ferry fares on Wednesday."


def test_a_lone_author_line_below_the_headline_is_the_byline() -> None:
    meta = extract(
        "Harbour board raises ferry fares\nJOHN DOE\n3 December 2025\n\nThe harbour board voted on Wednesday."
    )
    assert (meta.byline, meta.published) == ("John Doe", date(2025, 12, 3))
    # Not a name further down, nor a name that is the text's first paragraph.
    assert extract("Harbour board raises ferry fares\n\nThe board voted.\n\nJohn Doe").byline is None


def test_reporting_by_at_the_end_of_a_wire_story() -> None:
    meta = extract(
        "Oil steadies after a week of losses\n\nLONDON (Reuters) - Oil prices steadied on Friday.\n\n"
        "Reporting by Ali Hassan in London; Editing by Mark Potter"
    )
    assert meta.byline == "Ali Hassan"


def test_where_the_date_came_from() -> None:
    lead = extract("Stocks fall\n\nNEW YORK, March 3, 2025 (Reuters) - Stocks fell on Monday.")
    assert (lead.published, lead.date_source) == (date(2025, 3, 3), "dateline")
    named = extract("Stocks fall\n\nStocks fell on Monday.", path="/in/2025/03/04/stocks.txt")
    assert (named.published, named.date_source) == (date(2025, 3, 4), "file name")
    compact = extract("Stocks fall\n\nStocks fell on Monday.", path="/in/20250305-stocks.txt")
    assert (compact.published, compact.date_source) == (date(2025, 3, 5), "file name")
    # The text's own date wins over the file name's; no date, no source.
    stated = extract("Stocks fall\n3 March 2025\n\nStocks fell.", path="/in/2025-03-04.txt")
    assert (stated.published, stated.date_source) == (date(2025, 3, 3), "text line")
    assert extract("Stocks fall\n\nStocks fell.", path="/in/00123.txt").date_source is None


def test_paragraphs_of_a_one_line_per_paragraph_text_are_counted() -> None:
    paragraphs = [f"Paragraph {i} says what happened at the harbour on day {i}." for i in range(24)]
    assert extract("Harbour week in review\n" + "\n".join(paragraphs)).paragraph_count == 24
    assert extract("Harbour week in review\n\n" + "\n\n".join(paragraphs)).paragraph_count == 25
    # A head of short lines is one block, not a paragraph per line.
    assert extract("Harbour week\nBy Jane Doe\n3 March 2025\n\n" + paragraphs[0]).paragraph_count == 2
