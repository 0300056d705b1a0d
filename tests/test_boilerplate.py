"""Boilerplate: built-in, user and learned rules, repeated paragraphs, and what must stay."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from indexer.ingest import boilerplate
from indexer.ingest.normalize import normalize
from indexer.ingest.pipeline import AnalyzeOptions, analyze
from indexer.ingest.types import Analysis, RawFile, Removal
from tools.quality import body_of

FIXTURES = Path(__file__).parent / "fixtures" / "text"
ARTICLE = (
    "Council backs new cycle lanes\n\nThe council voted on Tuesday to build four kilometres of cycle lanes."
)


def _raw(text: str) -> RawFile:
    data = text.encode("utf-8")
    return RawFile("inbox/a.txt", data, len(data), 0, hashlib.sha256(data).hexdigest())


@pytest.mark.parametrize(
    ("line", "rule"),
    [
        ("Click here to subscribe to our free morning briefing", "click-here"),
        ("Klicken Sie hier, um das Video zu sehen", "click-here"),
        ("Read: Fuel prices fall for the third month in a row", "read-also"),
        ("READ MORE: Why the housing market is cooling", "read-also"),
        ("Baca juga: Harga beras naik menjelang Lebaran", "read-also"),
        ("Lesen Sie auch: Wie teuer wird der Winter?", "read-also"),
        ("Read more »", "read-more"),
        ("Continue Reading", "read-more"),
        ("Lire la suite", "read-more"),
        ("Connect with us", "follow-us"),
        ("Follow us on Twitter, Facebook and Instagram", "follow-us"),
        ("Síguenos en Instagram", "follow-us"),
        ("Trending", "trending"),
        ("Trending Now", "trending"),
        ("Published on 3 March 2025", "published"),
        ("Updated: 14:32 GMT, 3 March 2025", "published"),
        ("Publié le 3 mars 2025 à 14h32", "published"),
        ("Share this article", "share"),
        ("Facebook Twitter WhatsApp Email", "share"),
        ("Bagikan artikel ini", "share"),
        ("Sign up for our daily newsletter", "newsletter"),
        ("Don't miss out! Subscribe to our weekly newsletter", "newsletter"),
        ("Melden Sie sich für unseren kostenlosen Newsletter an", "newsletter"),
        ("We use cookies to improve your experience on our site.", "cookies"),
        ("Diese Website verwendet Cookies.", "cookies"),
        ("Advertisement", "advertisement"),
        ("ADVERTISEMENT", "advertisement"),
        ("Story continues below advertisement", "advertisement"),
        ("Anzeige", "advertisement"),
        ("Copyright © 2025 Example News Ltd", "copyright"),
        ("© 2024 AFP", "copyright"),
        ("All rights reserved.", "copyright"),
        ("Todos los derechos reservados.", "copyright"),
        ("Photo: Reuters", "credit"),
        ("Tags: politics, economy", "tags"),
        ("Skip to main content", "navigation"),
        ("Home > News > Politics", "breadcrumb"),
    ],
)
def test_builtin_rule(line: str, rule: str) -> None:
    cleaned = boilerplate.remove(f"{ARTICLE}\n\n{line}")
    assert cleaned.removed == (Removal(f"builtin:{rule}", line),)
    assert cleaned.body == ARTICLE


@pytest.mark.parametrize(
    "line",
    [
        # Content that starts like furniture: it must stay.
        "Published on Monday, the report says that house prices rose faster than wages in every region of the country.",
        "Updated figures show a 5% rise in 2025",
        "Copyright laws are changing, and artists say the new rules favour the big platforms.",
        "Read the full statement, he said, and you will see that nothing has been promised.",
        "Share prices fell sharply in early trading.",
        "Advertising revenue rose 12% in the quarter.",
        "Trending topics on social media are not a reliable guide to public opinion, researchers say.",
        "Follow the money, the prosecutor told the jury.",
        "More than 200 people attended the meeting.",
        "The company said it would sign up 300 new customers and launch a newsletter for investors next year, which analysts welcomed.",
        "CLICCA QUI PER INIZIARE Il 7 luglio su Facebook è stato pubblicato un post in cui si legge che il governo ha deciso.",
        "Winners meet in final match",
    ],
)
def test_content_that_looks_like_furniture_stays(line: str) -> None:
    cleaned = boilerplate.remove(f"{ARTICLE}\n\n{line}")
    assert cleaned.removed == ()
    assert cleaned.body.endswith(line)


@pytest.mark.parametrize("lang", ["en", "de", "fr", "es", "it", "pt", "id"])
def test_furniture_articles(lang: str) -> None:
    dirty = normalize((FIXTURES / f"furniture_{lang}.txt").read_text(encoding="utf-8"))
    clean = (FIXTURES / f"furniture_{lang}.clean.txt").read_text(encoding="utf-8").strip()
    cleaned = boilerplate.remove(dirty)
    assert cleaned.body == clean
    assert cleaned.flags == ()
    assert all(r.rule.startswith("builtin:") or r.rule == "repeated" for r in cleaned.removed)


def test_repeated_paragraph_kept_once() -> None:
    paragraph = (
        "The minister said the plan would be reviewed after six months, and that no decision had been taken."
    )
    cleaned = boilerplate.remove(f"Title line\n\n{paragraph}\n\nAnother paragraph here.\n\n{paragraph}")
    assert cleaned.body == f"Title line\n\n{paragraph}\n\nAnother paragraph here."
    assert cleaned.removed == (Removal("repeated", paragraph),)


def test_repeated_headline_removed_short_repeats_kept() -> None:
    text = "Storm closes airport\n\nStorm closes airport\n\nMatch one\n\nWinners meet in final match\n\nMatch two\n\nWinners meet in final match"
    cleaned = boilerplate.remove(text)
    assert cleaned.removed == (Removal("repeated", "Storm closes airport"),)
    assert cleaned.body.count("Winners meet in final match") == 2


def test_furniture_glued_to_a_paragraph_goes_alone() -> None:
    cleaned = boilerplate.remove(f"{ARTICLE}\nShare this article\n\nSecond paragraph of the story.")
    assert cleaned.body == f"{ARTICLE}\n\nSecond paragraph of the story."


def test_user_rules() -> None:
    rules = (r"^Sponsored by .+$", r"(?i)promo code")
    text = f"{ARTICLE}\n\nSponsored by Acme Travel\n\nUse PROMO CODE SAVE10 at checkout"
    cleaned = boilerplate.remove(text, rules)
    assert cleaned.body == ARTICLE
    assert [r.rule for r in cleaned.removed] == ["user:^Sponsored by .+$", "user:(?i)promo code"]


def test_invalid_user_rule_names_the_pattern() -> None:
    with pytest.raises(ValueError, match=r"invalid boilerplate rule '\(unclosed'"):
        boilerplate.compile_rules(("(unclosed",))


def test_all_furniture_keeps_the_text_and_flags_it() -> None:
    text = "Advertisement\n\nShare this article\n\nRead more"
    cleaned = boilerplate.remove(text)
    assert cleaned.body == text
    assert cleaned.removed == ()
    assert cleaned.flags == ("boilerplate_kept",)


def test_learned_lines() -> None:
    masthead = "Daily Bugle - Your city, your news"
    body = f"{masthead}\n\nTitle\n\nThe story.\n{masthead}"
    keys = frozenset({boilerplate.line_key("daily bugle -  your CITY, your news")})  # spacing and case aside
    cleaned = boilerplate.remove_learned(body, keys)
    assert cleaned.body == "Title\n\nThe story."
    assert cleaned.removed == (Removal("learned", masthead),) * 2
    kept = boilerplate.remove_learned("Only furniture", frozenset({boilerplate.line_key("Only furniture")}))
    assert kept == boilerplate.Cleaned("Only furniture", (), ("boilerplate_kept",))


def test_learned_lines_count_short_lines_only() -> None:
    paragraph = "A long paragraph of content. " * 10
    lines = boilerplate.short_lines(f"Masthead\n\n{paragraph}\n\nMasthead\n\nFooter line")
    assert sorted(lines.values()) == ["Footer line", "Masthead"]
    assert boilerplate.remove_learned(paragraph, frozenset({boilerplate.line_key(paragraph)})).removed == ()


@pytest.mark.parametrize(
    ("stories", "group", "learned"),
    [(8, 8, True), (5, 25, True), (4, 4, False), (5, 26, False), (2, 2, False), (0, 0, False)],
)
def test_learned_thresholds(stories: int, group: int, learned: bool) -> None:
    assert boilerplate.is_furniture(stories, group, min_documents=5, min_fraction=0.2) is learned


def test_learning_groups_are_the_configured_source_else_the_folder() -> None:
    from indexer.ingest.learned import line_group

    sources = (("/srv/inbox/tempo", "Tempo"),)
    assert line_group("/srv/inbox/tempo/2025/11/a.txt", sources) == "source:Tempo"
    assert line_group("/srv/inbox/bugle/a.txt", sources) == "folder:/srv/inbox/bugle"


def test_analyze_applies_learned_lines_of_its_group_only() -> None:
    text = "The Daily Bugle\n\nBridge reopens\n\nThe old bridge reopened to traffic this morning."
    group = boilerplate.group_key("folder:/srv/inbox/bugle")
    options = AnalyzeOptions(learned={group: frozenset({boilerplate.line_key("The Daily Bugle")})})
    bugle = analyze(RawFile("/srv/inbox/bugle/a.txt", text.encode(), len(text), 0, "x"), options)
    other = analyze(RawFile("/srv/inbox/other/a.txt", text.encode(), len(text), 0, "x"), options)
    assert isinstance(bugle, Analysis) and isinstance(other, Analysis)
    assert bugle.body.startswith("Bridge reopens") and bugle.title == "Bridge reopens"
    assert Removal("learned", "The Daily Bugle") in bugle.removed
    assert bugle.line_group == "folder:/srv/inbox/bugle"
    assert (boilerplate.line_key("The Daily Bugle"), True) in bugle.lines
    assert other.body == text and (boilerplate.line_key("The Daily Bugle"), False) in other.lines


def test_analyze_records_removals_and_flags() -> None:
    text = (FIXTURES / "furniture_en.txt").read_text(encoding="utf-8")
    result = analyze(_raw(text), AnalyzeOptions(boilerplate_rules=(r"^By Sarah Collins$",)))
    assert isinstance(result, Analysis)
    assert "Advertisement" not in result.body and "By Sarah Collins" not in result.body
    assert Removal("user:^By Sarah Collins$", "By Sarah Collins") in result.removed
    assert [r.rule for r in result.removed][-3:] == [
        "builtin:newsletter",
        "builtin:cookies",
        "builtin:copyright",
    ]
    assert (
        result.published is not None and result.published.isoformat() == "2024-11-14"
    )  # from the removed line
    kept = analyze(_raw("Advertisement\n\nRead more"), AnalyzeOptions())
    assert isinstance(kept, Analysis)
    assert kept.flags == ("boilerplate_kept",) and kept.body == "Advertisement\n\nRead more"


def test_quality_body_matches_analyze() -> None:
    # scripts/quality compares bodies through body_of(); it must be analyze()'s body.
    for path in sorted(FIXTURES.glob("*.txt")):
        data = path.read_bytes()
        result = analyze(RawFile(str(path), data, len(data), 0, ""), AnalyzeOptions())
        assert isinstance(result, Analysis)
        assert body_of(data) == result.body, path.name
