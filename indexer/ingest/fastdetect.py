"""langdetect's detector with its profiles held sparse and its inner loop in numpy.

langdetect keeps its 87,598 n-grams x 55 languages as Python lists of floats (66 MB in
every process that detects) and, for each n-gram it samples, updates 55 probabilities in
a Python loop. 96% of those numbers are zero. Here the profiles are one CSR matrix (about
2 MB) and each update does in numpy exactly the arithmetic langdetect does (``weight + p``
for every language, in float64, then the product), and the n-gram extraction is the same
state machine with the per-character normalisation cached. For a given seed the answers
are langdetect's own (tests/test_language.py compares them), at a fraction of the cost.
"""

from __future__ import annotations

import json
import math
import os
import re
from array import array

import numpy as np
from langdetect.detector import Detector
from langdetect.detector_factory import PROFILES_DIRECTORY
from langdetect.lang_detect_exception import ErrorCode, LangDetectException
from langdetect.utils.ngram import NGram

__all__ = ["FastDetector", "Profiles"]



class _Normalized(dict[int, str]):
    """``str.translate`` table applying langdetect's per-character normalisation."""

    def __missing__(self, code: int) -> str:
        self[code] = value = NGram.normalize(chr(code))
        return value


_NORMALIZED = _Normalized()
_SPACES = re.compile(" {2,}")
_LATIN = re.compile("[A-z]")  # langdetect's test: 'A' <= ch <= 'z'
_NON_LATIN = re.compile("[\u0300-\u1dff\u1f00-\U0010ffff]")  # >= U+0300, not Latin Extended Additional
_WORD_CACHE_SIZE = 100_000  # words; a news vocabulary fits, and the daemon stays small
_MAX_TEXT_LENGTH = 10_000  # langdetect's Detector.max_text_length


def _prepared(text: str, max_length: int = _MAX_TEXT_LENGTH) -> str:
    """What langdetect's ``Detector.append`` adds for ``text`` (URLs and e-mail addresses
    out, Vietnamese normalised, cut at ``max_length``, runs of spaces collapsed), with its
    per-character loop as a regex."""
    text = Detector.MAIL_RE.sub(" ", Detector.URL_RE.sub(" ", text))
    return _SPACES.sub(" ", NGram.normalize_vi(text)[:max_length])


def _cleaned(text: str) -> str:
    """langdetect's ``cleaning_text``: a text mostly in another script loses its Latin letters."""
    if text.isascii():  # nothing at or above U+0300: it keeps its letters
        return text
    if len(_LATIN.findall(text)) * 2 < len(_NON_LATIN.findall(text)):
        return _LATIN.sub("", text)
    return text


