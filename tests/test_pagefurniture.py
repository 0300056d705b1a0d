"""Page furniture by jusText's classes: menus, split bylines, share rows, related lists and
legal footers of any length go, in several languages; clean articles stay as written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from indexer.ingest import pagefurniture
from indexer.ingest.pipeline import AnalyzeOptions, analyze
from indexer.ingest.types import Analysis, RawFile
from indexer.quality import body_of
from tests.conftest import CORPORA

PAGES = Path(__file__).parent / "fixtures" / "pages"
LANGUAGES = ("en", "de", "fr", "es", "id")
# Written for these tests: what a scraper keeps around one article, per language.
HEADLINES = {
    "en": "Council approves riverside housing plan after a long night of debate",
    "de": "Stadtrat beschließt neue Radwege für die Innenstadt",
    "fr": "Le conseil municipal adopte un plan vélo ambitieux",
    "es": "El ayuntamiento aprueba un ambicioso plan de carriles bici",
    "id": "DPRD setujui rencana pembangunan jalur sepeda di pusat kota",
}
# Lines that must go: menu items, byline debris split over lines, share rows, related
# headlines, legal and "about" links.
GONE = {
    "en": ("Politics", "By", "Published", "on", "3 March 2025", "Facebook", "Related articles",
           "Bridge repairs to close the ring road for a month", "Join the conversation", "Advertise"),
    "de": ("Wirtschaft", "Von", "3. März 2025", "Twitter", "Mehr zum Thema",
           "Neue Buslinie zum Krankenhaus ab Juni", "Impressum", "Kontakt"),
    "fr": ("Économie", "Par", "Publié le", "3 mars 2025", "À lire aussi",
           "Les travaux de la gare prennent du retard", "Mentions légales"),
    "es": ("Economía", "Por", "Publicado el", "3 de marzo de 2025", "Noticias relacionadas",
           "Las obras de la estación se retrasan otra vez", "Aviso legal"),
    "id": ("Ekonomi", "Oleh", "Diterbitkan", "3 Maret 2025", "Berita terkait",
           "Perbaikan stasiun kembali tertunda", "Kontak"),
}  # fmt: skip


def _page(lang: str) -> str:
    return (PAGES / f"page_{lang}.txt").read_text(encoding="utf-8")


def _article(lang: str) -> list[str]:
    """The article's paragraphs: the long lines of the page that are not notices."""
    return [
        line
        for line in _page(lang).split("\n")
        if len(line) > 100 and not any(t in line.lower() for t in ("cookie", "©", "rights"))
    ]


def _analyze(text: str, path: str = "/inbox/site/page.txt") -> Analysis:
    data = text.encode("utf-8")
    result = analyze(RawFile(path, data, len(data), 0, ""), AnalyzeOptions())
    assert isinstance(result, Analysis)
    return result


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_page_keeps_its_headline_and_article(lang: str) -> None:
    result = _analyze(_page(lang))
    assert result.body.split("\n", 1)[0] == HEADLINES[lang]
    assert _article(lang) and all(paragraph in result.body for paragraph in _article(lang))
    assert result.language == lang


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_pages_furniture_goes_and_is_recorded(lang: str) -> None:
    result = _analyze(_page(lang))
    lines = set(result.body.split("\n"))
    for furniture in GONE[lang]:
        assert furniture not in lines, furniture
    removed = {r.text for r in result.removed}
    assert set(GONE[lang]) <= removed  # every removal is kept, for `show --explain`
    assert any(r.rule.startswith("page:") for r in result.removed)
    # The long cookie or copyright notice goes whole, by a rule or as a notice.
    assert not any(len(line) > 300 for line in lines if "cookie" in line.lower() or "©" in line)


@pytest.mark.parametrize(
    "notice",
    [
        "© 2025 Example Media",
        "All rights reserved. Reproduction without permission is prohibited.",
        "Copyright © 2025 Example Media Group. All rights reserved. The content of this site is "
        "provided for general information only and does not amount to advice on which you should "
        "rely. We accept no liability for any loss arising from the use of this site. Our privacy "
        "policy explains how we use the personal data you give us, and our cookie policy how we use "
        "cookies and similar technologies on every page of this website, including this one.",
    ],
    ids=["short", "medium", "long"],
)
def test_legal_footers_of_any_length_go(notice: str) -> None:
    text = _page("en").replace("About us", notice)
    result = _analyze(text)
    assert notice not in result.body
    assert all(paragraph in result.body for paragraph in _article("en"))


