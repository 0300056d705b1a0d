"""The index schema and its per-language analysis.

Each document's title and body go into fields of its own language (``t_en``/``b_en``,
``t_de``/``b_de``, ...), stemmed by that language's Snowball stemmer; languages without a
stemmer use ``t_xx``/``b_xx``. Queries are parsed once against plain ``title``/``body``
and expanded to the language fields present in the index (see query.py), so a query
finds documents in any language and only pays for the languages the collection holds.
"""

from __future__ import annotations

import re
import sys
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from functools import cache, lru_cache
from itertools import accumulate
from typing import Any

from whoosh.analysis import Analyzer, CharsetFilter, LowercaseFilter, StemFilter, Token, Tokenizer
from whoosh.fields import DATETIME, ID, KEYWORD, STORED, TEXT, Schema
from whoosh.formats import Existence, Positions
from whoosh.support.charset import accent_map
from whoosh.system import pack_uint as _whoosh_pack_uint

from indexer.ingest.paths import printable

__all__ = [
    "IS_CJK",
    "SCHEMA_VERSION",
    "STEM_LANGUAGES",
    "TOKEN",
    "WORDS_FIELD",
    "CompactPositions",
    "PathsField",
    "WordTokenizer",
    "WordsText",
    "analyzer_for",
    "build_schema",
    "field_language",
    "fold",
    "folder_of",
    "fuzzy_word",
    "index_language",
    "index_terms",
    "parse_schema",
    "path_forms",
    "plain_analyzer",
    "stem_word",
    "surface_words",
]

# Bump when fields or analysis change: an index with another version is rebuilt from the DB.
# 2: bodies stored (snippets and `similar` need no database), lang and cluster sortable.
# 3: apostrophes split words (l'Élysée -> l, elysee).
# 4: positions as packed arrays (CompactPositions); ids sortable (a column, read per hit).
# 5: every document has a cluster, its own id when it has no near-duplicates, so that a
#    document becoming a cluster's first member needs no new index entry.
# 6: bodies no longer stored (read from the database); postings pickled compactly.
# 7: title_derived stored (a title cut from the lede, the text having no headline).
# 8: every path of a document (several for byte-identical copies), in display form too;
#    ``words``, the unstemmed words (fuzzy terms and spelling); byline, dateline, folder.
SCHEMA_VERSION = 8

# langdetect code -> Whoosh stemmer language. Written out so that no code is mapped by
# accident (langdetect's "no" is Norwegian Bokmål; "zh-cn" has no stemmer).
STEM_LANGUAGES = {
    "ar": "ar",
    "da": "da",
    "de": "de",
    "en": "en",
    "es": "es",
    "fi": "fi",
    "fr": "fr",
    "hu": "hu",
    "it": "it",
    "nl": "nl",
    "no": "no",
    "pt": "pt",
    "ro": "ro",
    "ru": "ru",
    "sv": "sv",
}  # fmt: skip  (Whoosh 2.7 lists Turkish but ships no stemmer for it)
NO_STEMMER = "xx"
WORDS_FIELD = "words"  # the unstemmed words of title and body (WordsText)
TEXT_PREFIXES = {"title": "t_", "body": "b_"}

# Ideographs and kana have no spaces between words: index overlapping character bigrams
# so that any word of two or more characters is found. Hangul is spaced; left as words.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Apostrophes split words: French and Italian elisions (l'Élysée, dell'anno) must index
# the word itself, and English possessives lose nothing (Snowball drops "'s" anyway).
TOKEN = re.compile(rf"[{_CJK}]+|(?:(?![{_CJK}])\w)+")
IS_CJK = re.compile(rf"[{_CJK}]")
_WORD = re.compile(r"\w+")  # TOKEN on a text without CJK characters, at half the cost


class WordTokenizer(Tokenizer):
    """Words, and character bigrams inside runs of CJK characters."""

    def __call__(
        self,
        value: str,
        positions: bool = False,
        chars: bool = False,
        keeporiginal: bool = False,
        removestops: bool = True,
        start_pos: int = 0,
        start_char: int = 0,
        tokenize: bool = True,
        mode: str = "",
        **kwargs: Any,
    ) -> Iterator[Token]:
        t = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        if not tokenize:
            t.original = t.text = value
            t.boost = 1.0
            if positions:
                t.pos = start_pos
            if chars:
                t.startchar, t.endchar = start_char, start_char + len(value)
            yield t
            return
        pos = start_pos
        for match in TOKEN.finditer(value):
            word, start = match.group(), match.start()
            if IS_CJK.match(word) and len(word) > 1:
                pieces = [(word[i : i + 2], start + i) for i in range(len(word) - 1)]
            else:
                pieces = [(word, start)]
            for text, offset in pieces:
                t.text = text
                t.boost = 1.0
                t.stopped = False
                if keeporiginal:
                    t.original = text
                if positions:
                    t.pos = pos
                if chars:
                    t.startchar = start_char + offset
                    t.endchar = start_char + offset + len(text)
                pos += 1
                yield t


