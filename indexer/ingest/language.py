"""Language identification with langdetect, deterministic across processes."""

from __future__ import annotations

import re
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

__all__ = ["UNDETERMINED", "Detection", "detect", "detect_raw"]

UNDETERMINED = "und"

# langdetect's cost grows with the text (it walks every character in Python), its
# accuracy stops growing long before: ~1,000 characters of news decide as well as 10,000.
_SAMPLE_CHARS = 1000
# Per-paragraph detection, for texts that mix languages: only paragraphs long enough to be
# told apart reliably, a bounded number of them, each cut short.
_PARAGRAPH_MIN_LETTERS = 120
_PARAGRAPH_SAMPLE_CHARS = 200
_MAX_PARAGRAPHS = 5
# When the opening sample is sure, its paragraphs need no second look; when it is unsure,
# the text likely mixes: check more of it.
_UNSURE = 0.99
_MAX_PARAGRAPHS_UNSURE = 12
# langdetect runs 7 trials; on 200 characters of one language 2 agree, and when they do
# not, the chunk counts for no language (below the minimum probability).
_PARAGRAPH_TRIALS = 2
_PARAGRAPH_MIN_PROBABILITY = 0.9
# A second language must cover this share of the checked text to mark the document mixed.
_MIXED_SHARE = 0.2
# A text that repeats its sentences is as sure as the letters of its distinct ones: a
# certain answer takes this many (a short sentence said ten times is not French for sure).
_REPEATED_EVIDENCE = 100
# Where sentences end, for counting a repeated one once.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?。！？])\s+|\n+")
# A paragraph with more capitalised words than this is a list of names (a line-up, credits),
# not prose; news prose full of names stays well below.
_MAX_CAPITALISED = 0.7
# A script covering this share of the letters settles which languages are possible.
_DOMINANT_SCRIPT = 0.8
# Prior weight of a language whose alphabet lacks a letter the text uses ("ы" is not
# Ukrainian, "ř" not Slovak). Not zero: names and loanwords carry foreign letters.
_FOREIGN_LETTER_PRIOR = 0.02
# Ideographs and syllables carry more than a letter each: a 10-character Chinese sentence
# is as detectable as 30 Latin letters.
_DENSE_SCRIPT_WEIGHT = 3


@dataclass(frozen=True, slots=True)
class Detection:
    language: str
    probability: float
    runner_up: str | None = None
    languages: tuple[str, ...] = ()  # set only when a second language covers a real share
    shares: tuple[float, ...] = ()  # of the prose, for each of ``languages``


# Script ranges (start, end inclusive, script); letters outside them count as "other".
_RANGES = sorted(
    [
        (0x0041, 0x005A, "latin"),
        (0x0061, 0x007A, "latin"),
        (0x00C0, 0x00D6, "latin"),
        (0x00D8, 0x00F6, "latin"),
        (0x00F8, 0x024F, "latin"),
        (0x1E00, 0x1EFF, "latin"),
        (0x0370, 0x03FF, "greek"),
        (0x1F00, 0x1FFF, "greek"),
        (0x0400, 0x052F, "cyrillic"),
        (0x0590, 0x05FF, "hebrew"),
        (0x0600, 0x06FF, "arabic"),
        (0x0750, 0x077F, "arabic"),
        (0xFB50, 0xFDFF, "arabic"),
        (0xFE70, 0xFEFF, "arabic"),
        (0x0900, 0x097F, "devanagari"),
        (0x0980, 0x09FF, "bengali"),
        (0x0A00, 0x0A7F, "gurmukhi"),
        (0x0A80, 0x0AFF, "gujarati"),
        (0x0B80, 0x0BFF, "tamil"),
        (0x0C00, 0x0C7F, "telugu"),
        (0x0C80, 0x0CFF, "kannada"),
        (0x0D00, 0x0D7F, "malayalam"),
        (0x0E00, 0x0E7F, "thai"),
        (0x1100, 0x11FF, "hangul"),
        (0x3130, 0x318F, "hangul"),
        (0xAC00, 0xD7AF, "hangul"),
        (0x3040, 0x30FF, "kana"),
        (0x31F0, 0x31FF, "kana"),
        (0xFF66, 0xFF9F, "kana"),
        (0x3400, 0x4DBF, "han"),
        (0x4E00, 0x9FFF, "han"),
        (0xF900, 0xFAFF, "han"),
    ]
)


def _class(script: str) -> str:
    return "".join(f"\\U{start:08x}-\\U{end:08x}" for start, end, name in _RANGES if name == script)


