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
import os
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
_WORD_CACHE_SIZE = 100_000  # words; a news vocabulary fits, and the daemon stays small


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
        self.starts = np.concatenate(([0], np.cumsum(counts))).tolist()

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

    def _extract_ngrams(self) -> list[int]:
        """The rows of the text's known 1- to 3-grams, in langdetect's order.

        langdetect's NGram state machine starts afresh at every space, so the n-grams of a
        text are those of its words, each padded with the space before it and the one after
        it (if any): one cached lookup per word instead of a Python step per character.
        """
        pieces = self.text.translate(_NORMALIZED).split(" ")
        rows_of = self.profiles.rows_of
        result: list[int] = []
        last = len(pieces) - 1
        for i, word in enumerate(pieces):
            if word:
                result.extend(rows_of(f" {word} " if i < last else f" {word}"))
        return result

    def _detect_block(self) -> None:
        self.cleaning_text()
        ngrams = self._extract_ngrams()
        if not ngrams:
            raise LangDetectException(ErrorCode.CantDetectError, "No features in text.")
        starts, columns, values = self.profiles.starts, self.profiles.columns, self.profiles.values
        size = len(self.langlist)
        langprob = np.zeros(size)
        self.random.seed(self.seed)
        for _ in range(self.n_trial):
            prob = np.array(self._init_probability(), dtype=np.float64)
            alpha = self.alpha + self.random.gauss(0.0, 1.0) * self.ALPHA_WIDTH
            weight = np.full(size, alpha / self.BASE_FREQ)
            i = 0
            while True:
                row = self.random.choice(ngrams)
                start, end = starts[row], starts[row + 1]
                factor = weight.copy()
                factor[columns[start:end]] += values[start:end]
                prob *= factor
                if i % 5 == 0:
                    prob /= sum(prob.tolist())  # left to right, as langdetect sums
                    if prob.max() > self.CONV_THRESHOLD or i >= self.ITERATION_LIMIT:
                        break
                i += 1
            langprob += prob / self.n_trial
        self.langprob = langprob.tolist()
