"""Text clean-up: one canonical form for storing, hashing and indexing."""

from __future__ import annotations

import itertools
import re
import unicodedata

__all__ = ["NORMALIZER_VERSION", "join_broken_sentences", "normalize"]

# Bump when a rule changes what is stored; `indexer reindex --reprocess` re-applies it.
# 2: line separators, soft hyphens, hyphenation and hard-wrap joins, boilerplate removal.
# 3: page furniture by jusText's classes (pagefurniture.py), one-line paragraphs kept
#    apart, broken sentences joined, repeated lines of paragraph length dropped.
# 4: headline titles, derived titles, date sources, language by the text's majority.
# 5: what a page puts under its article (comments, related lists, author and sign-up boxes).
NORMALIZER_VERSION = 5

_NEWLINES = re.compile(r"\r\n?|[\x0b\x85\u2028]")
_PARAGRAPH_BREAKS = re.compile(r"[\x0c\u2029]")
# C0/C1 controls except tab and newline; zero-width space, word joiner, BOM and the
# invisible bidi controls. U+200C/U+200D are handled apart: inside Persian or Indic
# words (and emoji sequences) they are spelling, elsewhere noise.
_INVISIBLE = re.compile(
    r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u180e\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)
_STRAY_JOINERS = re.compile(r"(?<!\w)[\u200c\u200d]+|[\u200c\u200d]+(?!\w)")
_SPACES = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_OTHER_SPACE = re.compile(r"[\t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_BLANKS = re.compile(r"\n{3,}")
_SOFT_HYPHEN = "\u00ad"
# A word broken at the end of a line: letters, then a hyphen (ASCII, U+2010 or soft).
_BROKEN_WORD = re.compile(r"(\w*[^\W\d_])([-\u2010\u00ad])$")
_NEXT_WORD = re.compile(r"^([^\W\d_]\w*)")
_HYPHEN_END = re.compile(r"\w[-\u2010]$")
_WORDS = re.compile(r"(?<![-\u2010\u00ad]\n)\b\w+\b(?![-\u2010\u00ad]\n)")
_LIST_ITEM = re.compile(r"^(?:[-*•·–—▪►]\s|\d{1,3}[.)]\s|[a-z][.)]\s)")
_SENTENCE_END = re.compile(r"[.!?…:;\"”’»)\]。！？」』）]$")

# Hard-wrapped text (mail, Usenet, fixed-width exports) is wrapped somewhere between 40
# and ~130 columns; lines longer than this are paragraphs, never wrapped ones.
_MAX_WRAP_WIDTH = 150
_MIN_WRAP_WIDTH = 30
# A wrapped document has most of its non-final lines filled close to the width.
_FULL_LINE = 0.75
_MIN_FULL_SHARE = 0.6
# Wrapped prose breaks mid-sentence, so many continuation lines start in lower case
# (fewer in German, where nouns are capitalised, or in a paragraph of names); list items
# almost never do.
_MIN_LOWER_SHARE = 0.1
# One paragraph per line: the lines end sentences. A wrapper breaks mid-sentence, so few
# of its lines end one (a sentence end falling at the margin).
_MAX_SENTENCE_END_SHARE = 0.5
# A sentence a scraper broke at an inline element (a link on a line of its own): the part
# before runs on (several words, no sentence end), the part after goes on in lower case
# or with the punctuation that continues a clause.
_RUN_ON_WORDS = 3
_RUNS_ON = re.compile(r"[^\W_][,]?$")
_GOES_ON = re.compile(r"^(?:[,;.:)\]]\s|[,;)\]]|[^\W\d_])")
# The broken-out part itself: a link text, a name.
_FRAGMENT_WORDS = 6
_CJK = re.compile(r"[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")


def normalize(text: str) -> str:
    """One canonical text: NFC, LF, no invisible characters, unwrapped, single spaces."""
    text = unicodedata.normalize("NFC", text)
    text = _NEWLINES.sub("\n", text)
    text = _PARAGRAPH_BREAKS.sub("\n\n", text)
    text = _INVISIBLE.sub("", text)
    # The two costliest substitutions, skipped when they would change nothing (most texts).
    if "\u200c" in text or "\u200d" in text:
        text = _STRAY_JOINERS.sub("", text)
    if "  " in text or _OTHER_SPACE.search(text):
        text = _SPACES.sub(" ", text)
    lines = [line.strip() for line in text.split("\n")]
    lines = _rejoin(lines, text)
    lines = join_broken_sentences(lines)
    text = "\n".join(line.replace(_SOFT_HYPHEN, "") for line in lines)
    text = _BLANKS.sub("\n\n", text)
    return text.strip()


def _rejoin(lines: list[str], text: str) -> list[str]:
    """Join words broken across lines, then lines a wrapper broke, keeping the author's."""
    width = _wrap_width(lines)
    headline = next((i for i, line in enumerate(lines) if line), -1)
    words: set[str] | None = None
    out: list[str] = []
    for i, line in enumerate(lines):
        prev = lines[i - 1] if i else ""
        if not (prev and line and out and out[-1]):
            out.append(line)
            continue
        broken = _BROKEN_WORD.search(prev)
        nxt = _NEXT_WORD.match(line)
        if broken and nxt and nxt.group(1)[0].islower():
            if words is None:
                words = set(_WORDS.findall(text.lower()))
            hyphen = "-" if _keep_hyphen(broken.group(1), broken.group(2), nxt.group(1), text, words) else ""
            out[-1] = out[-1][: -len(broken.group(2))] + hyphen + line
        elif width is not None and _was_wrapped(prev, line, width, headline=i - 1 == headline):
            out[-1] += _separator(prev, line) + line
        else:
            out.append(line)
    return out


def join_broken_sentences(lines: list[str], across_blank_lines: bool = False) -> list[str]:
    """Join the parts of a sentence a scraper put on lines of their own.

    "The report by" / "Amnesty International" / "found that ..." is one sentence: the
    line before runs on, the line after goes on. A line that ends a sentence, a headline
    above a paragraph (which starts with a capital) and list items stay apart. Not
    across a blank line unless asked (for a page whose blocks a scraper cut at inline
    elements): in an article, an author's paragraph break stays, even after a sentence
    left unfinished (the BBC corpus has a few, where a link's words were lost).
    """
    out: list[str] = []
    for line in lines:
        if not (line and _goes_on(line)):
            out.append(line)
            continue
        before = _previous(out, len(out), across_blank_lines)
        earlier = None if before is None else _previous(out, before, across_blank_lines)
        if (
            before is not None
            and earlier is not None
            and len(out[before].split()) <= _FRAGMENT_WORDS
            and not _SENTENCE_END.search(out[before])
            and _runs_on(out[earlier])
        ):
            fragment = out[before]
            _join(out, earlier, fragment)
            _join(out, earlier, line)
            continue
        if before is not None and _runs_on(out[before]):
            _join(out, before, line)
            continue
        out.append(line)
    return out


def _previous(out: list[str], end: int, across_blank_line: bool) -> int | None:
    """The index of the line just before ``end`` (across one blank line if asked)."""
    i = end - 1
    if across_blank_line and i >= 0 and not out[i]:
        i -= 1
    return i if i >= 0 and out[i] else None


def _runs_on(line: str) -> bool:
    return (
        len(line.split()) >= _RUN_ON_WORDS and _RUNS_ON.search(line) is not None and not _CJK.search(line[-1])
    )


def _goes_on(line: str) -> bool:
    match = _GOES_ON.match(line)
    return match is not None and (not line[0].isalpha() or line[0].islower()) and not _LIST_ITEM.match(line)


def _join(out: list[str], at: int, line: str) -> None:
    """Append ``line`` to out[at], the line it continues (dropping a blank line between)."""
    glue = "" if line[0] in ",;.:)]" else " "
    out[at] = out[at] + glue + line
    del out[at + 1 :]


def _keep_hyphen(left: str, hyphen: str, right: str, text: str, words: set[str]) -> bool:
    """Whether "left-" + "right" across a line break is a compound, not a hyphenated word.

    A typesetter's break unless the document itself writes the hyphenated form elsewhere
    ("well-known"), or uses both halves as words but never the joined form ("year" +
    "old"); soft hyphens are always a typesetter's.
    """
    if hyphen == _SOFT_HYPHEN or f"{left}{right}".lower() in words:
        return False
    return f"{left}-{right}" in text or (left.lower() in words and right.lower() in words)


def _separator(prev: str, line: str) -> str:
    if _CJK.match(prev[-1]) or _CJK.match(line[0]):
        return ""  # Chinese and Japanese put no space between words, nor before "12日"
    if _HYPHEN_END.search(prev):
        return ""  # "Rolls-" + "Royce": a compound the wrapper broke at its hyphen
    return " "


def _wrap_width(lines: list[str]) -> int | None:
    """The column a hard-wrapped document was wrapped at, or None when it is not wrapped.

    Wrapped: most lines that run on into another line are filled close to one width, and
    (in cased scripts) many continuations start in lower case, mid-sentence. A list of
    similar-length items fails the second test; one-line paragraphs fail the first.
    """
    pairs = [(a, b) for a, b in itertools.pairwise(lines) if a and b]
    if len(pairs) < 2:
        return None
    if sum(1 for a, _ in pairs if _SENTENCE_END.search(a)) >= len(pairs) * _MAX_SENTENCE_END_SHARE:
        return None
    lengths = sorted(_columns(line) for line in lines if line)
    fitting = [n for n in lengths if n <= _MAX_WRAP_WIDTH]
    if len(fitting) < len(lengths) * 0.95:
        return None
    width = fitting[-1]
    if width < _MIN_WRAP_WIDTH:
        return None
    if sum(1 for a, _ in pairs if _columns(a) >= width * _FULL_LINE) < len(pairs) * _MIN_FULL_SHARE:
        return None
    cased = [b[0] for _, b in pairs if b[0].isupper() or b[0].islower()]
    # Only where most lines start with a cased letter: a few Latin words in Chinese say nothing.
    if (
        len(cased) * 2 >= len(pairs)
        and sum(1 for ch in cased if ch.islower()) < len(cased) * _MIN_LOWER_SHARE
    ):
        return None
    return width


def _columns(line: str) -> int:
    """Display width: Chinese and Japanese characters take two columns, as wrappers count them."""
    return len(line) + len(_CJK.findall(line))


def _was_wrapped(line: str, nxt: str, width: int, headline: bool = False) -> bool:
    """Whether the break after ``line`` was made by a wrapper, not by the author."""
    columns = _columns(line)
    if _CJK.match(nxt[0]):
        # Chinese and Japanese wrap between any two characters, with no space.
        if columns + 2 > width:
            return True
    elif columns + 1 + _columns(nxt.split(" ", 1)[0]) > width:
        return True  # the next word did not fit: the classic greedy wrap
    # Optimal wrappers (fmt, par) break a little early, but never after a sentence end
    # and never before a list item. A headline above its text is as long as it is, and
    # ends without a full stop: it only joins when the next word could not have fitted.
    return (
        not headline
        and columns >= width * _FULL_LINE
        and not _SENTENCE_END.search(line)
        and not _LIST_ITEM.match(nxt)
    )