_SCRIPT_PATTERNS = tuple(
    (script, re.compile(f"[{_class(script)}]")) for script in dict.fromkeys(n for _, _, n in _RANGES)
)
# Letters of any script, plus the Indic and Thai vowel signs (combining marks, not \w).
_LETTER = re.compile(r"[^\W\d_]|[\u0900-\u0e7f]")
_ASCII_LETTERS = bytes(range(ord("A"), ord("Z") + 1)) + bytes(range(ord("a"), ord("z") + 1))
_DENSE = frozenset({"han", "kana", "hangul"})

_LATIN = (
    "af", "ca", "cs", "cy", "da", "de", "en", "es", "et", "fi", "fr", "hr", "hu", "id", "it", "lt",
    "lv", "nl", "no", "pl", "pt", "ro", "sk", "sl", "so", "sq", "sv", "sw", "tl", "tr", "vi",
)  # fmt: skip
# Which of langdetect's 55 languages each script can be. Scripts with one language are
# decided without langdetect, which confuses short Chinese with Korean, for one.
_SCRIPT_LANGUAGES: dict[str, tuple[str, ...]] = {
    "latin": _LATIN,
    "cyrillic": ("bg", "mk", "ru", "uk"),
    "greek": ("el",),
    "hebrew": ("he",),
    "arabic": ("ar", "fa", "ur"),
    "devanagari": ("hi", "mr", "ne"),
    "bengali": ("bn",),
    "gurmukhi": ("pa",),
    "gujarati": ("gu",),
    "tamil": ("ta",),
    "telugu": ("te",),
    "kannada": ("kn",),
    "malayalam": ("ml",),
    "thai": ("th",),
    "hangul": ("ko",),
    "kana": ("ja",),
    "han": ("zh-cn", "zh-tw"),
}

# Letters a language's alphabet does not have, among the languages it is confused with.
_FOREIGN_LETTERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ыэё", ("uk", "bg", "mk")),
    ("іїєґ", ("ru", "bg", "mk")),
    ("ъ", ("uk", "mk")),
    ("щйьюя", ("mk",)),
    ("јљњќѓѕџ", ("ru", "uk", "bg")),
    ("řěů", ("sk", "sl", "hr", "pl")),
    ("ľĺŕ", ("cs",)),
    ("ćđ", ("sl", "cs", "sk")),
    ("ł", ("cs", "sk", "sl", "hr")),
    ("ășțşţ", ("it", "es", "pt", "fr", "ca")),
    ("ãõ", ("es", "ca", "it", "fr")),
    ("ç", ("es", "it")),
    ("ñ", ("ca", "pt")),
    ("àèò", ("es",)),
    ("äö", ("no", "da")),
    ("æø", ("sv", "fi", "de", "et")),
    ("ß", ("nl", "da", "no", "sv", "af")),
)

_lock = threading.Lock()
_factory: Any = None


def _get_factory() -> Any:
    """langdetect's detector, in langdetect-rs's Rust port (the same answers bit for bit,
    tests/test_language.py compares them), loaded once per process, seed fixed."""
    global _factory
    with _lock:
        if _factory is None:
            from langdetect_rs import PROFILES_DIRECTORY, DetectorFactory

            _factory = DetectorFactory()
            _factory.load_profile(PROFILES_DIRECTORY)
            _factory.set_seed(0)  # langdetect is random by design; fix it per process
    return _factory


def _script_counts(text: str) -> Counter[str]:
    """Letters per script. Indic and Thai vowel signs are combining marks, not "alpha",
    yet they are letters; one regex per script keeps this off the per-character Python path."""
    counts: Counter[str] = Counter()
    if text.isascii():  # most news: its letters are A-Z and a-z, counted as the bytes they are
        if n := len(text) - len(text.encode("ascii").translate(None, _ASCII_LETTERS)):
            counts["latin"] = n
        return counts
    for script, pattern in _SCRIPT_PATTERNS:
        if n := len(pattern.findall(text)):
            counts[script] = n
    # Script ranges also hold a few marks and digits (Arabic comma, Devanagari danda), so
    # "other" is what the letters exceed them by, never less than nothing.
    if (other := len(_LETTER.findall(text)) - sum(counts.values())) > 0:
        counts["other"] = other
    return counts


def _weight(counts: Counter[str]) -> int:
    return sum(n * (_DENSE_SCRIPT_WEIGHT if s in _DENSE else 1) for s, n in counts.items())


def _candidates(counts: Counter[str]) -> tuple[tuple[str, ...], float] | None:
    """The languages the text's script allows and that script's share of the letters,
    or None when no script dominates."""
    total = sum(counts.values())
    if not total:
        return None
    cjk = counts["han"] + counts["kana"] + counts["hangul"]
    if cjk >= total * _DOMINANT_SCRIPT:
        # Japanese mixes kana into its kanji, Korean may mix hanja into its hangul.
        if counts["hangul"] >= cjk * 0.3:
            return ("ko",), cjk / total
        if counts["kana"] >= cjk * 0.05:
            return ("ja",), cjk / total
        return _SCRIPT_LANGUAGES["han"], cjk / total
    script, n = counts.most_common(1)[0]
    if n < total * _DOMINANT_SCRIPT or script not in _SCRIPT_LANGUAGES:
        return None
    return _SCRIPT_LANGUAGES[script], n / total


