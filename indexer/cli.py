"""The command line: the only module that prints or exits.

Every error family becomes one line on stderr and an exit code (0 ok, 1 failure, 2 bad
usage or query, 75 busy); tracebacks only with --verbose.
"""

from __future__ import annotations

import errno
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from indexer import __version__
from indexer.errors import ConfigError, IndexerError, MissingDatabaseError, NotFoundError, QueryError
from indexer.search import request as search_request
from indexer.search.request import ARGUMENTS, COMMON_OPTIONS, HELP_FLAGS, OPTIONS, SearchRequest, split_values

if TYPE_CHECKING:
    from indexer.config import Config
    from indexer.jobs import Context

__all__ = ["main"]

_F = TypeVar("_F", bound=Callable[..., Any])

FORMAT_VERSION = 1  # of the JSON printed by read commands; bumped only on breaking changes


class State:
    def __init__(self, ask_server: bool = True) -> None:
        self.config_path: str | None = None
        self.verbose = False
        self.log_level: str | None = None
        self.ask_server = ask_server  # False: searches do not ask the daemon's search server


def _click_option(option: search_request.Option) -> Callable[[_F], _F]:
    """An option of search/request.py's tables, as click declares it."""
    kwargs: dict[str, Any] = {"help": option.help, "default": option.default}
    if option.kind == search_request.FLAG:
        kwargs["is_flag"] = True
    elif option.kind == search_request.INT:
        kwargs["type"] = click.IntRange(option.low, option.high)
    elif option.kind == search_request.CHOICE:
        kwargs["type"] = click.Choice(list(option.choices))
    elif option.kind == search_request.FILE:
        kwargs["type"] = click.Path(dir_okay=False)
    elif option.kind == search_request.DATE:
        kwargs["callback"] = _date_value
    if option.multiple:
        kwargs["multiple"] = True
    if option.metavar:
        kwargs["metavar"] = option.metavar
    if option.show_default:
        kwargs["show_default"] = True
    return click.option(*option.flags, option.name, **kwargs)


def _options(options: tuple[search_request.Option, ...], command: str | None = None) -> Callable[[_F], _F]:
    """``options`` (those of ``command``, when given) on a click command, in their order."""

    def decorate(fn: _F) -> _F:
        for option in reversed(options):
            if command is None or command in option.commands:
                fn = _click_option(option)(fn)
        return fn

    return decorate


def _common(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--config, --verbose and --log-level on every command (as well as on the group)."""

    @_options(COMMON_OPTIONS)
    @click.pass_obj
    @wraps(fn)
    def wrapper(
        state: State, /, config_path: str | None, verbose: bool | None, log_level: str | None, **kwargs: Any
    ) -> Any:
        state.config_path = config_path or state.config_path
        state.verbose = bool(verbose) or state.verbose
        state.log_level = log_level or state.log_level
        return fn(state, **kwargs)

    return wrapper


def _load_config(state: State) -> Config:
    from indexer import config

    return config.load(state.config_path)


def _setup_logging(
    state: State, cfg: Config, default_level: str = "critical", read_only: bool = False
) -> None:
    """One-shot commands print their own results and one-line errors: logs only if asked.

    ``read_only``: a log file that does not exist is not created (stderr instead); others
    create it, and its folder.
    """
    from indexer import log

    level = state.log_level or ("debug" if state.verbose else default_level)
    path = cfg.log_file
    if path is not None and not path.exists():
        if read_only:
            path = None
        else:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise ConfigError(
                    f"cannot create the log file's folder {path.parent}: {e.strerror or e}"
                ) from None
    log.configure(level, str(path) if path else "")


@contextmanager
def _context(
    state: State, default_level: str = "critical", read_only: bool = False, background: bool = False
) -> Iterator[Context]:
    """``read_only``: for commands that only read; they create nothing (no data dir, no
    database, no schema) and say which config they used when there is no database.
    ``background``: the daemon's (its analysis workers run at a lower priority)."""
    from indexer import jobs

    cfg = _load_config(state)
    _setup_logging(state, cfg, default_level, read_only)
    try:
        ctx = jobs.open_context(cfg, read_only=read_only, background=background)
    except MissingDatabaseError as e:
        raise MissingDatabaseError(_no_database(cfg, str(e))) from None
    try:
        yield ctx
    finally:
        ctx.close()


def _no_database(cfg: Config, message: str) -> str:
    return f"{message} (config: {cfg.source or 'none found'}; run `indexer init` or `indexer ingest`)"


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=_json_default))


def _shown(path: str) -> str:
    """A path (or a title) for one line of text output: control characters escaped."""
    from indexer.ingest.paths import printable

    return printable(path)


def _err(message: str) -> None:
    click.echo(message, err=True)


def _on_wait(pid: int | None) -> None:
    _err(f"waiting for the index writer (pid {pid or '?'}) ...")


@click.group(context_settings={"help_option_names": list(HELP_FLAGS)})
@click.version_option(__version__, prog_name="indexer")
@_options(COMMON_OPTIONS)
@click.pass_context
def cli(
    click_ctx: click.Context, config_path: str | None, verbose: bool | None, log_level: str | None
) -> None:
    """Ingest text files into a database and a full-text index, and search them."""
    state = click_ctx.ensure_object(State)
    state.config_path = config_path
    state.verbose = bool(verbose)
    state.log_level = log_level


@cli.command()
@_common
def init(state: State) -> None:
    """Create the data dir, the inbox folders, the database and an empty index."""
    with _context(state) as ctx:
        for folder in ctx.config.inbox_dirs:
            folder.mkdir(parents=True, exist_ok=True)
        ctx.index.follow(ctx.db)
        click.echo(f"data dir: {ctx.config.data_dir}")
        click.echo(f"database: {_safe_url(ctx.config.database_url)}")
        for folder in ctx.config.inbox_dirs:
            click.echo(f"inbox:    {folder}")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path, readable=False))