pack_uint: Callable[[int], bytes] = _whoosh_pack_uint  # an unsigned 32-bit int, big-endian
_INT_SIZE = len(pack_uint(0))  # the frequency a Positions value starts with
_ONE_POSITION = pack_uint(1) + b"H"
# Most terms of a document occur once, early: their values, made once.
_SINGLE = [_ONE_POSITION + p.to_bytes(2, sys.byteorder) for p in range(2048)]


class CompactPositions(Positions):
    """Whoosh's Positions format with the position deltas packed as a machine array
    instead of a pickled list: 4% smaller postings, and a phrase decodes each candidate's
    positions in C (array + accumulate) rather than unpickling and summing in Python.

    The frequency stays in the first four bytes, as Whoosh's own format keeps it.
    """

    def encode(self, poslist: list[int]) -> bytes:
        if len(poslist) == 1 and poslist[0] < 0x10000:  # most terms of a document: one position
            pos = poslist[0]
            return _SINGLE[pos] if pos < 2048 else _ONE_POSITION + pos.to_bytes(2, sys.byteorder)
        deltas = [b - a for a, b in zip([0, *poslist], poslist, strict=False)]
        code = "H" if max(deltas, default=0) < 0x10000 else "I"
        return pack_uint(len(deltas)) + code.encode("ascii") + array(code, deltas).tobytes()

    def decode_positions(self, valuestring: bytes) -> list[int]:
        packed = array(chr(valuestring[_INT_SIZE]))
        packed.frombytes(valuestring[_INT_SIZE + 1 :])
        return list(accumulate(packed))


def _chain(stem_language: str | None) -> Analyzer:
    # Fold accents before stemming, on both the indexing and the query side, so that
    # "elysee" and "Élysée" reach the stemmer as the same word.
    chain = WordTokenizer() | LowercaseFilter() | CharsetFilter(accent_map)
    if stem_language:
        chain = chain | StemFilter(lang=stem_language)
    return chain


@cache
def analyzer_for(index_lang: str) -> Analyzer:
    """The analyzer of the ``t_<lang>``/``b_<lang>`` fields."""
    return _chain(None if index_lang == NO_STEMMER else index_lang)


@cache
def plain_analyzer() -> Analyzer:
    return _chain(None)


def index_language(language: str) -> str:
    """The index language (field suffix) for a langdetect code."""
    return STEM_LANGUAGES.get(language, NO_STEMMER)


def field_language(fieldname: str) -> str | None:
    prefix, _, lang = fieldname.partition("_")
    return lang if prefix in ("t", "b") and lang else None


_PLAIN_WORD = re.compile(r"[a-z0-9]+")


@cache
def _stemmer(index_lang: str) -> Callable[[str], str] | None:
    from whoosh.lang import stemmer_for_language

    return None if index_lang == NO_STEMMER else stemmer_for_language(index_lang)


@lru_cache(maxsize=200_000)
def stem_word(index_lang: str, word: str) -> str:
    """One word as the ``t_<lang>``/``b_<lang>`` fields index it (the word itself if the
    analyzer splits it)."""
    if _PLAIN_WORD.fullmatch(word):  # nothing to split, lower or fold: only the stemmer
        stem = _stemmer(index_lang)
        return stem(word) if stem else word
    tokens = [t.text for t in analyzer_for(index_lang)(word)]
    return tokens[0] if len(tokens) == 1 else word


