"""News metadata from normalized text: title, byline, dateline, source, date, counts, summary."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

__all__ = [
    "DATELINE",
    "FILE_NAME",
    "MONTH_PATTERN",
    "TEXT_LINE",
    "WEEKDAY_PATTERN",
    "Lead",
    "Metadata",
    "extract",
    "find_date",
    "parse_lead",
]

# Where a publication date was read (``Metadata.date_source``): a line that states it
# ("Published 3 March 2025", a byline's "| 3 December 2025"), the dateline of the lead
# ("NEW YORK, March 3 (Reuters) -"), or the file's name: a guess, the day it was saved.
TEXT_LINE = "text line"
DATELINE = "dateline"
FILE_NAME = "file name"

_MAX_TITLE = 200
_MAX_TITLE_WORDS = 30
_MAX_SUMMARY = 600
_MAX_BYLINE = 100
# Bylines, dates and datelines sit at the top of an article and below its headline;
# further down the same shapes are quotes and reported speech.
_HEAD_LINES = 6
# A scraped page's headline may stand below a long menu; further down than this, a line
# repeating the page title is a link to the article, not its headline.
_HEADLINE_WINDOW = 200
# Above a headline: a masthead, a section label, a short menu. A page whose headline is
# further down than this line has its title on its first line (or says it twice).
_MASTHEAD_LINES = 8
# A site's name at the end of a page title: "| Example Gazette", "- example.com".
_MAX_SITE_WORDS = 4
_DOMAIN_IN = re.compile(r"\b[\w-]+\.[a-z]{2,12}\b(?!\.\w)")
_COPYRIGHT = re.compile(r"©|\(c\)|\bcopyright\b", re.IGNORECASE)
# A page title has a few parts ("Headline | Section | Site"); a line of many is a menu.
_MAX_TITLE_PARTS = 6
# A title made from the lede when the text has no headline: a headline's length.
_MAX_DERIVED_WORDS = 12
_MAX_DERIVED_CHARS = 100  # scripts written without spaces
# Running text, not a headline, label or link: a sentence of some length.
_PROSE_WORDS = 10
_PROSE_LONG = 150
_PROSE_CJK_CHARS = 30
_PROSE_END = re.compile(r"[.!?…。！？][\"”’»)]*$")
_CJK_TEXT = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")
# A wire story credits its reporters in its last lines.
_TAIL_LINES = 3
_MAX_NAME = 40
# Dates in file names: "2025-12-03", "20251203", "2025/12/03/" in the folders.
_FILE_DATE = re.compile(r"(?<!\d)(?P<y>(?:19|20)\d{2})([-_./]?)(?P<m>[01]\d)\2(?P<d>[0-3]\d)(?!\d)")
_MIN_YEAR, _MAX_YEAR = 1990, 2100

# One "word" per CJK ideograph or kana: those scripts put no spaces between words.
_IDEOGRAPHS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD = re.compile(rf"[{_IDEOGRAPHS}]|[^\W{_IDEOGRAPHS}]+")
_ABBREVIATIONS = frozenset(
    (
        "mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "no", "nr", "vs", "etc", "co", "inc", "ltd",
        "gen", "col", "lt", "sgt", "rep", "sen", "gov", "pres", "u.s", "u.k", "e.g", "i.e", "z.b", "bzw",
        "ca", "sra", "dra", "av",
    )
)  # fmt: skip
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"”’»)]*\s+|(?<=[。！？])")
_HEADLINE_END = re.compile(r"[.,;:]$")

_MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        "january jan januar jänner janvier janv enero ene gennaio janeiro januari",
        "february feb februar février fevrier févr fév febrero febbraio fevereiro fev februari",
        "march mar märz maerz mär mars marzo março marco maret maart mrt",
        "april apr avril avr abril abr aprile",
        "may mai mayo maggio maio mei",
        "june jun juni juin junio giugno giu junho",
        "july jul juli juillet juil julio luglio lug julho",
        "august aug août aout agosto agustus augustus",
        "september sep sept septembre septiembre setiembre settembre setembro",
        "october oct oktober okt octobre octubre ottobre ott outubro",
        "november nov novembre noviembre novembro nopember",
        "december dec dezember dez décembre decembre déc diciembre dic dicembre dezembro desember",
    ),
    start=1,
):
    for _name in _names.split():
        _MONTHS[_name] = _number
MONTH_PATTERN = _MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
WEEKDAY_PATTERN = _WEEKDAY = (
    r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tue|wed|thu|fri|sat|sun|"
    r"montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag|lundi|mardi|mercredi|jeudi|"
    r"vendredi|samedi|dimanche|lunes|martes|miércoles|jueves|viernes|sábado|domingo|lunedì|"
    r"martedì|mercoledì|giovedì|venerdì|sabato|domenica|segunda-feira|terça-feira|"
    r"quarta-feira|quinta-feira|sexta-feira|senin|selasa|rabu|kamis|jumat|sabtu|minggu|maandag|"
    r"dinsdag|woensdag|donderdag|vrijdag|zaterdag|zondag)"
)
_DATES = (
    # 2025-03-03, 2025-03-03T10:15:00Z (ISO 8601), 2025/03/03
    re.compile(r"\b(?P<y>\d{4})([-/])(?P<m>\d{1,2})\2(?P<d>\d{1,2})(?:\b|(?=T\d))"),
    # 3.3.2025 (German, written day first)
    re.compile(r"\b(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4})\b"),
    # March 3, 2025 / Mar. 3 2025
    re.compile(
        rf"\b(?P<mon>{_MONTH})\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y>\d{{4}})\b", re.IGNORECASE
    ),
    # 3 March 2025 / 3. März 2025 / 1er mars 2025 / 3 de marzo de 2025 / 12 Januari 2025
    re.compile(
        rf"\b(?P<d>\d{{1,2}})(?:\.|er|º|st|nd|rd|th)?\s+(?:de\s+)?(?P<mon>{_MONTH})\.?,?\s+(?:de\s+)?(?P<y>\d{{4}})\b",
        re.IGNORECASE,
    ),
)
_PUBLISHED_LABEL = re.compile(
    r"^(?:(?:first |last )?(?:published|posted|updated)|date|veröffentlicht|aktualisiert|publié|"
    r"mis à jour|publicado|publicada|actualizado|pubblicato|aggiornato|atualizado|diterbitkan|"
    r"dipublikasikan|diperbarui|terbit|gepubliceerd|bijgewerkt|geplaatst)\b",
    re.IGNORECASE,
)
# What may stand beside a date on a line that only states the date: weekday, time, zone.
_DATE_RESIDUE = re.compile(
    rf"T\d{{2}}:\d{{2}}(?::\d{{2}})?(?:\.\d+)?(?:Z|[+-]\d{{2}}:?\d{{2}})?|"  # ISO 8601's time
    rf"\b{_WEEKDAY}\b|\b\d{{1,2}}[:.h]\d{{2}}\b|\b(?:uhr|gmt|utc|cet|cest|wib|wita|wit|est|edt|pst|"
    rf"bst|[ap]\.?m\.?|um|at|à|às|a las|alle|pukul|on|le|el|am)\b|[^\w\s]|\d+\b",
    re.IGNORECASE,
)
_MAX_DATE_RESIDUE_WORDS = 2  # "Jakarta, 12 Januari 2025": a place may precede the date

_NAME = r"[A-ZÀ-ÖØ-Þ][\w'’.-]*"
_PARTICLE = r"(?:de|da|do|dos|das|del|della|di|van|von|der|den|la|le|du|bin|binti|al|el|ter|ten)"
_PERSON = rf"{_NAME}(?:\s+(?:{_PARTICLE}\s+)?{_NAME}){{0,4}}"
_BYLINE = re.compile(
    rf"^(?i:(?:written |words |story |reported )?by|von|par|por|oleh|door|"
    rf"(?:author|autor|auteur|autore|penulis|reporter)\s*:)"
    rf"\s+(?P<names>{_PERSON}(?:\s*(?:,|&|and|und|et|y|e|dan)\s*{_PERSON})*)"
    rf"(?:\s*(?:[,|/–—]|-\s|\bin\b)\s*.{{0,50}})?$",
)

# A name alone on its line, just below a headline: "Maria Rossi", "JOHN DOE".
_LONE_NAME = re.compile(rf"{_NAME}(?:\s+(?:{_PARTICLE}\s+)?{_NAME}){{1,3}}")
_REPORTING_BY = re.compile(
    rf"^\(?(?i:(?:additional )?reporting by)\s+(?P<names>{_PERSON}(?:\s*(?:,|&|and)\s*{_PERSON})*)"
    rf"(?:\s+in\s+[^;]{{1,40}})?(?:\s*[;,]\s*(?i:(?:writing|editing|additional reporting)) by\b.*)?\)?\.?$"
)
# News agencies a byline names after the reporter: "By JOHN DOE, Associated Press".
_AGENCIES = frozenset(
    (
        "reuters", "ap", "afp", "dpa", "ansa", "efe", "bloomberg", "xinhua", "kyodo", "yonhap", "lusa",
        "antara", "tass", "upi", "apa", "sda", "kna", "epd", "agence france-presse", "europa press",
    )
)  # fmt: skip
# What is left of a byline or a date split over lines: a label alone, a separator alone.
_LABEL = re.compile(
    r"(?i:by|on|at|am|le|el|il|em|von|par|por|oleh|door|published|posted|updated|veröffentlicht|"
    r"publié|publicado|publicada|pubblicato|diterbitkan|gepubliceerd|written by|author|autor)?\s*[:|·•,–—-]?"
)
_META_SEPARATOR = re.compile(r"\s+[|·•–—-]\s+|\s*\|\s*")
# Between the parts of a page title: "Headline | Site", "Headline - Site", "Site » Headline".
_TITLE_SEPARATOR = re.compile(r"\s*\|\s*|\s+(?:[-–—·•»›:]|::|--)\s+")
# A page title's headline said again may also be what follows its label: "Blog: Headline".
_ECHO_SEPARATOR = re.compile(rf"{_TITLE_SEPARATOR.pattern}|(?<=\w):\s+")

_CONJUNCTION = re.compile(r"\b(?:and|und|et|y|e|dan)\b|&")
_PLACE = rf"{_NAME}(?:(?:\s+(?:{_PARTICLE}\s+)?|/){_NAME}){{0,3}}"
_DASH = r"\s*(?:--|-\s-|[-–—])\s+"
_LEADS = (
    # "LONDON (Reuters) -", "Berlin (dpa) -", "NEW YORK, March 3 (Reuters) -"
    re.compile(
        rf"^(?P<place>{_PLACE})(?:,\s*(?P<date>[^()\n]{{3,30}}?))?\s*\((?P<source>[^()\n]{{2,40}})\){_DASH}"
    ),
    # "TEMPO.CO, Jakarta -", "Jakarta, CNN Indonesia --", "LONDON, JUARA.net -", "Jakarta, 12 Januari 2025 -"
    re.compile(rf"^(?P<a>[\w.’'&-]+(?:\s+[\w.’'&-]+){{0,3}}),\s*(?P<b>[^,()\n]{{2,40}}?){_DASH}"),
    # "WASHINGTON —", and "Wien –" (German papers put an en dash after the place). Not a
    # colon: "STANDARD: Warum ..." is an interview question, "VÍDEO: ..." a label.
    re.compile(rf"^(?P<place>[A-ZÀ-ÖØ-Þ][A-ZÀ-ÖØ-Þ .'/-]{{1,30}}[A-ZÀ-ÖØ-Þ]){_DASH}"),
    re.compile(rf"^(?P<place>{_PLACE})\s+[–—]\s+(?=[A-ZÀ-ÖØ-Þ\"„“«])"),
    # "Merdeka.com - ", "Rimanews - ": an outlet alone
    re.compile(
        rf"^(?P<source>[\w-]+\.(?:com|co|net|org|id|co\.id|news)(?:\.[a-z]{{2}})?|[A-Z][a-z]+news){_DASH}",
        re.IGNORECASE,
    ),
)
_DOMAIN = re.compile(r"^[\w-]+(?:\.[A-Za-z]{2,})+$")
_OUTLET = re.compile(r"(?:news|\.com|\.co|\.net|\.id|online|post|times|daily|tv|wire|press)$", re.IGNORECASE)
_LOWER_PARTICLES = frozenset(
    {"de", "da", "do", "dos", "das", "del", "della", "di", "la", "le", "du", "am", "an", "der", "sur"}
)


@dataclass(frozen=True, slots=True)
class Metadata:
    title: str
    summary: str
    word_count: int
    char_count: int
    paragraph_count: int
    source: str | None = None
    dateline: str | None = None
    byline: str | None = None
    published: date | None = None
    date_source: str | None = None  # TEXT_LINE, DATELINE or FILE_NAME, when published is set
    title_derived: bool = False  # no headline: the title is cut from the lede


@dataclass(frozen=True, slots=True)
class Lead:
    """What a news lead says before its dash: place, outlet, date; ``end`` is where the text starts."""

    place: str | None
    source: str | None
    date_text: str | None
    end: int


def find_date(text: str) -> date | None:
    """The first valid calendar date written in ``text`` (several languages), or None."""
    best: tuple[int, date] | None = None
    for pattern in _DATES:
        for m in pattern.finditer(text):
            parsed = _to_date(m)
            if parsed is not None and (best is None or m.start() < best[0]):
                best = (m.start(), parsed)
                break
    return best[1] if best else None


def _to_date(m: re.Match[str]) -> date | None:
    groups = m.groupdict()
    month = _MONTHS.get(groups["mon"].lower().rstrip(".")) if groups.get("mon") else int(groups["m"])
    if month is None:
        return None
    try:
        return date(int(groups["y"]), month, int(groups["d"]))
    except ValueError:
        return None


def _place_name(place: str) -> str:
    """ "NEW YORK" -> "New York", "RIO DE JANEIRO" -> "Rio de Janeiro"; mixed case stays."""
    if not place.isupper():
        return place
    words = [
        w.lower() if w.lower() in _LOWER_PARTICLES and i else w.capitalize()
        for i, w in enumerate(place.split(" "))
    ]
    return "/".join(
        "-".join(part[:1].upper() + part[1:] for part in segment.split("-"))
        for segment in " ".join(words).split("/")
    )


def _is_outlet(text: str) -> bool:
    return bool(_DOMAIN.match(text) or _OUTLET.search(text)) or (text.isupper() and "." in text)


def parse_lead(paragraph: str) -> Lead | None:
    """The dateline lead opening ``paragraph``: "LONDON (Reuters) - ...", "TEMPO.CO, Jakarta - ..."."""
    m = _LEADS[0].match(paragraph)
    if m:
        source = m.group("source").strip()
        return Lead(_place_name(m.group("place")), source, m.group("date"), m.end())
    m = _LEADS[1].match(paragraph)
    if m:
        a, b = m.group("a").strip(), m.group("b").strip()
        if _is_outlet(a) and not _is_outlet(b):
            return Lead(_place_name(b), a, None, m.end())
        if _is_outlet(b):
            return Lead(_place_name(a), b, None, m.end())
        if find_date(b) is not None or re.fullmatch(
            rf"(?:{_MONTH})\.?\s+\d{{1,2}}|\d{{1,2}}\.?\s+(?:{_MONTH})\.?", b, re.IGNORECASE
        ):
            return Lead(_place_name(a), None, b, m.end())
        if re.fullmatch(_PLACE, a) and re.fullmatch(rf"{_NAME}(?:\s+{_NAME}){{0,3}}", b):
            return Lead(_place_name(a), b, None, m.end())
        return None
    for pattern in _LEADS[2:4]:
        m = pattern.match(paragraph)
        if m:
            place = m.group("place").strip()
            if _is_outlet(place):
                return Lead(None, place, None, m.end())
            return Lead(_place_name(place), None, None, m.end())
    m = _LEADS[4].match(paragraph)
    if m:
        return Lead(None, m.group("source"), None, m.end())
    return None


def _sentences(text: str) -> list[str]:
    """Split on sentence ends, not after abbreviations ("Mr.", "U.S.") or initials."""
    out: list[str] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        before = text[start : m.start()].rstrip('"”’»)')
        last = before.rsplit(" ", 1)[-1].rstrip(".").lower()
        if before.endswith(".") and (last in _ABBREVIATIONS or len(last) == 1):
            continue
        out.append(text[start : m.start()].strip())
        start = m.end()
    out.append(text[start:].strip())
    return [s for s in out if s]


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return (cut if len(cut) > limit // 2 else text[:limit]).rstrip(" ,;:-") + "…"


def _is_headline(line: str) -> bool:
    return (
        len(line) <= _MAX_TITLE
        and len(line.split()) <= _MAX_TITLE_WORDS
        and not _HEADLINE_END.search(line)
        and parse_lead(line) is None
        and any(ch.isalpha() for ch in line)
    )


def _words(line: str) -> int:
    """Words of a line, not its separators ("Staff Consortium |" has two)."""
    return sum(1 for token in line.split() if any(ch.isalnum() for ch in token))


def _is_prose(line: str) -> bool:
    """A line of running text: a lede or a body paragraph, not a label, link or headline."""
    if _CJK_TEXT.search(line):
        return len(line) >= _PROSE_CJK_CHARS and bool(_PROSE_END.search(line))
    return _words(line) >= _PROSE_WORDS and (bool(_PROSE_END.search(line)) or len(line) >= _PROSE_LONG)


def _is_paragraph(line: str) -> bool:
    """A line that is a paragraph of its own: a sentence or more, not a headline or label."""
    return ((_words(line) >= 3 or bool(_CJK_TEXT.search(line))) and bool(_PROSE_END.search(line))) or (
        len(line) >= _PROSE_LONG
    )


def _person(text: str) -> str | None:
    """``text`` as a person's name when it is nothing else ("JOHN DOE" -> "John Doe")."""
    text = text.strip()
    if len(text) > _MAX_NAME or any(ch.isdigit() for ch in text) or not _LONE_NAME.fullmatch(text):
        return None
    return _place_name(text)