@click.option(
    "--accept-vanished",
    is_flag=True,
    help="files gone all at once from an inbox folder (or the folder emptied or replaced) are "
    "deleted for good; without it their documents are kept and the folder is reported unavailable",
)
@_common
def ingest(state: State, paths: tuple[Path, ...], accept_vanished: bool) -> None:
    """Ingest files or folders now, and bring the index up to date."""
    from indexer import jobs

    missing = [str(p) for p in paths if _absent(p)]
    if missing:
        raise NotFoundError(f"no such file or folder: {missing[0]}")
    with _context(state) as ctx:
        with _progress("ingesting") as advance:
            result = jobs.ingest(
                ctx, list(paths), progress=advance, on_wait=_on_wait, accept_vanished=accept_vanished
            )
        jobs.follow(ctx, on_wait=_on_wait)  # changes made meanwhile by others (a daemon, another node)
    c = result.counts
    for path, reason in result.refused:
        _err(f"failed: {_shown(path)}: {reason}")
    if len(result.refused) == len(paths):  # nothing named was taken: the refusals say it all
        sys.exit(1)
    parts = [f"{c.added} added", f"{c.updated} updated", f"{c.unchanged} unchanged"]
    if c.duplicates:
        parts.append(f"{c.duplicates} duplicates")
    if c.deleted:
        parts.append(f"{c.deleted} deleted")
    parts.append(f"{c.failed} failed")
    if result.skipped:
        parts.append(f"{result.skipped} skipped (include/exclude)")
    click.echo(", ".join(parts) + f" ({result.seconds:.1f}s)")
    if c.added + c.updated + c.deleted + c.duplicates + c.failed == 0 and not result.unavailable:
        click.echo("nothing changed")
    folders = {f.path for f in result.unavailable}  # said below, once each
    failed = [(path, reason) for path, reason in c.failed_paths if path not in folders]
    for path, reason in failed[:20]:
        _err(f"failed: {_shown(path)}: {reason}")
    if len(failed) > 20:
        _err(f"... and {len(failed) - 20} more (see `indexer status`)")
    for folder in result.unavailable:
        _err(f"indexer: folder unavailable, its documents are kept: {_shown(folder.path)}: {folder.reason}")
    if result.unavailable or result.refused:
        sys.exit(1)


def _absent(path: Path) -> bool:
    """Not there at all (a path under a folder that cannot be read is the scan's to report)."""
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False
    return False


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int], None]]:
    if not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description} {task.completed} files"),
        TimeElapsedColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)
        yield lambda n: bar.advance(task, n)


@cli.command()
@_common
def daemon(state: State) -> None:
    """Watch the inbox and keep the database and the index up to date until stopped."""
    import signal
    import threading

    from indexer.daemon import Daemon, missing_inbox

    stop = threading.Event()
    runner: Daemon | None = None
    reopen_asked = False
    on_terminal = sys.stderr.isatty()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()
        if runner is not None:
            runner.request_stop()

    def on_hangup(signum: int, _frame: Any) -> None:
        nonlocal reopen_asked
        if on_terminal and (runner is None or not runner.ctx.config.log_file):
            on_signal(signum, _frame)  # its terminal closed: nobody reads the logs any more
            return
        reopen_asked = True
        if runner is not None:
            runner.request_log_reopen()

    # Every signal whose default would end the process stops it cleanly instead (the
    # status file and the search socket removed); SIGHUP reopens the log (logrotate).
    for name in _STOP_SIGNALS:
        if hasattr(signal, name):  # SIGPWR is Linux's
            signal.signal(getattr(signal, name), on_signal)
    signal.signal(signal.SIGHUP, on_hangup)
    cfg = _load_config(state)
    if not cfg.database.url and not (cfg.data_dir / "indexer.db").exists():
        # A new install: a missing inbox is a mistake; said before anything is created.
        for folder in cfg.inbox_dirs:
            if not folder.is_dir():
                raise ConfigError(missing_inbox(cfg, folder))
    with _context(state, default_level="info", background=True) as ctx:
        runner = Daemon(ctx, stop)
        if reopen_asked:
            runner.request_log_reopen()
        if not stop.is_set():
            runner.run()
    if runner.restart:  # an inbox now leads elsewhere: start again, as a new process would
        os.execv(sys.executable, [sys.executable, "-m", "indexer", *sys.argv[1:]])


# Faults (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT) are not among them: the process is not
# in a state to clean up; the next start replaces what it left (see Daemon.run).
_STOP_SIGNALS = (
    "SIGTERM",
    "SIGINT",
    "SIGQUIT",
    "SIGUSR1",
    "SIGUSR2",
    "SIGALRM",
    "SIGVTALRM",
    "SIGPROF",
    "SIGXCPU",
    "SIGPWR",
)


