"""Furniture on a page of its own: jusText's classes for its blocks, and what lies below its article."""

from __future__ import annotations

import heapq
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from functools import lru_cache

import numpy as np
from justext import core as justext_core
from justext.paragraph import Paragraph
from justext.utils import get_stoplist, get_stoplists

from indexer.ingest.boilerplate import Cleaned
from indexer.ingest.normalize import join_broken_sentences
from indexer.ingest.types import Removal

__all__ = ["FLAG_KEPT", "remove"]

FLAG_KEPT = "furniture_kept"
# Rule names in `show --explain`: what kind of block jusText took for furniture.
MENU = "page:menu"  # short blocks, and blocks with no article around them
NO_PROSE = "page:no-prose"  # a long block with few stop words: a list, a link row, a tag cloud
LEGAL = "page:legal"  # cookie, privacy, copyright and disclaimer notices, at any length
AFTER = "page:after-article"  # below the article: its comments, related list, author box, sign-up

# jusText's thresholds as trafilatura runs it on page text (its justext fallback), not
# justext.core's defaults (70, 200, 0.30, 0.32), which drop a wire story's lede for its
# names and numbers. The heading distance is ours: a heading is kept when prose follows
# within this many characters. Ours are lines, not <h2> tags, so any short line may be
# one; a short reach keeps a headline and its dateline, not the menu above them.
_LENGTH_LOW = 50
_LENGTH_HIGH = 200
_STOPWORDS_LOW = 0.10
_STOPWORDS_HIGH = 0.20
_HEADING_DISTANCE = 60
# A block longer than this is never taken for a heading.
_HEADING_MAX = 160
# A text judged in a language needs this share of its words in that language's stop
# words: Chinese, Japanese or Thai (no spaces, no stop list) are left as they are.
_MIN_STOPWORD_SHARE = 0.08
# A headline may ask or exclaim; a line that ends a clause is a sentence, not a heading.
_CLAUSE_END = re.compile(r"[.,:;。]$")
_SENTENCE_END = re.compile(r"[.!?…。！？][\"”’»)\]」』）]?$")
# A short line with this many words and a sentence end reads as prose, not as a menu item.
_SENTENCE_WORDS = 3
# Short fragments standing together (a menu, a tag list, a row of links) are furniture.
_MENU_RUN = 2
# Near-good blocks standing together are one paragraph's worth of prose, split in lines.
_NEARGOOD_RUN = 2
# A near-good sentence with this share of stop words is prose even on its own.
_PROSE_STOPWORDS = 0.6
# jusText judges a text only when it looks like a web page: this many blocks before the
# first good one (a site's header and menus; an article's headline and a match report's
# fact box are fewer), or a notice outside the article. A clean article is left as its
# author wrote it, even with a few furniture lines the line rules took out: its lists,
# results and short lines are content, and jusText would take them for menus.
_PAGE_HEAD = 10

# Notices a site puts on every page, in words most languages borrow or share, matched in
# lower case anywhere in a block. A block with one of them outside the article, or with
# two anywhere, is a notice, however long.
_NOTICE_TERMS = (
    "cookie", "©", "all rights reserved", "privacy", "terms of use", "terms of service",
    "terms and conditions", "newsletter", "disclaimer",
    "datenschutz", "impressum", "nutzungsbedingungen", "alle rechte vorbehalten",
    "mentions légales", "données personnelles", "tous droits réservés", "confidentialité",
    "política de privacidad", "aviso legal", "todos los derechos reservados",
    "tutti i diritti riservati", "todos os direitos reservados", "política de privacidade",
    "kebijakan privasi", "hak cipta", "syarat dan ketentuan",
    "polityka prywatności", "wszelkie prawa zastrzeżone", "privacybeleid", "alle rechten voorbehouden",
)  # fmt: skip