@cache
def fold(text: str) -> str:
    """Lower-case and accent-fold one query word, as the analyzers do before stemming."""
    return "".join(t.text for t in plain_analyzer()(text)) or text.lower()


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def path_forms(path: str) -> set[str]:
    """The forms under which ``path:`` finds a (database) path: as stored, as shown
    (``printable``: ``\\n``), and with every control character as ``\\xNN``."""
    forms = {path, printable(path)}
    if _CONTROL.search(path):
        forms.add(_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", path))
    return forms


def folder_of(path: str) -> str:
    """The folder of a path as shown (the facet's value)."""
    return printable(path.rpartition("/")[0] or "/")


class PathsField(ID):
    """Every path of a document (a list; the first is the primary one), each indexed in
    each of its ``path_forms``, so that ``path:`` finds a byte-identical copy by any of
    its names and a name with a newline by the escaped form the user sees."""

    def index(self, value: Any, **kwargs: Any) -> Any:
        paths = [value] if isinstance(value, str) else list(value)
        terms = sorted({form for path in paths for form in path_forms(path)})
        return [(term.encode("utf-8"), 1, 1.0, b"") for term in terms]


def surface_words(text: str) -> dict[str, int]:
    """The words of ``text`` as written (lower-cased, accents folded, not stemmed), with
    their counts; runs of CJK characters as their bigrams, as the language fields have them."""
    if IS_CJK.search(text):
        tokens: list[str] = []
        for word in TOKEN.findall(text):
            if len(word) > 1 and IS_CJK.match(word):
                tokens += [word[i : i + 2] for i in range(len(word) - 1)]
            else:
                tokens.append(word)
    else:
        tokens = _WORD.findall(text)
    folds = _fold_cache()
    if len(folds) > _TERM_CACHE_SIZE:
        folds.clear()
    counts: dict[str, int] = {}
    for token, n in Counter(tokens).items():  # counted in C, folded once per distinct word
        word = folds.get(token)
        if word is None:
            folds[token] = word = token.lower().translate(accent_map)
        counts[word] = counts.get(word, 0) + n
    return counts


@cache
def _fold_cache() -> dict[str, str]:
    return {}


@cache
def _fuzzy_cache() -> dict[str, bool]:
    return {}


def fuzzy_word(word: str) -> bool:
    """Whether the ``words`` field holds this (folded) word: three letters or more and no
    digit; shorter words and numbers, a quarter of the postings, are matched as typed
    (``ab~`` is ``ab``), as Lucene's fuzzy queries leave words of one or two letters."""
    return len(word) > 2 and not any(ch.isdigit() for ch in word)


class WordsText(TEXT):
    """The ``words`` field: each document's words unstemmed, each posting only saying
    that the document has the word (no frequency, no positions). Fuzzy terms match here,
    so that ``govenment~`` finds the word ``government`` and not whatever shares a stem
    one edit away (``goven`` ~ ``given``); spelling suggestions are drawn from it, already
    in written form. With frequencies the field took as much disk as all the others."""

    def __init__(self) -> None:
        super().__init__(analyzer=plain_analyzer(), phrase=False)
        self.format = Existence()

    def words(self, value: Any) -> list[str] | None:
        """The words of ``value`` this field holds, for the index writer (pool.py), or
        None when ``value`` is not a text."""
        if not isinstance(value, str):
            return None
        known = _fuzzy_cache()
        if len(known) > _TERM_CACHE_SIZE:
            known.clear()
        words = []
        for word in surface_words(value):
            fuzzy = known.get(word)
            if fuzzy is None:
                known[word] = fuzzy = fuzzy_word(word)
            if fuzzy:
                words.append(word)
        return words

    def index(self, value: Any, **kwargs: Any) -> Any:
        words = self.words(value) if kwargs.get("mode", "index") == "index" else None
        if words is None:
            return super().index(value, **kwargs)
        return [(word.encode("utf-8"), 1, 1.0, b"") for word in words]


def build_schema() -> Schema:
    fields: dict[str, Any] = {
        "id": ID(stored=True, unique=True, sortable=True),
        "path": PathsField(stored=True),
        "folder": ID(stored=False, sortable=True),
        WORDS_FIELD: WordsText(),
        "byline": TEXT(analyzer=plain_analyzer(), stored=True),
        "dateline": TEXT(analyzer=plain_analyzer(), stored=True),
        # The whole byline as one value, for its facet (the byline field holds its words).
        "byline_facet": ID(sortable=True),
        "title": STORED(),
        "title_derived": STORED(),  # stored only when true
        "lang": ID(stored=True, sortable=True),
        "source": KEYWORD(stored=True, lowercase=True, commas=True),
        "published": DATETIME(stored=True, sortable=True),
        "ingested": DATETIME(stored=True, sortable=True),
        "cluster": ID(stored=True, sortable=True),
    }
    for lang in (*sorted(set(STEM_LANGUAGES.values())), NO_STEMMER):
        analyzer = analyzer_for(lang)
        title = IndexText(analyzer=analyzer, field_boost=2.0)
        # Not stored: the database holds each text once, and snippets, `similar` and
        # spelling read it there (search/texts.py). Stored, it took a quarter of the index.
        body = IndexText(analyzer=analyzer)
        for field in (title, body):
            field.format = IndexPositions(lang, field.format.field_boost)
        fields[f"t_{lang}"], fields[f"b_{lang}"] = title, body
    return Schema(**fields)


def parse_schema() -> Schema:
    """What users write queries against; query.py maps title/body to the language fields.

    Dates are parsed as plain words here and turned into day ranges by query.py.
    Words that the analyzer splits (CJK bigrams, ``Müller-Lüdenscheidt``) become phrases.
    """
    plain = plain_analyzer()
    return Schema(
        id=ID(),
        path=ID(),
        byline=TEXT(analyzer=plain, multitoken_query="phrase"),
        dateline=TEXT(analyzer=plain, multitoken_query="phrase"),
        title=TEXT(analyzer=plain, multitoken_query="phrase"),
        body=TEXT(analyzer=plain, multitoken_query="phrase"),
        lang=ID(),
        source=KEYWORD(lowercase=True, commas=True),
        published=ID(),
        ingested=ID(),
        date=ID(),
        cluster=ID(),
    )


# Words held by the caches of index_terms, surface_words and WordsText.words, each: all
# languages' term caches together, so that a long-lived process that sees many
# languages (the daemon) holds a few tens of MB for them, not that much per language.
_TERM_CACHE_SIZE = 100_000
_TERM_CACHES: dict[str, dict[str, str | tuple[str, ...]]] = {}


def _term_cache(index_lang: str) -> dict[str, str | tuple[str, ...]]:
    terms = _TERM_CACHES.get(index_lang)
    if terms is None:
        terms = _TERM_CACHES[index_lang] = {}
    if sum(map(len, _TERM_CACHES.values())) > _TERM_CACHE_SIZE:
        for held in _TERM_CACHES.values():
            held.clear()
    return terms


def index_terms(index_lang: str, text: str) -> dict[str, list[int]]:
    """Each term of ``text`` as ``analyzer_for(index_lang)`` gives it, with its positions.

    The same steps (words and CJK bigrams, lower case, accent folding, stemming) in one
    loop with a cache per word, instead of a Token through four chained generators.
    """
    terms = _term_cache(index_lang)
    cached = terms.get
    positions: dict[str, list[int]] = {}
    known = positions.get
    pos = 0
    for word in (TOKEN if IS_CJK.search(text) else _WORD).findall(text):
        term = cached(word)
        if term is None:
            terms[word] = term = _word_terms(index_lang, word)
        if isinstance(term, str):
            at = known(term)
            if at is None:
                positions[term] = [pos]
            else:
                at.append(pos)
            pos += 1
        else:  # a CJK run: its bigrams, a position each
            for piece in term:
                positions.setdefault(piece, []).append(pos)
                pos += 1
    return positions


def _word_terms(index_lang: str, word: str) -> str | tuple[str, ...]:
    """The term of one token, or the bigram terms of a CJK run."""
    stem = _stemmer(index_lang)

    def term(piece: str) -> str:
        folded = piece.lower().translate(accent_map)
        return stem(folded) if stem else folded

    if len(word) > 1 and IS_CJK.match(word):
        return tuple(term(word[i : i + 2]) for i in range(len(word) - 1))
    return term(word)


class IndexPositions(CompactPositions):
    """``CompactPositions`` that knows its field's language, for ``IndexText``: indexing
    spent most of its time passing tokens through the analyzer's generators, and
    ``index_terms`` gives the very terms the field's analyzer gives (tests compare them).
    Queries and highlighting still use the analyzer."""

    def __init__(self, index_lang: str, field_boost: float = 1.0) -> None:
        super().__init__(field_boost=field_boost)
        self.index_lang = index_lang


class IndexText(TEXT):
    """A TEXT field whose index-time terms come from ``index_terms``, not the analyzer's
    chain of generators.

    ``positions`` gives a document's terms with their positions, which the index writer
    (pool.py) adds a field at a time; ``index`` gives them as Whoosh's ``FieldType.index``
    does, for Whoosh's own writers. Other uses go through TEXT unchanged.
    """

    def positions(self, value: Any) -> dict[str, list[int]] | None:
        """Each term of ``value`` with its positions, or None when the field's format is
        not one ``index_terms`` stands in for."""
        fmt = self.format
        if not isinstance(fmt, IndexPositions) or not isinstance(value, str):
            return None
        return index_terms(fmt.index_lang, value)

    def index(self, value: Any, **kwargs: Any) -> Any:
        terms = self.positions(value) if kwargs.get("mode", "index") == "index" else None
        if terms is None:
            return super().index(value, **kwargs)
        boost, encode = self.format.field_boost, self.format.encode
        return [
            (term.encode("utf-8"), len(positions), len(positions) * boost, encode(positions))
            for term, positions in terms.items()
        ]
