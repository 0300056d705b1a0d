"""Text-quality figures over the shared corpora: decoding, normalizing, boilerplate, language."""

from __future__ import annotations

import argparse
import codecs
import csv
import json
import os
import random
import re
import statistics
import sys
import textwrap
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from indexer.config import IngestConfig
from indexer.errors import InputError
from indexer.ingest import boilerplate, decode, language, normalize, pagefurniture
from indexer.ingest.pipeline import AnalyzeOptions, analyze
from indexer.ingest.types import Analysis, RawFile

__all__ = ["Check", "Report", "body_of", "main", "measure"]

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPORA = REPO.parent / "shared" / "corpora"

# Language detection on the multilingual corpus, against its manifest.
MULTILINGUAL_TARGET = 0.995
# A header or menu in one language over a body in another is the body's.
HEADER_BODY_TARGET = 0.99
INJECTION_TARGET = 0.99
BBC_REMOVED_MAX = 0.001
# A hard-wrapped BBC article must come back as it was.
UNWRAP_BBC_TARGET = 0.99

# Bodies of real scraped pages, against trafilatura's evaluation segments.
WEBNEWS_F1_TARGET = 0.85
WEBNEWS_RECALL_TARGET = 0.92
# A title longer than this is a sentence of the lede, not a headline.
_HEADLINE_MAX_CHARS = 150