class _Path:
    """The two names jusText's Paragraph reads from its DOM path; a heading's says h2."""

    def __init__(self, heading: bool) -> None:
        self.dom = "body.h2" if heading else "body.p"
        self.xpath = self.dom.replace(".", "/")


class _Block(Paragraph):
    """A line of the text as jusText's paragraph: no links, no tags, its text given."""

    def __init__(self, text: str) -> None:
        heading = len(text) <= _HEADING_MAX and not _CLAUSE_END.search(text)
        super().__init__(_Path(heading))
        self._text = text
        self.lowered = text.lower()
        self._words = self.lowered.split()

    @property
    def text(self) -> str:
        return self._text

    @property
    def words_count(self) -> int:
        return len(self._words)

    def stopwords_count(self, stopwords: frozenset[str]) -> int:
        return sum(map(stopwords.__contains__, self._words))

    @property
    def sentence(self) -> bool:
        return len(self._words) >= _SENTENCE_WORDS and _SENTENCE_END.search(self._text) is not None


@lru_cache(maxsize=1)
def _stoplists() -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """jusText's stop lists: their names, and for every (word, list) pair the word's key
    (``_keys``), sorted, beside the number of the list. 2 MB in two arrays, where a dict
    of the 154,000 words took 36 MB in every analysis worker.

    The lists themselves are loaded only for the languages a text is judged in (_union).
    """
    names = tuple(sorted(get_stoplists()))
    each = [_keys(get_stoplist(name)) for name in names]
    keys = np.concatenate(each)
    lists = np.repeat(np.arange(len(names)), [len(k) for k in each])
    order = np.argsort(keys, kind="stable")
    return names, keys[order], lists[order]


def _keys(words: Collection[str]) -> np.ndarray:
    """Each word's ``hash``: lists and texts are keyed in the same process, and two of
    154,000 words share a 64-bit hash about once in 10^9 processes."""
    return np.fromiter(map(hash, words), dtype=np.int64, count=len(words))


# Another list joins the best one when it covers at least this share of the best's hits.
_STOPLIST_SHARE = 0.5
_STOPLIST_MAX = 3
_UNIONS = 32  # stop-list unions a worker keeps


def _stoplist(words: list[str]) -> frozenset[str] | None:
    """The stop words of the text's languages: jusText's lists that cover most of its words.

    Chosen from the text itself, before language detection, so a page in any of
    jusText's 100 languages is judged by its own function words; a page with its menu in
    English over a German article gets both lists.
    """
    names, keys, lists = _stoplists()
    counts = Counter(words)
    if not counts:
        return None
    found = _keys(counts)
    starts = np.searchsorted(keys, found, "left")
    lengths = np.searchsorted(keys, found, "right") - starts
    # Every (word of the text, list holding it) pair, weighted by the word's count.
    owner = np.repeat(np.arange(len(found)), lengths)
    entries = np.arange(len(owner)) + np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    weights = np.fromiter(counts.values(), dtype=np.int64, count=len(counts))[owner]
    hits = np.bincount(lists[entries], weights=weights, minlength=len(names)).astype(np.int64).tolist()
    ranked = heapq.nlargest(_STOPLIST_MAX, range(len(hits)), key=hits.__getitem__)
    best = hits[ranked[0]]
    if best == 0 or best < _MIN_STOPWORD_SHARE * len(words):
        return None
    return _union(tuple(sorted(i for i in ranked if hits[i] >= _STOPLIST_SHARE * best)))


# A union is a few thousand words: a worker keeps the few its inboxes' languages need.
@lru_cache(maxsize=_UNIONS)
def _union(chosen: tuple[int, ...]) -> frozenset[str]:
    # jusText keeps a lower-cased copy of every stop list it is given, 128 of them
    # (define_stoplist's cache), and each copy keeps its key alive too: in a worker that
    # sees many languages, that was 128 unions long evicted here. Cleared when
    # a union is made, it holds no more lists than this cache does.
    clear = getattr(justext_core.define_stoplist, "cache_clear", None)
    if clear is not None:
        clear()
    names = _stoplists()[0]
    return frozenset().union(*(get_stoplist(names[i]) for i in chosen))