class Profiles:
    """All language profiles as one sparse matrix: row = n-gram, column = language.

    Holds what ``DetectorFactory`` holds (``langlist``, ``seed``, and in
    ``word_lang_prob_map`` each known n-gram, here mapped to its row).
    """

    def __init__(self, directory: str = PROFILES_DIRECTORY, seed: int = 0) -> None:
        self.seed = seed
        self.langlist: list[str] = []
        self.word_lang_prob_map: dict[str, int] = {}
        self._words: dict[str, tuple[int, ...]] = {}
        rows, columns, values = array("l"), array("l"), array("d")
        # langdetect's own order (the directory's), so that sums run in the same order.
        names = [n for n in os.listdir(directory) if not n.startswith(".")]
        for column, name in enumerate(names):
            with open(os.path.join(directory, name), encoding="utf-8") as f:
                profile = json.load(f)
            self.langlist.append(profile["name"])
            n_words = profile["n_words"]
            for word, freq in profile["freq"].items():
                if 1 <= len(word) <= 3:  # what DetectorFactory.add_profile computes
                    rows.append(self.word_lang_prob_map.setdefault(word, len(self.word_lang_prob_map)))
                    columns.append(column)
                    values.append(1.0 * freq / n_words[len(word) - 1])
        order = np.argsort(np.asarray(rows), kind="stable")
        self.columns = np.asarray(columns)[order]
        self.values = np.asarray(values)[order]
        counts = np.bincount(np.asarray(rows), minlength=len(self.word_lang_prob_map))
        self.starts = np.concatenate(([0], np.cumsum(counts)))  # row r's values: starts[r]:starts[r + 1]
        # For ``scores``: how much an n-gram raises each language's log-likelihood over an
        # n-gram it has never seen, with langdetect's default smoothing.
        smoothing = Detector.ALPHA_DEFAULT / Detector.BASE_FREQ
        self.log_gains = np.log(self.values + smoothing) - math.log(smoothing)

    def likeliest(self, texts: list[str]) -> list[str | None]:
        """For each text, the language of highest naive-Bayes log-likelihood over all its
        n-grams: langdetect's model evaluated once, with no sampling (None: no n-gram).
        Cheap; used to confirm that paragraphs are in a language already found. The texts
        are scored together, each as if alone (same sums in the same order)."""
        rows = [self.text_rows(text) for text in texts]
        found = [i for i, r in enumerate(rows) if r]
        best: list[str | None] = [None] * len(texts)
        if not found:
            return best
        # (text, n-gram) pairs, each text's n-grams in row order as np.unique gives them alone.
        stride = len(self.starts)
        keys = np.concatenate([np.asarray(rows[i]) + n * stride for n, i in enumerate(found)])
        distinct, counts = np.unique(keys, return_counts=True)
        entries, owner = self._entries(distinct % stride)
        weights = self.log_gains[entries] * counts[owner]
        languages = len(self.langlist)
        bins = (distinct // stride)[owner] * languages + self.columns[entries]
        scores = np.bincount(bins, weights=weights, minlength=len(found) * languages)
        scores = scores.reshape(len(found), languages)
        for i, column in zip(found, scores.argmax(axis=1).tolist(), strict=True):
            best[i] = self.langlist[column]
        return best

    def text_rows(self, text: str) -> list[int]:
        """The rows of the known n-grams of ``text`` as a fresh detector would take it in."""
        return self.rows_in(_cleaned(_prepared(text)))

    def rows_in(self, text: str) -> list[int]:
        """The rows of the text's known 1- to 3-grams, in langdetect's order.

        langdetect's NGram state machine starts afresh at every space, so the n-grams of a
        text are those of its words, each padded with the space before it and the one after
        it (if any): one cached lookup per word instead of a Python step per character.
        """
        pieces = text.translate(_NORMALIZED).split(" ")
        rows_of = self.rows_of
        result: list[int] = []
        last = len(pieces) - 1
        for i, word in enumerate(pieces):
            if word:
                result.extend(rows_of(f" {word} " if i < last else f" {word}"))
        return result

    def _entries(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For distinct n-gram ``rows``: the index of each of their stored values, and
        the position in ``rows`` each belongs to."""
        starts = self.starts[rows]
        lengths = self.starts[rows + 1] - starts
        owner = np.repeat(np.arange(len(rows)), lengths)
        return np.arange(len(owner)) + (starts - np.cumsum(lengths) + lengths)[owner], owner

    def dense_rows(self, rows: np.ndarray) -> np.ndarray:
        """The profiles of distinct n-grams ``rows`` as a dense (len(rows), languages) matrix."""
        entries, owner = self._entries(rows)
        dense = np.zeros((len(rows), len(self.langlist)))
        dense[owner, self.columns[entries]] = self.values[entries]
        return dense

    def rows_of(self, padded: str) -> tuple[int, ...]:
        """The known n-grams of one space-padded word, as NGram emits them character by
        character (1-, 2-, then 3-gram; none while inside a word in capitals)."""
        rows = self._words.get(padded)
        if rows is None:
            known, found = self.word_lang_prob_map, []
            for j in range(1, len(padded)):
                ch = padded[j]
                if ch.isupper() and padded[j - 1].isupper():
                    continue
                for gram in (ch, padded[j - 1 : j + 1], padded[j - 2 : j + 1] if j >= 2 else ""):
                    if gram and gram != " " and (row := known.get(gram)) is not None:
                        found.append(row)
            if len(self._words) >= _WORD_CACHE_SIZE:
                self._words.clear()
            self._words[padded] = rows = tuple(found)
        return rows

    def create(self) -> FastDetector:
        return FastDetector(self)


class FastDetector(Detector):  # type: ignore[misc]
    """A ``langdetect.Detector`` over ``Profiles``; same API, same answers."""

    def __init__(self, profiles: Profiles) -> None:
        super().__init__(profiles)
        self.profiles = profiles

    def append(self, text: str) -> None:
        """langdetect's ``append``, its per-character loop as a regex (``_prepared``)."""
        self.text += _prepared(text, self.max_text_length)

    def cleaning_text(self) -> None:
        self.text = _cleaned(self.text)

    def _detect_block(self) -> None:
        self.cleaning_text()
        ngrams = self.profiles.rows_in(self.text)
        if not ngrams:
            raise LangDetectException(ErrorCode.CantDetectError, "No features in text.")
        # The text's distinct n-grams as dense rows (a few hundred x 55): per trial, every
        # factor langdetect would compute (weight + p) is one addition, and each sampled
        # n-gram costs one row multiply. Drawing a position in a list as long as ``ngrams``
        # takes the same random numbers as drawing from ``ngrams``.
        distinct, positions = np.unique(np.asarray(ngrams), return_inverse=True)
        dense = self.profiles.dense_rows(distinct)
        positions = positions.tolist()
        # random.choice(positions), spelt out as CPython's Random does it (getrandbits of
        # the length's bit count, redrawn while too large): the same draws, fewer calls.
        count, bits, getrandbits = len(positions), len(positions).bit_length(), self.random.getrandbits
        langprob = np.zeros(len(self.langlist))
        self.random.seed(self.seed)
        for _ in range(self.n_trial):
            prob = np.array(self._init_probability(), dtype=np.float64)
            alpha = self.alpha + self.random.gauss(0.0, 1.0) * self.ALPHA_WIDTH
            factors = dense + alpha / self.BASE_FREQ
            # langdetect checks for convergence after the 1st n-gram, then after every 5th.
            draws = 1
            for i in range(0, self.ITERATION_LIMIT + 1, 5):
                for _ in range(draws):
                    r = getrandbits(bits)
                    while r >= count:
                        r = getrandbits(bits)
                    prob *= factors[positions[r]]
                draws = 5
                prob /= sum(prob.tolist())  # left to right, as langdetect sums
                if prob.max() > self.CONV_THRESHOLD or i >= self.ITERATION_LIMIT:
                    break
            langprob += prob / self.n_trial
        self.langprob = langprob.tolist()
