"""The synthetic archive of `scripts/bench --docs N`: deterministic, unique, growing vocabulary."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import corpora_or_skip
from tools.synth import Synthesizer


@pytest.fixture(scope="module")
def corpora() -> Path:
    return corpora_or_skip("bbc").parent


@pytest.fixture(scope="module")
def synth(corpora: Path) -> Synthesizer:
    return Synthesizer(corpora, seed=7)


def test_an_article_depends_only_on_the_seed_and_its_number(synth: Synthesizer, corpora: Path) -> None:
    again = Synthesizer(corpora, seed=7)
    assert [a.text for a in synth.articles(50)] == [again.article(i).text for i in range(50)]
    other = Synthesizer(corpora, seed=8)
    assert sum(synth.article(i).text == other.article(i).text for i in range(50)) == 0


def test_articles_are_unique_apart_from_a_few_syndicated_copies(synth: Synthesizer) -> None:
    articles = list(synth.articles(3000))
    copies = [a for k, a in enumerate(articles) if a.story != k]
    assert 0.015 < len(copies) / len(articles) < 0.05
    assert len({a.text for a in articles}) == len(articles)
    clusters = Counter(a.story for a in articles)
    assert max(clusters.values()) <= 8
    for copy in copies[:20]:
        original = articles[copy.story]
        assert copy.story < articles.index(copy)
        assert copy.lang == original.lang
        # A near-copy shares most of its words with its original.
        words, theirs = set(copy.text.split()), set(original.text.split())
        assert len(words & theirs) / len(words | theirs) > 0.6


def test_the_vocabulary_keeps_growing_with_the_archive(synth: Synthesizer) -> None:
    seen: set[str] = set()
    sizes = {}
    for k, article in enumerate(synth.articles(4000), 1):
        seen.update(re.findall(r"[a-z]+", article.text.lower()))
        if k in (1000, 4000):
            sizes[k] = len(seen)
    # Heaps' law: four times the articles gives clearly more distinct words (real news: ~2x).
    assert sizes[4000] > 1.4 * sizes[1000]


def test_articles_mix_languages_and_are_written_one_per_file(synth: Synthesizer, tmp_path: Path) -> None:
    langs = Counter(a.lang for a in synth.articles(2000))
    assert langs["en"] > 400 and len(langs) >= 8
    files, nbytes = synth.write(1200, tmp_path)
    written = sorted(tmp_path.rglob("*.txt"))
    assert files == len(written) == 1200
    assert nbytes == sum(p.stat().st_size for p in written)
    assert len({p.parent for p in written}) == 2
    first = written[0].read_text(encoding="utf-8")
    assert first == synth.article(0).text
    title, blank, _ = first.split("\n", 2)
    assert title and not blank