def _byline(line: str) -> tuple[str, str | None] | None:
    """(names, outlet) of a byline: "By JOHN DOE, Associated Press" -> ("John Doe", "Associated Press")."""
    if len(line) > _MAX_BYLINE:
        return None
    m = _BYLINE.match(line)
    if m is None:
        return None
    names = m.group("names").strip()
    head, _, rest = names.partition(",")
    # "Jane Doe, BBC News" is a name and an outlet; "Jane Doe, John Smith and Ann Lee" a list.
    outlet: str | None = None
    if rest and not _CONJUNCTION.search(rest):
        names, outlet = head.strip(), rest.strip()
    tail = line[m.end("names") :].strip(" ,|/–—-")
    if outlet is None and tail and "," in line[m.end("names") : m.end("names") + 2]:
        outlet = tail
    if outlet is not None and not (_is_outlet(outlet) or outlet.lower() in _AGENCIES):
        outlet = None
    return _place_name(names), outlet


def _date_line(line: str) -> date | None:
    """The date of a line that states one: a "Published: ..." label or a bare date."""
    if len(line) > 90:
        return None
    if _PUBLISHED_LABEL.match(line):
        return find_date(line)
    for pattern in _DATES:
        m = pattern.search(line)
        if m is None or (found := _to_date(m)) is None:
            continue
        rest = _DATE_RESIDUE.sub(" ", line[: m.start()] + " " + line[m.end() :])
        if len(rest.split()) <= _MAX_DATE_RESIDUE_WORDS:
            return found
    return None