def _date_value(_click_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    from indexer.search.dates import DATE_HINT, DateError, parse_date

    try:
        parse_date(value, date.today())
    except DateError as e:
        raise click.BadParameter(f"{e} ({DATE_HINT})") from None
    return value


def _run_search(state: State, request: SearchRequest) -> None:
    """Ask the daemon's search server; without one, open the index read-only ourselves.

    The database is read only for texts (snippets, similar, spelling suggestions), through
    search/texts.py. Both ways run the request with search/run.py: the same text.
    """
    from indexer.ask import Output, Raised, Unreachable, ask

    cfg = _load_config(state)
    if state.verbose or state.log_level:  # searching logs nothing worth structlog's import
        _setup_logging(state, cfg)
    reply = ask(cfg.data_dir, request) if state.ask_server else Unreachable("not asked")
    if isinstance(reply, Raised):
        raise reply.error
    if not isinstance(reply, Output):  # no server, or one that declined: search here
        from indexer.search.engine import SearchEngine
        from indexer.search.run import run

        with SearchEngine(cfg.data_dir, cfg.database_url) as engine:
            reply = run(engine, request)
    click.echo(reply.text, nl=False)
    if reply.exit_code:
        sys.exit(reply.exit_code)


def _search_argument(command: str) -> Callable[[_F], _F]:
    argument = ARGUMENTS[command]
    if argument.many:
        return click.argument(argument.name, nargs=-1, required=True)
    return click.argument(argument.name, type=int)


@cli.command()
@_search_argument("search")
@_options(OPTIONS, "search")
@_common
def search(state: State, **params: Any) -> None:
    """Search the index. QUERY uses Whoosh syntax: words (all must match), "a phrase",
    OR, NOT, ( ), field:value (title body source lang path published ingested date),
    prefix*, fuzzy~, published:[2025-01 to 2025-06]. See the README for examples."""
    _run_search(state, search_request.build_request("search", params, sys.stdout.isatty()))


@cli.command()
@_search_argument("similar")
@_options(OPTIONS, "similar")
@_common
def similar(state: State, **params: Any) -> None:
    """Documents like document DOC_ID, found by its key terms; its near-duplicates left out."""
    _run_search(state, search_request.build_request("similar", params, sys.stdout.isatty()))


def _document_dict(doc: Any, paths: list[str], with_body: bool = True) -> dict[str, Any]:
    data = {
        "id": doc.id,
        "title": doc.title,
        "title_derived": doc.title_derived,
        "path": doc.path,
        "paths": paths,
        "language": doc.language,
        "language_probability": doc.language_prob,
        "language_runner_up": doc.language_alt,
        "languages": [x.partition(":")[0] for x in doc.languages.split(",") if x],
        "language_shares": {
            code: float(share)
            for code, _, share in (x.partition(":") for x in doc.languages.split(","))
            if share
        },
        "source": doc.source,
        "dateline": doc.dateline,
        "byline": doc.byline,
        "published": doc.published,
        "date_source": doc.date_source,
        "encoding": doc.encoding,
        "repaired": doc.repaired,
        "sha256": doc.sha256,
        "body_sha256": doc.body_sha256,
        "size": doc.size,
        "mtime": datetime.fromtimestamp(doc.mtime_ns / 1e9).astimezone(),
        "word_count": doc.word_count,
        "char_count": doc.char_count,
        "paragraph_count": doc.paragraph_count,
        "summary": doc.summary,
        "cluster_id": doc.cluster_id,
        "flags": [x for x in doc.flags.split(",") if x],
        "normalizer_version": doc.normalizer_version,
        "ingested_at": doc.ingested_at,
        "updated_at": doc.updated_at,
        "deleted_at": doc.deleted_at,
        "seq": doc.seq,
        "removed": json.loads(doc.removed or "[]"),
    }
    if with_body:
        data["body"] = doc.body
    return data


@cli.command()
@click.argument("doc_id", type=int)
@click.option("--explain", is_flag=True, help="list what normalization removed, and why")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@_common
def show(state: State, doc_id: int, explain: bool, as_json: bool) -> None:
    """Show one document: its metadata and normalized text."""
    from indexer.db import documents, files

    with _context(state, read_only=True) as ctx, ctx.db.read() as session:
        doc = documents.get_document(session, doc_id)
        if doc is None:
            raise NotFoundError(f"no document with id {doc_id}")
        data = _document_dict(doc, files.paths_of(session, doc_id))
    if as_json:
        _print_json({"format_version": FORMAT_VERSION, **data})
        return
    body = data.pop("body")
    removed = data.pop("removed")
    for key, value in data.items():
        if key == "paths":  # every file of the document, one a line
            for i, path in enumerate(value):
                click.echo(f"{key if i == 0 else '':>20}{':' if i == 0 else ' '} {_shown(path)}")
        elif value not in (None, "", []):
            click.echo(f"{key:>20}: {_shown(value) if isinstance(value, str) else value}")
    if explain:
        click.echo()
        click.echo(f"removed by normalization: {len(removed)}")
        for item in removed:
            click.echo(f"  [{item['rule']}] {item['text']}")
    click.echo()
    click.echo(body)


@cli.command()
@click.option(
    "--reprocess", is_flag=True, help="first re-analyse documents made by older normalization rules"
)
@click.option(
    "--if-needed",
    is_flag=True,
    help="only when needed: index missing, damaged, of another schema, of older analysis, or drifted",
)
@click.option("-q", "--quiet", is_flag=True, help="print nothing on success (for cron)")
@_common
def reindex(state: State, reprocess: bool, if_needed: bool, quiet: bool) -> None:
    """Rebuild the index from the database beside the live one, then swap it in.

    Safe at any time, with or without the daemon running: searches go on against the old
    index until the swap. Exit 0 on success, 1 on failure (fit for cron).
    """
    from indexer import jobs

    with _context(state) as ctx:
        with _bar("reindexing") as progress:
            if if_needed and not reprocess:
                found = jobs.reindex_if_needed(ctx, progress=progress)
                if found is None:
                    if not quiet:
                        click.echo("index is current; nothing to do")
                    return
                result = found
            else:
                result = jobs.reindex(ctx, progress=progress, reprocess_first=reprocess)
        jobs.follow(ctx, on_wait=None if quiet else _on_wait)
    if not quiet:
        click.echo(f"reindexed {result.documents} documents in {result.seconds:.1f}s ({result.generation})")


@cli.command()
@click.option("--repair", is_flag=True, help="fix what differs (ingest, remove, re-index) in batches")
@click.option(
    "--hash", "check_hashes", is_flag=True, help="also re-read every file to compare content hashes"
)
@click.option(
    "--outside/--no-outside",
    default=None,
    help="also check for files outside the configured inboxes (default: on SQLite only)",
)
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@_common
def verify(state: State, repair: bool, check_hashes: bool, outside: bool | None, as_json: bool) -> None:
    """Check that inbox files, database and index agree. Exit 1 if problems remain."""
    from indexer import jobs

    with _context(state, read_only=not repair) as ctx:
        report = jobs.verify(ctx, repair=repair, check_hashes=check_hashes, outside=outside)
        remaining = (
            jobs.verify(ctx, outside=report.outside_checked).problems
            if repair and report.problems
            else report.problems
        )
    data = report.as_dict()
    data["remaining"] = remaining
    if as_json:
        _print_json({"format_version": FORMAT_VERSION, **data})
    else:
        click.echo(
            f"checked {report.files_checked} files, {report.documents_checked} documents, "
            f"index {report.index_documents if report.index_documents is not None else '-'} documents"
        )
        labels = [
            ("missing", "in the inbox, not in the database"),
            ("orphaned", "in the database, gone from disk"),
            ("stale", "changed on disk since ingested"),
            ("outside", "outside the configured inboxes"),
            ("empty_documents", "documents with no file"),
            ("not_indexed", "documents missing from the index"),
            ("index_orphans", "index entries not in the database"),
        ]
        for key, label in labels:
            items = data[key]
            if items:
                click.echo(
                    f"{len(items):>6} {label}: "
                    + ", ".join(_shown(str(x)) for x in items[:5])
                    + (" ..." if len(items) > 5 else "")
                )
        if report.index_problem:
            click.echo(f"index: {report.index_problem}")
        for folder in report.unavailable:
            click.echo(f"unavailable folder (its documents are kept): {_shown(folder.path)}: {folder.reason}")
        if report.repaired:
            click.echo("repaired: " + ", ".join(f"{k} {v}" for k, v in report.repaired.items()))
        click.echo("ok" if remaining == 0 else f"{remaining} problems remain")
    if remaining:
        sys.exit(1)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@_common
def failures(state: State, as_json: bool) -> None:
    """List files that did not become documents: path, stage, reason, attempts."""
    from indexer.db import files

    with _context(state, read_only=True) as ctx, ctx.db.read() as session:
        rows: list[dict[str, Any]] = [
            {
                "path": f.path,
                "stage": f.stage,
                "reason": f.reason,
                "transient": f.transient,
                "attempts": f.attempts,
                "first_seen": f.first_seen,
                "last_seen": f.last_seen,
            }
            for f in files.failures(session)
        ]
    if as_json:
        _print_json({"format_version": FORMAT_VERSION, "total": len(rows), "failures": rows})
        return
    if not rows:
        click.echo("no failures")
        return
    for row in rows:
        retry_note = " (will retry)" if row["transient"] else ""
        click.echo(
            f"{_shown(row['path'])}: {row['stage']}: {row['reason']} [attempts {row['attempts']}]{retry_note}"
        )
    click.echo(f"{len(rows)} failures")


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path, readable=False))
@click.option("--all", "retry_all", is_flag=True, help="retry every recorded failure")
@_common
def retry(state: State, paths: tuple[Path, ...], retry_all: bool) -> None:
    """Try failed files again now (PATH..., or --all)."""
    from indexer import jobs
    from indexer.ingest.paths import typed_path

    if not paths and not retry_all:
        raise click.UsageError("give PATH... or --all")
    with _context(state) as ctx:
        counts = jobs.retry(ctx, None if retry_all else [typed_path(str(p)) for p in paths])
    click.echo(
        f"{counts.added} added, {counts.updated} updated, {counts.duplicates} duplicates, {counts.failed} failed"
    )
    for path, reason in counts.failed_paths[:20]:
        _err(f"failed: {_shown(path)}: {reason}")
    if counts.failed:
        sys.exit(1)