def remove(body: str) -> Cleaned:
    """Drop the blocks of a normalized ``body`` jusText takes for furniture.

    Each line is a block. jusText classes them by length, stop-word density and the
    class of their neighbours; a notice (cookies, copyright, privacy) goes at any length
    outside the article, or with two of its terms inside it. Below the article (the body
    of good blocks with the most text), everything from a heading that opens comments,
    related stories or an author's box goes, and so do small bodies of prose standing
    apart from it (a sign-up box, a teaser): on any text with such a heading, and on any
    page. The text is kept whole when
    it does not look like a page, when it is not in a language jusText has stop words
    for, and when it would all go.
    """
    original = body
    lines = [line for line in body.split("\n") if line]
    if len(lines) < 2:
        return Cleaned(body)
    lowered = body.lower()
    stoplist = _stoplist(lowered.split())
    if stoplist is None:
        return Cleaned(body)
    present = [term for term in _NOTICE_TERMS if term in lowered]
    marked = any(map(_marker_line, lines))
    if not present and not marked and _opens_with_prose(lines, stoplist):
        return Cleaned(body)  # not a page (below), found without judging every block
    # Judged as a page, whose blocks a scraper also cut at inline elements (a link a block
    # of its own); a text that is no page is given back as it came.
    body = "\n".join(join_broken_sentences(body.split("\n"), across_blank_lines=True))
    lines = [line for line in body.split("\n") if line]
    blocks = _classified(lines, stoplist)
    good = [i for i, b in enumerate(blocks) if b.class_type == "good"]
    notices = _notices(present, blocks)
    if not good:
        # Nothing jusText would keep: on a page, a rule's mistake more likely than an
        # empty article; elsewhere, a text too short to judge.
        return Cleaned(original, (), (FLAG_KEPT,) if any(notices) else ())
    first, last = good[0], good[-1]
    # The article is the body of prose with the most text; the first marker heading after
    # it opens what the page puts below it. A text with such a heading is a page there.
    markers = {i for i, block in enumerate(blocks) if _marker_line(block.text)} if marked else set()
    bodies = _bodies(blocks, markers)
    article = max(bodies)
    below = min((i for i in markers if i > article[2]), default=len(blocks))
    page = first >= _PAGE_HEAD or any(notices[:first]) or any(notices[last + 1 :])
    if not page and below == len(blocks):
        return Cleaned(original)
    drop: dict[int, str] = {}
    for i, block in enumerate(blocks):
        if notices[i] >= 2 or (notices[i] and not first <= i <= last):
            drop[i] = LEGAL
        elif page and block.class_type != "good" and not _foreign_prose(block, stoplist):
            drop[i] = NO_PROSE if block.cf_class == "bad" and len(block.text) >= _LENGTH_LOW else MENU
    _below_article(bodies, article, below, len(blocks), drop)
    if len(drop) == len(blocks):
        return Cleaned(original, (), (FLAG_KEPT,))
    removed = tuple(Removal(rule, lines[i]) for i, rule in sorted(drop.items()))
    return Cleaned(_without(body, drop), removed)


# Sentences of a language none of the chosen stop lists knows (a Somali article under an
# English menu: jusText has no Somali list) have next to no stop words, as link rows do;
# unlike them, they run on for sentences.
_FOREIGN_CHARS = 300
_FOREIGN_SENTENCES = 3
_FOREIGN_STOPWORDS = 0.15
_SENTENCE_ENDS = re.compile(r"[.!?…。！？](?:\s|$)")


def _foreign_prose(block: _Block, stoplist: frozenset[str]) -> bool:
    """A long block of several sentences with almost none of the page's stop words: prose
    in another language, not furniture."""
    text = block.text
    return (
        len(text) >= _FOREIGN_CHARS
        and len(_SENTENCE_ENDS.findall(text)) >= _FOREIGN_SENTENCES
        and block.stopwords_density(stoplist) < _FOREIGN_STOPWORDS
    )