# Languages the furniture below is written in; BBC articles stand in for English.
FURNITURE_LANGUAGES = ("en", "de", "fr", "es", "it", "pt", "id")
WRAP_WIDTH = 72
_NO_SPACES = ("zh", "ja")
_WIDE = re.compile(r"[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
_MIXED_PAIRS = 120
_MIXED_HALF_CHARS = 700  # each language's part of a two-language test article
_HEADER_PAIRS = 120  # each in both directions
_HEADER_CHARS = 400  # the other language's headline and teaser over the body
_MENU_WORDS = 10  # and as many of its words, one a line, as a menu
_BODY_MIN_CHARS = 1200
_STAGES = ("decode", "normalize", "boilerplate", "language", "metadata", "fingerprint", "raw langdetect")

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Check:
    """One row of the table: a measured value and, when it has one, its target."""

    name: str
    value: str
    target: str = ""
    passed: bool | None = None  # None: a figure with no target
    detail: str = ""


@dataclass
class Report:
    corpora: str
    sample: int | None
    seconds: float = 0.0
    load: float = 0.0  # 1-minute load average at the end: the ms figures depend on it
    checks: list[Check] = field(default_factory=list)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(c.passed is not False for c in self.checks)


# --- the stages a body goes through, as analyze() runs them --------------------------


def body_of(data: bytes, options: AnalyzeOptions | None = None) -> str:
    """The stored body for these bytes: decode -> normalize -> boilerplate, as in analyze().

    Round-trip and injection checks compare only bodies, so they skip language detection
    and metadata; a test keeps this equal to analyze().body.
    """
    opts = options or AnalyzeOptions()
    text = decode.decode(data).text
    return pagefurniture.remove(
        boilerplate.remove(normalize.normalize(text), opts.boilerplate_rules).body
    ).body


def _raw(path: Path, data: bytes | None = None) -> RawFile:
    data = path.read_bytes() if data is None else data
    return RawFile(str(path), data, len(data), 0, "")


# --- workers (module level, so a process pool can run them) ---------------------------


def _analyze_file(path: str) -> dict[str, Any]:
    outcome = analyze(_raw(Path(path)), AnalyzeOptions())
    if not isinstance(outcome, Analysis):
        return {"path": path, "failed": f"{outcome.stage}: {outcome.reason}"}
    text = decode.decode(Path(path).read_bytes()).text
    normalized = normalize.normalize(text)
    first_line = normalized.split("\n", 1)[0]
    started = time.perf_counter()
    language.detect_raw(outcome.body)  # the cost we save by sampling, or spend on paragraphs
    raw_ms = (time.perf_counter() - started) * 1000
    return {
        "path": path,
        "language": outcome.language,
        "languages": list(outcome.languages),
        "encoding": outcome.encoding,
        "repaired": outcome.repaired,
        "fffd": outcome.body.count("\ufffd"),
        "lines": sum(1 for line in normalized.split("\n") if line.strip()),
        "removed": len(outcome.removed),
        "removed_rules": [r.rule for r in outcome.removed],
        "line_group": outcome.line_group,
        "body_sha256": outcome.body_sha256,
        # key -> occurrences of each short line, for learned furniture
        "short_lines": dict(
            Counter(
                boilerplate.line_key(line.strip())
                for line in outcome.body.split("\n")
                if line.strip() and len(line.strip()) <= boilerplate.LEARNED_MAX_CHARS
            )
        ),
        "title_is_first_line": outcome.title == first_line,
        "unchanged": normalized == _whitespace_only(text),
        "stage_ms": {**outcome.stage_ms, "raw langdetect": raw_ms},
    }


def _whitespace_only(text: str) -> str:
    """What normalization may do to a clean BBC article: spaces and blank lines only."""
    lines = [" ".join(line.split()) for line in text.replace("\r\n", "\n").split("\n")]
    out = "\n".join(lines)
    while "\n\n\n" in out:
        out = out.replace("\n\n\n", "\n\n")
    return out.strip()


def _langid_lines(job: tuple[str, list[int]]) -> list[tuple[str, str, str, str, float]]:
    """(truth, ours forced, ours with default thresholds, raw langdetect, ms of ours)."""
    path, indices = job
    truth = Path(path).stem
    lines = Path(path).read_text(encoding="utf-8").split("\n")
    defaults = AnalyzeOptions()
    out = []
    for i in indices:
        line = lines[i]
        t0 = time.perf_counter()
        forced = language.detect(line, min_chars=1, min_probability=0.0, paragraphs=False).language
        ms = (time.perf_counter() - t0) * 1000
        default = language.detect(
            line, defaults.language_min_chars, defaults.language_min_probability, paragraphs=False
        ).language
        out.append((truth, forced, default, language.detect_raw(line), ms))
    return out


def _mojibake(text: str) -> bytes:
    # UTF-8 bytes read as Windows-1252 by a browser or editor, then saved again as UTF-8.
    return decode.windows_1252(text.encode("utf-8")).encode("utf-8")


_ENCODINGS: dict[str, Callable[[str], bytes | None]] = {
    "utf-16 (BOM)": lambda text: codecs.BOM_UTF16_LE + text.encode("utf-16-le"),
    "utf-16-le (no BOM)": lambda text: text.encode("utf-16-le"),
    "cp1252": lambda text: _encode_or_none(text, "cp1252"),
    "mojibake": _mojibake,
}


def _encode_or_none(text: str, encoding: str) -> bytes | None:
    try:
        return text.encode(encoding)
    except UnicodeEncodeError:
        return None  # the encoding cannot hold this text: not a test case


def _round_trip(path: str) -> dict[str, bool | None]:
    text = decode.decode(Path(path).read_bytes()).text
    want = body_of(text.encode("utf-8"))
    out: dict[str, bool | None] = {}
    for name, encode in _ENCODINGS.items():
        data = encode(text)
        if data is None:
            out[name] = None
            continue
        try:
            out[name] = body_of(data) == want
        except InputError:
            out[name] = False
    return out


def _unwrap(job: tuple[str, str]) -> tuple[bool, bool]:
    """Hard-wrap the article at WRAP_WIDTH columns; does normalization give it back?

    Without breaks at hyphens (fmt, mail clients), then with them (Python's textwrap
    default), where "search-" + "engine" cannot be told from a hyphenated word. Chinese
    is wrapped by display columns, ideographs two wide, as CJK wrappers do.
    """
    path, lang = job
    want = body_of(Path(path).read_bytes())
    results = []
    for hyphens in (False, True):
        paragraphs = []
        for paragraph in want.split("\n\n"):
            pieces = []
            for line in paragraph.split("\n"):
                if lang in _NO_SPACES:
                    pieces += _wrap_cjk(line, WRAP_WIDTH)
                else:
                    pieces += textwrap.wrap(
                        line, WRAP_WIDTH, break_long_words=False, break_on_hyphens=hyphens
                    )
            paragraphs.append("\n".join(pieces))
        results.append(body_of("\n\n".join(paragraphs).encode("utf-8")) == want)
    return results[0], results[1]


def _wrap_cjk(line: str, width: int) -> list[str]:
    """Greedy wrap by display columns (ideographs take two), Latin words and numbers whole."""
    pieces: list[str] = []
    current, columns = "", 0
    for token in re.findall(r"[A-Za-z0-9.,%]+|\s+|.", line):
        size = len(token) + len(_WIDE.findall(token))
        if current and columns + size > width:
            pieces.append(current.rstrip())
            current = token.lstrip()
            columns = len(current) + len(_WIDE.findall(current))
        else:
            current += token
            columns += size
    pieces.append(current)
    return pieces


def _half(path: str) -> str:
    """About _MIXED_HALF_CHARS of an article's text after its headline, cut at a space."""
    text = body_of(Path(path).read_bytes()).split("\n\n", 1)[-1]
    if len(text) <= _MIXED_HALF_CHARS:
        return text
    return text[: text.rfind(" ", 0, _MIXED_HALF_CHARS)]


def _header_over_body(job: tuple[str, str]) -> str:
    """The language analyze() gives a page made of one article's headline, teaser and
    words as a menu (its language's header) over another article's body."""
    header_path, body_path = job
    header = body_of(Path(header_path).read_bytes())
    headline, _, rest = header.partition("\n\n")
    teaser = rest[: rest.rfind(" ", 0, _HEADER_CHARS)] if len(rest) > _HEADER_CHARS else rest
    words = [w for w in rest.split() if w.isalpha()][:_MENU_WORDS]
    menu = "\n".join(w.capitalize() for w in words)
    body = body_of(Path(body_path).read_bytes())
    page = f"{menu}\n\n{headline}\n\n{teaser}\n\n{body}".encode()
    outcome = analyze(_raw(Path(body_path), page), AnalyzeOptions())
    return outcome.language if isinstance(outcome, Analysis) else "failed"


def _mixed(job: tuple[str, str, str, str]) -> tuple[str, str, list[str]]:
    path_a, lang_a, path_b, lang_b = job
    detection = language.detect(f"{_half(path_a)}\n\n{_half(path_b)}")
    return lang_a, lang_b, list(detection.languages)


# --- furniture written for the injection check -----------------------------------------

# Lines a news site puts around an article, per language; "{title}" is another article's
# headline (a "Read more" link). Written for this check, not copied from any site.
FURNITURE: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "header": (
            "Home > News > Business",
            "Advertisement",
            "Skip to main content",
            "Trending",
            "Published on 14 March 2024",
            "Updated: 14:32 GMT, 3 March 2025",
            "Share this article",
            "Facebook Twitter WhatsApp Email",
            "Sign in",
            "ADVERTISEMENT",
        ),
        "middle": (
            "Read more: {title}",
            "READ MORE: {title}",
            "Related: {title}",
            "Advertisement",
            "Story continues below advertisement",
            "Click here to get our free daily briefing",
            "Continue Reading",
            "Share:",
        ),
        "footer": (
            "Follow us on Twitter and Facebook",
            "Sign up for our daily newsletter",
            "Copyright © 2025 Example News Ltd. All rights reserved.",
            "Connect with us",
            "We use cookies to improve your experience. By continuing to browse you agree to our cookies.",
            "© 2024 Example Media Group",
            "Read more",
            "Most read",
            "Tags: politics, economy, world",
            "Want more stories like this? Sign up to our newsletter.",
        ),
    },
    "de": {
        "header": (
            "Startseite > Politik > Inland",
            "Anzeige",
            "Artikel teilen",
            "Veröffentlicht am 3. März 2025, 14:32 Uhr",
            "Meistgelesen",
            "Zum Inhalt springen",
        ),
        "middle": ("Lesen Sie auch: {title}", "Mehr zum Thema: {title}", "Anzeige", "Werbung", "Weiterlesen"),
        "footer": (
            "Folgen Sie uns auf Facebook und Twitter",
            "Newsletter abonnieren",
            "Melden Sie sich für unseren kostenlosen Newsletter an",
            "© 2025 Beispiel Verlag GmbH. Alle Rechte vorbehalten.",
            "Wir verwenden Cookies, um Ihnen das beste Nutzererlebnis zu bieten.",
            "Schlagworte: Politik, Wirtschaft",
        ),
    },
    "fr": {
        "header": (
            "Accueil > International",
            "Publicité",
            "Partager cet article",
            "Publié le 3 mars 2025 à 14h32",
            "Les plus lus",
        ),
        "middle": ("Lire aussi : {title}", "À lire aussi : {title}", "Publicité", "Lire la suite"),
        "footer": (
            "Suivez-nous sur Twitter et Facebook",
            "Inscrivez-vous à notre newsletter quotidienne",
            "© 2025 Exemple Médias. Tous droits réservés.",
            "Ce site utilise des cookies pour améliorer votre expérience de navigation.",
        ),
    },
    "es": {
        "header": (
            "Inicio > Internacional",
            "Publicidad",
            "Comparte este artículo",
            "Publicado el 3 de marzo de 2025",
            "Lo más leído",
        ),
        "middle": ("Lee también: {title}", "Te puede interesar: {title}", "Publicidad", "Leer más"),
        "footer": (
            "Síguenos en Twitter y Facebook",
            "Suscríbete a nuestro boletín diario",
            "© 2025 Ejemplo Noticias. Todos los derechos reservados.",
            "Utilizamos cookies propias y de terceros para mejorar tu experiencia.",
        ),
    },
    "it": {
        "header": ("Home > Cronaca", "Pubblicità", "Condividi", "Pubblicato il 3 marzo 2025", "I più letti"),
        "middle": ("Leggi anche: {title}", "Pubblicità", "Continua a leggere"),
        "footer": (
            "Seguici su Facebook e Instagram",
            "Iscriviti alla nostra newsletter",
            "© 2025 Esempio Editore. Tutti i diritti riservati.",
            "Questo sito utilizza cookie per migliorare la tua esperienza.",
        ),
    },
    "pt": {
        "header": (
            "Início > Política",
            "Publicidade",
            "Compartilhe",
            "Publicado em 3 de março de 2025",
            "Mais lidas",
        ),
        "middle": ("Leia também: {title}", "Veja também: {title}", "Publicidade", "Leia mais"),
        "footer": (
            "Siga-nos no Twitter e no Instagram",
            "Assine nossa newsletter e receba as principais notícias",
            "© 2025 Exemplo Comunicação. Todos os direitos reservados.",
            "Este site utiliza cookies para melhorar sua experiência.",
        ),
    },
    "id": {
        "header": (
            "Beranda > Berita > Nasional",
            "Iklan",
            "Bagikan artikel ini",
            "Diterbitkan 3 Maret 2025, 14:32 WIB",
            "Terpopuler",
        ),
        "middle": ("Baca juga: {title}", "Simak juga: {title}", "Iklan", "Baca selengkapnya"),
        "footer": (
            "Ikuti kami di Instagram dan Twitter",
            "Berlangganan newsletter kami",
            "Hak Cipta © 2025 Contoh Media. Hak cipta dilindungi undang-undang.",
            "Situs ini menggunakan cookie untuk meningkatkan pengalaman Anda.",
        ),
    },
}