@dataclass(frozen=True, slots=True)
class _HeadLine:
    """What one line near the headline says: a byline, a date, both, or a label."""

    byline: str | None = None
    source: str | None = None
    published: date | None = None
    label: bool = False  # "Published", "on", "|": debris of a byline split over lines


def _head_line(line: str, after_headline: bool) -> _HeadLine | None:
    """The byline and date a line states, when that is all it states; None for content.

    A name alone on a line is taken for the author only just below the headline.
    """
    if (found := _byline(line)) is not None:
        return _HeadLine(found[0], found[1], _date_line(line) or find_date(line))
    parts = [p for p in _META_SEPARATOR.split(line) if p.strip()]
    if 1 < len(parts) <= 3 and len(line) <= _MAX_BYLINE:
        # "Maria Rossi | 3 December 2025", "3.12.2025 · Jane Doe"
        days = [d for p in parts if (d := _date_line(p)) is not None]
        names = [n for p in parts if (n := _person(p)) is not None]
        if days and names and len(days) + len(names) == len(parts):
            return _HeadLine(names[0], published=days[0])
    if (day := _date_line(line)) is not None:
        return _HeadLine(published=day)
    if _LABEL.fullmatch(line):
        return _HeadLine(label=True)
    if after_headline and (name := _person(line)) is not None:
        return _HeadLine(name)
    return None