def _classified(lines: list[str], stoplist: frozenset[str]) -> list[_Block]:
    """The lines as jusText's paragraphs, classified: context-free, revised for text, in context."""
    blocks = [_Block(line) for line in lines]
    justext_core.classify_paragraphs(
        blocks, stoplist, _LENGTH_LOW, _LENGTH_HIGH, _STOPWORDS_LOW, _STOPWORDS_HIGH
    )
    _revise_for_text(blocks, stoplist)
    justext_core.revise_paragraph_classification(blocks, _HEADING_DISTANCE)
    return blocks


def _opens_with_prose(lines: list[str], stoplist: frozenset[str]) -> bool:
    """Whether jusText finds a good block among the first ``_PAGE_HEAD``: no page head.

    A good block by length and stop words alone stays good whatever its neighbours are,
    so this is the page test's own answer, for a tenth of the work on a long article.
    """
    opening = [_Block(line) for line in lines[:_PAGE_HEAD]]
    justext_core.classify_paragraphs(
        opening, stoplist, _LENGTH_LOW, _LENGTH_HIGH, _STOPWORDS_LOW, _STOPWORDS_HIGH
    )
    return any(block.cf_class == "good" for block in opening)


def _notices(present: list[str], blocks: list[_Block]) -> list[int]:
    """For each block, how many of the notice terms found in the text it holds."""
    if not present:
        return [0] * len(blocks)
    return [sum(term in block.lowered for term in present) for block in blocks]


def _revise_for_text(blocks: list[_Block], stoplist: frozenset[str]) -> None:
    """Revise jusText's context-free classes for what lines of text show and tags do not.

    A run of short fragments is a menu, a tag list or a row of links: bad, not short
    (jusText sees a page's links; in text they are only lines too short to judge). A
    short sentence breaks such a run, and is near-good: kept beside the article (its last
    line, "The mayor said ..."), not alone. Near-good blocks that follow each other are
    one paragraph's worth of prose split in lines, and a near-good sentence dense with
    stop words is prose on its own (a slide's caption, a short post): good.
    """
    for run in _runs(blocks, lambda b: b.cf_class == "short" and not b.sentence):
        if len(run) >= _MENU_RUN:
            for block in run:
                block.cf_class = "bad"
    for run in _runs(blocks, lambda b: b.cf_class == "neargood"):
        if len(run) >= _NEARGOOD_RUN and sum(len(b.text) for b in run) >= _LENGTH_HIGH:
            for block in run:
                block.cf_class = "good"
    for block in blocks:
        if block.sentence:
            if block.cf_class == "short":
                block.cf_class = "neargood"
            elif block.cf_class == "neargood" and block.stopwords_density(stoplist) >= _PROSE_STOPWORDS:
                block.cf_class = "good"


def _runs(blocks: list[_Block], member: Callable[[_Block], bool]) -> Iterator[list[_Block]]:
    """The maximal runs of consecutive blocks that are members."""
    run: list[_Block] = []
    for block in blocks:
        if member(block):
            run.append(block)
        elif run:
            yield run
            run = []
    if run:
        yield run


def _without(body: str, drop: dict[int, str]) -> str:
    """The body without the dropped blocks (numbered as its non-empty lines), its paragraph breaks kept."""
    paragraphs: list[str] = []
    i = 0
    for paragraph in body.split("\n\n"):
        kept = []
        for line in paragraph.split("\n"):
            if not line:
                continue
            if i not in drop:
                kept.append(line)
            i += 1
        if kept:
            paragraphs.append("\n".join(kept))
    return "\n\n".join(paragraphs)


