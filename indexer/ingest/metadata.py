"""News metadata from normalized text: title, counts, summary."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

__all__ = ["Metadata", "extract"]

_MAX_TITLE = 200
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s")
_WORD = re.compile(r"\w+")


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


def _title(paragraphs: list[str]) -> str:
    if not paragraphs:
        return ""
    first = paragraphs[0].split("\n", 1)[0].strip()
    if len(first) <= _MAX_TITLE and not first.endswith((".", ",", ";", ":")):
        return first
    sentence = _SENTENCE_END.split(first, maxsplit=1)[0]
    if len(sentence) > _MAX_TITLE:
        sentence = sentence[:_MAX_TITLE].rsplit(" ", 1)[0] + "…"
    return sentence


def extract(body: str) -> Metadata:
    paragraphs = [p for p in body.split("\n\n") if p.strip()]
    title = _title(paragraphs)
    rest = paragraphs[1:] if paragraphs and paragraphs[0] == title else paragraphs
    return Metadata(
        title=title,
        summary=rest[0] if rest else "",
        word_count=len(_WORD.findall(body)),
        char_count=len(body),
        paragraph_count=len(paragraphs),
    )
