"""A synthetic archive of N unique news-like articles, built from the shared corpora.

Real archives are not ten copies of one corpus: their vocabulary keeps growing with their
size (names, places, typos, new words), most articles are unique, and a few percent are
syndicated copies of one story in small clusters. The articles made here imitate that:

- each article recombines paragraphs of several source articles of one language and
  category (the BBC's five sections, the multilingual corpus's categories), with the title
  and the lead paragraph of one of them;
- numbers are rewritten and rare words are inserted, drawn from an unbounded Zipf curve
  (rank r has probability ~ r**-s), so that the number of distinct words grows with N;
- SYNDICATED of the articles are near-copies of an earlier article (a new dateline, a
  reworded title, a paragraph dropped or a few words changed), a cluster of two or three.

Article i depends only on (seed, i), so any article can be made again without the others
(the benchmark rebuilds a sample to write its queries) and the corpus is the same on every
machine for one seed.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

SYNDICATED = 0.03  # share of articles that are near-copies of an earlier one
COPY_DISTANCE = 400  # a copy follows its original within this many articles
ZIPF_S = 1.15  # steepness of the rare-word curve: lower grows the vocabulary faster
RARE_PER_ARTICLE = (2, 9)
PER_FOLDER = 1000
SENTENCE_END = re.compile(r"(?<=[.!?。！？؟])\s+|(?<=[。！？])")
DIGITS = "0123456789"
SYLLABLES = tuple(
    c + v
    for c in ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "st", "tr")
    for v in ("a", "e", "i", "o", "u", "ai", "ou")
)
DATELINES = ("(Reuters) - ", "(AP) — ", "(AFP) - ", "LONDON - ", "NEW YORK — ", "PARIS (AFP) - ")
TITLE_PREFIXES = ("UPDATE 1-", "UPDATE 2-", "Analysis: ", "Breaking: ", "")


@dataclass(frozen=True)
class Source:
    """One source article, split into paragraphs."""

    title: str
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class Article:
    name: str  # path below the corpus folder
    text: str
    story: int  # the index of the article this one is a copy of (its own index if original)
    lang: str


class Synthesizer:
    """Makes article i of the synthetic corpus for one seed."""

    def __init__(self, corpora: Path, seed: int = 1) -> None:
        self.seed = seed
        self.groups: list[tuple[str, list[Source]]] = _load_groups(corpora)
        if not self.groups:
            raise FileNotFoundError(f"no source articles under {corpora}")
        weights = [len(sources) for _, sources in self.groups]
        total = sum(weights)
        self._cumulative = [sum(weights[: k + 1]) / total for k in range(len(weights))]

    def rng(self, i: int) -> random.Random:
        return random.Random(self.seed * 1_000_003 + i * 7_919 + 1)

    def story_of(self, i: int) -> int:
        """The original article i copies, or i itself."""
        rng = self.rng(i)
        if i > 0 and rng.random() < SYNDICATED:
            original = max(0, i - rng.randint(1, COPY_DISTANCE))
            # Copies of a copy join the original's cluster, which keeps clusters small.
            return self.story_of(original)
        return i

    def article(self, i: int) -> Article:
        story = self.story_of(i)
        lang, title, paragraphs = self._original(story)
        if story != i:
            title, paragraphs = _syndicate(self.rng(i), title, paragraphs)
        text = title + "\n\n" + "\n\n".join(paragraphs) + "\n"
        return Article(f"s{i // PER_FOLDER:04d}/{i:07d}.txt", text, story, lang)

    def articles(self, n: int, start: int = 0) -> Iterator[Article]:
        for i in range(start, start + n):
            yield self.article(i)

    def write(self, n: int, dest: Path) -> tuple[int, int]:
        """Write articles 0..n-1 below dest; returns (files, bytes)."""
        files = total = 0
        made: set[Path] = set()
        for article in self.articles(n):
            target = dest / article.name
            if target.parent not in made:
                target.parent.mkdir(parents=True, exist_ok=True)
                made.add(target.parent)
            data = article.text.encode("utf-8")
            target.write_bytes(data)
            files += 1
            total += len(data)
        return files, total

    def _original(self, i: int) -> tuple[str, str, list[str]]:
        rng = self.rng(i)
        rng.random()  # the draw story_of made
        lang, sources = self._group(rng.random())
        lead = rng.choice(sources)
        length = max(2, len(lead.paragraphs) + rng.randint(-2, 3))
        paragraphs = [lead.paragraphs[0]]
        while len(paragraphs) < length:
            paragraphs.append(rng.choice(rng.choice(sources).paragraphs))
        digits = list(DIGITS)
        rng.shuffle(digits)
        renumber = str.maketrans(DIGITS, "".join(digits))
        paragraphs = [p.translate(renumber) for p in paragraphs]
        for _ in range(rng.randint(*RARE_PER_ARTICLE)):
            k = rng.randrange(len(paragraphs))
            paragraphs[k] = _insert(rng, paragraphs[k], rare_word(rng, lang))
        title = lead.title.translate(renumber)
        if rng.random() < 0.3:
            title = _insert(rng, title, rare_word(rng, lang))
        return lang, title, paragraphs

    def _group(self, u: float) -> tuple[str, list[Source]]:
        for k, edge in enumerate(self._cumulative):
            if u < edge:
                return self.groups[k]
        return self.groups[-1]


def rare_word(rng: random.Random, lang: str) -> str:
    """A word of Zipf rank r (r >= 1, unbounded), the same word for the same rank."""
    rank = int((1.0 - rng.random()) ** (-1.0 / (ZIPF_S - 1.0)))
    word = _spell(rank)
    # About a third are names, as most new words in news are.
    return word.capitalize() if rank % 3 == 0 and lang != "zh" else word


def _spell(rank: int) -> str:
    parts = []
    n = rank
    while True:
        n, k = divmod(n, len(SYLLABLES))
        parts.append(SYLLABLES[k])
        if n == 0:
            break
    if len(parts) == 1:
        parts.append("n")
    return "".join(parts)


def _insert(rng: random.Random, text: str, word: str) -> str:
    if not text:
        return word
    at = text.find(" ", rng.randrange(len(text)))
    if at < 0:
        return f"{text} {word}"
    return f"{text[:at]} {word}{text[at:]}"


def _syndicate(rng: random.Random, title: str, paragraphs: list[str]) -> tuple[str, list[str]]:
    """Another outlet's copy of the story: new dateline, reworded title, small edits."""
    title = rng.choice(TITLE_PREFIXES) + title
    body = list(paragraphs)
    body[0] = rng.choice(DATELINES) + body[0]
    if len(body) > 3 and rng.random() < 0.6:
        del body[rng.randrange(1, len(body))]
    for _ in range(rng.randint(0, 3)):
        k = rng.randrange(len(body))
        words = body[k].split(" ")
        if len(words) > 3:
            del words[rng.randrange(len(words))]
            body[k] = " ".join(words)
    return title, body