@cli.command()
@click.argument("targets", nargs=-1, required=True, metavar="ID|PATH...")
@click.option(
    "--all-paths", is_flag=True, help="for a PATH: forget its whole document, with every path holding it"
)
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@_common
def forget(state: State, targets: tuple[str, ...], all_paths: bool, as_json: bool) -> None:
    """Remove documents from the database and the index for good.

    An ID (a whole number) forgets that document with all its paths. A PATH forgets only
    that file's path: its document stays while other files (byte-identical copies) hold
    it; with --all-paths, the document it belongs to goes with all its paths. A forgotten
    file is ignored (renamed or copied too) until its bytes change; then it is a new document.
    """
    from indexer import jobs
    from indexer.ingest.paths import typed_path

    with _context(state) as ctx:
        result = jobs.forget(ctx, [typed_path(t) for t in targets], all_paths=all_paths, on_wait=_on_wait)
    if as_json:
        _print_json({"format_version": FORMAT_VERSION, **result.as_dict()})
        return
    if result.documents:
        click.echo("forgot documents: " + ", ".join(map(str, result.documents)))
    for path in result.paths:
        click.echo(
            f"forgot path: {_shown(path)}" + (" (ignored until it changes)" if path in result.ignored else "")
        )
    if result.kept:
        click.echo("kept documents (other files hold them): " + ", ".join(map(str, result.kept)))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@_common