def _priors(text: str, candidates: tuple[str, ...] | None, langlist: list[str]) -> dict[str, float] | None:
    allowed = set(candidates) if candidates is not None else set(langlist)
    prior = {lang: 1.0 if lang in allowed else 0.0 for lang in langlist}
    hinted = False
    for letters, excluded in _FOREIGN_LETTERS:
        if any(ch in text for ch in letters):
            for lang in excluded:
                if prior.get(lang):
                    prior[lang] = _FOREIGN_LETTER_PRIOR
                    hinted = True
    if (candidates is None and not hinted) or not any(prior.values()):
        return None
    return prior


def _langdetect(text: str, priors: dict[str, float] | None, trials: int = 7) -> list[tuple[str, float]]:
    from langdetect_rs import LangDetectException

    detector = _get_factory().create()
    detector.n_trial = trials
    if priors is not None:
        detector.set_prior_map(priors)
    detector.append(_unshouted(text))
    try:
        ranked = detector.get_probabilities()
    except LangDetectException:
        return []
    return [(r.lang, r.prob) for r in ranked]


def _unshouted(text: str) -> str:
    """``text`` in lower case when most of its letters are capitals: langdetect skips words
    written in capitals (acronyms), so a shouted paragraph would leave it a handful of
    features and a confident wrong answer."""
    return text.lower() if sum(map(str.isupper, text)) > sum(map(str.islower, text)) else text


def _rank(text: str, counts: Counter[str], trials: int = 7) -> list[tuple[str, float]]:
    found = _candidates(counts)
    candidates = found[0] if found else None
    if found is not None and len(found[0]) == 1:
        # One language writes this script: nothing for langdetect to weigh.
        return [(found[0][0], found[1])]
    factory = _get_factory()
    return _langdetect(text, _priors(text, candidates, factory.langlist), trials)