# --- what follows the article ---------------------------------------------------------
# Good blocks this many non-good blocks apart are one body of text (a caption or a
# subheading between two paragraphs); the article is the body with the most text.
_BODY_GAP = 2
# A body below the article with less than this share of its text is an aside (an author's
# box, a sign-up blurb, a teaser of another story), not the article going on: a body is
# at least ``_BODY_GAP`` + 1 furniture blocks away from the article.
_ISLAND_SHARE = 0.2
# A heading that opens what a page puts under its article: comments, related stories,
# the author's box, share and sign-up rows, the post's own footer. Matched on the whole
# of a short line (lower case), in the languages the corpora hold.
_MARKER_MAX = 100
_MARKER_STRIP = " \t-–—|:»«>#*•·!?.…←→"
# fmt: off
_END_HEADINGS = (
    # Comments, in any of their headings' forms ("12 comments", "3 thoughts on ...").
    r"(?:\d+\s+)?(?:comments?|responses?|replies|kommentare?|commentaires?|comentarios?|commenti"
    r"|comentários?|reacties|komentar)(?:\s+(?:to|on|zu|zum|sur|en|em|a|su|pada)\b.*)?\s*:?",
    r"\d+\s+(?:thoughts?|gedanken)\s+(?:on|zu)\b.*",
    r"(?:leave|post|add|write|submit)\s+(?:a|your)\s+(?:reply|comment|response).*",
    r"join the (?:discussion|conversation).*",
    r"(?:schreibe|hinterlasse|verfasse)\s+einen\s+kommentar.*",
    r"kommentar\s+(?:schreiben|posten|verfassen|hinterlassen).*",
    r"(?:laisser|laissez|ajouter)\s+un\s+commentaire.*",
    r"(?:deja|dejar|escribe|añadir)\s+(?:un|tu)\s+comentario.*",
    r"lascia\s+un\s+commento.*",
    r"deixe\s+(?:um|seu)\s+comentário.*",
    # Related and recommended stories, most read lists.
    r"related(?:\s+(?:articles?|posts?|stories|content|topics|news|reading|links|coverage|videos?))?\s*:?",
    r"you\s+(?:may|might)\s+(?:also\s+)?(?:like|enjoy|be\s+interested\s+in).*",
    r"more\s+(?:from|stories|articles|news|on\s+this|in)\b.*",
    r"recommended(?:\s+(?:for\s+you|stories|articles|reading))?",
    r"further\s+reading",
    r"(?:popular|trending|latest)(?:\s+(?:posts?|stories|articles|news|now))?",
    r"most\s+(?:read|popular|viewed|shared).*",
    # The author's box, share rows, the post's own footer.
    r"about\s+the\s+(?:author|writer)s?.*",
    r"share\s+(?:this|the\s+article|on)\b.*",
    r"share(?:\s+this)?(?:\s+(?:article|post|story|page))?\s*:?",
    r"posted\s+(?:by|in)\b.*",
    r"filed\s+under\b.*",
    r"previous\s+(?:post|article|story)",
    r"next\s+(?:post|article|story)",
    r"(?:older|newer)\s+posts?",
    # German.
    r"ähnliche\s+(?:beiträge|artikel|themen|nachrichten)",
    r"verwandte\s+(?:beiträge|artikel|themen)",
    r"(?:das|dies)\s+könnte\s+(?:sie|dich)\s+auch\s+interessieren.*",
    r"(?:sie|dich)\s+interessiert\s+vielleicht\s+auch.*",
    r"mehr\s+(?:zum\s+thema|aus|zu|artikel|beiträge|nachrichten)\b.*",
    r"weitere\s+(?:artikel|beiträge|themen|nachrichten|meldungen)\b.*",
    r"auch\s+interessant.*",
    r"meistgelesen.*",
    r"beliebte\s+(?:beiträge|artikel)",
    r"über\s+(?:den\s+autor|die\s+autorin|die\s+autoren)\b.*",
    r"(?:artikel|beitrag)\s+teilen",
    r"eingestellt\s+von\b.*",
    r"(?:vorheriger|nächster)\s+(?:beitrag|artikel)",
    # French.
    r"articles?\s+(?:similaires|liés|connexes|recommandés)",
    r"sur\s+le\s+même\s+sujet.*",
    r"vous\s+(?:aimerez|pourriez\s+aimer)\s+aussi.*",
    r"à\s+propos\s+de\s+l.auteur.*",
    r"partager(?:\s+cet\s+article)?\s*:?",
    r"les\s+plus\s+lus",
    # Spanish, Italian, Portuguese, Dutch, Indonesian.
    r"(?:noticias|artículos|notas|temas)\s+relacionad[oa]s",
    r"(?:también\s+)?te\s+puede\s+interesar.*",
    r"más\s+(?:noticias|leídas|leído|vistas)\b.*",
    r"lo\s+más\s+(?:leído|visto).*",
    r"sobre\s+el\s+autor.*",
    r"compartir(?:\s+(?:este|esta)\s+\w+)?\s*:?",
    r"articoli\s+correlati",
    r"(?:ti\s+)?potrebbe\s+(?:anche\s+)?interessar(?:ti|e).*",
    r"(?:notícias|artigos|posts|matérias)\s+relacionad[oa]s",
    r"você\s+(?:também\s+)?pode\s+gostar.*",
    r"gerelateerde\s+(?:artikelen|berichten)",
    r"(?:berita|artikel)\s+terkait",
    # A site's own blurb and the author's, as headings of their own.
    r"explore\s+further",
    r"relacionad[oa]s",
    r"zum\s+thema",
    r"autor(?:\*in|in|innen)?",
    r"about\s+(?:us|me)",
    r"über\s+(?:uns|mich)",
    r"à\s+propos(?:\s+de\s+nous)?",
    r"sobre\s+(?:nosotros|nós|mí)",
    r"quiénes\s+somos",
    r"quem\s+somos",
    r"chi\s+siamo",
    r"tentang\s+kami",
)
# fmt: on
# Not "read also" (Baca juga, Lee también, Lesen Sie auch): news sites put those between
# an article's paragraphs, above a link to another story.
_END_MARKERS = re.compile("|".join(_END_HEADINGS))