def _title_parts(first: str, separator: re.Pattern[str] = _TITLE_SEPARATOR) -> list[tuple[int, int]]:
    """Spans of the parts of a page title: "Headline | Section | Site" has three."""
    spans, start = [], 0
    for m in separator.finditer(first):
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(first)))
    return [(a, b) for a, b in spans if first[a:b].strip()]


def _echoed_title(lines: list[str], lede: int | None) -> tuple[str, int] | None:
    """The headline a scraped page states twice: in its first line (the page title, with the
    site's name: "Headline - Site"), and again on its own line above the text.

    Returns the title and the line it stands on. A part of the first line repeated alone is
    the headline when no other part is longer; a shorter one is the site's name (its logo),
    which is then cut from the first line.
    """
    first = lines[0]
    spans = _title_parts(first, _ECHO_SEPARATOR)
    if len(spans) > _MAX_TITLE_PARTS:
        return None
    joined: dict[str, tuple[int, int]] = {}
    for i in range(len(spans)):
        for j in range(i, len(spans)):
            joined.setdefault(_fold(first[spans[i][0] : spans[j][1]]), (i, j))
    whole = (0, len(spans) - 1)
    best: tuple[int, int] | None = None  # (words, line) of the longest echo
    sites: list[str] = []
    for index in range(1, min(len(lines), _HEADLINE_WINDOW)):
        line = lines[index]
        if len(line) > _MAX_TITLE or (found := joined.get(_fold(line))) is None:
            continue
        if found == whole and lede == 1:
            continue  # a text that repeats its headline further down: it is where it was
        words = _words(line)
        others = [_words(first[a:b]) for k, (a, b) in enumerate(spans) if not found[0] <= k <= found[1]]
        if others and words < max(others):
            sites.append(line)
        elif words >= 2 and (best is None or words >= best[0]):
            best = (words, index)
    if best is not None:
        return lines[best[1]], best[1]
    for site in sites:
        if (title := _cut_site(first, site)) is not None:
            return title, 0
    return None