def duplicates(state: State, as_json: bool) -> None:
    """List near-duplicate clusters: the same story syndicated or lightly rewritten."""
    from indexer.db import documents

    with _context(state, read_only=True) as ctx, ctx.db.read() as session:
        found: list[dict[str, Any]] = [
            {
                "cluster_id": cluster_id,
                "documents": [
                    {"id": d.id, "title": d.title, "path": d.path, "source": d.source} for d in docs
                ],
            }
            for cluster_id, docs in documents.clusters(session)
        ]
    if as_json:
        _print_json({"format_version": FORMAT_VERSION, "total": len(found), "clusters": found})
        return
    if not found:
        click.echo("no near-duplicates")
        return
    for cluster in found:
        click.echo(f"cluster {cluster['cluster_id']} ({len(cluster['documents'])} documents)")
        for d in cluster["documents"]:
            click.echo(f"  {d['id']:>6}  {d['title']}  {_shown(d['path'])}")
    click.echo(f"{len(found)} clusters")


@cli.command()
@click.option(
    "--learn",
    "learn_now",
    is_flag=True,
    help="learn now from the database, re-analyse the documents that changes, update the index",
)
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@_common
def boilerplate(state: State, learn_now: bool, as_json: bool) -> None:
    """List the lines learned as site furniture, per source or folder, with their counts."""
    from indexer import jobs
    from indexer.db import lines

    learned: dict[str, Any] | None = None
    with _context(state, read_only=not learn_now) as ctx:
        if learn_now:
            learned = jobs.learn(ctx).as_dict()
            jobs.follow(ctx, on_wait=_on_wait)
        with ctx.db.read() as session:
            rows = lines.learned_lines(session)
            groups: dict[str, dict[str, Any]] = {}
            for row in rows:
                group = groups.setdefault(
                    row.group_name, {"group": row.group_name, "documents": row.group_documents, "lines": []}
                )
                group["lines"].append(
                    {"text": row.text, "documents": row.documents, "learned_at": row.learned_at}
                )
    found = sorted(groups.values(), key=lambda g: g["group"])
    if as_json:
        _print_json({"format_version": FORMAT_VERSION, "learn": learned, "total": len(rows), "groups": found})
        return
    if learned is not None:
        click.echo(
            f"learned {learned['added']} new, dropped {learned['dropped']}; "
            f"re-analysed {learned['reanalysed']} documents"
        )
    if not found:
        click.echo("no learned furniture")
        return
    for group in found:
        click.echo(f"{group['group']}  ({group['documents']} documents)")
        for line in sorted(group["lines"], key=lambda x: (-x["documents"], x["text"])):
            click.echo(f"  {line['documents']:>6}  {line['text']}")
    click.echo(
        f"{len(rows)} learned line{'s' * (len(rows) != 1)} in {len(found)} group{'s' * (len(found) != 1)}"
    )


@contextmanager
def _bar(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on a terminal; nothing otherwise (JSON log lines tell the story)."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@_common
def status(state: State, as_json: bool) -> None:
    """Documents, failures, the index and the daemon, at a glance."""
    from indexer import jobs
    from indexer.daemon import read_status, running_pid
    from indexer.db import changes, documents, files, runs

    with _context(state, read_only=True) as ctx:
        with ctx.db.read() as session:
            summary = documents.summary(session)
            skipped = runs.last_scan_counts(session).get("skipped")
            failures: list[dict[str, Any]] = [
                {
                    "path": f.path,
                    "stage": f.stage,
                    "reason": f.reason,
                    "attempts": f.attempts,
                    "last_seen": f.last_seen,
                }
                for f in files.failures(session)[:20]
            ]
        index = ctx.index.stats()
        checkpoint = index["checkpoint"]
        index["db_seq"] = summary["seq"]
        index["lag"] = None if checkpoint is None else summary["seq"] - checkpoint
        # How long the oldest change the index has not applied has waited.
        oldest = None
        if index["lag"]:
            with ctx.db.read() as session:
                oldest = changes.first_change_after(session, checkpoint)
        index["lag_seconds"] = (
            None
            if index["lag"] is None
            else (round(max(0.0, (datetime.now(UTC) - oldest).total_seconds()), 1) if oldest else 0.0)
        )
        daemon = read_status(ctx) or {}
        unavailable: list[dict[str, Any]] = [
            {"path": f.path, "reason": f.reason} for f in jobs.unavailable_folders(ctx)
        ]
        last_runs = summary["last_runs"]
        failing_alerts = _failing_alerts(ctx)
        data: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "data_dir": str(ctx.config.data_dir),
            "database": _safe_url(ctx.config.database_url),
            "documents": summary["documents"],
            "files": summary["files"],
            "by_language": summary["by_language"],
            "by_source": summary["by_source"],
            "failures": summary["failures"],
            "failures_by_stage": summary["failures_by_stage"],
            "skipped": skipped,
            "recent_failures": failures,
            "unavailable_folders": unavailable,
            "pending_files": daemon.get("pending_files"),
            # This node's own: each node scans its inboxes and builds its index.
            "last_scan": jobs.last_run(ctx, "scan", ctx.config.node_name),
            "last_reindex": jobs.last_run(ctx, "reindex", ctx.config.node_name),
            "next_reindex": daemon.get("next_runs", {}).get("reindex"),
            "index": index,
            "failing_deliveries": failing_alerts,
            "last_runs": {
                job: {"started": s, "ended": e, "outcome": o, "node": n}
                for job, (s, e, o, n) in last_runs.items()
            },
            "daemon": {
                "pid": running_pid(ctx),
                "uptime_seconds": daemon.get("uptime_seconds"),
                "watch": daemon.get("watch"),
                "unwatched": daemon.get("unwatched") or {},  # inbox root -> why it is not watched
                "scan_seconds": daemon.get("scan_seconds"),
                "next_runs": daemon.get("next_runs"),
            },
        }
    if as_json:
        _print_json(data)
        return
    click.echo(f"documents: {data['documents']} (files: {data['files']})")
    if data["by_language"]:
        click.echo("  by language: " + ", ".join(f"{k} {v}" for k, v in data["by_language"].items()))
    if data["by_source"] and list(data["by_source"]) != ["(none)"]:
        click.echo("  by source:   " + ", ".join(f"{k} {v}" for k, v in list(data["by_source"].items())[:8]))
    click.echo(f"failures:  {data['failures']}")
    for f in failures[:5]:
        click.echo(f"  {_shown(f['path'])}: {f['stage']}: {f['reason']}")
    for f in unavailable:
        click.echo(f"unavailable: {_shown(f['path'])}: {f['reason']} (its documents are kept)")
    if skipped:
        click.echo(f"skipped:   {skipped} files not matching include/exclude (last scan)")
    if index["path"] is None:
        click.echo("index:     none yet")
    else:
        click.echo(
            f"index:     {index['documents']} documents, {index['segments']} segments, "
            f"{index['size_bytes'] / 1e6:.1f} MB, lag {index['lag']} changes ({index['lag_seconds']:g} s)"
        )
    for f in failing_alerts:
        click.echo(
            f"alert {f['alert']}: delivery failing ({f['failures']}x): {_shown(f['delivery'])}: "
            f"{f['last_error']} (retry at {f['retry_at']})"
        )
    click.echo(f"last scan: {data['last_scan'] or 'never'}; last reindex: {data['last_reindex'] or 'never'}")
    if index.get("built_at"):  # the nightly reindex skips an index that is up to date
        click.echo(f"index built: {index['built_at']}")
    if data["last_runs"]:
        click.echo("last runs:")
        for job, run in sorted(data["last_runs"].items()):
            click.echo(
                f"  {job}: started {run['started']}, ended {run['ended'] or '-'}, {run['outcome']}, "
                f"node {run['node'] or '-'}"
            )
    d = data["daemon"]
    if d["pid"]:
        watch = d["watch"]
        if d["unwatched"]:
            roots = "; ".join(f"inbox {root} not watched: {why}" for root, why in d["unwatched"].items())
            watch = f"{watch} (degraded: {roots}; scans every {d['scan_seconds']:g}s)"
        click.echo(
            f"daemon:    running (pid {d['pid']}, up {d['uptime_seconds']}s, watch {watch}, "
            f"{data['pending_files'] or 0} files settling, next reindex {data['next_reindex']})"
        )
    else:
        click.echo("daemon:    not running")