def test_a_page_of_nothing_but_furniture_is_kept_whole() -> None:
    menus = "\n\n".join(
        [
            "Home",
            "News",
            "Sport",
            "Weather",
            "Sign in",
            "Contact",
            "About us",
            "Privacy policy",
            "Terms of use",
        ]
        + ["Copyright © 2025 Example Media. All rights reserved."]
    )
    cleaned = pagefurniture.remove(menus)
    assert cleaned.body == menus and cleaned.removed == ()
    assert cleaned.flags == (pagefurniture.FLAG_KEPT,)


def test_a_clean_article_is_left_as_written() -> None:
    # A match preview: a fact box of short lines over the text, results at its foot. No
    # page around it (no menus, no notices), so nothing is judged.
    text = "\n\n".join(
        [
            "Rovers v United",
            "Riverside Park",
            "Tuesday, 1 March",
            "1945 GMT",
            "Rovers have won four of their last five home games and will be without their captain, "
            "who is suspended after his fifth booking of the season.",
            "United's manager said his side had recovered from the weekend defeat and would go for "
            "the win, with the league title still within reach.",
            "Last meeting:",
            "Rovers 2-1 United",
            "Ref: J Smith (Kent)",
        ]
    )
    cleaned = pagefurniture.remove(text)
    assert cleaned.body == text and cleaned.removed == ()
    assert body_of(text.encode("utf-8")) == text


def test_a_short_closing_sentence_stays_with_its_article() -> None:
    text = _page("en").replace(
        "Building work is expected to begin next spring.",
        "Building work is expected to begin next spring.\n\nIt will take four years.",
    )
    result = _analyze(text)
    assert "It will take four years." in result.body.split("\n")


def test_text_in_a_language_without_stop_words_is_not_judged() -> None:
    # Chinese has no spaces and jusText no stop list for it: left to the line rules.
    text = "首页\n\n新闻\n\n体育\n\n国家统计局今天公布一季度数据，国内生产总值同比增长百分之五点三，专家认为消费回暖是主要原因。"
    assert pagefurniture.remove(text).body == text


def test_a_menu_in_english_over_a_german_article_is_judged_by_both_lists() -> None:
    menu = "\n\n".join(
        ["Home", "News", "World", "Business", "Sport", "Culture", "Travel", "Video", "Live", "More"]
    )
    article = "\n\n".join(_article("de"))
    result = _analyze(f"{menu}\n\n{HEADLINES['de']}\n\n{article}\n")
    assert all(paragraph in result.body for paragraph in _article("de"))
    assert "Business" not in result.body.split("\n")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_pages_title_line_gives_its_headline_though_it_is_furniture(lang: str) -> None:
    """The page title ("Headline | Site") over a menu: page furniture takes both away, the
    headline is still the title (found among the page's own lines)."""
    menu = "\n\n".join(["Home", "News", "World", "Business", "Sport", "Culture", "Travel", "Video", "Live", "More"])
    article = "\n\n".join(_article(lang))
    footer = "© 2025 Example Gazette. All rights reserved."
    result = _analyze(f"{HEADLINES[lang]} | Example Gazette\n\n{menu}\n\n{article}\n\n{footer}\n")
    assert result.title.startswith(HEADLINES[lang]) and not result.title_derived, result.title


# Written for this test: a local paper's page as a scraper saves it (title line, skip
# link, date, slogan, menu, then the story under a date and a place line).
LOCAL_PAGE = """Dog chases burglars away – witnesses sought – Northfield Courier

Skip to content

1 November 2023

✔ independent ✔ impartial ❤ free of charge

Advertisement

News

Competitions

Jobs

Recipes

Service

Weather

Contact

1 November 20231 November 2023 Northfield, Mill Street, Police

A family dog chased two burglars out of a house in Mill Street on Tuesday evening, the police said.
The men had forced the back door while the owners were out, but fled when the dog began to bark and ran at them.
They escaped across the gardens towards the railway line, leaving a bag of tools behind.
The police are asking anyone who saw two men in dark jackets near the station at about nine o'clock to call them.
"""


