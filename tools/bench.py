"""The benchmark behind ``scripts/bench``: ingest, scaling, rescan, daemon, queries, retrieval, reindex.

The corpus is BBC x ``--scale`` (varied copies) or ``--docs N`` synthetic articles
(tools/synth.py); every section works on either through the few methods of a corpus
object. A tool, not part of the core: it prints. Every ingest runs the installed CLI as a
subprocess in a fresh tmp project, so process start-up, imports and worker pools are in
the figures; in-process measurements (queries, the rescan) use the public API, where a
process start would drown what is measured. Each target carries the number of the issue
that set it, printed beside it in the report.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import platform
import random
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["bare_whoosh_main", "main"]

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "corpora" / "bbc"
FORMAT_VERSION = 1
SECTIONS = (
    "ingest",
    "bare",
    "scaling",
    "rescan",
    "add",
    "query",
    "known",
    "daemon",
    "alerts",
    "reindex",
    "idle",
    "cluster",
)
# These measure the fully ingested main project, so they imply the cold ingest.
NEEDS_INDEX = ("rescan", "add", "query", "known", "daemon", "alerts", "reindex", "idle")
# Run only when a PostgreSQL server is given (--postgres URL or this variable).
POSTGRES_ENV = "INDEXER_BENCH_POSTGRES_URL"
CLUSTER_PRELOAD = 1000  # documents on the shared database before the two daemons start
CLUSTER_DROPS = 20
IDLE_FILES = 3  # files dropped each --idle-every seconds in the idle section
ALERTS = 200  # standing queries evaluated on every batch
TEXT_SAMPLE = 5000  # synthetic articles whose words make the queries, spread over the corpus
FRESH_STRIDE = 1_000_000  # article numbers between two batches of new synthetic documents
ALERT_BATCH = 500  # documents of one batch (the default batch_size) for the per-batch figure
SAMPLE_SECONDS = 0.05  # /proc polling period for peak memory
PROBE_SECONDS = 0.02  # how often a dropped file is looked for in the index
DROP_TIMEOUT = 60.0  # a dropped file not searchable by then counts as this late
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")
MB = 1e6
TOKEN = re.compile(r"\w+(?:['’]\w+)*")
ALPHA = re.compile(r"[^\W\d_]{3,}")

# Peers measured elsewhere on BBC x10 (22,250 articles, 50.6 MB, 2 cores); the report prints
# them beside this run's figures.
PEERS: list[tuple[str, float, float | None]] = [
    ("bare Whoosh loop (1 writer, 1 commit)", 113, None),
    ("Whoosh limitmb=256 procs=2 multisegment", 335, 743),
    ("Recoll", 285, 687),
    ("Xapian omindex", 236, None),
    ("SQLite FTS5", 3262, None),
]
PEER_BARE_GROWTH = 14.5  # the bare loop at x10 took 14.5x as long as at x1
PEER_SEARCHER_MS = (5.9, 17.8)  # a bare Whoosh searcher without snippets, p50/p95


@dataclass(frozen=True)
class Plan:
    """How much of everything to do: the full run, or --quick for smoke tests."""

    max_sources: int | None = None
    queries_per_class: int = 8
    query_passes: int = 3
    known_items: int = 200
    add_files: int = 100
    drops: int = 30
    cli_runs: int = 7
    idle_seconds: float = 20.0


QUICK = Plan(
    max_sources=60,
    queries_per_class=2,
    query_passes=1,
    known_items=10,
    add_files=10,
    drops=3,
    cli_runs=2,
    idle_seconds=1.0,
)


# -- results ------------------------------------------------------------------------------


@dataclass
class CorpusInfo:
    source: str
    articles: int  # source files, before scaling (synthetic: the articles made)
    scale: int
    files: int
    bytes: int
    kind: str = "scaled"  # or "synthetic" (--docs N)
    seed: int | None = None  # the synthetic corpus's seed


@dataclass
class IngestFigures:
    """`indexer ingest INBOX` in a fresh project: files in the inbox -> all searchable."""

    files: int
    bytes: int
    wall_s: float
    cpu_s: float
    docs_per_s: float
    mb_per_s: float
    peak_rss_mb: float  # summed over the process tree
    peak_pss_mb: float  # the same, shared pages counted once
    max_processes: int
    db_mb: float
    index_mb: float
    disk_ratio: float  # (index + DB) / corpus bytes
    indexed: int  # documents in the live index afterwards
    summary: str  # the command's own last line
    cpu_ms_per_doc: float = 0.0
    db_bytes_per_doc: float = 0.0
    index_bytes_per_doc: float = 0.0


@dataclass
class BareFigures:
    """The naive loop: read, title + body, StemmingAnalyzer, one writer, one commit."""

    files: int
    wall_s: float
    cpu_s: float
    docs_per_s: float
    mb_per_s: float
    peak_rss_mb: float
    index_mb: float
    cpu_ms_per_doc: float = 0.0


@dataclass
class RescanFigures:
    files: int
    seconds: float  # median of the runs
    seconds_first: float
    runs: int
    files_read: int  # read_file calls over all runs: must be 0
    changed: int


@dataclass
class AddFigures:
    files: int
    seconds: float  # `indexer ingest FOLDER`, process start to exit: all searchable
    searchable: int
    summary: str


@dataclass
class QueryFigures:
    api: str
    classes: dict[str, dict[str, Any]]  # class -> {queries, n, p50_ms, p95_ms, examples}
    p50_ms: float
    p95_ms: float
    measured: int
    failed: int
    cli_search_s: float  # whole `indexer search` process, median, no daemon running
    cli_runs: list[float]
    cli_query: str
    words_from: str = ""  # where the queries' word statistics came from


@dataclass
class KnownItemFigures:
    """A document's own title (or distinctive words) should find it at rank 1.

    Copies made by --scale are the same article: finding any copy counts.
    """

    title: dict[str, float]  # n, success_at_1, mrr_at_10
    body: dict[str, float]
    collapsed: bool  # whether near-duplicates were collapsed in the searches
    method: str  # the measure's function
    misses: list[Any] = field(default_factory=list)  # a few queries that missed the top 10
    # evaluate.spelling: misspelled titles, rare words, fuzzy precision.
    spelling: dict[str, Any] | None = None


@dataclass
class DaemonFigures:
    drops: int
    found: int
    p50_s: float
    p95_s: float
    max_s: float
    latencies_s: list[float]
    peak_rss_mb: float  # daemon tree while ingesting the drops, summed
    peak_pss_mb: float  # the same, shared pages counted once
    idle_cpu_percent: float
    idle_window_s: float
    cli_search_s: float  # whole `indexer search` process while the daemon runs, median
    stop_s: float
    exit_code: int | None
    # A folder's worth dropped at once (plan.add_files): from the first write until the
    # index has them all.
    batch_files: int = 0
    batch_found: int = 0
    batch_s: float | None = None


@dataclass
class AlertFigures:
    alerts: int
    queries: dict[str, int]  # class -> alerts of it
    examples: list[str]
    ingest: IngestFigures  # the same cold ingest, with the alerts defined
    cost: float  # 1 - docs/s with alerts / docs/s without
    cpu_cost: float  # CPU seconds with alerts / without - 1 (steadier than wall time on a busy machine)
    notices: int  # lines the file deliveries got
    batch_ms: float  # matching all alerts against one batch of ALERT_BATCH new documents, median of 3
    per_alert_ms: float


@dataclass
class Report:
    corpus: CorpusInfo
    environment: dict[str, Any]
    ingest: IngestFigures | None = None
    bare: BareFigures | None = None
    ingest_scale1: IngestFigures | None = None
    bare_scale1: BareFigures | None = None
    rescan: RescanFigures | None = None
    add: AddFigures | None = None
    queries: QueryFigures | None = None
    known_item: KnownItemFigures | None = None
    daemon: DaemonFigures | None = None
    alerts: AlertFigures | None = None
    reindex: ReindexFigures | None = None
    idle: IdleFigures | None = None
    cluster: ClusterFigures | None = None
    # Per corpus size (documents), the ingest figures of an earlier run (--baseline), to
    # compare sizes measured in two runs.
    baseline: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    format_version: int = FORMAT_VERSION


@dataclass(frozen=True)
class Target:
    issue: int
    name: str
    value: float | None
    limit: float
    unit: str
    at_least: bool = False  # the value must reach the limit rather than stay under it

    @property
    def ok(self) -> bool | None:
        if self.value is None:
            return None
        return self.value >= self.limit if self.at_least else self.value <= self.limit


# -- processes: peak memory and CPU from /proc ----------------------------------------------


def _process_tree(root: int) -> list[int]:
    """``root`` and all its descendants (pool workers, a forkserver and its children)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses; fields after the last ')' are fixed.
        ppid = int(data[data.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def _pss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _cpu_seconds(pid: int) -> float:
    """User + system time of one process (not of its children)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return 0.0
    rest = data[data.rindex(b")") + 2 :].split()
    return (int(rest[11]) + int(rest[12])) / TICKS


def tree_cpu_seconds(root: int) -> float:
    return sum(_cpu_seconds(pid) for pid in _process_tree(root))


class TreeSampler:
    """Polls a process tree's memory; keeps the peak summed RSS and PSS.

    Summed RSS counts pages shared by forked workers once per process (what the
    peers reported); PSS splits them and is the truer figure of memory used. RSS is read
    every ``interval``; the tree itself, PSS and CPU every ``TREE_EVERY`` polls, which
    keeps the sampler's own CPU to a percent or so of one core.
    """

    TREE_EVERY = 10

    def __init__(self, pid: int, interval: float = SAMPLE_SECONDS) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_rss = 0
        self.peak_pss = 0
        self.max_processes = 0
        self.cpu: dict[int, float] = {}  # last CPU seconds seen per process
        self._pids: list[int] = [pid]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        polls = 0
        while True:
            if polls % self.TREE_EVERY == 0:
                self._sample_tree()
            self.peak_rss = max(self.peak_rss, sum(_rss_bytes(p) for p in self._pids))
            polls += 1
            if self._stop.wait(self.interval):
                self._sample_tree()
                return

    def _sample_tree(self) -> None:
        pids = self._pids = _process_tree(self.pid)
        self.max_processes = max(self.max_processes, len(pids))
        self.peak_pss = max(self.peak_pss, sum(_pss_bytes(p) for p in pids))
        for p in pids:
            self.cpu[p] = max(self.cpu.get(p, 0.0), _cpu_seconds(p))


@dataclass
class Measured:
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    peak_pss_mb: float
    max_processes: int
    returncode: int
    stdout: str
    stderr: str


def run_measured(cmd: Sequence[str], env: dict[str, str], cwd: Path, timeout: float = 7200) -> Measured:
    """Run ``cmd`` to its end: wall time, CPU of the whole tree, peak memory of the tree."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(
        list(cmd), env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    with TreeSampler(proc.pid) as sampler:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    rusage = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # getrusage only sees descendants that were waited for; the samples are a floor for
    # any that were not (a forkserver left to die with its parent).
    cpu = max(rusage, sum(sampler.cpu.values()))
    return Measured(
        wall,
        cpu,
        sampler.peak_rss / MB,
        sampler.peak_pss / MB,
        sampler.max_processes,
        proc.returncode,
        out,
        err,
    )


# -- the corpus ---------------------------------------------------------------------------


def list_sources(corpus: Path, limit: int | None) -> list[str]:
    """The corpus's .txt files (relative paths), or an even spread of ``limit`` of them."""
    found = sorted(
        str(p.relative_to(corpus))
        for p in corpus.rglob("*.txt")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(corpus).parts)
    )
    if limit is not None and len(found) > limit:
        step = len(found) / limit
        found = [found[int(i * step)] for i in range(limit)]
    return found


def vary(data: bytes, copy: int, serial: int) -> bytes:
    """Copy 0 is the article as published; other copies get a sentence of their own.

    The sentence goes at the end of the first body paragraph, so no copy is a byte
    duplicate or has the same normalized body as another; the bytes around it are kept
    as they are, whatever their encoding.
    """
    if copy == 0:
        return data
    note = f" Archive copy {copy}, item {serial}-{copy * 7919 + serial}.".encode()
    lines = data.split(b"\n")
    for i in range(1, len(lines)):
        if lines[i].strip():
            lines[i] = lines[i].rstrip(b"\r ") + note + (b"\r" if lines[i].endswith(b"\r") else b"")
            return b"\n".join(lines)
    return data + b"\n\n" + note.strip() + b"\n"


def write_copies(corpus: Path, sources: Sequence[str], dest: Path, copies: Sequence[int]) -> tuple[int, int]:
    """Write each source once per copy number into ``dest/cNN/...``; returns (files, bytes)."""
    files = total = 0
    for serial, rel in enumerate(sources):
        data = (corpus / rel).read_bytes()
        for copy in copies:
            target = dest / f"c{copy:02d}" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            body = vary(data, copy, serial)
            target.write_bytes(body)
            files += 1
            total += len(body)
    return files, total


def source_key(path: str, inbox: Path) -> str:
    """The source article a path is a copy of: its path below the copy folder."""
    try:
        parts = Path(path).relative_to(inbox).parts
    except ValueError:
        return path
    return "/".join(parts[1:]) if len(parts) > 1 else parts[0]


@dataclass
class Texts:
    """The source articles decoded, with word statistics for building queries."""

    by_source: dict[str, str]
    df: Counter[str]  # documents containing each lower-cased token
    stands_for: int = 0  # documents of the corpus the texts are a sample of (0: all of them)
    docs: int = 0  # documents df counts over: 0 for the texts themselves, else the index's

    @classmethod
    def load(cls, corpus: Path, sources: Sequence[str]) -> Texts:
        by_source = {rel: (corpus / rel).read_bytes().decode("utf-8", errors="replace") for rel in sources}
        return cls.of(by_source)

    @classmethod
    def of(cls, by_source: dict[str, str], stands_for: int = 0) -> Texts:
        df: Counter[str] = Counter()
        for text in by_source.values():
            df.update({t.lower() for t in TOKEN.findall(text)})
        return cls(by_source, df, stands_for)

    @property
    def n(self) -> int:
        return self.docs or len(self.by_source)

    def describe(self) -> str:
        """Where the word statistics come from, for the report."""
        if not self.stands_for or self.stands_for <= len(self.by_source):
            return f"{len(self.by_source):,} documents"
        counted = f", counted in the index of {self.docs:,}" if self.docs else ""
        return f"a sample of {len(self.by_source):,} of {self.stands_for:,} documents{counted}"

    def ratio(self, word: str) -> float:
        return self.df[word] / max(1, self.n)


def title_and_body(text: str) -> tuple[str, str]:
    title, _, body = text.strip().partition("\n")
    return title.strip(), body.strip()


class ScaledCorpus:
    """A corpus of .txt files x ``scale``: copy 0 as published, the others varied (vary)."""

    kind = "scaled"

    def __init__(self, corpus: Path, sources: Sequence[str], scale: int) -> None:
        self.corpus = corpus
        self.sources = list(sources)
        self.scale = scale

    @property
    def label(self) -> str:
        return f"x{self.scale}"

    @property
    def smaller(self) -> int:
        """The scale of the smaller corpus the scaling section compares with (x1)."""
        return 1

    def info(self, files: int, nbytes: int) -> CorpusInfo:
        return CorpusInfo(str(self.corpus), len(self.sources), self.scale, files, nbytes)

    def write(self, dest: Path, smaller: bool = False) -> tuple[int, int]:
        copies = [0] if smaller else range(self.scale)
        return write_copies(self.corpus, self.sources, dest, copies)

    def texts(self) -> Texts:
        return Texts.load(self.corpus, self.sources)

    def fresh(self, count: int, batch: int) -> list[tuple[str, bytes]]:
        """``count`` documents no file of the corpus has, different for each ``batch``:
        (path below the folder they go to, bytes)."""
        copy = self.scale + batch
        return [
            (rel, vary((self.corpus / rel).read_bytes(), copy, serial))
            for serial, rel in enumerate(self.sources[:count])
        ]

    def article(self, path: str, inbox: Path) -> str:
        """The article a path holds: copies made by the scale are the same article."""
        return source_key(path, inbox)


class SyntheticCorpus:
    """``docs`` unique synthetic articles (tools/synth.py) of one seed."""

    kind = "synthetic"

    def __init__(self, corpora: Path, docs: int, seed: int, sample: int = 0) -> None:
        from tools.synth import Synthesizer

        self.corpora = corpora
        self.docs = docs
        self.seed = seed
        self.sample = sample or TEXT_SAMPLE
        self.synth = Synthesizer(corpora, seed)

    @property
    def label(self) -> str:
        return f"{self.docs:,} docs"

    @property
    def smaller(self) -> int:
        """The size the scaling section compares with: a tenth (100k for 1M)."""
        return max(1, self.docs // 10)

    def info(self, files: int, nbytes: int) -> CorpusInfo:
        return CorpusInfo(str(self.corpora), self.docs, 1, files, nbytes, kind=self.kind, seed=self.seed)

    def write(self, dest: Path, smaller: bool = False) -> tuple[int, int]:
        return self.synth.write(self.smaller if smaller else self.docs, dest)

    def texts(self, sample: int | None = None) -> Texts:
        """Word statistics of an even spread of at most ``sample`` articles (TEXT_SAMPLE):
        made again from (seed, i), so no text of a million-document corpus is held or read
        back. Once the corpus is indexed, counted_in_index gives their true counts."""
        size = min(self.docs, sample or self.sample)
        step = self.docs / size
        chosen = (self.synth.article(int(k * step)) for k in range(size))
        return Texts.of({a.name: a.text for a in chosen}, stands_for=self.docs)

    def fresh(self, count: int, batch: int) -> list[tuple[str, bytes]]:
        """Articles past the corpus's last: new to it (a few are syndicated copies of its
        stories, as new articles are), different for each ``batch``."""
        start = self.docs + batch * FRESH_STRIDE
        return [(a.name, a.text.encode("utf-8")) for a in self.synth.articles(count, start)]

    def article(self, path: str, inbox: Path) -> str:
        """The story a path holds: a syndicated copy is its original's story."""
        found = re.search(r"(\d+)\.txt$", path)
        return f"story {self.synth.story_of(int(found.group(1)))}" if found else path


BenchCorpus = ScaledCorpus | SyntheticCorpus


# -- projects -----------------------------------------------------------------------------


def indexer_command() -> list[str]:
    """The installed console script beside this Python, as users run it."""
    script = Path(sys.executable).with_name("indexer")
    return [str(script)] if script.exists() else [sys.executable, "-m", "indexer"]


@dataclass
class Project:
    """A tmp project: config.toml with [paths], an inbox and a data dir."""

    root: Path
    database_url: str = ""  # empty: SQLite in the data dir

    @classmethod
    def create(cls, root: Path, database_url: str = "", inbox: bool = True) -> Project:
        """A project watching its ``inbox`` folder, or none (a search-only node)."""
        (root / "inbox").mkdir(parents=True)
        inboxes = '["inbox"]' if inbox else "[]"
        (root / "config.toml").write_text(f'[paths]\ninbox = {inboxes}\ndata_dir = "var"\n', encoding="utf-8")
        return cls(root, database_url)

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def data(self) -> Path:
        return self.root / "var"

    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INDEXER_")}
        env["INDEXER_CONFIG"] = str(self.config)
        if self.database_url:
            env["INDEXER_DATABASE_URL"] = self.database_url
        return env

    def run(self, *args: str) -> Measured:
        result = run_measured([*indexer_command(), *args], self.env(), self.root)
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise RuntimeError(f"indexer {' '.join(args)} exited {result.returncode}: {' | '.join(tail)}")
        return result

    def live_index(self) -> Path | None:
        try:
            target = os.readlink(self.data / "index")
        except OSError:
            return None
        path = self.data / target
        return path if path.is_dir() else None

    def db_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.data.glob("indexer.db*") if p.is_file())

    def index_bytes(self) -> int:
        live = self.live_index()
        return dir_bytes(live) if live else 0


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class IndexProbe:
    """Looks documents up by path in the live index.

    Keeps one searcher and refreshes it, which reopens only the segments a commit
    changed: opening a 22k-document index afresh costs ~100 ms of CPU, which polling
    would take from the daemon it measures. A swapped generation is opened anew.
    """

    def __init__(self, project: Project) -> None:
        self.project = project
        self._live: Path | None = None
        self._ix: Any = None
        self._searcher: Any = None

    def __enter__(self) -> IndexProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _current(self) -> Any:
        from whoosh import index as whoosh_index

        live = self.project.live_index()
        if live is None:
            raise FileNotFoundError("no live index")
        if live != self._live or self._searcher is None:
            self.close()
            self._ix = whoosh_index.open_dir(str(live), readonly=True)
            self._searcher = self._ix.searcher()
            self._live = live
        else:
            self._searcher = self._searcher.refresh()
        return self._searcher

    def count(self, paths: Sequence[str]) -> int:
        try:
            searcher = self._current()
            return sum(searcher.document_number(path=p) is not None for p in paths)
        except (OSError, ValueError):  # a writer may be merging segments under us: reopen
            self.close()
            return 0

    def has(self, path: str) -> bool:
        return self.count([path]) == 1

    def doc_count(self) -> int:
        return int(self._current().doc_count())

    def close(self) -> None:
        if self._searcher is not None:
            self._searcher.close()
        if self._ix is not None:
            self._ix.close()
        self._live = self._ix = self._searcher = None


class SearchApi:
    """The project's in-process search: a long-lived ``SearchEngine`` (a warm searcher, as
    a daemon keeps), answering with the paths of the hits."""

    kind = "engine.SearchEngine"

    def __init__(self, project: Project) -> None:
        from indexer.search.engine import SearchEngine

        self._engine = SearchEngine(project.data)

    def search(self, text: str, limit: int = 10, snippets: bool = True, collapse: bool = True) -> list[str]:
        """The paths of the hits, best first."""
        from indexer.search.engine import SearchOptions

        options = SearchOptions(limit=limit, snippets=snippets, collapse=collapse)
        return [hit.path for hit in self._engine.search(text, options).hits]

    def close(self) -> None:
        self._engine.close()


# -- measurements -------------------------------------------------------------------------


def measure_cold_ingest(project: Project, files: int, nbytes: int) -> IngestFigures:
    m = project.run("ingest", str(project.inbox))
    db, index = project.db_bytes(), project.index_bytes()
    lines = m.stdout.strip().splitlines()
    with IndexProbe(project) as probe:
        indexed = probe.doc_count()
    return IngestFigures(
        files=files,
        bytes=nbytes,
        wall_s=m.wall_s,
        cpu_s=m.cpu_s,
        docs_per_s=files / m.wall_s,
        mb_per_s=nbytes / MB / m.wall_s,
        peak_rss_mb=m.peak_rss_mb,
        peak_pss_mb=m.peak_pss_mb,
        max_processes=m.max_processes,
        db_mb=db / MB,
        index_mb=index / MB,
        disk_ratio=(db + index) / nbytes,
        indexed=indexed,
        summary=lines[0] if lines else "",
        cpu_ms_per_doc=m.cpu_s * 1000 / max(1, files),
        db_bytes_per_doc=db / max(1, files),
        index_bytes_per_doc=index / max(1, files),
    )


def bare_whoosh_main(inbox: str, index_dir: str) -> None:
    """The bare Whoosh loop, run in its own process so its memory can be measured."""
    from whoosh.analysis import StemmingAnalyzer
    from whoosh.fields import ID, TEXT, Schema
    from whoosh.index import create_in

    schema = Schema(
        path=ID(stored=True),
        title=TEXT(analyzer=StemmingAnalyzer(), stored=True),
        body=TEXT(analyzer=StemmingAnalyzer()),
    )
    Path(index_dir).mkdir(parents=True, exist_ok=True)
    writer = create_in(index_dir, schema).writer()
    count = 0
    for path in sorted(Path(inbox).rglob("*.txt")):
        title, _, body = path.read_text(encoding="utf-8", errors="replace").partition("\n")
        writer.add_document(path=str(path), title=title.strip(), body=body)
        count += 1
    writer.commit()
    print(json.dumps({"docs": count}))


def measure_bare(inbox: Path, index_dir: Path, nbytes: int) -> BareFigures:
    code = "import sys; from tools.bench import bare_whoosh_main; bare_whoosh_main(sys.argv[1], sys.argv[2])"
    m = run_measured([sys.executable, "-c", code, str(inbox), str(index_dir)], dict(os.environ), REPO)
    if m.returncode != 0:
        raise RuntimeError(f"bare Whoosh loop exited {m.returncode}: {m.stderr.strip()[-300:]}")
    files = json.loads(m.stdout)["docs"]
    return BareFigures(
        files=files,
        wall_s=m.wall_s,
        cpu_s=m.cpu_s,
        docs_per_s=files / m.wall_s,
        mb_per_s=nbytes / MB / m.wall_s,
        peak_rss_mb=m.peak_rss_mb,
        index_mb=dir_bytes(index_dir) / MB,
        cpu_ms_per_doc=m.cpu_s * 1000 / max(1, files),
    )


@contextmanager
def counting_reads() -> Iterator[list[int]]:
    """Count calls of the ingest's read_file, wherever a module imported it by name."""
    from indexer.ingest import read as read_module

    original = read_module.read_file
    calls = [0]

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    patched = [
        m
        for name, m in list(sys.modules.items())
        if name.startswith("indexer") and getattr(m, "read_file", None) is original
    ]
    for module in patched:
        module.read_file = counted  # type: ignore[attr-defined]
    try:
        yield calls
    finally:
        for module in patched:
            module.read_file = original  # type: ignore[attr-defined]


def measure_rescan(project: Project, runs: int = 3) -> RescanFigures:
    """The daemon's safety scan over the unchanged inbox, in-process, as the daemon calls it."""
    from indexer import config as config_module
    from indexer import jobs, log

    log.configure("error")  # job lines would otherwise go to stdout, where the JSON goes
    ctx = jobs.open_context(config_module.load(str(project.config)))
    times: list[float] = []
    changed = seen = 0
    try:
        with counting_reads() as calls:
            for _ in range(runs):
                started = time.perf_counter()
                result = jobs.scan(ctx)
                times.append(time.perf_counter() - started)
                c = result.counts
                changed += c.added + c.updated + c.deleted + c.failed + c.duplicates
                seen = result.seen
    finally:
        ctx.close()
    return RescanFigures(
        files=seen,
        seconds=statistics.median(times),
        seconds_first=times[0],
        runs=runs,
        files_read=calls[0],
        changed=changed,
    )


def measure_add(project: Project, corpus: BenchCorpus, count: int) -> AddFigures:
    """``count`` new documents into the full index: `indexer ingest FOLDER` until it exits."""
    folder = project.inbox / "add"
    paths = []
    for rel, data in corpus.fresh(count, batch=0):
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        paths.append(str(target))
    m = project.run("ingest", str(folder))
    lines = m.stdout.strip().splitlines()
    with IndexProbe(project) as probe:
        searchable = probe.count(paths)
    return AddFigures(
        files=len(paths), seconds=m.wall_s, searchable=searchable, summary=lines[0] if lines else ""
    )


def _pick(texts: Texts, lo: float, hi: float, k: int, rng: random.Random, min_len: int = 3) -> list[str]:
    """``k`` words whose document frequency lies in [lo, hi], or the nearest to it."""
    words = sorted(w for w in texts.df if ALPHA.fullmatch(w) and len(w) >= min_len)
    inside = [w for w in words if lo <= texts.ratio(w) <= hi]
    if len(inside) < k:  # a small corpus: take the words closest to the band
        inside = sorted(words, key=lambda w: max(lo - texts.ratio(w), texts.ratio(w) - hi, 0))[
            : max(k, 3 * k)
        ]
    return rng.sample(inside, min(k, len(inside)))


def _typo(word: str, rng: random.Random) -> str:
    """Swap two neighbouring inner letters: one edit away, first letter kept."""
    i = rng.randrange(1, len(word) - 2)
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def build_queries(texts: Texts, k: int, seed: int = 7) -> dict[str, list[str]]:
    """The query classes: single terms of several frequencies, two-word AND, phrases, fuzzy,
    and slips in words without ``~`` (spelling suggestions) beside rare words spelled right."""
    rng = random.Random(seed)
    docs = list(texts.by_source.values())
    low_hi = max(5 / max(1, texts.n), 0.002)
    classes = {
        "term_frequent": _pick(texts, 0.15, 0.5, k, rng),
        "term_medium": _pick(texts, 0.01, 0.05, k, rng),
        "term_rare": _pick(texts, 2 / max(1, texts.n), low_hi, k, rng),
        "and_two_words": [],
        "phrase": [],
        "fuzzy": [f"{_typo(w, rng)}~" for w in _pick(texts, 0.005, 0.05, k, rng, min_len=6)],
        "misspelled": [_typo(w, rng) for w in _pick(texts, 0.005, 0.05, k, rng, min_len=6)],
        "rare_word": _pick(texts, 1 / max(1, texts.n), 4 / max(1, texts.n), k, rng, min_len=4),
        "two_words_one_misspelled": [],
    }
    for _ in range(k * 20):
        if min(len(classes[name]) for name in ("and_two_words", "phrase", "two_words_one_misspelled")) >= k:
            break
        _, body = title_and_body(rng.choice(docs))
        words = sorted({w.lower() for w in ALPHA.findall(body)})
        middling = [w for w in words if 0.005 <= texts.ratio(w) <= 0.2]
        if len(middling) < 2:  # a tiny corpus: the document's rarest words
            middling = sorted(words, key=lambda w: texts.df[w])[:10]
        if len(classes["and_two_words"]) < k and len(middling) >= 2:
            classes["and_two_words"].append(" ".join(rng.sample(middling, 2)))
        long = [w for w in middling if len(w) >= 6]
        if len(classes["two_words_one_misspelled"]) < k and len(middling) >= 2 and long:
            slipped = rng.choice(long)
            other = rng.choice([w for w in middling if w != slipped])
            classes["two_words_one_misspelled"].append(f"{other} {_typo(slipped, rng)}")
        tokens = [t.lower() for t in TOKEN.findall(body)]
        pairs = [(a, b) for a, b in itertools.pairwise(tokens) if ALPHA.fullmatch(a) and ALPHA.fullmatch(b)]
        # Not two of the commonest words ("of the"): one of them narrows the search.
        pairs = [p for p in pairs if min(texts.ratio(p[0]), texts.ratio(p[1])) < 0.3] or pairs
        if len(classes["phrase"]) < k and pairs:
            a, b = rng.choice(pairs)
            classes["phrase"].append(f'"{a} {b}"')
    return {name: queries for name, queries in classes.items() if queries}


def counted_in_index(project: Project, texts: Texts) -> Texts:
    """A sample's words with their document frequencies in the whole index.

    A word in one sampled article of 5,000 is in about 200 of a million: the query
    classes by frequency (rare words, 1-4 documents) need the true counts, which the
    index's unstemmed words field has. Words it lacks (tokenized otherwise) are left out.
    """
    from indexer.search.engine import SearchEngine
    from indexer.search.schema import WORDS_FIELD

    with SearchEngine(project.data) as engine:
        reader = engine.searcher().reader()
        docs = reader.doc_count()
        df = Counter({w: n for w in texts.df if (n := reader.doc_frequency(WORDS_FIELD, w))})
    return Texts(texts.by_source, df, texts.stands_for, docs=docs)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def measure_cli_search(project: Project, query: str, runs: int) -> list[float]:
    """Whole `indexer search QUERY` processes, start to exit, one untimed first.

    With bytecode caches, as an installed package has them: PYTHONDONTWRITEBYTECODE (set
    in some shells and CI images) would make every run compile indexer's modules again.
    """
    env = {k: v for k, v in project.env().items() if k != "PYTHONDONTWRITEBYTECODE"}
    times = []
    for run in range(runs + 1):
        started = time.perf_counter()
        proc = subprocess.run(
            [*indexer_command(), "search", query],
            env=env,
            cwd=project.root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
        if run:
            times.append(time.perf_counter() - started)
        if proc.returncode != 0:
            raise RuntimeError(
                f"indexer search {query!r} exited {proc.returncode}: {proc.stderr.strip()[-300:]}"
            )
    return times


def _cli_query(queries: dict[str, list[str]]) -> str:
    """A word of medium frequency: what people type most."""
    return (queries.get("term_medium") or next(iter(queries.values())))[0]


def measure_queries(project: Project, texts: Texts, plan: Plan) -> QueryFigures:
    queries = build_queries(texts, plan.queries_per_class)
    api = SearchApi(project)
    classes: dict[str, dict[str, Any]] = {}
    every: list[float] = []
    failed = 0
    try:
        for text in (q for qs in queries.values() for q in qs):  # warm-up: first opens, caches
            with contextlib.suppress(Exception):
                api.search(text)
        for name, items in queries.items():
            times = []
            for _ in range(plan.query_passes):
                for text in items:
                    started = time.perf_counter()
                    try:
                        api.search(text, snippets=True)
                    except Exception:
                        failed += 1
                        continue
                    times.append((time.perf_counter() - started) * 1000)
            every += times
            classes[name] = {
                "queries": len(items),
                "n": len(times),
                "examples": items[:3],
                "p50_ms": percentile(times, 50) if times else None,
                "p95_ms": percentile(times, 95) if times else None,
            }
    finally:
        api.close()
    if not every:
        raise RuntimeError(f"every query failed ({failed})")
    cli_query = _cli_query(queries)
    cli_runs = measure_cli_search(project, cli_query, plan.cli_runs)
    return QueryFigures(
        api=api.kind,
        classes=classes,
        p50_ms=percentile(every, 50),
        p95_ms=percentile(every, 95),
        measured=len(every),
        failed=failed,
        cli_search_s=statistics.median(cli_runs),
        cli_runs=cli_runs,
        cli_query=cli_query,
        words_from=texts.describe(),
    )


def measure_known_item(project: Project, corpus: BenchCorpus, plan: Plan) -> KnownItemFigures:
    """Known-item retrieval and the spelling measures, by tools/evaluate.py."""
    from indexer.search.engine import SearchEngine
    from tools.evaluate import known_item

    inbox = project.inbox

    def same(hit: Any, stored: dict[str, Any]) -> bool:
        # Copies made by --scale (syndicated copies of a synthetic story) are the same
        # article: any copy counts.
        paths = stored["path"] if isinstance(stored["path"], list) else [stored["path"]]
        return hit.id == int(stored["id"]) or corpus.article(hit.path, inbox) == corpus.article(
            paths[0], inbox
        )

    with SearchEngine(project.data) as engine:
        result = known_item(engine, sample=plan.known_items, same=same, collapse=False)
        checked = _spelling(engine, plan, same)
    return KnownItemFigures(
        title=_retrieval_dict(result.title),
        body=_retrieval_dict(result.body),
        collapsed=False,
        method="evaluate.known_item",
        misses=list(result.misses[:10]),
        spelling=checked,
    )


def _spelling(engine: Any, plan: Plan, same: Callable[[Any, dict[str, Any]], bool]) -> dict[str, Any]:
    """The spelling measures of evaluate.spelling."""
    from tools.evaluate import spelling

    r = spelling(engine, sample=plan.known_items, same=same)
    return {
        "misspelled": _retrieval_dict(r.misspelled),
        "misspelled_top10": r.misspelled_top10,
        "rare_words": r.rare_words,
        "rare_no_suggestion": r.rare_no_suggestion,
        "fuzzy_queries": r.fuzzy_queries,
        "fuzzy_hits": r.fuzzy_hits,
        "fuzzy_precision": r.fuzzy_precision,
        "misses": r.misses[:10],
        "suggested": r.suggested[:10],
        "imprecise": r.imprecise[:10],
    }


def _retrieval_dict(r: Any) -> dict[str, float]:
    return {"n": r.queries, "success_at_1": r.success_at_1, "mrr_at_10": r.mrr_at_10}


def _wait_for(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


def _reindex_running(project: Project) -> bool:
    from indexer.locks import held_by

    return held_by(project.data / "reindex.lock") is not None


def _drop_and_wait(path: Path, data: bytes, probe: IndexProbe, timeout: float = DROP_TIMEOUT) -> float | None:
    """Write one file as a user would; seconds until the index has it, or None."""
    started = time.perf_counter()
    with open(path, "wb") as f:
        f.write(data)
    deadline = started + timeout
    while time.perf_counter() < deadline:
        if probe.has(str(path)):
            return time.perf_counter() - started
        time.sleep(PROBE_SECONDS)
    return None


def measure_daemon(project: Project, corpus: BenchCorpus, plan: Plan, cli_query: str) -> DaemonFigures:
    """The daemon with default settings: drop files one at a time; time each to searchable."""
    folder = project.inbox / "drops"
    folder.mkdir(parents=True, exist_ok=True)
    drops = [(folder / rel.replace("/", "-"), data) for rel, data in corpus.fresh(plan.drops, batch=1)]
    log_path = project.root / "daemon.log"
    probe = IndexProbe(project)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [*indexer_command(), "daemon"],
            env=project.env(),
            cwd=project.root,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        if not _wait_for(lambda: (project.data / "daemon.json").exists() or proc.poll() is not None, 60):
            raise RuntimeError("the daemon did not report its status within 60 s")
        if proc.poll() is not None:
            raise RuntimeError(f"the daemon exited {proc.returncode}: {log_path.read_text()[-300:]}")
        _wait_for(lambda: not _reindex_running(project), 1800, 0.5)  # a catch-up reindex at start
        latencies: list[float] = []
        with TreeSampler(proc.pid) as sampler:
            for path, data in drops:
                took = _drop_and_wait(path, data, probe)
                if took is not None:
                    latencies.append(took)
                time.sleep(0.2)
            batch = corpus.fresh(plan.add_files, batch=5)
            batch_files, batch_s, batch_found = _drop_batch(project.inbox / "batch", batch, probe)
        cli_runs = measure_cli_search(project, cli_query, plan.cli_runs)
        idle_cpu = _idle_cpu_percent(proc.pid, plan.idle_seconds)
        stop_s, code = _stop(proc)
    finally:
        probe.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if not latencies:
        raise RuntimeError(f"none of {len(drops)} dropped files became searchable")
    found = len(latencies)
    latencies += [DROP_TIMEOUT] * (len(drops) - found)  # misses count, as late as we waited
    return DaemonFigures(
        drops=len(drops),
        found=found,
        p50_s=percentile(latencies, 50),
        p95_s=percentile(latencies, 95),
        max_s=max(latencies),
        latencies_s=[round(x, 3) for x in latencies],
        peak_rss_mb=sampler.peak_rss / MB,
        peak_pss_mb=sampler.peak_pss / MB,
        idle_cpu_percent=idle_cpu,
        idle_window_s=plan.idle_seconds,
        cli_search_s=statistics.median(cli_runs),
        stop_s=stop_s,
        exit_code=code,
        batch_files=batch_files,
        batch_found=batch_found,
        batch_s=batch_s,
    )


def _drop_batch(
    folder: Path, files: Sequence[tuple[str, bytes]], probe: IndexProbe, timeout: float = DROP_TIMEOUT
) -> tuple[int, float | None, int]:
    """Write ``files`` into a watched folder at once: (files, seconds until the index has
    them all or None, how many it has)."""
    paths = []
    started = time.perf_counter()
    for rel, data in files:
        path = folder / rel.replace("/", "-")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        paths.append(str(path))
    took = None
    if _wait_for(lambda: probe.count(paths) == len(paths), timeout, PROBE_SECONDS * 5):
        took = time.perf_counter() - started
    return len(paths), took, probe.count(paths)


def _idle_cpu_percent(pid: int, seconds: float) -> float:
    before = tree_cpu_seconds(pid)
    time.sleep(seconds)
    return (tree_cpu_seconds(pid) - before) / seconds * 100


def _stop(proc: subprocess.Popen[bytes]) -> tuple[float, int | None]:
    started = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    try:
        code: int | None = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        code = None
    return time.perf_counter() - started, code


def tree_rss_bytes(root: int) -> int:
    return sum(_rss_bytes(pid) for pid in _process_tree(root))


def _data_bytes(path: Path) -> Counter[str]:
    """A folder's bytes by top-level entry, while a rebuild writes and deletes in it:
    vanished files count 0; the generations' symlink is not followed."""
    found: Counter[str] = Counter()
    for p in path.rglob("*"):
        with contextlib.suppress(OSError):
            if p.is_file() and not p.is_symlink():
                found[p.relative_to(path).parts[0]] += p.stat().st_size
    return found


@contextmanager
def running_daemon(project: Project, log_name: str = "daemon.log") -> Iterator[subprocess.Popen[bytes]]:
    """`indexer daemon` on ``project``, ready (status written, any catch-up reindex done);
    stopped with SIGTERM afterwards, killed if it does not stop."""
    (project.data / "daemon.json").unlink(missing_ok=True)  # a killed daemon's, from an earlier section
    log_path = project.root / log_name
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [*indexer_command(), "daemon"],
            env=project.env(),
            cwd=project.root,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        if not _wait_for(lambda: (project.data / "daemon.json").exists() or proc.poll() is not None, 60):
            raise RuntimeError(f"the daemon did not report its status within 60 s ({log_path})")
        if proc.poll() is not None:
            raise RuntimeError(f"the daemon exited {proc.returncode}: {log_path.read_text()[-300:]}")
        _wait_for(lambda: not _reindex_running(project), 1800, 0.5)
        yield proc
    finally:
        if proc.poll() is None:
            _stop(proc)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _generation_of(engine: Any) -> str | None:
    """The generation folder an engine answered from (SearchEngine keeps it, unnamed)."""
    live = getattr(engine, "_live", None)
    return live.name if live is not None else None


@dataclass(frozen=True)
class TimedSearch:
    started: float
    ended: float
    generation: str | None
    error: str | None = None


def _search_loop(
    project: Project, queries: Sequence[str], stop: threading.Event, out: list[TimedSearch]
) -> None:
    """Search until ``stop``, each search with an engine opened afresh, as `indexer search` does."""
    from indexer.search.engine import SearchEngine, SearchOptions

    options = SearchOptions(limit=10, snippets=True)
    for i in itertools.count():
        if stop.is_set():
            return
        started = time.perf_counter()
        try:
            with SearchEngine(project.data) as engine:
                engine.search(queries[i % len(queries)], options)
                generation = _generation_of(engine)
            out.append(TimedSearch(started, time.perf_counter(), generation))
        except Exception as e:
            out.append(TimedSearch(started, time.perf_counter(), None, f"{type(e).__name__}: {e}"))
            time.sleep(0.01)


def generations_seen(
    searches: Sequence[TimedSearch], old_seen: float, swapped: float | None, old: str, new: str | None
) -> tuple[int, int, int]:
    """(searches ended before the swap, started after it, answered by the wrong generation).

    The swap happened between ``old_seen``, the last look that saw the old generation,
    and ``swapped``, the first that saw another: a search that ended before the one had to
    be answered by the old generation, one that started after the other by the new; one
    that overlaps the window could be answered by either, and is not judged.
    """
    if swapped is None:
        return 0, 0, 0
    ok = [s for s in searches if s.error is None]
    before = [s for s in ok if s.ended < old_seen]
    after = [s for s in ok if s.started > swapped]
    wrong = sum(s.generation != old for s in before) + sum(s.generation != new for s in after)
    return len(before), len(after), wrong


class _LinkWatch:
    """Watches the live-generation symlink closely, in a thread: when it last named the
    old generation and when it first named another."""

    def __init__(self, project: Project, old: Path, interval: float = 0.002) -> None:
        self.project = project
        self.old = old
        self.interval = interval
        self.old_seen = time.perf_counter()
        self.swapped: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _LinkWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            looked = time.perf_counter()
            if self.project.live_index() == self.old:
                self.old_seen = looked
            else:
                self.swapped = time.perf_counter()
                return


@dataclass
class ReindexFigures:
    """`indexer reindex` (a new generation built beside the live one, then swapped in)
    while a loop searches the live index."""

    documents: int
    wall_s: float
    cpu_s: float
    peak_rss_mb: float  # the reindex process tree
    index_mb: float  # the live index before the rebuild
    temp_disk_mb: float  # the data dir's peak during the rebuild, over its size before
    peak_disk_mb: dict[str, float]  # the data dir at that peak, by entry (generations, DB)
    searches: int  # searches that started while the rebuild ran
    failed: int
    errors: list[str]
    search_p50_ms: float | None
    search_p95_ms: float | None
    old_generation: str
    new_generation: str
    swap_after_s: float | None  # when the swap was seen, from the start of the rebuild
    before_swap: int  # searches during the rebuild ended before the swap
    after_swap: int  # searches started after it
    wrong_generation: int  # of those, answered by the other generation than they should


def measure_reindex(project: Project, queries: Sequence[str]) -> ReindexFigures:
    """Rebuild the index while searching it: no search may fail, each is answered by the
    old generation until the swap and by the new one after it."""
    old = project.live_index()
    if old is None:
        raise RuntimeError("no live index to rebuild")
    index_before = dir_bytes(old)
    data_before = sum(_data_bytes(project.data).values())
    found: list[TimedSearch] = []
    stop = threading.Event()
    searcher = threading.Thread(target=_search_loop, args=(project, list(queries), stop, found), daemon=True)
    searcher.start()
    _wait_for(lambda: len(found) >= 3, 60, 0.01)  # the loop is warm before the rebuild starts
    before_rusage = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*indexer_command(), "reindex"],
        env=project.env(),
        cwd=project.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak_data, peak_parts = data_before, Counter[str]()
    watch = _LinkWatch(project, old)
    try:
        with TreeSampler(proc.pid) as sampler, watch:
            while proc.poll() is None:
                parts = _data_bytes(project.data)
                if sum(parts.values()) > peak_data:
                    peak_data, peak_parts = sum(parts.values()), parts
                time.sleep(PROBE_SECONDS)
            out, err = proc.communicate()
            ended = time.perf_counter()
            time.sleep(0.5)  # a few searches on the new generation
    finally:
        stop.set()
        searcher.join(timeout=60)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    after_rusage = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"indexer reindex exited {proc.returncode}: {(err or out).strip()[-300:]}")
    new = project.live_index()
    during = [s for s in found if started <= s.started <= ended]
    failed = [s for s in found if s.error is not None]
    swapped_at = watch.swapped
    before, after, wrong = generations_seen(
        during + [s for s in found if s.started > ended],
        watch.old_seen,
        swapped_at,
        old.name,
        new.name if new else None,
    )
    times = [(s.ended - s.started) * 1000 for s in during if s.error is None]
    with IndexProbe(project) as probe:
        documents = probe.doc_count()
    cpu = (after_rusage.ru_utime - before_rusage.ru_utime) + (after_rusage.ru_stime - before_rusage.ru_stime)
    return ReindexFigures(
        documents=documents,
        wall_s=ended - started,
        cpu_s=max(cpu, sum(sampler.cpu.values())),
        peak_rss_mb=sampler.peak_rss / MB,
        index_mb=index_before / MB,
        temp_disk_mb=max(0, peak_data - data_before) / MB,
        peak_disk_mb={name: round(n / MB, 2) for name, n in peak_parts.most_common(6)},
        searches=len(during),
        failed=len(failed),
        errors=sorted({s.error for s in failed if s.error})[:5],
        search_p50_ms=percentile(times, 50) if times else None,
        search_p95_ms=percentile(times, 95) if times else None,
        old_generation=old.name,
        new_generation=new.name if new else "",
        swap_after_s=None if swapped_at is None else swapped_at - started,
        before_swap=before,
        after_swap=after,
        wrong_generation=wrong,
    )


@dataclass
class IdleFigures:
    """The daemon's memory on the full index over time, a few files dropped now and then."""

    seconds: float
    every_s: float
    files_per_drop: int
    dropped: int
    found: int  # of them searchable at the end
    samples: int
    before_mb: float  # at the start, before the first drop (which warms the daemon up)
    first_mb: float  # once the first drop was searchable: the samples start there
    last_mb: float
    max_mb: float
    slope_mb_per_h: float  # least-squares fit of the samples
    kb_per_file: float  # growth from the first sample to the last, per file dropped since
    series: list[tuple[float, float]]  # (seconds, MB), one in ten samples


def rss_slope_per_hour(samples: Sequence[tuple[float, float]]) -> float:
    """The least-squares slope of (seconds, MB) samples, in MB per hour."""
    if len(samples) < 2 or samples[-1][0] == samples[0][0]:
        return 0.0
    slope, _ = statistics.linear_regression([t for t, _ in samples], [mb for _, mb in samples])
    return slope * 3600


def measure_idle(
    project: Project, corpus: BenchCorpus, minutes: float, every_s: float, per_drop: int
) -> IdleFigures:
    """The daemon on the full index for ``minutes``, ``per_drop`` files dropped every
    ``every_s`` seconds; its process tree's RSS sampled every second."""
    folder = project.inbox / "idle"
    folder.mkdir(parents=True, exist_ok=True)
    seconds = minutes * 60
    fresh = corpus.fresh((int(seconds / every_s) + 1) * per_drop, batch=2)
    samples: list[tuple[float, float]] = []
    paths: list[str] = []

    def drop() -> list[str]:
        batch = []
        for rel, data in fresh[:per_drop]:
            path = folder / rel.replace("/", "-")
            path.write_bytes(data)
            batch.append(str(path))
        del fresh[:per_drop]
        paths.extend(batch)
        return batch

    with running_daemon(project, "daemon-idle.log") as proc, IndexProbe(project) as probe:
        before_mb = tree_rss_bytes(proc.pid) / MB
        # The first drop warms the daemon up (its first ingest imports and opens what the
        # later ones reuse): the clock starts once that drop is searchable.
        first = drop()
        _wait_for(lambda: probe.count(first) == len(first), DROP_TIMEOUT, 0.2)
        started = next_drop = time.perf_counter()
        while (now := time.perf_counter()) - started < seconds:
            if now >= next_drop + every_s and fresh:
                drop()
                next_drop += every_s
            samples.append((now - started, tree_rss_bytes(proc.pid) / MB))
            time.sleep(1.0)
        _wait_for(lambda: probe.count(paths) == len(paths), 30, 0.2)
        found = probe.count(paths)
    if not samples:
        raise RuntimeError("no memory samples")
    mbs = [mb for _, mb in samples]
    return IdleFigures(
        seconds=seconds,
        every_s=every_s,
        files_per_drop=per_drop,
        dropped=len(paths),
        found=found,
        samples=len(samples),
        before_mb=before_mb,
        first_mb=mbs[0],
        last_mb=mbs[-1],
        max_mb=max(mbs),
        slope_mb_per_h=rss_slope_per_hour(samples),
        kb_per_file=(mbs[-1] - mbs[0]) * 1000 / max(1, len(paths) - per_drop),
        series=[(round(t, 1), round(mb, 1)) for t, mb in samples[::10]],
    )


@dataclass
class ClusterFigures:
    """Two daemons on one PostgreSQL database: files dropped into node A's inbox, each
    timed until node B (search-only, its own index) finds it."""

    preload: int  # documents ingested on node A before the daemons start
    drops: int
    found: int
    median_s: float
    max_s: float
    latencies_s: list[float]


@contextmanager
def postgres_database(base: str) -> Iterator[str]:
    """A new database on the server of ``base`` (a SQLAlchemy URL), dropped afterwards."""
    import secrets

    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(base)
    name = f"indexer_bench_{secrets.token_hex(6)}"
    admin_url = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def measure_cluster(
    base_url: str, corpus: BenchCorpus, root: Path, preload: int, drops: int
) -> ClusterFigures:
    with postgres_database(base_url) as url:
        a = Project.create(root / "node-a", database_url=url)
        b = Project.create(root / "node-b", database_url=url, inbox=False)
        a.run("db", "upgrade")
        for rel, data in corpus.fresh(preload, batch=3):
            target = a.inbox / "preload" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if preload:
            a.run("ingest", str(a.inbox))
        folder = a.inbox / "drops"
        folder.mkdir()
        latencies: list[float] = []
        with running_daemon(a), running_daemon(b), IndexProbe(b) as probe:
            if not _wait_for(lambda: _probe_count(probe) >= preload, 300, 0.2):
                raise RuntimeError(f"node B's index did not reach the {preload} preloaded documents")
            for rel, data in corpus.fresh(drops, batch=4):
                took = _drop_and_wait(folder / rel.replace("/", "-"), data, probe)
                if took is not None:
                    latencies.append(took)
                time.sleep(0.2)
    if not latencies:
        raise RuntimeError(f"none of {drops} files dropped on node A became searchable on node B")
    found = len(latencies)
    latencies += [DROP_TIMEOUT] * (drops - found)
    return ClusterFigures(
        preload=preload,
        drops=drops,
        found=found,
        median_s=statistics.median(latencies),
        max_s=max(latencies),
        latencies_s=[round(x, 3) for x in latencies],
    )


def _probe_count(probe: IndexProbe) -> int:
    try:
        return probe.doc_count()
    except (OSError, ValueError):
        return 0


# -- targets and the table ----------------------------------------------------------------


def size_figures(f: IngestFigures, bare: BareFigures | None) -> dict[str, Any]:
    """One corpus size's ingest figures, as --json keeps them per size."""
    return {
        "files": f.files,
        "docs_per_s": f.docs_per_s,
        "cpu_ms_per_doc": f.cpu_ms_per_doc,
        "peak_rss_mb": f.peak_rss_mb,
        "db_bytes_per_doc": f.db_bytes_per_doc,
        "index_bytes_per_doc": f.index_bytes_per_doc,
        "disk_ratio": f.disk_ratio,
        "bare_docs_per_s": bare.docs_per_s if bare else None,
        "bare_cpu_ms_per_doc": bare.cpu_ms_per_doc if bare else None,
    }


def sizes(r: Report) -> dict[str, dict[str, Any]]:
    """Ingest figures by corpus size (documents): an earlier run's (--baseline), then this
    run's (its smaller corpus, then the full one)."""
    out = {k: dict(v) for k, v in r.baseline.items()}
    for f, bare in ((r.ingest_scale1, r.bare_scale1), (r.ingest, r.bare)):
        if f is not None:
            out[str(f.files)] = {**size_figures(f, bare), "run": "this"}
    return dict(sorted(out.items(), key=lambda kv: int(kv[0])))


def _size_ratio(r: Report) -> tuple[int, int, float] | None:
    """(largest size, a tenth of it, docs/s ratio) when both were measured."""
    measured = sizes(r)
    if not measured or r.ingest is None:
        return None
    large = r.ingest.files
    small = max(1, large // 10)
    if str(small) not in measured or small == large:
        return None
    return large, small, measured[str(large)]["docs_per_s"] / measured[str(small)]["docs_per_s"]


def targets(r: Report) -> list[Target]:
    if r.corpus.kind == "synthetic":
        return synthetic_targets(r)
    t: list[Target] = []
    if r.ingest and r.bare:
        t.append(
            Target(
                7,
                "ingest docs/s vs bare Whoosh loop",
                r.ingest.docs_per_s / r.bare.docs_per_s,
                1.0,
                "x",
                at_least=True,
            )
        )
    if r.ingest:
        t.append(Target(7, "ingest peak RSS, process tree", r.ingest.peak_rss_mb, 400, "MB"))
        t.append(Target(7, "index + DB on disk / corpus bytes", r.ingest.disk_ratio, 3.0, "x"))
    if r.ingest and r.ingest_scale1 and r.corpus.scale > 1:
        t.append(
            Target(
                7,
                f"docs/s at x{r.corpus.scale} / docs/s at x1",
                r.ingest.docs_per_s / r.ingest_scale1.docs_per_s,
                0.75,
                "x",
                at_least=True,
            )
        )
    if r.add:
        t.append(Target(7, f"{r.add.files} new docs searchable", r.add.seconds, 3.0, "s"))
    if r.rescan:
        t.append(Target(7, f"rescan of {r.rescan.files:,} unchanged files", r.rescan.seconds, 1.0, "s"))
        t.append(Target(7, "rescan files read", r.rescan.files_read, 0, "files"))
    if r.daemon:
        t.append(Target(4, "drop-to-searchable p50", r.daemon.p50_s, 1.5, "s"))
        t.append(Target(4, "drop-to-searchable p95", r.daemon.p95_s, 3.0, "s"))
        t.append(Target(4, "daemon RSS while ingesting", r.daemon.peak_rss_mb, 250, "MB"))
        t.append(
            Target(
                4, "daemon stops on SIGTERM", r.daemon.stop_s if r.daemon.exit_code == 0 else None, 10.0, "s"
            )
        )
    if r.queries:
        t.append(Target(5, "query p50, with snippets", r.queries.p50_ms, 10, "ms"))
        t.append(Target(5, "query p95, with snippets", r.queries.p95_ms, 30, "ms"))
        t.append(Target(5, "`indexer search` process, no daemon", r.queries.cli_search_s, 0.35, "s"))
    if r.daemon:
        t.append(Target(5, "`indexer search` process, daemon running", r.daemon.cli_search_s, 0.08, "s"))
    if r.known_item and r.known_item.spelling:
        sp = r.known_item.spelling
        t.append(
            Target(
                18,
                "title with a slip: document in the top 10",
                sp["misspelled_top10"],
                0.90,
                "",
                at_least=True,
            )
        )
        t.append(
            Target(
                18,
                "rare word spelled right: no suggestion",
                sp["rare_no_suggestion"],
                0.99,
                "",
                at_least=True,
            )
        )
        t.append(Target(18, "fuzzy word~: precision", sp["fuzzy_precision"], 1.0, "", at_least=True))
    if r.alerts:
        t.append(Target(20, f"ingest docs/s lost to {r.alerts.alerts} alerts", r.alerts.cost * 100, 10, "%"))
    return t + section_targets(r)


def synthetic_targets(r: Report) -> list[Target]:
    """Issue 21's targets, for a synthetic archive of N documents (set for 1M on two cores)."""
    t: list[Target] = []
    ratio = _size_ratio(r)
    if ratio:
        large, small, value = ratio
        t.append(Target(21, f"ingest docs/s at {large:,} / at {small:,}", value, 0.75, "x", at_least=True))
    if r.ingest:
        t.append(Target(21, "ingest peak RSS, process tree", r.ingest.peak_rss_mb, 400, "MB"))
        t.append(Target(21, "index + DB on disk / corpus bytes", r.ingest.disk_ratio, 3.0, "x"))
    if r.queries:
        t.append(Target(21, "query p50, with snippets", r.queries.p50_ms, 20, "ms"))
        t.append(Target(21, "query p95, with snippets", r.queries.p95_ms, 60, "ms"))
    if r.daemon:
        t.append(Target(21, "`indexer search` process, daemon running", r.daemon.cli_search_s, 0.1, "s"))
        t.append(Target(4, "drop-to-searchable p95", r.daemon.p95_s, 3.0, "s"))
    if r.daemon and r.daemon.batch_files:
        t.append(
            Target(
                21,
                f"{r.daemon.batch_files} new docs in the daemon's inbox searchable",
                r.daemon.batch_s if r.daemon.batch_s is not None else DROP_TIMEOUT,
                3.0,
                "s",
            )
        )
    if r.add:
        t.append(Target(21, f"`indexer ingest` of {r.add.files} new docs", r.add.seconds, 3.0, "s"))
    if r.rescan:
        t.append(Target(21, f"rescan of {r.rescan.files:,} unchanged files", r.rescan.seconds, 10.0, "s"))
        t.append(Target(21, "rescan files read", r.rescan.files_read, 0, "files"))
    return t + section_targets(r)


IDLE_SLOPE_MB_PER_H = 20.0  # "flat": an hour of trickling files grows the daemon less than this


def section_targets(r: Report) -> list[Target]:
    """The targets of the sections both corpora have: reindex, idle daemon, cross-node."""
    t: list[Target] = []
    if r.reindex:
        x = r.reindex
        t.append(Target(21, "searches failed during reindex", x.failed, 0, "n"))
        t.append(Target(21, "searches on the wrong generation", x.wrong_generation, 0, "n"))
        t.append(
            Target(21, "reindex temp disk / index size", x.temp_disk_mb / max(x.index_mb, 1e-9), 1.0, "x")
        )
    if r.idle:
        t.append(Target(21, "idle daemon RSS slope", r.idle.slope_mb_per_h, IDLE_SLOPE_MB_PER_H, "MB/h"))
    if r.cluster:
        t.append(Target(21, "cross-node searchable, median", r.cluster.median_s, 2.0, "s"))
    return t


def alert_queries(texts: Texts, count: int, seed: int = 13) -> list[str]:
    """Standing queries as people keep them: rare words, two-word ANDs, phrases, a few
    with a language filter (they follow subjects, not the commonest words)."""
    classes = build_queries(texts, count, seed)
    mix = [q for name in ("term_rare", "and_two_words", "phrase") for q in classes.get(name, [])]
    rng = random.Random(seed)
    rng.shuffle(mix)
    return [mix[i % len(mix)] for i in range(count)] if mix else []


def measure_alerts(corpus: BenchCorpus, root: Path, texts: Texts, without: IngestFigures) -> AlertFigures:
    """The cold ingest again in a fresh project with ALERTS alerts (file deliveries), and
    matching them all against one batch of new documents in-process."""
    project = Project.create(root)
    queries = alert_queries(texts, ALERTS)
    out = root / "alerts"
    out.mkdir()
    tables = "".join(
        f'\n[[alerts]]\nname = "a{i}"\nquery = {json.dumps(q)}\nfile = "{out / f"a{i}.jsonl"}"\n'
        + ('lang = "en"\n' if i % 10 == 0 else "")
        for i, q in enumerate(queries)
    )
    project.config.write_text(project.config.read_text() + tables, encoding="utf-8")
    files, nbytes = corpus.write(project.inbox)
    with_alerts = measure_cold_ingest(project, files, nbytes)
    notices = sum(len(p.read_text().splitlines()) for p in out.glob("*.jsonl"))
    from indexer.alerts.definitions import load_alerts
    from indexer.alerts.evaluate import options_of
    from indexer.config import load
    from indexer.db.session import open_database
    from indexer.search.engine import SearchEngine

    cfg = load(str(project.config))
    db = open_database(cfg.database_url, cfg.data_dir, cfg.database.busy_timeout_seconds, create=False)
    try:
        requests = [(a.query, options_of(a)) for a in load_alerts(cfg, db)]
    finally:
        db.dispose()
    with SearchEngine(project.data) as engine:
        batch = list(range(max(1, files - ALERT_BATCH + 1), files + 1))  # the newest ids: the last batch
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            engine.matching(requests, batch)
            timings.append((time.perf_counter() - started) * 1000)
    batch_ms = statistics.median(timings)
    kinds = Counter(
        "phrase" if q.startswith('"') else "two words" if " " in q else "rare word" for q in queries
    )
    return AlertFigures(
        alerts=len(queries),
        queries=dict(kinds),
        examples=queries[:4],
        ingest=with_alerts,
        cost=1 - with_alerts.docs_per_s / without.docs_per_s,
        cpu_cost=with_alerts.cpu_s / without.cpu_s - 1,
        notices=notices,
        batch_ms=batch_ms,
        per_alert_ms=batch_ms / max(1, len(queries)),
    )


def _num(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _mark(ok: bool | None) -> str:
    return {True: "pass", False: "FAIL", None: "n/a"}[ok]


def _rows_ingest(label: str, f: IngestFigures) -> list[tuple[str, str]]:
    return [
        (f"{label}: files, MB", f"{f.files:,} files, {f.bytes / MB:.1f} MB -> {f.indexed:,} in the index"),
        (f"{label}: docs/s, MB/s", f"{_num(f.docs_per_s)} docs/s, {_num(f.mb_per_s, 2)} MB/s"),
        (
            f"{label}: wall, CPU",
            f"{_num(f.wall_s)} s wall, {_num(f.cpu_s)} s CPU ({f.cpu_s / f.wall_s:.2f} cores), "
            f"{f.cpu_ms_per_doc:.2f} ms CPU per document",
        ),
        (
            f"{label}: peak memory",
            f"{_num(f.peak_rss_mb)} MB RSS summed, {_num(f.peak_pss_mb)} MB PSS, "
            f"at most {f.max_processes} process(es)",
        ),
        (
            f"{label}: on disk",
            f"DB {_num(f.db_mb)} MB + index {_num(f.index_mb)} MB = {f.disk_ratio:.2f}x corpus; "
            f"per document DB {f.db_bytes_per_doc:,.0f} B, index {f.index_bytes_per_doc:,.0f} B",
        ),
        (f"{label}: says", f.summary),
    ]


def _rows_bare(label: str, f: BareFigures) -> list[tuple[str, str]]:
    return [
        (
            label,
            f"{_num(f.docs_per_s)} docs/s, {_num(f.wall_s)} s wall, {_num(f.cpu_s)} s CPU "
            f"({f.cpu_ms_per_doc:.2f} ms per document), "
            f"{_num(f.peak_rss_mb)} MB RSS, index {_num(f.index_mb)} MB",
        )
    ]


def _labels(r: Report) -> tuple[str, str]:
    """What the full corpus and the scaling section's smaller one are called in the table."""
    c = r.corpus
    if c.kind == "synthetic":
        small = r.ingest_scale1.files if r.ingest_scale1 else max(1, c.files // 10)
        return f"{c.files:,} docs", f"{small:,} docs"
    return f"x{c.scale}", "x1"


def measurement_rows(r: Report) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    full, small = _labels(r)
    smaller = r.ingest_scale1 is not None and r.ingest_scale1.files != r.corpus.files
    if r.ingest:
        rows += _rows_ingest(f"cold ingest {full}", r.ingest)
    if r.bare:
        rows += _rows_bare(f"bare Whoosh loop {full}", r.bare)
    if r.ingest and r.bare:
        rows.append(
            (
                "indexer / bare, docs/s",
                f"{r.ingest.docs_per_s / r.bare.docs_per_s:.2f}x "
                f"({r.ingest.cpu_ms_per_doc / r.bare.cpu_ms_per_doc:.2f}x the CPU per document)",
            )
        )
    if r.ingest_scale1 and smaller:
        rows += _rows_ingest(f"cold ingest {small}", r.ingest_scale1)
        if r.ingest:
            rows.append(
                (
                    f"ingest docs/s {small} -> {full}",
                    f"{_num(r.ingest_scale1.docs_per_s)} -> "
                    f"{_num(r.ingest.docs_per_s)} ({r.ingest.docs_per_s / r.ingest_scale1.docs_per_s:.2f}x); "
                    f"time grew {r.ingest.wall_s / r.ingest_scale1.wall_s:.1f}x for "
                    f"{r.ingest.files / r.ingest_scale1.files:.0f}x the files",
                )
            )
    if r.bare_scale1 and smaller:
        rows += _rows_bare(f"bare Whoosh loop {small}", r.bare_scale1)
        if r.bare:
            rows.append(
                (
                    f"bare time {small} -> {full}",
                    f"grew {r.bare.wall_s / r.bare_scale1.wall_s:.1f}x "
                    f"(issue 7 measured {PEER_BARE_GROWTH}x at x10)",
                )
            )
    if r.rescan:
        f = r.rescan
        rows.append(
            (
                "safety rescan (in-process)",
                f"{f.files:,} files: {f.seconds:.3f} s median of {f.runs} "
                f"(first {f.seconds_first:.3f} s), {f.files_read} files read, {f.changed} changes",
            )
        )
    if r.add:
        rows.append(
            (
                f"add {r.add.files} new docs",
                f"{r.add.seconds:.2f} s to searchable "
                f"({r.add.searchable}/{r.add.files} found); {r.add.summary}",
            )
        )
    if r.daemon:
        d = r.daemon
        rows.append(
            (
                "daemon drop-to-searchable",
                f"p50 {d.p50_s:.2f} s, p95 {d.p95_s:.2f} s, max {d.max_s:.2f} s ({d.found}/{d.drops} found)",
            )
        )
        rows.append(
            (
                "daemon memory, CPU",
                f"{_num(d.peak_rss_mb)} MB RSS summed ({_num(d.peak_pss_mb)} MB PSS) "
                f"while ingesting; idle "
                f"{d.idle_cpu_percent:.1f}% CPU over {d.idle_window_s:.0f} s",
            )
        )
        if d.batch_files:
            rows.append(
                (
                    f"daemon: {d.batch_files} files at once",
                    ("not all searchable" if d.batch_s is None else f"{d.batch_s:.2f} s to searchable")
                    + f" ({d.batch_found}/{d.batch_files} found)",
                )
            )
        rows.append(("daemon stop (SIGTERM)", f"{d.stop_s:.2f} s, exit {d.exit_code}"))
    if r.queries:
        q = r.queries
        for name, c in q.classes.items():
            rows.append(
                (
                    f"query {name}",
                    f"p50 {_num(c['p50_ms'])} ms, p95 {_num(c['p95_ms'])} ms "
                    f"({c['queries']} queries, e.g. {', '.join(c['examples'][:2])})",
                )
            )
        rows.append(
            (
                "query, all classes",
                f"p50 {q.p50_ms:.1f} ms, p95 {q.p95_ms:.1f} ms over {q.measured} runs "
                f"via {q.api}, {q.failed} failed (bare searcher, no snippets, issue 5: "
                f"{PEER_SEARCHER_MS[0]} / {PEER_SEARCHER_MS[1]} ms)",
            )
        )
        rows.append(
            (
                "`indexer search` process",
                f"{q.cli_search_s:.3f} s median of {len(q.cli_runs)} ({q.cli_query!r}, no daemon)",
            )
        )
    if r.daemon:
        rows.append(("`indexer search`, daemon on", f"{r.daemon.cli_search_s:.3f} s median"))
    if r.alerts:
        a = r.alerts
        rows += _rows_ingest(f"cold ingest {full}, {a.alerts} alerts", a.ingest)
        rows.append(
            (
                f"{a.alerts} alerts: ingest cost",
                f"{a.cost * 100:.1f}% of docs/s, {a.cpu_cost * 100:+.1f}% CPU "
                f"seconds; {a.notices:,} notices "
                f"delivered ({', '.join(f'{n} {k}' for k, n in a.queries.items())}; e.g. "
                f"{', '.join(a.examples[:2])})",
            )
        )
        rows.append(
            (
                f"{a.alerts} alerts on a batch of {ALERT_BATCH}",
                f"{a.batch_ms:.1f} ms matching ({a.per_alert_ms:.2f} ms per alert), median of 3, in-process",
            )
        )
    rows += _rows_sections(r)
    if r.known_item:
        k = r.known_item
        for label, m in (("title words", k.title), ("8 body words", k.body)):
            rows.append(
                (
                    f"known item, {label}",
                    f"success@1 {m['success_at_1']:.3f}, MRR@10 {m['mrr_at_10']:.3f} "
                    f"over {int(m['n'])} documents ({k.method})",
                )
            )
        if k.spelling:
            sp = k.spelling
            rows.append(
                (
                    "known item, title with a slip",
                    f"in the top 10 {sp['misspelled_top10']:.3f}, success@1 "
                    f"{sp['misspelled']['success_at_1']:.3f} over {int(sp['misspelled']['n'])} documents",
                )
            )
            rows.append(
                (
                    "rare words (1-4 documents)",
                    f"no suggestion {sp['rare_no_suggestion']:.3f} over {sp['rare_words']} words",
                )
            )
            rows.append(
                (
                    "fuzzy word~ precision",
                    f"{sp['fuzzy_precision']:.3f} over {sp['fuzzy_hits']} hits of "
                    f"{sp['fuzzy_queries']} queries",
                )
            )
    return rows


def _rows_sections(r: Report) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    if r.reindex:
        x = r.reindex
        swap = "not seen" if x.swap_after_s is None else f"at {x.swap_after_s:.2f} s"
        rows.append(
            (
                "reindex while searching",
                f"{x.documents:,} documents in {x.wall_s:.2f} s wall, {x.cpu_s:.1f} s CPU, "
                f"{_num(x.peak_rss_mb)} MB RSS; temp disk {_num(x.temp_disk_mb)} MB "
                f"(live index {_num(x.index_mb)} MB; at the peak: "
                f"{', '.join(f'{k} {v:.1f}' for k, v in x.peak_disk_mb.items())} MB)",
            )
        )
        rows.append(
            (
                "searches during reindex",
                f"{x.searches} done, {x.failed} failed, p50 {_num(x.search_p50_ms)} ms, "
                f"p95 {_num(x.search_p95_ms)} ms (engine opened per search); swap {swap}: "
                f"{x.before_swap} before it, {x.after_swap} after, "
                f"{x.wrong_generation} on the wrong generation"
                + (f"; errors: {'; '.join(x.errors)}" if x.errors else ""),
            )
        )
    if r.idle:
        i = r.idle
        rows.append(
            (
                "idle daemon RSS over time",
                f"{i.seconds / 60:.1f} min, {i.files_per_drop} files every {i.every_s:.0f} s "
                f"({i.found}/{i.dropped} searchable): {_num(i.before_mb)} MB at the start, after the "
                f"first drop {_num(i.first_mb)} MB, last "
                f"{_num(i.last_mb)} MB, max {_num(i.max_mb)} MB, slope {i.slope_mb_per_h:+.1f} MB/h "
                f"over {i.samples} samples ({i.kb_per_file:+.0f} kB per file dropped)",
            )
        )
    if r.cluster:
        c = r.cluster
        rows.append(
            (
                "cross-node drop-to-searchable",
                f"node A inbox -> node B index (PostgreSQL): median {c.median_s:.2f} s, max "
                f"{c.max_s:.2f} s ({c.found}/{c.drops} found, {c.preload:,} documents before)",
            )
        )
    ratio = _size_ratio(r)
    if ratio and r.corpus.kind == "synthetic":
        large, small, value = ratio
        rows.append((f"ingest docs/s {small:,} -> {large:,}", f"{value:.2f}x (per-size figures in --json)"))
    return rows


def peer_rows(r: Report) -> list[tuple[str, str, str, str]]:
    rows = []
    if r.ingest:
        rows.append(
            ("indexer (this run)", _num(r.ingest.docs_per_s), _num(r.ingest.peak_rss_mb, 0), "measured now")
        )
    if r.bare:
        rows.append(
            (
                "bare Whoosh loop (this run)",
                _num(r.bare.docs_per_s),
                _num(r.bare.peak_rss_mb, 0),
                "measured now",
            )
        )
    for name, rate, rss in PEERS:
        rows.append((name, _num(rate), _num(rss, 0), "issue 7, measured elsewhere"))
    return rows


def render(r: Report) -> str:
    c = r.corpus
    env = r.environment
    what = (
        f"synthetic archive of {c.source} (seed {c.seed})"
        if c.kind == "synthetic"
        else f"{c.source} x{c.scale}"
    )
    out = [
        f"indexer bench: {what}: {c.files:,} files, {c.bytes / MB:.1f} MB "
        f"({c.articles:,} articles); {env['cpus']} cores, Python {env['python']}, git {env['git']}",
        f"load average {env['load_before']:.1f} at the start, {env['load_after'] or 0:.1f} at the end"
        + (
            "  (other work on this machine: figures are pessimistic)"
            if max(env["load_before"], env["load_after"] or 0) > 0.5 * (env["cpus"] or 1)
            else ""
        ),
        "",
    ]
    rows = measurement_rows(r)
    width = max((len(k) for k, _ in rows), default=20)
    out += [f"  {k:<{width}}  {v}" for k, v in rows]
    for section, error in r.errors.items():
        out.append(f"  {section + ': ERROR':<{width}}  {error}")
    if c.kind == "synthetic":
        note = (
            ""
            if c.files == 1_000_000
            else f" (issue 21's are set for 1M documents; this run has {c.files:,})"
        )
    else:
        note = "" if c.scale == 10 else f" (set for BBC x10; this run is x{c.scale})"
    out += ["", "targets" + note]
    ts = targets(r)
    tw = max((len(t.name) for t in ts), default=20)
    for t in ts:
        op = ">=" if t.at_least else "<="
        value = "-" if t.value is None else f"{t.value:,.3g}" if t.unit in ("x", "s") else f"{t.value:,.1f}"
        if t.unit in ("files", "n") and t.value is not None:
            value = f"{t.value:,.0f}"
        out.append(
            f"  {_mark(t.ok):<4}  issue {t.issue}  {t.name:<{tw}}  {value:>8} {t.unit:<5} {op} {t.limit:g}"
        )
    out += ["", "peers (docs/s, peak RSS MB; issue 7's figures are BBC x10 on 2 cores)"]
    pw = max(len(p[0]) for p in peer_rows(r))
    for name, rate, rss, where in peer_rows(r):
        out.append(f"  {name:<{pw}}  {rate:>8}  {rss:>5}  {where}")
    out.append(f"\n{r.seconds:.0f} s in all")
    return "\n".join(out)


def to_json(r: Report) -> dict[str, Any]:
    data = asdict(r)
    data["targets"] = [{**asdict(t), "ok": t.ok} for t in targets(r)]
    data["peers"] = [
        {"name": name, "docs_per_s": rate, "peak_rss_mb": rss, "source": "issue 7, measured elsewhere"}
        for name, rate, rss in PEERS
    ]
    ratios: dict[str, float | None] = {"indexer_vs_bare": None, "scale_docs_per_s": None}
    if r.ingest and r.bare:
        ratios["indexer_vs_bare"] = r.ingest.docs_per_s / r.bare.docs_per_s
    if r.ingest and r.ingest_scale1 and r.corpus.scale > 1:
        ratios["scale_docs_per_s"] = r.ingest.docs_per_s / r.ingest_scale1.docs_per_s
    data["ratios"] = ratios
    data["sizes"] = sizes(r)
    return data


# -- the run ------------------------------------------------------------------------------


def _environment() -> dict[str, Any]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    head = git("rev-parse", "--short", "HEAD") or "?"
    dirty = "+dirty" if git("status", "--porcelain", "--untracked-files=no") else ""
    try:
        from importlib.metadata import version

        whoosh = version("whoosh-reloaded")
    except Exception:
        whoosh = "?"
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "whoosh": whoosh,
        "git": head + dirty,
        "platform": platform.platform(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "load_before": os.getloadavg()[0],
        "load_after": None,
    }


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Runner:
    """Runs the chosen sections in order, each in its own error boundary."""

    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.plan = QUICK if args.quick else Plan()
        self.tmp = tmp
        self.corpus: BenchCorpus
        if args.docs:
            self.corpus = SyntheticCorpus(
                Path(args.corpora).resolve(), args.docs, args.seed, args.word_sample
            )
        else:
            folder = Path(args.corpus).resolve()
            sources = list_sources(folder, self.plan.max_sources)
            if not sources:
                raise SystemExit(f"bench: no .txt files under {folder}")
            self.corpus = ScaledCorpus(folder, sources, args.scale)
        self.only = set(args.only)
        self.main = Project.create(tmp / "main")
        self.texts: Texts | None = None
        self.report: Report | None = None

    def wants(self, section: str) -> bool:
        if section == "cluster" and not self.args.postgres:
            return False  # only with a server to run on
        return not self.only or section in self.only

    def section(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        say(f"{name} ...")
        started = time.perf_counter()
        try:
            result = fn(*args)
        except Exception as e:
            assert self.report is not None
            self.report.errors[name] = f"{type(e).__name__}: {e}"
            say(f"{name} failed: {type(e).__name__}: {e}")
            return None
        say(f"{name} done in {time.perf_counter() - started:.1f} s")
        return result

    def run(self) -> Report:
        started = time.perf_counter()
        say(f"writing the corpus ({self.corpus.label}) into {self.main.inbox} ...")
        files, nbytes = self.corpus.write(self.main.inbox)
        r = self.report = Report(corpus=self.corpus.info(files, nbytes), environment=_environment())
        if self.args.baseline:
            r.baseline = load_baseline(Path(self.args.baseline))
        say("word statistics for the queries ...")
        self.texts = self.corpus.texts()
        if self.wants("ingest") or any(self.wants(s) for s in NEEDS_INDEX):
            r.ingest = self.section("cold ingest", measure_cold_ingest, self.main, files, nbytes)
        if self.wants("bare"):
            r.bare = self.section(
                "bare Whoosh loop", measure_bare, self.main.inbox, self.tmp / "bare", nbytes
            )
        if self.wants("scaling"):
            self.run_smaller()
        if r.ingest is not None:
            self.run_on_index()
        if self.wants("cluster"):
            r.cluster = self.section(
                "cross-node latency",
                measure_cluster,
                self.args.postgres,
                self.corpus,
                self.tmp / "cluster",
                min(CLUSTER_PRELOAD, files),
                CLUSTER_DROPS,
            )
        r.seconds = time.perf_counter() - started
        r.environment["load_after"] = os.getloadavg()[0]
        return r

    def run_smaller(self) -> None:
        """The cold ingest (and the bare loop) of the smaller corpus: x1, or a tenth of N."""
        r = self.report
        assert r is not None
        if isinstance(self.corpus, ScaledCorpus) and self.corpus.scale == 1:
            r.ingest_scale1, r.bare_scale1 = r.ingest, r.bare
            return
        small = Project.create(self.tmp / "smaller")
        files1, bytes1 = self.corpus.write(small.inbox, smaller=True)
        label = f"{files1:,} docs" if isinstance(self.corpus, SyntheticCorpus) else "x1"
        r.ingest_scale1 = self.section(f"cold ingest {label}", measure_cold_ingest, small, files1, bytes1)
        if self.wants("bare"):
            r.bare_scale1 = self.section(
                f"bare Whoosh loop {label}", measure_bare, small.inbox, self.tmp / "bare1", bytes1
            )

    def run_on_index(self) -> None:
        r, texts, corpus, plan = self.report, self.texts, self.corpus, self.plan
        assert r is not None and texts is not None
        if texts.stands_for > len(texts.by_source):
            counted = self.section("word counts from the index", counted_in_index, self.main, texts)
            texts = self.texts = counted or texts
        if self.wants("rescan"):
            r.rescan = self.section("safety rescan", measure_rescan, self.main)
        if self.wants("add"):
            r.add = self.section("add new docs", measure_add, self.main, corpus, plan.add_files)
        if self.wants("query"):
            r.queries = self.section("queries", measure_queries, self.main, texts, plan)
        if self.wants("known"):
            r.known_item = self.section("known-item retrieval", measure_known_item, self.main, corpus, plan)
        if self.wants("reindex"):
            mix = [q for qs in build_queries(texts, plan.queries_per_class).values() for q in qs]
            r.reindex = self.section("reindex while searching", measure_reindex, self.main, mix)
        if self.wants("daemon"):
            cli_query = r.queries.cli_query if r.queries else _cli_query(build_queries(texts, 1))
            r.daemon = self.section("daemon", measure_daemon, self.main, corpus, plan, cli_query)
        if self.wants("idle"):
            r.idle = self.section(
                "idle daemon",
                measure_idle,
                self.main,
                corpus,
                self.args.idle_minutes,
                self.args.idle_every,
                IDLE_FILES,
            )
        if self.wants("alerts") and r.ingest is not None:
            r.alerts = self.section("alerts", measure_alerts, corpus, self.tmp / "alerts", texts, r.ingest)


def load_baseline(path: Path) -> dict[str, dict[str, Any]]:
    """The per-size ingest figures of an earlier run's --json output."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k: {**v, "run": str(path)} for k, v in data.get("sizes", {}).items()}


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/bench",
        description="Benchmark indexer: cold ingest against a bare Whoosh loop, scaling, adding documents, "
        "the safety rescan, the daemon's drop-to-searchable latency, query latency, known-item retrieval, "
        "reindex while searching, the idle daemon's memory and cross-node latency on PostgreSQL.",
    )
    parser.add_argument(
        "--corpus",
        default=str(DEFAULT_CORPUS),
        help="folder of .txt files (default: ../shared/corpora/bbc beside the repo)",
    )
    parser.add_argument(
        "--scale", type=int, default=1, help="copies of the corpus, each varied a little (default 1)"
    )
    parser.add_argument(
        "--docs",
        type=int,
        default=0,
        help="instead of --corpus x --scale: N unique synthetic articles made from --corpora (tools/synth.py)",
    )
    parser.add_argument("--seed", type=int, default=1, help="the synthetic corpus's seed (default 1)")
    parser.add_argument(
        "--word-sample",
        type=int,
        default=TEXT_SAMPLE,
        metavar="N",
        help=f"synthetic articles whose words make the queries (default {TEXT_SAMPLE:,})",
    )
    parser.add_argument(
        "--corpora",
        default=str(DEFAULT_CORPUS.parent),
        help="the corpora --docs recombines (default: ../shared/corpora beside the repo)",
    )
    parser.add_argument(
        "--idle-minutes",
        type=float,
        default=None,
        help="how long the idle section watches the daemon's memory (default 2, with --quick 0.25; "
        "the target is for 60)",
    )
    parser.add_argument(
        "--idle-every",
        type=float,
        default=10.0,
        help=f"seconds between the idle section's drops of {IDLE_FILES} files (default 10)",
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get(POSTGRES_ENV, ""),
        metavar="URL",
        help=f"a PostgreSQL server (SQLAlchemy URL) for the cross-node section, which makes and drops "
        f"its own database there (default: ${POSTGRES_ENV}; without one the section is skipped)",
    )
    parser.add_argument(
        "--baseline",
        metavar="FILE",
        help="an earlier run's --json output: its per-size ingest figures are compared with this run's",
    )
    parser.add_argument("--json", action="store_true", help="print JSON on stdout (the table goes to stderr)")
    parser.add_argument(
        "--quick", action="store_true", help="a small subset and few repetitions (smoke test)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the tmp folder (projects, logs)")
    parser.add_argument(
        "--only",
        type=lambda s: [x.strip() for x in s.split(",") if x.strip()],
        default=[],
        help=f"comma-separated sections: {', '.join(SECTIONS)} ({', '.join(NEEDS_INDEX)} "
        "also run the cold ingest they measure)",
    )
    args = parser.parse_args(argv)
    if args.scale < 1:
        parser.error("--scale must be 1 or more")
    if args.docs < 0 or (args.docs and args.scale != 1):
        parser.error("--docs takes a positive N and replaces --scale")
    if args.idle_minutes is None:
        args.idle_minutes = 0.25 if args.quick else 2.0
    if args.idle_minutes <= 0 or args.idle_every <= 0:
        parser.error("--idle-minutes and --idle-every must be positive")
    if "cluster" in args.only and not args.postgres:
        parser.error(f"the cluster section needs --postgres URL (or ${POSTGRES_ENV})")
    unknown = [s for s in args.only if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section {unknown[0]!r}; sections: {', '.join(SECTIONS)}")
    if args.docs and not (Path(args.corpora) / "bbc").is_dir():
        parser.error(f"no corpora at {args.corpora} (give them with --corpora DIR)")
    if not args.docs and not Path(args.corpus).is_dir():
        parser.error(f"no corpus folder at {args.corpus} (give one with --corpus DIR)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="indexer-bench-")).resolve()
    try:
        report = Runner(args, tmp).run()
    finally:
        if args.keep:
            say(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    table = render(report)
    if args.json:
        print(table, file=sys.stderr)
        print(json.dumps(to_json(report), indent=2, default=str))
    else:
        print(table)
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
