"""Page furniture by jusText's classes: menus, split bylines, share rows, related lists and
legal footers of any length go, in several languages; clean articles stay as written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from indexer.ingest import pagefurniture
from indexer.ingest.pipeline import AnalyzeOptions, analyze
from indexer.ingest.types import Analysis, RawFile
from tests.conftest import CORPORA
from tools.quality import body_of

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


# The English page's author box, under its related list: furniture, however long.
AUTHOR_BOX = "Maria Rossi covers local government for the Gazette."


def _article(lang: str) -> list[str]:
    """The article's paragraphs: the long lines of the page that are not notices or the author's box."""
    return [
        line
        for line in _page(lang).split("\n")
        if len(line) > 100
        and not any(t in line.lower() for t in ("cookie", "©", "rights"))
        and not line.startswith(AUTHOR_BOX)
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
            "Copyright © 2025 Example Media. All rights reserved.",
        ]
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
    menu = "\n\n".join(
        ["Home", "News", "World", "Business", "Sport", "Culture", "Travel", "Video", "Live", "More"]
    )
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
SOMALI = (
    "Magaalada Muqdisho waxaa maanta ka furmay suuq cusub oo loogu talagalay beeraleyda. "
    "Ganacsatada ayaa sheegay in suuqan uu fududeyn doono iibka khudaarta iyo miraha. "
    "Dowladda hoose ayaa ballan qaaday in ay dhisi doonto waddooyin cusub oo gaaraya suuqa. "
    "Dadka deegaanka ayaa soo dhaweeyay mashruucan, iyagoo rajeynaya in qiimaha cuntada uu hoos u dhaco. "
    "Guddoomiyaha gobolka ayaa xarigga ka jaray xaflad ay goob joog ka ahaayeen boqolaal qof. "
    "Mashruuca ayaa lagu qiyaasay kharash dhan laba milyan oo doollar."
)


def test_an_article_in_a_language_without_a_stop_list_under_an_english_menu_stays() -> None:
    menu = "\n\n".join(
        ["Home", "News", "World", "Business", "Sport", "Culture", "Travel", "Video", "Live", "More"]
    )
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
    from tools.quality import Segments

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
    assert ours.recall >= 0.92 and ours.f1 >= 0.87, ours.figures()


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


# --- what a page puts under its article ----------------------------------------------
# Written for these tests, in the shapes scrapers keep: a comment section, an author's
# box, a sign-up box and a list of related stories below the article, in several languages.
MENU = [
    "Home",
    "News",
    "Local",
    "Politics",
    "Business",
    "Sport",
    "Culture",
    "Science",
    "Health",
    "Travel",
    "Opinion",
]
SHARE = ["Facebook", "Twitter", "WhatsApp", "Email"]
COMMENTS = {
    "en": ["3 comments", "Jane Walker says:", "4 March 2025 at 9:12 am",
           "This is the best news for the riverside in years, and I hope the council keeps its promise "
           "about the affordable homes this time.", "Reply", "Tom Price says:", "4 March 2025 at 11:40 am",
           "The traffic on the ring road is already terrible every morning, and nobody has explained "
           "where all the new cars are supposed to go.", "Reply", "Leave a Reply",
           "Your email address will not be published. Required fields are marked *"],
    "de": ["12 Kommentare", "Karin M. schreibt:", "4. März 2025 um 09:12 Uhr",
           "Endlich passiert etwas in der Innenstadt, ich fahre jeden Tag mit dem Rad zur Arbeit und habe "
           "mich schon oft über die gefährlichen Kreuzungen geärgert. Wenn das jetzt wirklich bis zum "
           "Ende des Jahres fertig wird, dann ist das für uns alle eine gute Nachricht.", "Antworten", "Peter K. schreibt:",
           "4. März 2025 um 10:30 Uhr",
           "Und wo sollen die Lieferwagen halten, wenn die Parkplätze wegfallen? Daran hat im Rathaus "
           "offenbar niemand gedacht, und die Händler werden es am Ende sein, die das alles bezahlen "
           "müssen, wenn die Kunden nicht mehr kommen.", "Antworten"],
    "fr": ["Laisser un commentaire", "Jeanne D.", "4 mars 2025 à 9 h 12",
           "Enfin une bonne nouvelle pour le centre, je prends le vélo tous les jours et les carrefours "
           "sont vraiment dangereux pour les enfants. Si tout est vraiment fini à la fin de l'année "
           "prochaine, ce sera une très bonne chose pour nous tous.", "Répondre", "Marc L.", "4 mars 2025 à 10 h 30",
           "Et les livraisons, comment feront les commerçants si toutes les places de stationnement "
           "disparaissent de la rue principale ? Personne à la mairie ne semble y avoir pensé, et ce sont "
           "encore les petits commerces qui vont payer.", "Répondre"],
}  # fmt: skip
AUTHOR = {
    "en": ["About the author",
           "Maria Rossi has covered local government for the Gazette since 2013. Before that she reported "
           "on schools and transport for a regional radio station, and she wrote a book about the docks."],
    "de": ["Über die Autorin",
           "Anna Schmidt schreibt seit 2015 für das Tageblatt über Verkehr und Stadtentwicklung. Zuvor war "
           "sie Redakteurin bei einem Radiosender und hat ein Buch über die Geschichte der Stadt geschrieben."],
    "es": ["Sobre el autor",
           "Carlos Ruiz escribe sobre urbanismo y transporte en el diario desde 2012. Antes trabajó en una "
           "emisora de radio local y es autor de un libro sobre la historia del puerto de la ciudad."],
}  # fmt: skip
# No heading over it, and none of the notice words: a box of prose far below the article.
SIGN_UP = {
    "en": "Get the best of the Gazette in your inbox every morning: the day's top local stories, events "
          "and offers, all of it free, and you can stop them whenever you like. It takes a minute to sign "
          "up, and we will never pass your address on to anyone else.",
    "de": "Die wichtigsten Meldungen aus der Stadt jeden Morgen kostenlos in Ihrem Postfach: melden Sie "
          "sich jetzt an und verpassen Sie keine Nachricht aus Ihrem Viertel mehr. Das dauert nur eine "
          "Minute, und wir geben Ihre Adresse an niemanden weiter.",
    "id": "Dapatkan berita pilihan dari redaksi kami setiap pagi langsung di kotak masuk Anda, gratis, dan "
          "Anda bisa berhenti berlangganan kapan saja tanpa biaya apa pun. Kami tidak akan memberikan "
          "alamat Anda kepada siapa pun.",
}  # fmt: skip
RELATED = {
    "en": ["You may also like",
           "The mayor's plan for a new tram line across the river has been delayed for a third time, "
           "officials said on Monday.",
           "Residents of the old harbour district say they were never asked about the new car park."],
    "de": ["Das könnte Sie auch interessieren",
           "Die neue Straßenbahnlinie über den Fluss verzögert sich zum dritten Mal, wie die Stadtwerke "
           "am Montag mitteilten.",
           "Anwohner im alten Hafenviertel beklagen, dass sie beim neuen Parkhaus nie gefragt wurden."],
    "es": ["Te puede interesar",
           "El nuevo tranvía que cruzará el río vuelve a retrasarse por tercera vez, según informó el "
           "ayuntamiento el lunes.",
           "Los vecinos del antiguo barrio del puerto dicen que nunca les preguntaron por el nuevo aparcamiento."],
    "id": ["Berita terkait",
           "Rencana pembangunan jalur trem baru di seberang sungai kembali tertunda untuk ketiga kalinya, "
           "kata pejabat kota pada hari Senin.",
           "Warga kawasan pelabuhan lama mengaku tidak pernah diajak bicara soal pembangunan gedung parkir."],
}  # fmt: skip


def _page_with(lang: str, below: list[str], menu: bool = True) -> str:
    """A page of one article, with ``below`` under it; ``menu=False``: no site header above."""
    head = [*MENU, HEADLINES[lang]] if menu else [HEADLINES[lang]]
    return "\n\n".join([*head, *_article(lang), *SHARE, *below])


def _assert_below_goes(lang: str, below: list[str], menu: bool = True) -> None:
    result = _analyze(_page_with(lang, below, menu))
    lines = result.body.split("\n")
    assert all(paragraph in lines for paragraph in _article(lang))
    assert HEADLINES[lang] in lines
    for line in below:
        assert line not in lines, line
    # Every removal is recorded, for `show --explain`.
    removed = {r.text for r in result.removed}
    assert {line for line in below if len(line) > 100} <= removed


@pytest.mark.parametrize("lang", sorted(COMMENTS))
def test_a_comment_section_under_the_article_goes(lang: str) -> None:
    _assert_below_goes(lang, COMMENTS[lang])


@pytest.mark.parametrize("lang", sorted(COMMENTS))
def test_a_comment_section_goes_from_an_article_with_no_site_header(lang: str) -> None:
    # No menus over it, so not judged as a page: the comment heading alone tells what is below.
    text = _page_with(lang, COMMENTS[lang], menu=False)
    result = _analyze(text)
    assert result.body.startswith("\n\n".join([HEADLINES[lang], *_article(lang)]))
    assert not any(line in result.body.split("\n") for line in COMMENTS[lang] if len(line) > 100)


@pytest.mark.parametrize("lang", sorted(AUTHOR))
def test_an_authors_box_under_the_article_goes(lang: str) -> None:
    _assert_below_goes(lang, AUTHOR[lang])


# More of the article, so that a box of prose a fifth its length is small beside it.
MORE = {
    "en": ["The plan also sets aside land for a primary school, a health centre and a riverside park, "
           "which the council says will be open to the public before the first residents move in.",
           "A public inquiry into the scheme last year heard from more than two hundred residents, and "
           "the inspector's report asked for the height of the tallest blocks to be cut by two floors.",
           "The developer has agreed to pay for a new bus route to the station and for the repair of the "
           "old sea wall, which has been closed to walkers since the storms of the winter before last."],
    "de": ["Der Plan sieht außerdem neue Abstellanlagen an allen Haltestellen vor, und an den großen "
           "Kreuzungen sollen eigene Ampeln für Radfahrer die Wartezeiten für alle verkürzen.",
           "Bei einer Bürgerversammlung im vergangenen Herbst hatten mehr als zweihundert Anwohner ihre "
           "Vorschläge eingebracht, von denen die Verwaltung nach eigenen Angaben viele übernommen hat.",
           "Die Arbeiten sollen abschnittsweise erfolgen, damit die Geschäfte in der Innenstadt während "
           "der gesamten Bauzeit für ihre Kunden und für den Lieferverkehr erreichbar bleiben."],
    "id": ["Rencana tersebut juga mencakup tempat parkir sepeda di setiap halte dan lampu lalu lintas "
           "khusus untuk pesepeda di persimpangan besar, yang menurut pemerintah akan mengurangi kemacetan.",
           "Dalam pertemuan warga pada bulan lalu, lebih dari dua ratus orang menyampaikan usulan mereka, "
           "dan menurut pemerintah kota sebagian besar usulan itu sudah dimasukkan ke dalam rencana.",
           "Pekerjaan akan dilakukan secara bertahap agar toko-toko di pusat kota tetap dapat dijangkau "
           "oleh pembeli dan kendaraan pengantar barang selama masa pembangunan berlangsung."],
}  # fmt: skip


@pytest.mark.parametrize("lang", sorted(SIGN_UP))
def test_a_sign_up_box_far_below_the_article_goes(lang: str) -> None:
    # No heading says what it is: a short body of prose apart from the article.
    article = [*_article(lang), *MORE[lang]]
    text = "\n\n".join([*MENU, HEADLINES[lang], *article, *SHARE, "Traffic", "Events", "Jobs", SIGN_UP[lang]])
    lines = _analyze(text).body.split("\n")
    assert all(paragraph in lines for paragraph in article)
    assert SIGN_UP[lang] not in lines


@pytest.mark.parametrize("lang", sorted(RELATED))
def test_related_stories_under_the_article_go(lang: str) -> None:
    _assert_below_goes(lang, RELATED[lang])


def test_the_english_pages_author_box_goes() -> None:
    result = _analyze(_page("en"))
    assert not any(line.startswith(AUTHOR_BOX) for line in result.body.split("\n"))
    assert any(r.text.startswith(AUTHOR_BOX) for r in result.removed)


@pytest.mark.parametrize(
    "inline",
    ["Baca juga", "Baca juga: Perbaikan stasiun kembali tertunda", "Lihat juga"],
)
def test_a_read_also_line_inside_an_article_does_not_end_it(inline: str) -> None:
    # News sites put "read also" links between an article's paragraphs: not its end.
    paragraphs = _article("id")
    text = "\n\n".join([HEADLINES["id"], paragraphs[0], inline, *paragraphs[1:]])
    assert pagefurniture.remove(text).body == text


def test_a_share_row_under_the_headline_does_not_end_the_article() -> None:
    text = "\n\n".join(
        [*MENU, HEADLINES["en"], "Share this article", *SHARE, *_article("en"), *COMMENTS["en"]]
    )
    lines = _analyze(text).body.split("\n")
    assert all(paragraph in lines for paragraph in _article("en"))
    assert not any(line in lines for line in COMMENTS["en"] if len(line) > 100)


def test_a_page_of_comments_alone_is_not_emptied() -> None:
    text = "\n\n".join(COMMENTS["en"])
    assert body_of(text.encode("utf-8")).strip()


def test_a_worker_keeps_a_bounded_number_of_stop_lists_however_many_languages_it_sees() -> None:
    # jusText caches a lower-cased copy of every stop list it is given (128 of them): a
    # worker seeing many languages kept unions long evicted from our own cache.
    from justext import core as justext_core
    from justext.utils import get_stoplist, get_stoplists

    languages = sorted(get_stoplists())[: pagefurniture._UNIONS + 10]
    for name in languages:
        words = sorted(get_stoplist(name))[:40]
        paragraph = " ".join(words) + "."
        pagefurniture.remove("\n\n".join([paragraph] * 4))
    assert pagefurniture._union.cache_info().misses >= len(languages) - 5  # each a list of its own
    assert justext_core.define_stoplist.cache_info().currsize <= pagefurniture._UNIONS