def _cut_site(first: str, site: str) -> str | None:
    """``first`` without ``site`` when that is its first or last part ("Site | Headline")."""
    spans = _title_parts(first)
    if len(spans) < 2:
        return None
    folded = _fold(site)
    if _fold(first[spans[-1][0] : spans[-1][1]]) == folded:
        title = first[spans[0][0] : spans[-2][1]].strip()
    elif _fold(first[spans[0][0] : spans[0][1]]) == folded:
        title = first[spans[1][0] : spans[-1][1]].strip()
    else:
        return None
    return title if _words(title) >= 2 else None


def _fold(line: str) -> str:
    return " ".join(line.casefold().split())


def _without_site(first: str, text: str) -> str:
    """A page title without the site's name after its last separator ("Headline | Site"):
    a domain, or a short part the page names again on its own line (its logo) or in its
    copyright line. Not a name the text merely mentions: "Choose hope over fear - Kennedy"
    is a headline and its speaker."""
    spans = _title_parts(first)
    if not 1 < len(spans) <= _MAX_TITLE_PARTS:
        return first
    last = first[spans[-1][0] : spans[-1][1]].strip()
    kept = first[spans[0][0] : spans[-2][1]].strip()
    if _words(last) >= _words(kept) or _words(last) > _MAX_SITE_WORDS:
        return first
    if _DOMAIN_IN.search(last):
        return kept
    folded = _fold(last)
    for line in text.split("\n")[1:]:
        if len(line) <= _MAX_TITLE and (
            _fold(line) == folded or (_COPYRIGHT.search(line) and folded in _fold(line))
        ):
            return kept
    return first