def _marker_line(line: str) -> bool:
    """Whether a line is a heading that opens what a page puts under its article."""
    if len(line) > _MARKER_MAX:
        return False
    return _END_MARKERS.fullmatch(line.lower().strip(_MARKER_STRIP)) is not None


# A body of prose: its characters, its first and its last block.
_Body = tuple[int, int, int]


def _bodies(blocks: list[_Block], markers: set[int]) -> list[_Body]:
    """The bodies of good blocks, as (characters, first, last): good blocks at most
    ``_BODY_GAP`` blocks apart with no marker heading between them (a marker heading is
    no part of a body, even one jusText keeps)."""
    bodies: list[list[int]] = []
    for i, block in enumerate(blocks):
        if block.class_type != "good" or i in markers:
            continue
        if (
            bodies
            and i - bodies[-1][2] - 1 <= _BODY_GAP
            and not markers.intersection(range(bodies[-1][2], i))
        ):
            bodies[-1][0] += len(block.text)
            bodies[-1][2] = i
        else:
            bodies.append([len(block.text), i, i])
    return [(chars, first, last) for chars, first, last in bodies]


def _below_article(bodies: list[_Body], article: _Body, below: int, n: int, drop: dict[int, str]) -> None:
    """Drop what the page puts under its article: every block from ``below`` (the first
    heading after the article that opens comments, related stories, an author's box or
    the post's footer, `_END_MARKERS`), and the small bodies of prose between."""
    for k in range(below, n):
        drop.setdefault(k, AFTER)
    for chars, first, final in bodies:
        if article[2] < first < below and chars < _ISLAND_SHARE * article[0]:
            for k in range(first, final + 1):
                drop.setdefault(k, AFTER)