@cli.group("alerts")
def alerts_group() -> None:
    """Standing queries that fire on new documents: add, list, show, test, remove."""


def _alert_def(
    name: str,
    query: str,
    langs: tuple[str, ...],
    sources: tuple[str, ...],
    every_copy: bool,
    files: tuple[str, ...] = (),
    commands: tuple[str, ...] = (),
    webhooks: tuple[str, ...] = (),
) -> Any:
    from indexer.alerts.definitions import AlertDef, delivery

    deliveries = (
        [delivery("file", t) for t in files]
        + [delivery("exec", t) for t in commands]
        + [delivery("webhook", t) for t in webhooks]
    )
    return AlertDef(name, query, split_values(langs), split_values(sources), every_copy, tuple(deliveries))


def _alert_filters(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option(
                "--lang", "langs", multiple=True, metavar="CODE", help="only these languages (as search)"
            ),
            click.option(
                "--source", "sources", multiple=True, metavar="NAME", help="only these sources (as search)"
            ),
            click.option("--every-copy", is_flag=True, help="every copy of a story, not only the first"),
            click.option("--json", "as_json", is_flag=True, help="print JSON"),
        ]
    ):
        fn = option(fn)
    return fn


def _match_line(entry: dict[str, Any]) -> str:
    copies = (
        f"  +{len(entry['copies'])} copies: {', '.join(map(str, entry['copies']))}" if entry["copies"] else ""
    )
    return f"  {entry['id']:>7}  {_shown(entry['title'])[:70]}  [{entry['language']}]  {_shown(entry['path'])}{copies}"


@alerts_group.command("add")
@click.argument("name")
@click.argument("query")
@_alert_filters
@click.option("--file", "files", multiple=True, metavar="PATH", help="append one JSON line per match to PATH")
@click.option(
    "--exec", "commands", multiple=True, metavar="CMD", help="run CMD (by /bin/sh) with the match on stdin"
)
@click.option("--webhook", "webhooks", multiple=True, metavar="URL", help="POST the match's JSON to URL")
@click.option(
    "--backfill", metavar="SINCE", help="first deliver what it would have fired since then (7d, 2025-12)"
)
@_common
def alerts_add(
    state: State,
    name: str,
    query: str,
    langs: tuple[str, ...],
    sources: tuple[str, ...],
    every_copy: bool,
    as_json: bool,
    files: tuple[str, ...],
    commands: tuple[str, ...],
    webhooks: tuple[str, ...],
    backfill: str | None,
) -> None:
    """Store alert NAME (every node sees it): QUERY in the search syntax, and deliveries."""
    from indexer.alerts import manage

    alert = _alert_def(name, query, langs, sources, every_copy, files, commands, webhooks)
    since = manage.since_datetime(backfill)
    with _context(state) as ctx:
        counts = manage.add(ctx, alert, since)
    if as_json:
        _print_json({"format_version": FORMAT_VERSION, **alert.as_dict(), **counts})
        return
    click.echo(f"added alert {name}: {query}")
    if backfill:
        click.echo(
            f"backfill since {backfill}: {counts['backfilled']} notices, {counts['delivered']} delivered"
        )