def _headline(lines: list[str], text: str, furniture: Sequence[str] = ()) -> tuple[str, int] | None:
    """The headline among the first lines of a text and the line it stands on, or None.

    The top line, unless it is a section label or a masthead: then the headline is the line
    nearest above the lede, past the byline, the date and their debris ("Published", "on").
    A page title repeated further down (see ``_echoed_title``) says which line it is.
    """
    window = lines[:_HEADLINE_WINDOW]
    lede = next((i for i, line in enumerate(window) if _is_prose(line)), None)
    if len(window) > 1 and (echo := _echoed_title(window, lede)) is not None:
        return echo
    if len(window) > 1 and _is_headline(window[0]) and any(_fold(f) == _fold(window[0]) for f in furniture):
        # Stated twice (the page title, then the headline) and the repeat removed.
        return _without_site(window[0], text), 0
    top = next((i for i, line in enumerate(window[:_HEAD_LINES]) if _head_line(line, False) is None), None)
    anchored: int | None = None
    signal = False  # a byline or a date between the candidate and the lede
    if lede is not None and lede > 0:
        i = lede - 1
        while i >= 0 and lede - i <= _HEAD_LINES:
            line = window[i]
            if (meta := _head_line(line, True)) is not None:
                # A name alone says little (a subheading can be one); a byline or a date does.
                signal = signal or bool(meta.published or _byline(line) or _PUBLISHED_LABEL.match(line))
            elif _words(line) > 2 or _is_prose(line):
                break
            i -= 1
        if 0 <= i < _MASTHEAD_LINES and _is_headline(window[i]) and _head_line(window[i], False) is None:
            anchored = i
    if top is not None and anchored is not None and anchored != top:
        label = _words(window[top]) <= 2
        masthead = anchored == top + 1 and _TITLE_SEPARATOR.search(window[top]) is not None
        if (signal or label or masthead or not _is_headline(window[top])) and (
            _words(window[anchored]) >= 3 or _CJK_TEXT.search(window[anchored])
        ):
            return window[anchored], anchored
    if top is not None and _is_headline(window[top]) and len(lines) > 1:
        return (_without_site(window[top], text) if top == 0 else window[top]), top
    return None