def inject_furniture(body: str, lang: str, rng: random.Random, other_title: str) -> str:
    """A clean article with furniture around and inside it, as a scraper would save it.

    Three to six lines, each its own paragraph or glued to a neighbour by one newline;
    sometimes a paragraph repeated, as scrapers that read a page twice do.
    """
    furniture = FURNITURE[lang]
    paragraphs = body.split("\n\n")
    # Scrapers repeat whole content paragraphs, not a short line with a footer glued on.
    long_ones = [p for p in paragraphs if len(p.split()) >= 12]
    for _ in range(rng.randint(3, 6)):
        place = rng.choice(("header", "middle", "footer"))
        line = rng.choice(furniture[place]).format(title=other_title)
        if place == "header":
            at = rng.randint(0, min(1, len(paragraphs)))
        elif place == "footer":
            at = len(paragraphs)
        else:
            at = rng.randint(1, max(1, len(paragraphs) - 1))
        if rng.random() < 0.3 and 0 < at <= len(paragraphs):
            paragraphs[at - 1] = f"{paragraphs[at - 1]}\n{line}"  # glued below a paragraph
        else:
            paragraphs.insert(at, line)
    if long_ones and rng.random() < 0.3:
        paragraphs.append(rng.choice(long_ones))
    return "\n\n".join(paragraphs) + "\n"


def _inject(job: tuple[str, str, int, str]) -> tuple[str, bool, str]:
    path, lang, seed, other_title = job
    want = body_of(Path(path).read_bytes())
    dirty = inject_furniture(want, lang, random.Random(seed), other_title)
    got = body_of(dirty.encode("utf-8"))
    return lang, got == want, "" if got == want else _first_difference(got, want)


def _site_furniture(job: tuple[str, str, str | None]) -> tuple[str, str, str]:
    """A BBC article as one site's page: its masthead on top, its footer (on some pages) below."""
    path, masthead, footer = job
    want = body_of(Path(path).read_bytes())
    dirty = f"{masthead}\n\n{want}" + (f"\n\n{footer}" if footer else "") + "\n"
    return str(Path(path).parent), want, body_of(dirty.encode("utf-8"))


def _first_difference(got: str, want: str) -> str:
    i = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), min(len(got), len(want)))
    return got[max(0, i - 40) : i + 60].replace("\n", "⏎")


# --- measuring -----------------------------------------------------------------------