def test_a_local_pages_title_line_gives_the_headline_under_its_furniture() -> None:
    result = _analyze(LOCAL_PAGE)
    assert result.title.startswith("Dog chases burglars away") and not result.title_derived, result.title


# Written for this test: Somali, for which jusText has no stop list.
SOMALI = ("Magaalada Muqdisho waxaa maanta ka furmay suuq cusub oo loogu talagalay beeraleyda. "
          "Ganacsatada ayaa sheegay in suuqan uu fududeyn doono iibka khudaarta iyo miraha. "
          "Dowladda hoose ayaa ballan qaaday in ay dhisi doonto waddooyin cusub oo gaaraya suuqa. "
          "Dadka deegaanka ayaa soo dhaweeyay mashruucan, iyagoo rajeynaya in qiimaha cuntada uu hoos u dhaco. "
          "Guddoomiyaha gobolka ayaa xarigga ka jaray xaflad ay goob joog ka ahaayeen boqolaal qof. "
          "Mashruuca ayaa lagu qiyaasay kharash dhan laba milyan oo doollar.")


def test_an_article_in_a_language_without_a_stop_list_under_an_english_menu_stays() -> None:
    menu = "\n\n".join(["Home", "News", "World", "Business", "Sport", "Culture", "Travel", "Video", "Live", "More"])
    english = "\n\n".join(_article("en")[:1])
    result = _analyze(f"{menu}\n\n{HEADLINES['en']}\n\n{english}\n\nSuuq cusub oo Muqdisho ah\n\n{SOMALI}\n")
    assert SOMALI in result.body
    assert result.language == "so", result.language


def test_the_justext_names_we_use_are_there() -> None:
    # pagefurniture builds jusText's Paragraph objects from lines, not from HTML; these are
    # the attributes and functions it relies on (justext 3.0.x).
    from justext import core
    from justext.paragraph import Paragraph

    for name in ("classify_paragraphs", "revise_paragraph_classification"):
        assert callable(getattr(core, name, None)), f"justext.core.{name} is gone: pin justext or adapt"
    block = pagefurniture._Block("A line of text that stands for a paragraph.")
    assert isinstance(block, Paragraph)
    core.classify_paragraphs([block], frozenset({"a", "of", "that", "for"}))
    core.revise_paragraph_classification([block])
    assert block.cf_class in ("short", "neargood", "good", "bad") and block.class_type in ("good", "bad")


def test_webnews_pages_against_trafilaturas_segments() -> None:
    folder = CORPORA / "webnews"
    if not (folder / "truth.jsonl").exists():
        pytest.skip(f"webnews corpus not found at {folder} (it lives beside the project, not in it)")
    from indexer.quality import Segments

    ours, raw = Segments(), Segments()
    for line in (folder / "truth.jsonl").read_text(encoding="utf-8").splitlines():
        truth = json.loads(line)
        data = (folder / truth["file"]).read_bytes()
        ours.add(body_of(data), truth)
        raw.add(data.decode("utf-8"), truth)
    # The counting reproduces anchors.json's raw-text figures...
    anchors = json.loads((folder / "anchors.json").read_text(encoding="utf-8"))
    assert round(raw.f1, 4) == anchors["raw_text"]["f1"]
    # ...and the stored bodies keep most of the text while dropping much of the furniture.
    assert ours.recall >= 0.91 and ours.f1 >= 0.84, ours.figures()


def test_a_sentence_a_scraper_cut_into_blocks_is_joined_on_a_page() -> None:
    # The link "former dockyard site" was a block of its own, as a crude scraper saves it.
    sentence = _article("en")[0]
    cut = sentence.replace(" former dockyard site, ", "\n\nformer dockyard site\n\n, ")
    assert cut != sentence
    result = _analyze(_page("en").replace(sentence, cut))
    assert sentence in result.body.split("\n")
    # In a clean article the author's blocks stay as they are.
    article = "\n\n".join([HEADLINES["en"], cut, *_article("en")[1:]])
    assert body_of(article.encode("utf-8")) == article