def _sample(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", limit // 2, limit)
    return text[: cut if cut > 0 else limit]


def detect(
    text: str,
    min_chars: int = 20,
    min_probability: float = 0.7,
    allowed: tuple[str, ...] = (),
    paragraphs: bool = True,
) -> Detection:
    """The language of ``text``: top language, probability, runner-up, and whether it mixes.

    Too short (fewer than ``min_chars`` letters, ideographs counting triple, a sentence
    said many times counting once) or less certain than ``min_probability`` gives "und";
    so does a language outside ``allowed``. The language is that of most of the text's
    prose: an opening in another language (a menu, a header over a translated body) does
    not decide it. A text whose paragraphs are in several languages gets them in
    ``languages``, largest share first, and their shares of the prose in ``shares``.
    """
    sample = _sample(text, _SAMPLE_CHARS)
    counts = _script_counts(sample)
    weight = _weight(counts)
    if weight < min_chars:
        return Detection(UNDETERMINED, 0.0)
    # A sentence repeated is no more evidence than the sentence once.
    evidence = _evidence(sample, counts, weight)
    if evidence < min_chars:
        return Detection(UNDETERMINED, 0.0)
    ranked = _rank(sample, counts)
    if not ranked:
        return Detection(UNDETERMINED, 0.0)
    top, probability = ranked[0]
    # A text that repeats its sentences is as sure as the letters of its distinct ones.
    ceiling = min(1.0, evidence / _REPEATED_EVIDENCE) if evidence < weight else 1.0
    probability = min(probability, ceiling)
    runner_up = ranked[1][0] if len(ranked) > 1 else None
    shares: tuple[tuple[str, float], ...] = ()
    if paragraphs and probability >= _UNSURE:
        shares = _shares(text, _MAX_PARAGRAPHS, len(sample))
    elif paragraphs:
        shares = _shares(text, _MAX_PARAGRAPHS_UNSURE, 0)
    mixed = tuple(lang for lang, share in shares if share >= _MIXED_SHARE and lang != UNDETERMINED)
    languages = mixed if len(mixed) >= 2 else ()
    known = [(lang, share) for lang, share in shares if lang != UNDETERMINED]
    if known:
        # The language of most of the prose is the text's, as sure as its share of the prose
        # some language was found for, or as the opening when that agrees (a mixed text is
        # its largest language, not "und").
        share = known[0][1] / sum(n for _, n in known)
        if known[0][0] != top:
            runner_up, top, probability = top, known[0][0], share
        else:
            probability = max(probability, share)
        if languages:
            probability = max(probability, min_probability)
        probability = min(probability, ceiling)
    if languages and top not in languages:
        languages = (top, *languages)
    share_of = dict(known)
    of_prose = tuple(round(share_of.get(lang, 0.0), 2) for lang in languages)
    if probability < min_probability or (allowed and top not in allowed):
        return Detection(UNDETERMINED, round(probability, 4), top, languages, of_prose)
    return Detection(top, round(probability, 4), runner_up, languages, of_prose)


def _evidence(sample: str, counts: Counter[str], weight: int) -> int:
    """The weight of ``sample`` with each repeated sentence counted once (``weight`` when
    none repeats, the usual case, found without counting again)."""
    sentences = [s for s in _SENTENCE_BREAK.split(sample) if s.strip()]
    distinct = {" ".join(s.split()).casefold() for s in sentences}
    if len(distinct) == len(sentences):
        return weight
    return _weight(_script_counts(" ".join(distinct)))


def _chunks(text: str) -> list[tuple[int, str]]:
    """Prose paragraphs long enough to tell apart, short neighbours merged, each with the
    offset where it ends.

    A long paragraph is never merged with short ones before it: where a text changes
    language is a paragraph break, and a chunk across it would be neither language.
    """
    chunks: list[tuple[int, str]] = []
    pending: list[str] = []
    pending_weight = 0
    end = 0
    for paragraph in text.split("\n\n"):
        end += len(paragraph) + 2
        head = paragraph[: _PARAGRAPH_SAMPLE_CHARS * 2]
        if not _is_prose(head):
            continue
        weight = _weight(_script_counts(head))
        if weight >= _PARAGRAPH_MIN_LETTERS:
            if pending_weight >= _PARAGRAPH_MIN_LETTERS // 2:
                chunks.append((end - len(paragraph) - 2, "\n\n".join(pending)))
            pending, pending_weight = [], 0
            chunks.append((end, paragraph))
            continue
        pending.append(paragraph)
        pending_weight += weight
        if pending_weight >= _PARAGRAPH_MIN_LETTERS:
            chunks.append((end, "\n\n".join(pending)))
            pending, pending_weight = [], 0
    if pending_weight >= _PARAGRAPH_MIN_LETTERS // 2:
        chunks.append((end, "\n\n".join(pending)))
    return chunks


def _shares(text: str, limit: int, covered: int) -> tuple[tuple[str, float], ...]:
    """(language, share of the prose's characters) of each language found, largest first;
    UNDETERMINED for the chunks no language was sure for.

    ``covered`` is the length of the opening sample when its language was sure (0 when
    not): a text that is one chunk within it needs no second look. Of the chunks after
    it, at most ``limit`` spread over the text are looked at, and stand for all of them.
    """
    chunks = _chunks(text)
    if not chunks or (covered and len(chunks) < 2 and chunks[0][0] <= covered):
        return ()
    inside = [chunk for end, chunk in chunks if end <= covered]
    after = [chunk for end, chunk in chunks if end > covered]
    checked = list(inside)
    scale = 1.0
    if after:
        step = len(after) / min(limit, len(after))
        spread = [after[int(i * step)] for i in range(min(limit, len(after)))]
        scale = sum(map(len, after)) / sum(map(len, spread))
        checked += spread
    shares: defaultdict[str, float] = defaultdict(float)
    for i, chunk in enumerate(checked):
        # The chunks after the opening stand for all of them.
        weight = len(chunk) * (scale if i >= len(inside) else 1.0)
        sample = _sample(chunk, _PARAGRAPH_SAMPLE_CHARS)
        ranked = _rank(sample, _script_counts(sample), _PARAGRAPH_TRIALS)
        sure = ranked and ranked[0][1] >= _PARAGRAPH_MIN_PROBABILITY
        shares[ranked[0][0] if sure else UNDETERMINED] += weight  # unsure: in the total, no language's
    total = sum(shares.values())
    if not total:
        return ()
    largest_first = sorted(shares.items(), key=itemgetter(1), reverse=True)  # ties: first seen first
    return tuple((lang, round(n / total, 4)) for lang, n in largest_first if n)


def _is_prose(text: str) -> bool:
    """Whether a paragraph is sentences, not a list of names (a team line-up, credits):
    names are in no language, and langdetect calls them English."""
    initials = [word[0] for word in text.split() if word[0].isupper() or word[0].islower()]
    return sum(1 for ch in initials if ch.isupper()) <= len(initials) * _MAX_CAPITALISED


def detect_raw(text: str) -> str:
    """Plain seeded langdetect, no sampling, priors or thresholds: the baseline we measure against."""
    ranked = _langdetect(text, None)
    return ranked[0][0] if ranked else UNDETERMINED