def _spread(items: Sequence[T], n: int | None) -> list[T]:
    """At most n items taken evenly across the list (the list is in a stable order)."""
    if n is None or len(items) <= n:
        return list(items)
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def _round_robin(groups: dict[str, list[T]], n: int | None) -> list[T]:
    """At most n items, spread evenly over the groups (languages)."""
    if n is None:
        return [item for key in sorted(groups) for item in groups[key]]
    per_group = max(1, n // max(1, len(groups)))
    return [item for key in sorted(groups) for item in _spread(groups[key], per_group)][:n]


def _percent(part: float, whole: float) -> str:
    return f"{100 * part / whole:.2f}%" if whole else "n/a"


def _warm_up() -> None:
    # Load langdetect's profiles, ftfy and numpy before anything is timed: a first call
    # costs ~0.5 s and would swamp the per-document means of a small sample.
    text = "Warm-up text: the council met on Monday and agreed the budget. Café ünïcode."
    analyze(_raw(Path("warm-up.txt"), text.encode("utf-8")), AnalyzeOptions())
    decode.decode(_mojibake(text))
    language.detect_raw(text)


class _Runner:
    def __init__(self, jobs: int) -> None:
        self.pool = ProcessPoolExecutor(jobs, initializer=_warm_up) if jobs > 1 else None
        if self.pool is None:
            _warm_up()

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        if self.pool is None:
            return [fn(item) for item in items]
        chunk = max(1, len(items) // 64)
        return list(self.pool.map(fn, items, chunksize=chunk))

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


def measure(
    corpora: Path, sample: int | None = None, jobs: int = 1, progress: Callable[[str], None] | None = None
) -> Report:
    """Run every check over ``corpora``; ``sample`` caps the items of each check."""
    started = time.perf_counter()
    report = Report(str(corpora), sample)
    runner = _Runner(jobs)
    note = progress or (lambda _: None)
    try:
        stage_ms: dict[str, list[float]] = defaultdict(list)
        multilingual = corpora / "multilingual"
        bbc_files = sorted((corpora / "bbc").glob("*/*.txt"))
        manifest = _manifest(multilingual)
        by_language: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for row in manifest:
            by_language[row["lang"]].append((str(multilingual / row["file"]), row["lang"]))

        note("multilingual: language of every article")
        _check_multilingual(report, runner, _round_robin(by_language, sample), stage_ms)
        note("bbc: decode, normalize, boilerplate on untouched articles")
        _check_bbc(report, runner, _spread(bbc_files, sample), stage_ms)
        note("langid: sentences, ours against raw langdetect")
        _check_langid(report, runner, corpora / "langid" / "sentences", sample)
        articles = _spread([str(p) for p in bbc_files], None if sample is None else sample // 2) + [
            path for path, _ in _round_robin(by_language, None if sample is None else sample - sample // 2)
        ]
        language_of = {path: lang for rows in by_language.values() for path, lang in rows}
        language_of.update({str(p): "en" for p in bbc_files})
        note("round trip: UTF-16, cp1252, mojibake")
        _check_round_trip(report, runner, articles, language_of)
        note("boilerplate: injected furniture")
        _check_injection(report, runner, bbc_files, by_language, sample)
        note("boilerplate: learned site furniture")
        # Learning needs several pages per site: a sample of 40 leaves 8 per folder.
        _check_learned_injection(report, runner, _spread(bbc_files, None if sample is None else sample * 4))
        webnews = corpora / "webnews"
        if (webnews / "truth.jsonl").exists():
            note("webnews: real scraped pages against trafilatura's segments")
            _check_webnews(report, runner, webnews, sample)
        note("normalize: hard-wrapped articles")
        _check_unwrap(report, runner, articles, language_of)
        note("language: mixed-language articles")
        _check_mixed(report, runner, bbc_files, by_language, sample)
        note("language: a header in one language over a body in another")
        _check_header_body(report, runner, bbc_files, by_language, sample)
        _cost_table(report, stage_ms)
    finally:
        runner.close()
    report.seconds = round(time.perf_counter() - started, 1)
    report.load = round(os.getloadavg()[0], 2)
    return report


def _manifest(multilingual: Path) -> list[dict[str, str]]:
    with open(multilingual / "manifest.tsv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def _same_language(found: str, truth: str) -> bool:
    # langdetect says "zh-cn"/"zh-tw" and "no" where the corpora say "zh" and "nb".
    return (
        found == truth or (truth == "zh" and found in ("zh-cn", "zh-tw")) or (truth == "nb" and found == "no")
    )


def _check_multilingual(
    report: Report, runner: _Runner, rows: list[tuple[str, str]], stage_ms: dict[str, list[float]]
) -> None:
    results = runner.map(_analyze_file, [path for path, _ in rows])
    per: dict[str, Counter[str]] = defaultdict(Counter)
    wrong = []
    for (path, truth), result in zip(rows, results, strict=False):
        per[truth]["files"] += 1
        if "failed" in result:
            wrong.append(f"{Path(path).parent.name}/{Path(path).name}: {result['failed']}")
            continue
        for stage, ms in result["stage_ms"].items():
            stage_ms[stage].append(ms)
        ok = _same_language(result["language"], truth)
        per[truth]["correct"] += ok
        per[truth]["und"] += result["language"] == language.UNDETERMINED
        per[truth]["mixed"] += bool(result["languages"])
        if not ok:
            wrong.append(f"{Path(path).parent.name}/{Path(path).name}: {result['language']}")
    total = sum(c["files"] for c in per.values())
    correct = sum(c["correct"] for c in per.values())
    mixed = sum(c["mixed"] for c in per.values())
    report.checks.append(
        Check(
            "language accuracy, multilingual/",
            _percent(correct, total),
            f">= {MULTILINGUAL_TARGET:.1%}",
            total > 0 and correct / total >= MULTILINGUAL_TARGET,
            f"{correct}/{total}; wrong: {', '.join(wrong[:5]) or 'none'}",
        )
    )
    report.checks.append(
        Check(
            "mixed-language marks on monolingual articles",
            f"{mixed}/{total}",
            detail="quotes or lists in a second language",
        )
    )
    report.tables["multilingual by language"] = [
        {
            "language": lang,
            "files": c["files"],
            "accuracy": _percent(c["correct"], c["files"]),
            "und": c["und"],
            "mixed": c["mixed"],
        }
        for lang, c in sorted(per.items())
    ]


def _check_bbc(report: Report, runner: _Runner, files: list[Path], stage_ms: dict[str, list[float]]) -> None:
    results = runner.map(_analyze_file, [str(p) for p in files])
    failed = [r for r in results if "failed" in r]
    good = [r for r in results if "failed" not in r]
    fffd = sum(1 for r in good if r["fffd"])
    encodings = Counter(r["encoding"] for r in good)
    report.checks.append(
        Check(
            "bbc/ decoded, no U+FFFD in any body",
            f"{len(good) - fffd}/{len(files)}",
            "all",
            not failed and not fffd and len(good) == len(files),
            ", ".join(f"{enc}: {n}" for enc, n in encodings.most_common())
            + f"; repaired: {sum(r['repaired'] for r in good)}"
            + (f"; failed: {failed[0]['path']}: {failed[0]['failed']}" if failed else ""),
        )
    )
    lines = sum(r["lines"] for r in good)
    removed = sum(r["removed"] for r in good)
    rules = Counter(rule for r in good for rule in r["removed_rules"])
    report.checks.append(
        Check(
            "bbc/ lines removed as boilerplate",
            _percent(removed, lines),
            f"< {BBC_REMOVED_MAX:.1%}",
            lines > 0 and removed / lines < BBC_REMOVED_MAX,
            f"{removed}/{lines} lines" + (f"; {dict(rules)}" if rules else ""),
        )
    )
    _check_bbc_learned(report, good, lines)
    unchanged = sum(r["unchanged"] for r in good)
    report.checks.append(
        Check(
            "bbc/ unchanged by normalize except whitespace",
            f"{unchanged}/{len(good)}",
            "all",
            unchanged == len(good),
        )
    )
    titles = sum(r["title_is_first_line"] for r in good)
    report.checks.append(
        Check("bbc/ title = first line", f"{titles}/{len(good)}", "all", titles == len(good))
    )
    for r in good:
        for stage, ms in r["stage_ms"].items():
            stage_ms[stage].append(ms)


def _check_bbc_learned(report: Report, good: list[dict[str, Any]], lines: int) -> None:
    """Learned furniture on the untouched BBC corpus, grouped by category folder as the
    ingest groups it, with the default thresholds. Identical bodies count once (the DB
    also folds near-duplicates, so it learns at most what this learns)."""
    defaults = IngestConfig()
    minimum, fraction = defaults.learn_min_documents, defaults.learn_min_fraction
    bodies: dict[str, dict[str, dict[bytes, int]]] = defaultdict(dict)  # group -> body -> short lines
    for r in good:
        bodies[r["line_group"]].setdefault(r["body_sha256"], r["short_lines"])
    learned: dict[str, set[bytes]] = {}
    for group, texts in bodies.items():
        stories = Counter(key for short in texts.values() for key in short)
        learned[group] = {
            k for k, n in stories.items() if boilerplate.is_furniture(n, len(texts), minimum, fraction)
        }
    removed = sum(n for r in good for k, n in r["short_lines"].items() if k in learned[r["line_group"]])
    report.checks.append(
        Check(
            "bbc/ lines removed as learned furniture",
            _percent(removed, lines),
            f"< {BBC_REMOVED_MAX:.1%}",
            lines > 0 and removed / lines < BBC_REMOVED_MAX,
            f"{removed}/{lines} lines; {sum(map(len, learned.values()))} lines learned in {len(bodies)} folders "
            f"(>= {minimum} documents and >= {fraction:.0%} of a folder)",
        )
    )


def _check_learned_injection(report: Report, runner: _Runner, bbc_files: list[Path]) -> None:
    """Each BBC category as one site: a masthead on every article, a footer on 60% of
    them, lines no built-in rule knows. Learned from the folder with the default
    thresholds, then removed: the body must equal the clean article's."""
    rng = random.Random(3)
    jobs = []
    for path in bbc_files:
        site = path.parent.name.upper()
        masthead = f"THE {site} HERALD | Independent news since 1901"
        footer = (
            f"Got a story? Call the {path.parent.name} desk on 020 7946 0{len(site)}00."
            if rng.random() < 0.6
            else None
        )
        jobs.append((str(path), masthead, footer))
    pages = runner.map(_site_furniture, jobs)
    defaults = IngestConfig()
    by_folder: dict[str, dict[str, dict[bytes, str]]] = defaultdict(dict)
    for folder, want, dirty in pages:
        by_folder[folder].setdefault(want, boilerplate.short_lines(dirty))
    learned: dict[str, set[bytes]] = {}
    for folder, docs in by_folder.items():
        stories = Counter(key for short in docs.values() for key in short)
        learned[folder] = {
            k
            for k, n in stories.items()
            if boilerplate.is_furniture(
                n, len(docs), defaults.learn_min_documents, defaults.learn_min_fraction
            )
        }
    same = 0
    wrong = []
    for (folder, want, dirty), (page, _, _) in zip(pages, jobs, strict=False):
        got = boilerplate.remove_learned(dirty, learned[folder]).body
        same += got == want
        if got != want:
            wrong.append(f"{Path(page).parent.name}/{Path(page).name}: {_first_difference(got, want)}")
    report.checks.append(
        Check(
            "boilerplate: learned site furniture removed, body = clean body",
            _percent(same, len(pages)),
            f">= {INJECTION_TARGET:.0%}",
            bool(pages) and same / len(pages) >= INJECTION_TARGET,
            f"{same}/{len(pages)}; {sum(map(len, learned.values()))} lines learned in {len(learned)} folders"
            + (f"; first difference: {wrong[0]}" if wrong else ""),
        )
    )


def _check_langid(report: Report, runner: _Runner, folder: Path, sample: int | None) -> None:
    files = sorted(folder.glob("*.txt"))
    per_file = None if sample is None else max(1, sample // max(1, len(files)))
    jobs = []
    for path in files:
        indices = [i for i, line in enumerate(path.read_text(encoding="utf-8").split("\n")) if line.strip()]
        chosen = _spread(indices, per_file)
        # Split each language in a few jobs so both workers stay busy.
        for start in range(0, len(chosen), 250):
            jobs.append((str(path), chosen[start : start + 250]))
    rows = [row for chunk in runner.map(_langid_lines, jobs) for row in chunk]
    per: dict[str, Counter[str]] = defaultdict(Counter)
    ms = []
    for truth, forced, default, raw, took in rows:
        c = per[truth]
        c["lines"] += 1
        c["ours"] += _same_language(forced, truth)
        c["raw"] += _same_language(raw, truth)
        c["decided"] += default != language.UNDETERMINED
        c["decided_ok"] += _same_language(default, truth)
        ms.append(took)
    total = Counter[str]()
    for c in per.values():
        total.update(c)
    n = total["lines"]
    report.checks.append(
        Check(
            "langid/sentences, ours (forced choice)",
            _percent(total["ours"], n),
            ">= raw",
            n > 0 and total["ours"] >= total["raw"],
            f"{total['ours']}/{n}; thresholds off; {statistics.fmean(ms) if ms else 0:.2f} ms/line",
        )
    )
    report.checks.append(
        Check("langid/sentences, raw langdetect", _percent(total["raw"], n), detail=f"{total['raw']}/{n}")
    )
    report.checks.append(
        Check(
            "langid/sentences, ours (default thresholds)",
            f"coverage {_percent(total['decided'], n)}",
            detail=f"precision {_percent(total['decided_ok'], total['decided'])}; "
            "short or uncertain lines are 'und'",
        )
    )
    report.tables["langid/sentences by language"] = [
        {
            "language": lang,
            "lines": c["lines"],
            "ours": _percent(c["ours"], c["lines"]),
            "raw": _percent(c["raw"], c["lines"]),
            "delta": c["ours"] - c["raw"],
            "coverage": _percent(c["decided"], c["lines"]),
        }
        for lang, c in sorted(per.items())
    ]


def _check_round_trip(
    report: Report, runner: _Runner, articles: list[str], language_of: dict[str, str]
) -> None:
    results = runner.map(_round_trip, articles)
    per: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for path, result in zip(articles, results, strict=False):
        for encoding, ok in result.items():
            c = per[encoding][language_of[path]]
            if ok is None:
                c["n/a"] += 1
            else:
                c["tested"] += 1
                c["same"] += ok
    rows = []
    for encoding in _ENCODINGS:
        counts = per[encoding]
        tested = sum(c["tested"] for c in counts.values())
        same = sum(c["same"] for c in counts.values())
        held = sorted(lang for lang, c in counts.items() if c["tested"])
        report.checks.append(
            Check(
                f"round trip {encoding}: same body",
                f"{same}/{tested}",
                "all",
                tested > 0 and same == tested,
                f"languages: {' '.join(held)}"
                + (
                    f"; not encodable: {sum(c['n/a'] for c in counts.values())}"
                    if any(c["n/a"] for c in counts.values())
                    else ""
                ),
            )
        )
        for lang, c in sorted(counts.items()):
            rows.append(
                {
                    "encoding": encoding,
                    "language": lang,
                    "tested": c["tested"],
                    "same": c["same"],
                    "n/a": c["n/a"],
                }
            )
    report.tables["round trip by encoding and language"] = rows


def _check_injection(
    report: Report,
    runner: _Runner,
    bbc_files: list[Path],
    by_language: dict[str, list[tuple[str, str]]],
    sample: int | None,
) -> None:
    groups: dict[str, list[str]] = {"en": [str(p) for p in bbc_files]}
    for lang in FURNITURE_LANGUAGES:
        if lang != "en":
            groups[lang] = [path for path, _ in by_language.get(lang, [])]
    chosen = _round_robin({k: [(p, k) for p in v] for k, v in groups.items()}, sample)
    jobs = []
    for i, (path, lang) in enumerate(chosen):
        pool = groups[lang]
        other = pool[(pool.index(path) + 7) % len(pool)]
        other_title = body_of(Path(other).read_bytes()).split("\n", 1)[0][:120]
        jobs.append((path, lang, i, other_title))
    results = runner.map(_inject, jobs)
    per: dict[str, Counter[str]] = defaultdict(Counter)
    misses = []
    for lang, ok, difference in results:
        per[lang]["articles"] += 1
        per[lang]["same"] += ok
        if not ok:
            misses.append(f"{lang}: …{difference}…")
    n = sum(c["articles"] for c in per.values())
    same = sum(c["same"] for c in per.values())
    report.checks.append(
        Check(
            "boilerplate: injected furniture removed, body = clean body",
            _percent(same, n),
            f">= {INJECTION_TARGET:.0%}",
            n > 0 and same / n >= INJECTION_TARGET,
            f"{same}/{n}; "
            + " ".join(f"{k}:{c['same']}/{c['articles']}" for k, c in sorted(per.items()))
            + (f"; first miss {misses[0]}" if misses else ""),
        )
    )


def _webnews_page(path: str) -> dict[str, str]:
    outcome = analyze(_raw(Path(path)), AnalyzeOptions())
    raw = Path(path).read_text(encoding="utf-8")
    if not isinstance(outcome, Analysis):
        return {"raw": raw, "body": "", "title": ""}
    return {"raw": raw, "body": outcome.body, "title": outcome.title}


@dataclass
class Segments:
    """trafilatura's counts: a main-text segment found is a true positive, one missing a
    false negative; a furniture segment found is a false positive."""

    tp: int = 0
    fn: int = 0
    fp: int = 0

    def add(self, text: str, truth: dict[str, Any]) -> None:
        # A plain substring test, as trafilatura's evaluation counts (and anchors.json
        # was counted: the raw pages score its raw_text figures exactly this way).
        for segment in truth["with"]:
            if segment in text:
                self.tp += 1
            else:
                self.fn += 1
        self.fp += sum(1 for segment in truth["without"] if segment in text)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def figures(self) -> str:
        return f"P {self.precision:.3f} R {self.recall:.3f} F1 {self.f1:.3f}"


def is_headline(title: str, first_line: str, truth: dict[str, Any]) -> bool:
    """Whether a title is the page's headline: a main-text segment of headline length,
    or a part of the page's first line (the HTML <title>, which carries the headline)
    that is neither the whole line (site name and section included) nor one word."""
    title = " ".join(title.split())
    if not title or len(title) > _HEADLINE_MAX_CHARS:
        return False
    if any(" ".join(s.split()) == title for s in truth["with"]):
        return True
    first = " ".join(first_line.split())
    return len(title.split()) >= 3 and title in first and title != first


def _check_webnews(report: Report, runner: _Runner, folder: Path, sample: int | None) -> None:
    truths = [
        json.loads(line) for line in (folder / "truth.jsonl").read_text(encoding="utf-8").splitlines() if line
    ]
    chosen = _spread(list(enumerate(truths)), sample)
    pages = runner.map(_webnews_page, [str(folder / truth["file"]) for _, truth in chosen])
    ours, raw = Segments(), Segments()
    halves = {0: Segments(), 1: Segments()}
    headlines = 0
    for (i, truth), page in zip(chosen, pages, strict=False):
        ours.add(page["body"], truth)
        halves[i % 2].add(page["body"], truth)
        raw.add(page["raw"], truth)
        headlines += is_headline(page["title"], page["raw"].split("\n", 1)[0], truth)
    anchors = json.loads((folder / "anchors.json").read_text(encoding="utf-8"))
    raw_anchor, trafilatura = anchors["raw_text"], anchors["trafilatura_2.3.1_on_html"]
    n = len(pages)
    # The targets are the whole corpus's: a sample of pages (a cheap CI run) only reports.
    whole: bool | None = None if sample is not None and n < len(truths) else True
    report.checks.append(
        Check(
            "webnews: stored bodies against trafilatura's segments, F1",
            f"{ours.f1:.3f}",
            f">= {WEBNEWS_F1_TARGET:.2f}",
            whole and ours.f1 >= WEBNEWS_F1_TARGET,
            f"{ours.figures()} on {n} pages ({ours.tp} found, {ours.fn} missed, {ours.fp} furniture kept); "
            f"anchors: raw text F1 {raw_anchor['f1']:.3f}, trafilatura on HTML F1 {trafilatura['f1']:.3f}",
        )
    )
    report.checks.append(
        Check(
            "webnews: recall of the main text",
            f"{ours.recall:.3f}",
            f">= {WEBNEWS_RECALL_TARGET:.2f}",
            whole and ours.recall >= WEBNEWS_RECALL_TARGET,
            f"raw text {raw_anchor['recall']:.3f}, trafilatura {trafilatura['recall']:.3f}",
        )
    )
    report.checks.append(
        Check(
            "webnews: pages in halves (even lines of truth.jsonl tuned on, odd held out)",
            f"F1 {halves[0].f1:.3f} / {halves[1].f1:.3f}",
            detail=f"even: {halves[0].figures()}; odd: {halves[1].figures()}",
        )
    )
    report.checks.append(
        Check(
            "webnews: raw text counted here (= anchors.json raw_text)",
            f"F1 {raw.f1:.3f}",
            detail=f"{raw.figures()}; anchors.json: P {raw_anchor['precision']:.3f} R {raw_anchor['recall']:.3f} "
            f"F1 {raw_anchor['f1']:.3f} (on the whole set they are equal: the same counting)",
        )
    )
    report.checks.append(
        Check(
            "webnews: pages whose title is a headline",
            _percent(headlines, n),
            detail=f"{headlines}/{n}; a main-text segment of headline length, or part of the page's first line",
        )
    )


def _check_unwrap(report: Report, runner: _Runner, articles: list[str], language_of: dict[str, str]) -> None:
    eligible = articles
    results = runner.map(_unwrap, [(a, language_of[a]) for a in eligible])
    bbc = [(r, a) for r, a in zip(results, eligible, strict=False) if language_of[a] == "en"]
    rest = [(r, a) for r, a in zip(results, eligible, strict=False) if language_of[a] != "en"]
    ok_bbc = sum(r[0] for r, _ in bbc)
    report.checks.append(
        Check(
            f"normalize: bbc/ hard-wrapped at {WRAP_WIDTH} comes back",
            _percent(ok_bbc, len(bbc)),
            f">= {UNWRAP_BBC_TARGET:.0%}",
            bool(bbc) and ok_bbc / len(bbc) >= UNWRAP_BBC_TARGET,
            f"{ok_bbc}/{len(bbc)}; with breaks at hyphens too: {sum(r[1] for r, _ in bbc)}/{len(bbc)}",
        )
    )
    ok_rest = sum(r[0] for r, _ in rest)
    report.checks.append(
        Check(
            f"normalize: multilingual/ hard-wrapped at {WRAP_WIDTH} comes back",
            _percent(ok_rest, len(rest)),
            detail=f"{ok_rest}/{len(rest)}; misses are author line breaks inside paragraphs "
            "that fall at the wrap width; "
            f"with breaks at hyphens: {sum(r[1] for r, _ in rest)}/{len(rest)}",
        )
    )


def _check_mixed(
    report: Report,
    runner: _Runner,
    bbc_files: list[Path],
    by_language: dict[str, list[tuple[str, str]]],
    sample: int | None,
) -> None:
    pools: dict[str, list[str]] = {"en": [str(p) for p in bbc_files]}
    for lang, rows in by_language.items():
        if lang != "zh":  # one paragraph per file: nothing to mix by paragraph
            pools[lang] = [path for path, _ in rows]
    langs = sorted(pools)
    rng = random.Random(3)
    count = _MIXED_PAIRS if sample is None else max(4, min(_MIXED_PAIRS, sample // 4))
    jobs: list[tuple[str, str, str, str]] = []
    while len(jobs) < count:
        a, b = rng.sample(langs, 2)
        path_a, path_b = rng.choice(pools[a]), rng.choice(pools[b])
        # Both parts must be long enough that each is a real share of the article.
        if min(len(_half(path_a)), len(_half(path_b))) >= _MIXED_HALF_CHARS * 0.8:
            jobs.append((path_a, a, path_b, b))
    results = runner.map(_mixed, jobs)
    found = sum(1 for a, b, got in results if {a, b} <= set(got))
    report.checks.append(
        Check(
            "language: two-language articles marked mixed",
            _percent(found, len(results)),
            detail=f"{found}/{len(results)} pairs of real articles, ~{_MIXED_HALF_CHARS} characters of each",
        )
    )


def _check_header_body(
    report: Report,
    runner: _Runner,
    bbc_files: list[Path],
    by_language: dict[str, list[tuple[str, str]]],
    sample: int | None,
) -> None:
    """A page whose header (menu, headline, teaser) is in one language and whose body, three
    times as long or more, in another, each pair in both directions: the body's language is
    the page's: the opening does not decide it."""
    pools: dict[str, list[str]] = {"en": [str(p) for p in bbc_files]}
    for lang, rows in by_language.items():
        if lang != "en":
            pools[lang] = [path for path, _ in rows]
    langs = sorted(pools)
    rng = random.Random(17)
    count = _HEADER_PAIRS if sample is None else max(2, min(_HEADER_PAIRS, sample // 8))
    jobs: list[tuple[str, str]] = []
    wanted: list[str] = []
    while len(jobs) < 2 * count:
        a, b = rng.sample(langs, 2)
        path_a, path_b = rng.choice(pools[a]), rng.choice(pools[b])
        texts = [body_of(Path(p).read_bytes()) for p in (path_a, path_b)]
        if (
            min(len(t.partition("\n\n")[2]) for t in texts) < _HEADER_CHARS
            or min(map(len, texts)) < _BODY_MIN_CHARS
        ):
            continue
        jobs += [(path_a, path_b), (path_b, path_a)]
        wanted += [b, a]
    results = runner.map(_header_over_body, jobs)
    right = sum(_same_language(got, want) for got, want in zip(results, wanted, strict=False))
    wrong = Counter(
        f"{want} body got {got}"
        for got, want in zip(results, wanted, strict=False)
        if not _same_language(got, want)
    )
    report.checks.append(
        Check(
            "language: header in another language, body's wins",
            _percent(right, len(jobs)),
            f">= {HEADER_BODY_TARGET:.0%}",
            bool(jobs) and right / len(jobs) >= HEADER_BODY_TARGET,
            f"{right}/{len(jobs)} pages ({count} pairs of real articles, both ways; a {_MENU_WORDS}-word menu, "
            f"headline and ~{_HEADER_CHARS} characters over a body of >= {_BODY_MIN_CHARS})"
            + (f"; {', '.join(f'{k}: {n}' for k, n in wrong.most_common(3))}" if wrong else ""),
        )
    )


def _cost_table(report: Report, stage_ms: dict[str, list[float]]) -> None:
    rows = []
    for stage in _STAGES:
        values = sorted(stage_ms.get(stage, []))
        if not values:
            continue
        rows.append(
            {
                "stage": stage,
                "docs": len(values),
                "mean ms": round(statistics.fmean(values), 3),
                "p50 ms": round(values[len(values) // 2], 3),
                "p95 ms": round(values[int(len(values) * 0.95)], 3),
            }
        )
    report.tables["cost per document (bbc/ + multilingual/)"] = rows
    language_ms = stage_ms.get("language")
    raw_ms = stage_ms.get("raw langdetect")
    if language_ms and raw_ms:
        report.checks.append(
            Check(
                "language detection cost",
                f"{statistics.fmean(language_ms):.2f} ms/doc",
                detail=f"raw langdetect on the whole body: {statistics.fmean(raw_ms):.2f} ms/doc; ours samples "
                f"{language._SAMPLE_CHARS} characters, then checks up to {language._MAX_PARAGRAPHS} paragraphs",
            )
        )


# --- presentation ----------------------------------------------------------------------


def render(report: Report) -> str:
    scope = "full corpora" if report.sample is None else f"sample of {report.sample} per check"
    header = (
        f"text quality over {report.corpora} ({scope}, {report.seconds} s, load average "
        f"{report.load:.1f} on {os.cpu_count()} CPUs: costs are per document, inflated by load)"
    )
    out = [header, ""]
    width = max(len(c.name) for c in report.checks)
    value_width = max(len(c.value) for c in report.checks)
    out.append(f"{'check':<{width}}  {'value':>{value_width}}  {'target':<10}  ok    detail")
    for c in report.checks:
        mark = {True: "yes", False: "NO", None: "-"}[c.passed]
        out.append(f"{c.name:<{width}}  {c.value:>{value_width}}  {c.target:<10}  {mark:<4}  {c.detail}")
    for title, rows in report.tables.items():
        out += ["", title]
        out += _table(rows)
    out += [
        "",
        "all targets met"
        if report.passed
        else "TARGETS MISSED: " + ", ".join(c.name for c in report.checks if c.passed is False),
    ]
    return "\n".join(out)


def _table(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return ["  (none)"]
    keys = list(rows[0])
    widths = {k: max(len(str(k)), *(len(str(r[k])) for r in rows)) for k in keys}
    lines = ["  " + "  ".join(f"{k:>{widths[k]}}" for k in keys)]
    lines += ["  " + "  ".join(f"{r[k]!s:>{widths[k]}}" for k in keys) for r in rows]
    return lines


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/quality", description=__doc__)
    parser.add_argument(
        "--corpora", type=Path, default=DEFAULT_CORPORA, help=f"corpora folder (default: {DEFAULT_CORPORA})"
    )
    parser.add_argument(
        "--sample", type=int, default=None, metavar="N", help="at most N items per check (a cheap CI run)"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: CPU count)"
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    if not (args.corpora / "multilingual" / "manifest.tsv").exists():
        print(f"scripts/quality: no corpora at {args.corpora}", file=sys.stderr)
        return 2
    progress = None if args.json else (lambda step: print(f"… {step}", file=sys.stderr, flush=True))
    report = measure(args.corpora, args.sample, max(1, args.jobs), progress)
    if args.json:
        print(json.dumps({**asdict(report), "passed": report.passed}, ensure_ascii=False, indent=2))
    else:
        print(render(report))
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