def _derived_title(sentence: str) -> str:
    """A short title from the lede's first sentence: at most ~12 words, cut at a word."""
    words = sentence.split()
    if len(words) > _MAX_DERIVED_WORDS:
        return " ".join(words[:_MAX_DERIVED_WORDS]).rstrip(" ,;:-–—") + "…"
    return _clip(sentence, _MAX_DERIVED_CHARS)


def _paragraph_count(paragraphs: list[str]) -> int:
    """Blocks between blank lines; in a block of one-line paragraphs, each such line."""
    count = 0
    for paragraph in paragraphs:
        lines = paragraph.split("\n")
        count += max(1, sum(1 for line in lines if _is_paragraph(line))) if len(lines) > 1 else 1
    return count


def _file_date(path: str) -> date | None:
    """A date in the file's name or its folders' (``2025/12/03/story.txt``, ``20251203-x.txt``)."""
    tail = "/".join(path.replace("\\", "/").split("/")[-4:])
    for m in _FILE_DATE.finditer(tail):
        with contextlib.suppress(ValueError):
            found = date(int(m.group("y")), int(m.group("m")), int(m.group("d")))
            if _MIN_YEAR <= found.year <= _MAX_YEAR:
                return found
    return None


def _reporting_by(lines: list[str]) -> str | None:
    """The reporter a wire story credits at its end: "Reporting by Ali Hassan; Editing by ..."."""
    for line in lines[-_TAIL_LINES:]:
        m = _REPORTING_BY.match(line.strip())
        if m is not None:
            return _place_name(m.group("names"))
    return None


