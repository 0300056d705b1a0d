"""News metadata from normalized text: title, byline, dateline, source, date, counts, summary."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

__all__ = ["MONTH_PATTERN", "WEEKDAY_PATTERN", "Lead", "Metadata", "extract", "find_date", "parse_lead"]

_MAX_TITLE = 200
_MAX_TITLE_WORDS = 30
_MAX_SUMMARY = 600
_MAX_BYLINE = 100
# Bylines, dates and datelines sit at the top of an article; further down the same
# shapes are quotes and reported speech.
_HEAD_LINES = 6
_HEAD_PARAGRAPHS = 3

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
        "january jan januar jänner janvier enero gennaio janeiro januari",
        "february feb februar février fevrier febrero febbraio fevereiro februari",
        "march mar märz maerz mars marzo março marco maret",
        "april apr avril abril aprile",
        "may mai mayo maggio maio mei",
        "june jun juni juin junio giugno junho",
        "july jul juli juillet julio luglio julho",
        "august aug août aout agosto agustus",
        "september sep sept septembre septiembre setiembre settembre setembro",
        "october oct oktober octobre octubre ottobre outubro",
        "november nov novembre noviembre novembro nopember",
        "december dec dezember décembre decembre diciembre dicembre dezembro desember",
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
    r"quarta-feira|quinta-feira|sexta-feira|senin|selasa|rabu|kamis|jumat|sabtu|minggu)"
)
_DATES = (
    # 2025-03-03
    re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})\b"),
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
    r"dipublikasikan|diperbarui|terbit)\b",
    re.IGNORECASE,
)
# What may stand beside a date on a line that only states the date: weekday, time, zone.
_DATE_RESIDUE = re.compile(
    rf"\b{_WEEKDAY}\b|\b\d{{1,2}}[:.h]\d{{2}}\b|\b(?:uhr|gmt|utc|cet|cest|wib|wita|wit|est|edt|pst|"
    rf"bst|[ap]\.?m\.?|um|at|à|às|a las|alle|pukul|on|le|el|am)\b|[^\w\s]|\d+\b",
    re.IGNORECASE,
)
_MAX_DATE_RESIDUE_WORDS = 2  # "Jakarta, 12 Januari 2025": a place may precede the date

_NAME = r"[A-ZÀ-ÖØ-Þ][\w'’.-]*"
_PARTICLE = r"(?:de|da|do|dos|das|del|della|di|van|von|der|den|la|le|du|bin|binti|al|el|ter|ten)"
_PERSON = rf"{_NAME}(?:\s+(?:{_PARTICLE}\s+)?{_NAME}){{0,4}}"
_BYLINE = re.compile(
    rf"^(?i:by|von|par|por|oleh|door)\s+(?P<names>{_PERSON}(?:\s*(?:,|&|and|und|et|y|e|dan)\s*{_PERSON})*)"
    rf"(?:\s*(?:[,|/–—]|-\s|\bin\b)\s*.{{0,50}})?$",
)

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
    )


def _byline(line: str) -> str | None:
    if len(line) > _MAX_BYLINE:
        return None
    m = _BYLINE.match(line)
    if m is None:
        return None
    names = m.group("names").strip()
    head, _, rest = names.partition(",")
    # "Jane Doe, BBC News" is a name and an outlet; "Jane Doe, John Smith and Ann Lee" a list.
    if rest and not _CONJUNCTION.search(rest):
        names = head.strip()
    return names


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


def extract(body: str, *, furniture: Sequence[str] = (), default_source: str | None = None) -> Metadata:
    """Metadata of a normalized, cleaned body.

    ``furniture`` are lines the boilerplate stage removed ("Published on 3 March 2025"):
    they are not content, but can still state the date. ``default_source`` is used when
    the text names no outlet (a folder-to-source map, say).
    """
    paragraphs = [p for p in body.split("\n\n") if p.strip()]
    byline: str | None = None
    published: date | None = None
    for line in furniture:
        if published is None and _PUBLISHED_LABEL.match(line.strip()):
            published = find_date(line)

    # Walk the head line by line: headline, byline and date lines come first, in any order.
    title = ""
    content: list[str] = []  # paragraphs after the head lines, the first partly consumed
    consumed = 0
    for index, paragraph in enumerate(paragraphs):
        if index >= _HEAD_PARAGRAPHS or consumed >= _HEAD_LINES:
            content = paragraphs[index:]
            break
        lines = paragraph.split("\n")
        rest = []
        for line in lines:
            if consumed >= _HEAD_LINES or rest:
                rest.append(line)
                continue
            consumed += 1
            if byline is None and (found := _byline(line)) is not None:
                byline = found
            elif (found_date := _date_line(line)) is not None:
                published = published or found_date
            elif not title and _is_headline(line) and (len(lines) > 1 or len(paragraphs) > 1):
                title = line
            else:
                rest.append(line)
        if rest:
            content = ["\n".join(rest), *paragraphs[index + 1 :]]
            break
    lead: Lead | None = None
    for paragraph in content[:2]:
        lead = parse_lead(paragraph) or _lead_after_first_sentence(paragraph)
        if lead is not None:
            break
    if lead and lead.date_text and published is None:
        published = find_date(lead.date_text)
    if published is None and content:
        published = _leading_date(content[0])
    if not title and content:
        first = content[0]
        if (own := parse_lead(first)) is not None:
            first = first[own.end :]  # "LONDON (Reuters) - " is no part of a title
        sentences = _sentences(first.split("\n", 1)[0]) or [""]
        # "Sexta-feira, 9 de junho de 2017. Boa noite! ...": a date is no title.
        if len(sentences) > 1 and _date_line(sentences[0].rstrip(".")) is not None:
            sentences = sentences[1:]
        title = _clip(sentences[0], _MAX_TITLE)
    summary = _clip(content[0], _MAX_SUMMARY) if content else ""
    return Metadata(
        title=title,
        summary=summary,
        word_count=len(_WORD.findall(body)),
        char_count=len(body),
        paragraph_count=len(paragraphs),
        source=(lead.source if lead and lead.source else default_source),
        dateline=lead.place if lead else None,
        byline=byline,
        published=published,
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