def _paragraphs(text: str) -> list[str]:
    blocks = [" ".join(b.split()) for b in re.split(r"\n\s*\n", text) if b.strip()]
    out: list[str] = []
    for block in blocks:
        if len(block) <= 900:
            out.append(block)
            continue
        # One long block (some corpora keep an article on one line): cut it at sentences.
        sentences = [s for s in SENTENCE_END.split(block) if s.strip()]
        chunk: list[str] = []
        for sentence in sentences:
            chunk.append(sentence.strip())
            if sum(len(s) for s in chunk) > 400:
                out.append(" ".join(chunk))
                chunk = []
        if chunk:
            out.append(" ".join(chunk))
    return out


def _source(text: str, has_title: bool) -> Source | None:
    text = text.replace("\r\n", "\n").strip()
    if has_title:
        first, _, rest = text.partition("\n")
        title, body = first.strip(), _paragraphs(rest)
    else:
        body = _paragraphs(text)
        if not body:
            return None
        words = body[0].split()
        title = " ".join(words[:10]) if len(words) > 1 else body[0][:40]
    if not title or not body:
        return None
    return Source(title, tuple(body))


def _load_groups(corpora: Path) -> list[tuple[str, list[Source]]]:
    groups: dict[tuple[str, str], list[Source]] = {}
    bbc = corpora / "bbc"
    for path in sorted(bbc.glob("*/*.txt")):
        source = _source(path.read_text(encoding="utf-8", errors="replace"), has_title=True)
        if source:
            groups.setdefault(("en", path.parent.name), []).append(source)
    manifest = corpora / "multilingual" / "manifest.tsv"
    if manifest.exists():
        for line in manifest.read_text(encoding="utf-8").splitlines()[1:]:
            cells = line.split("\t")
            if len(cells) < 8:
                continue
            rel, lang, category, has_title = cells[0], cells[1], cells[6], cells[7] == "yes"
            text = (corpora / "multilingual" / rel).read_text(encoding="utf-8", errors="replace")
            source = _source(text, has_title)
            if source:
                groups.setdefault((lang, category), []).append(source)
    return [(lang, sources) for (lang, _), sources in sorted(groups.items())]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("docs", type=int, help="how many articles")
    parser.add_argument("dest", type=Path, help="folder to write them into")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--corpora", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "corpora"
    )
    args = parser.parse_args(argv)
    files, nbytes = Synthesizer(args.corpora, args.seed).write(args.docs, args.dest)
    print(f"{files:,} articles, {nbytes / 1e6:.1f} MB in {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
