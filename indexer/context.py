"""The Context every job runs in: config, database, index and ingester, opened once."""

from __future__ import annotations

from dataclasses import dataclass

from indexer.config import Config
from indexer.db.session import Database, open_database
from indexer.ingest.discover import Rules
from indexer.ingest.ingester import Ingester
from indexer.ingest.pipeline import AnalyzeOptions
from indexer.search.forms import IndexForm, index_form
from indexer.search.index import Generations

__all__ = ["FOLDER_MARKS", "INGEST_COMMIT_SECONDS", "Context", "open_context"]

# Which folder (device, inode) each inbox was when its files were last taken as they are.
FOLDER_MARKS = "inbox-folders.json"
# `indexer ingest` commits its index writer this often. Each commit is a segment, and each
# segment repeats the term dictionary: few commits keep the index small, and merging
# segments afterwards costs about as much CPU as indexing did.
INGEST_COMMIT_SECONDS = 30.0


@dataclass
class Context:
    """What every job needs, opened once at the edge from the config."""

    config: Config
    db: Database
    index: Generations
    ingester: Ingester
    read_only: bool = False  # opened for a command that only reads: a run it cannot record still runs

    def close(self) -> None:
        self.ingester.close()
        self.db.dispose()


def open_context(config: Config, read_only: bool = False, background: bool = False) -> Context:
    """``read_only``: create nothing (MissingDatabaseError when there is no database), and
    run jobs whose runs cannot be recorded (a read-only data dir, a full disk) all the same.
    ``background``: for the daemon, whose analysis workers run at ``ingest.worker_nice``."""
    db = open_database(
        config.database_url,
        config.data_dir,
        config.database.busy_timeout_seconds,
        auto_migrate=config.database.auto_migrate,
        read_only=read_only,
    )
    rules = Rules(
        include=tuple(config.paths.include),
        exclude=tuple(config.paths.exclude),
        follow_symlinks=config.paths.follow_symlinks,
        inboxes=tuple(str(p) for p in config.inbox_dirs),
    )
    options = AnalyzeOptions(
        min_words=config.ingest.min_words,
        language_min_chars=config.language.min_chars,
        language_min_probability=config.language.min_probability,
        allowed_languages=tuple(config.language.allowed),
        boilerplate_rules=tuple(config.ingest.boilerplate_rules),
        source_map=config.source_map,
        index_form=index_form,
    )
    # An `indexer ingest` holds the index writer up to INGEST_COMMIT_SECONDS between
    # commits: others wait that long on top of the busy timeout before giving up.
    index = Generations(config.data_dir, config.database.busy_timeout_seconds + INGEST_COMMIT_SECONDS)
    ingester = Ingester(
        db,
        rules,
        options,
        int(config.ingest.max_file_size_mb * 1_000_000),
        config.ingest.batch_size,
        workers=config.ingest.workers,
        near_threshold=config.ingest.near_duplicate_threshold,
        node=config.node_name,
        lease_seconds=config.database.claim_lease_seconds,
        inbox=config.inbox_dirs,
        marks_path=config.data_dir / FOLDER_MARKS,
        worker_nice=config.ingest.worker_nice if background else 0,
        on_stored=lambda stored: index.forms.put(
            (doc_id, a.index_form) for doc_id, a in stored if isinstance(a.index_form, IndexForm)
        ),
    )
    return Context(config, db, index, ingester, read_only)