@alerts_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@_common
def alerts_list(state: State, as_json: bool) -> None:
    """Every alert (config.toml's and the database's), with its deliveries' state."""
    from indexer.alerts import manage
    from indexer.alerts.definitions import load_alerts

    with _context(state, read_only=True) as ctx:
        data = [manage.describe(ctx, a) for a in load_alerts(ctx.config, ctx.db)]
    if as_json:
        _print_json({"format_version": FORMAT_VERSION, "alerts": data})
        return
    if not data:
        click.echo("no alerts (add one with `indexer alerts add`, or [[alerts]] in config.toml)")
    for a in data:
        filters = "".join(f" --lang {v}" for v in a["lang"]) + "".join(f" --source {v}" for v in a["source"])
        click.echo(
            f"{a['name']}  ({a['origin']})  {a['query']}{filters}"
            + ("  every copy" if a["every_copy"] else "")
        )
        for d in a["deliveries"]:
            state_text = f"{d['delivered']} delivered, {d['pending']} pending"
            if d["failures"]:
                state_text += f", failing ({d['failures']}x): {d['last_error']}"
            click.echo(f"  {_shown(d['delivery'])}: {state_text}")


@alerts_group.command("show")
@click.argument("name")
@click.option(
    "-n",
    "--limit",
    type=click.IntRange(1, 10_000),
    default=20,
    show_default=True,
    help="recent notices to show",
)
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@_common
def alerts_show(state: State, name: str, limit: int, as_json: bool) -> None:
    """An alert's recent notices (with the copies folded into them) and deliveries."""
    from indexer.alerts import manage

    with _context(state, read_only=True) as ctx:
        data = manage.describe(ctx, manage.find(ctx, name), recent=limit)
    if as_json:
        _print_json({"format_version": FORMAT_VERSION, **data})
        return
    click.echo(f"{data['name']}  ({data['origin']})  {data['query']}")
    for d in data["deliveries"]:
        line = f"  {_shown(d['delivery'])}: {d['delivered']} delivered, {d['pending']} pending"
        if d["failures"]:
            line += f"; failing ({d['failures']}x, retry at {d['retry_at']}): {d['last_error']}"
        click.echo(line)
    click.echo(f"recent notices ({len(data['recent'])}):" if data["recent"] else "no notices yet")
    for entry in data["recent"]:
        click.echo(_match_line(entry))


@alerts_group.command("remove")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@_common
def alerts_remove(state: State, name: str, as_json: bool) -> None:
    """Remove stored alert NAME with its record of matches."""
    from indexer.alerts import manage

    with _context(state) as ctx:
        manage.remove(ctx, name)
    if as_json:
        _print_json({"format_version": FORMAT_VERSION, "removed": name})
        return
    click.echo(f"removed alert {name}")


@alerts_group.command("test")
@click.argument("query")
@_alert_filters
@click.option(
    "--since", metavar="SINCE", help="documents ingested since then (7d, 2w, 2025-12-03); default all"
)
@_common
def alerts_test(
    state: State,
    query: str,
    langs: tuple[str, ...],
    sources: tuple[str, ...],
    every_copy: bool,
    as_json: bool,
    since: str | None,
) -> None:
    """Dry run: what an alert on QUERY would have fired, one notice per story."""
    from indexer.alerts import manage

    alert = _alert_def("test", query, langs, sources, every_copy)
    with _context(state, read_only=True) as ctx:
        found = manage.test(ctx, alert, manage.since_datetime(since))
    if as_json:
        _print_json({"format_version": FORMAT_VERSION, "query": query, "since": since, "notices": found})
        return
    click.echo(f"{len(found)} notices for {query!r}" + (f" since {since}" if since else ""))
    for entry in found:
        click.echo(_match_line(entry))


@cli.command("export")
@click.argument("query", nargs=-1)
@click.option("--all", "export_all", is_flag=True, help="every document (no QUERY)")
@click.option("--lang", "langs", multiple=True, metavar="CODE", help="only these languages (as search)")
@click.option("--source", "sources", multiple=True, metavar="NAME", help="only these sources (as search)")
@click.option("--since", callback=_date_value, metavar="DATE", help="dated from this day (as search)")
@click.option("--until", callback=_date_value, metavar="DATE", help="dated through this day (as search)")
@click.option("--path", "path_glob", metavar="GLOB", help="only paths matching this glob (as search)")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv"]),
    default="jsonl",
    show_default=True,
    help="one JSON object per line, or CSV with a header row",
)
@click.option("--fields", metavar="A,B", help="only these fields, in this order (default: all but the text)")
@click.option(
    "--with-text", is_flag=True, help="the normalized text too (an export `indexer import` can read)"
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="write to FILE, not stdout"
)
@_common
def export(
    state: State,
    query: tuple[str, ...],
    export_all: bool,
    langs: tuple[str, ...],
    sources: tuple[str, ...],
    since: str | None,
    until: str | None,
    path_glob: str | None,
    fmt: str,
    fields: str | None,
    with_text: bool,
    output: Path | None,
) -> None:
    """Every document QUERY matches (or --all), in id order: metadata, cluster, text."""
    from indexer import archive
    from indexer.search.engine import SearchOptions

    filtered = bool(langs or sources or since or until or path_glob)
    if export_all == bool(query):
        raise click.UsageError("give a QUERY or --all")
    text = " ".join(query) if query else ("*" if filtered else None)
    chosen = archive.check_fields(
        [f.strip() for f in fields.split(",") if f.strip()] if fields else None, with_text, fmt
    )
    options = SearchOptions(
        langs=split_values(langs),
        sources=split_values(sources),
        since=since,
        until=until,
        path=path_glob,
        snippets=False,
        collapse=False,
    )
    with _context(state, read_only=True) as ctx:
        ids = archive.export_ids(ctx, text, options)
        total = len(ids) if ids is not None else None
        target = output.with_name(output.name + ".part") if output else None
        out = open(target, "w", encoding="utf-8", newline="") if target else sys.stdout  # noqa: SIM115
        try:
            with _bar("exporting") as bar:

                def advance(n: int, done: list[int] = [0]) -> None:  # noqa: B006 (a counter)
                    done[0] += n
                    if bar is not None:
                        bar(done[0], total or done[0])

                count = archive.write(archive.records(ctx, ids, chosen), chosen, fmt, out, advance)
        except BaseException:
            if target:
                out.close()
                target.unlink(missing_ok=True)
            raise
        if target and output:
            out.close()
            os.replace(target, output)  # whole or not at all: a backup is never half a file
    if output:
        _err(f"exported {count} documents to {output}")


@cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@_common
def import_(state: State, file: Path, as_json: bool) -> None:
    """Store the documents of an export made with --with-text (JSON lines), and index them."""
    from indexer import archive

    with _context(state) as ctx, open(file, encoding="utf-8") as lines, _progress("importing") as advance:
        result = archive.import_records(ctx, archive.read_jsonl(lines, str(file)), advance)
    if as_json:
        _print_json({"format_version": FORMAT_VERSION, **result.as_dict()})
        return
    click.echo(f"imported {result.records} records: {result.documents} documents, {result.paths} paths")


def _failing_alerts(ctx: Context) -> list[dict[str, Any]]:
    from indexer.alerts import manage

    return manage.failing(ctx)


@cli.group("db")
def db_group() -> None:
    """The database schema: see its revision, upgrade it (Alembic migrations)."""


@contextmanager
def _schema(state: State, read_only: bool = False) -> Iterator[Any]:
    """The configured database, opened without creating or checking its schema
    (``read_only``: without creating the data dir or the SQLite file either)."""
    from indexer.db.session import open_database

    cfg = _load_config(state)
    _setup_logging(state, cfg, read_only=read_only)
    try:
        database = open_database(
            cfg.database_url,
            cfg.data_dir,
            cfg.database.busy_timeout_seconds,
            create=False,
            read_only=read_only,
        )
    except MissingDatabaseError as e:
        raise MissingDatabaseError(_no_database(cfg, str(e))) from None
    try:
        yield database
    finally:
        database.dispose()


@db_group.command("upgrade")
@_common
def db_upgrade(state: State) -> None:
    """Migrate the database schema to this program's revision (creates a fresh database).

    Safe to run while daemons use the database; one upgrade runs at a time.
    """
    with _schema(state) as database:
        before = database.upgrade()
    if before.current == before.head:
        click.echo(f"database schema: {before.head} (up to date)")
    else:
        click.echo(f"database schema: {before.current or 'none'} -> {before.head}")


@db_group.command("downgrade")
@click.argument("revision")
@_common
def db_downgrade(state: State, revision: str) -> None:
    """Migrate the database schema back to REVISION, for an older release of indexer
    (`indexer db current` shows the revision in use). Stop the daemons first."""
    with _schema(state) as database:
        before = database.downgrade(revision)
    click.echo(f"database schema: {before.current or 'none'} -> {revision}")


@db_group.command("current")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@_common
def db_current(state: State, as_json: bool) -> None:
    """The database's schema revision and the one this program needs; exit 1 if they differ."""
    with _schema(state, read_only=True) as database:
        schema = database.schema_state()
    if as_json:
        _print_json(
            {
                "format_version": FORMAT_VERSION,
                "current": schema.current,
                "head": schema.head,
                "up_to_date": schema.up_to_date,
            }
        )
    else:
        click.echo(f"database schema: {schema.current or 'none'}; this program needs: {schema.head}")
        if not schema.up_to_date:
            click.echo("run `indexer db upgrade`")
    if not schema.up_to_date:
        sys.exit(1)


def main(
    argv: list[str] | None = None, *, ask_server: bool = True, raised: IndexerError | None = None
) -> None:
    """The error boundary: one line per error, tracebacks only with --verbose.

    ``ask_server=False``: a search does not ask the daemon's search server (the caller just
    did, and nothing answered). ``raised``: the error the search server answered the
    caller's search with (indexer/__main__.py), reported as if the command had raised it.
    """
    verbose = "-v" in (argv or sys.argv[1:]) or "--verbose" in (argv or sys.argv[1:])
    # The database and the index hold the archive's text: not for other users' eyes.
    os.umask(os.umask(0) | 0o077)
    try:
        if raised is not None:
            raise raised
        cli.main(args=argv, prog_name="indexer", standalone_mode=False, obj=State(ask_server))
    except click.exceptions.Abort:
        _err("aborted")
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except QueryError as e:
        if verbose:
            raise
        _err(str(e) + (f" (hint: {e.hint})" if e.hint else ""))
        sys.exit(e.exit_code)
    except IndexerError as e:
        if verbose:
            raise
        _err(f"indexer: {e}")
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        # Quiet when piped into `head`: point stdout at devnull so the exit flush is silent.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except OSError as e:
        if verbose:
            raise
        if e.errno in (errno.ENOSPC, errno.EFBIG):
            _err(f"indexer: write failed: {e.strerror} (is the disk full?)")
        else:
            _err(f"indexer: {e.strerror or e}" + (f": {e.filename}" if e.filename else ""))
        sys.exit(1)
    except Exception as e:
        if verbose:
            raise
        _err(f"indexer: unexpected error: {type(e).__name__}: {e} (run with --verbose for details)")
        sys.exit(1)