def extract(
    body: str, *, furniture: Sequence[str] = (), default_source: str | None = None, path: str | None = None
) -> Metadata:
    """Metadata of a normalized, cleaned body.

    ``furniture`` are lines the boilerplate stage removed ("Published on 3 March 2025"):
    they are not content, but can still state the date. ``default_source`` is used when
    the text names no outlet (a folder-to-source map, say); ``path`` is the file's, whose
    name may hold the date when the text does not.
    """
    paragraphs = [p for p in body.split("\n\n") if p.strip()]
    lines: list[str] = []
    owner: list[int] = []  # the paragraph each line is in
    for index, paragraph in enumerate(paragraphs):
        for line in paragraph.split("\n"):
            lines.append(line)
            owner.append(index)
    byline: str | None = None
    byline_source: str | None = None
    published: date | None = None
    date_source: str | None = None
    for line in furniture:
        if published is None and _PUBLISHED_LABEL.match(line.strip()):
            published = find_date(line)
            date_source = TEXT_LINE if published else None

    def take(meta: _HeadLine) -> None:
        nonlocal byline, byline_source, published, date_source
        if byline is None and meta.byline:
            byline, byline_source = meta.byline, meta.source
        if published is None and meta.published:
            published, date_source = meta.published, TEXT_LINE

    found = _headline(lines, body, furniture)
    title, at = found if found else ("", -1)
    # Bylines and dates stand at the top of an article and just below its headline; further
    # down the same shapes are quotes and reported speech.
    for i in range(min(at, _HEAD_LINES)):
        if (meta := _head_line(lines[i], False)) is not None:
            take(meta)
    start = at + 1
    while start < len(lines) and start - at <= _HEAD_LINES:
        meta = _head_line(lines[start], after_headline=start == at + 1 or (byline is None and at >= 0))
        if meta is None and (at < 0 or _words(lines[start]) > 2 or _is_prose(lines[start])):
            break
        if meta is not None:
            take(meta)
        start += 1
    content: list[str] = []
    if start < len(lines):
        first = [line for i, line in enumerate(lines) if i >= start and owner[i] == owner[start]]
        content = ["\n".join(first), *paragraphs[owner[start] + 1 :]]
    if byline is None:
        byline = _reporting_by(lines)
    lead: Lead | None = None
    for paragraph in content[:2]:
        lead = parse_lead(paragraph) or _lead_after_first_sentence(paragraph)
        if lead is not None:
            break
    if lead and lead.date_text and published is None:
        published = find_date(lead.date_text)
        date_source = DATELINE if published else None
    if published is None and content and (published := _leading_date(content[0])) is not None:
        date_source = TEXT_LINE
    if published is None and path and (published := _file_date(path)) is not None:
        date_source = FILE_NAME
    derived = False
    if not title and content:
        first_text = content[0]
        if (own := parse_lead(first_text)) is not None:
            first_text = first_text[own.end :]  # "LONDON (Reuters) - " is no part of a title
        sentences = _sentences(first_text.split("\n", 1)[0]) or [""]
        # "Sexta-feira, 9 de junho de 2017. Boa noite! ...": a date is no title.
        if len(sentences) > 1 and _date_line(sentences[0].rstrip(".")) is not None:
            sentences = sentences[1:]
        title = _derived_title(sentences[0])
        derived = bool(title)
    summary = _clip(content[0], _MAX_SUMMARY) if content else ""
    return Metadata(
        title=title,
        summary=summary,
        word_count=len(_WORD.findall(body)),
        char_count=len(body),
        paragraph_count=_paragraph_count(paragraphs),
        source=(lead.source if lead and lead.source else byline_source or default_source),
        dateline=lead.place if lead else None,
        byline=byline,
        published=published,
        date_source=date_source,
        title_derived=derived,
    )


def _lead_after_first_sentence(paragraph: str) -> Lead | None:
    # Austrian and German papers print a teaser sentence, then "Wien – ...".
    sentences = _sentences(paragraph[:600])
    if len(sentences) < 2:
        return None
    offset = paragraph.find(sentences[1])
    lead = parse_lead(sentences[1])
    if lead is None or lead.source is not None or lead.place is None:
        return None
    return Lead(lead.place, None, lead.date_text, offset + lead.end)


def _leading_date(paragraph: str) -> date | None:
    # "Sexta-feira, 9 de junho de 2017. Boa noite! ...": a date opening the text, then a
    # full stop or a dash. "Il 27 novembre 2020 la redazione ..." is an event, not a date line.
    for pattern in _DATES:
        m = pattern.search(paragraph, 0, 80)
        if m is None or not re.match(r"\s*(?:[.|–—-]\s|$)", paragraph[m.end() :]):
            continue
        if len(_DATE_RESIDUE.sub(" ", paragraph[: m.start()]).split()) <= _MAX_DATE_RESIDUE_WORDS:
            return _to_date(m)
    return None
