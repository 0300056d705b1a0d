"""Schema migrations on SQLite and PostgreSQL: a fresh database, an older one, a newer one."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, create_engine, inspect, select, text

from indexer.db import session as db_session
from indexer.db.models import Base, Counter, Meta
from indexer.db.session import Database, open_database
from indexer.errors import SchemaError
from tests.conftest import Project, postgres_database, write_config

HEAD = db_session.head_revision()

# A second revision that exists only in a test's copy of the migrations folder: the
# package itself never holds it.
EXTRA_REVISION = '''"""A test-only revision: one more table."""

import sqlalchemy as sa
from alembic import op

revision = "9999_test_extra"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("test_extra", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("test_extra")
'''


def _url(database_url: str, tmp_path: Path) -> str:
    return database_url or f"sqlite:///{tmp_path / 'var' / 'indexer.db'}"


def _open(database_url: str, tmp_path: Path, **kwargs: object) -> Database:
    return open_database(_url(database_url, tmp_path), tmp_path / "var", **kwargs)  # type: ignore[arg-type]


NOW = datetime(2026, 11, 26, tzinfo=UTC)


def _insert_document(conn: Connection, doc_id: int, **columns: object) -> None:
    """A document row (and its file) as an older schema holds it: the required columns,
    plus ``columns`` for what differs between schema versions (body, fingerprint, ...)."""
    row = {
        "id": doc_id,
        "seq": doc_id,
        "path": f"/in/{doc_id}.txt",
        "sha256": "x",
        "size": 1,
        "mtime_ns": 1,
        "body_sha256": f"{doc_id:064d}",
        "encoding": "utf-8",
        "repaired": False,
        "language": "en",
        "language_prob": 1.0,
        "languages": "",
        "title": "t",
        "word_count": 1,
        "char_count": 1,
        "paragraph_count": 1,
        "summary": "",
        "removed": "[]",
        "flags": "",
        "normalizer_version": 2,
        "ingested_at": NOW,
        "updated_at": NOW,
        **columns,
    }
    conn.execute(
        text(f"INSERT INTO documents ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})"), row
    )
    # Files refer to documents: SQLite's table rebuilds must not trip the foreign key.
    conn.execute(
        text(
            "INSERT INTO files (path, document_id, size, mtime_ns, sha256, seen_at)"
            " VALUES (:path, :id, 1, 1, 'x', :now)"
        ),
        {"id": doc_id, "path": row["path"], "now": NOW},
    )


@pytest.fixture
def newer_program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """This program, as if its next release had one more migration (in a tmp copy)."""
    copy = tmp_path / "migrations"
    shutil.copytree(db_session.MIGRATIONS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "versions" / "9999_test_extra.py").write_text(EXTRA_REVISION.replace("{head}", HEAD))
    monkeypatch.setattr(db_session, "MIGRATIONS_DIR", copy)
    db_session._script.cache_clear()
    yield copy
    monkeypatch.undo()
    db_session._script.cache_clear()


def test_a_fresh_database_is_made_by_the_migrations_and_matches_the_models(
    tmp_path: Path, database_url: str
) -> None:
    db = _open(database_url, tmp_path)
    try:
        assert db.schema_state().current == HEAD
        with db.engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
            assert diff == [], diff
            tables = set(inspect(conn).get_table_names())
        assert {
            "documents",
            "files",
            "doc_bands",
            "doc_lines",
            "learned_lines",
            "claims",
            "failures",
            "job_runs",
            "counters",
            "meta",
        } <= tables
        with db.read() as session:
            assert session.scalar(select(Counter.value).where(Counter.name == "seq")) == 0
            assert session.scalar(select(Meta.value).where(Meta.key == "schema_version")) == "1"
    finally:
        db.dispose()
    assert not (db_session.MIGRATIONS_DIR / "versions" / "9999_test_extra.py").exists()


def test_an_older_database_is_refused_or_upgraded_with_auto_migrate(
    tmp_path: Path, database_url: str, newer_program: Path
) -> None:
    db = _open(database_url, tmp_path, create=False)
    db.upgrade(HEAD)  # made by the release before
    db.dispose()
    with pytest.raises(SchemaError) as refused:
        _open(database_url, tmp_path)
    assert str(refused.value) == (
        f"database schema is at {HEAD}, this program needs 9999_test_extra: run `indexer db upgrade`"
    )
    db = _open(database_url, tmp_path, auto_migrate=True)
    try:
        assert db.schema_state().current == "9999_test_extra"
        with db.engine.connect() as conn:
            assert inspect(conn).has_table("test_extra")
    finally:
        db.dispose()


def test_a_database_newer_than_the_program_is_refused(
    tmp_path: Path, database_url: str, newer_program: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = _open(database_url, tmp_path)  # made by the newer release
    db.dispose()
    monkeypatch.undo()
    db_session._script.cache_clear()
    with pytest.raises(
        SchemaError, match=rf"schema is at 9999_test_extra, newer than this program \({HEAD}\)"
    ):
        _open(database_url, tmp_path, auto_migrate=True)


def test_several_processes_creating_one_database_at_once(tmp_path: Path, database_url: str) -> None:
    errors: list[BaseException] = []

    def start() -> None:
        try:
            _open(database_url, tmp_path).dispose()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    db = _open(database_url, tmp_path)
    try:
        with db.read() as session:
            assert session.scalar(select(Counter.value).where(Counter.name == "seq")) == 0
    finally:
        db.dispose()


def test_a_database_from_before_migrations_is_adopted(tmp_path: Path, database_url: str) -> None:
    """create_all made it, without claims and doc_bands (as early versions did): the
    first revision adds the missing tables, keeps the data and stamps it."""
    engine = create_engine(_url(database_url, tmp_path))
    (tmp_path / "var").mkdir(exist_ok=True)
    old = [t for t in Base.metadata.sorted_tables if t.name not in ("claims", "doc_bands")]
    Base.metadata.create_all(engine, tables=old)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO counters (name, value) VALUES ('seq', 41)"))
        conn.execute(text("INSERT INTO meta (key, value) VALUES ('schema_version', '1')"))
    engine.dispose()
    db = _open(database_url, tmp_path)
    try:
        assert db.schema_state().current == HEAD
        with db.read() as session:
            assert session.scalar(select(Counter.value).where(Counter.name == "seq")) == 41
        with db.engine.connect() as conn:
            assert inspect(conn).has_table("claims") and inspect(conn).has_table("doc_bands")
    finally:
        db.dispose()


def _cli_with_newer_program(
    project: Project, migrations: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """The real CLI in its own process, its migrations folder pointed at the tmp copy."""
    code = (
        "import sys; from pathlib import Path; import indexer.db.session as s; "
        f"s.MIGRATIONS_DIR = Path({str(migrations)!r}); "
        "from indexer.cli import main; main(sys.argv[1:])"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=project.root,
        env=project.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def pg_project(tmp_path: Path) -> Iterator[Project]:
    with postgres_database() as url:
        (tmp_path / "inbox").mkdir()
        write_config(tmp_path)
        yield Project(tmp_path, url)


def test_cli_refuses_an_older_database_in_one_line_until_db_upgrade(
    pg_project: Project, newer_program: Path
) -> None:
    """On PostgreSQL here; the same logic on SQLite is covered in-process above."""
    project = pg_project
    project.write("a.txt", "Harbour plan approved\n\nThe council approved the harbour plan on Monday.\n")
    assert "1 added" in project.run("ingest", "inbox").stdout  # the release before made it
    refused = _cli_with_newer_program(project, newer_program, "status")
    assert refused.returncode == 1, refused.stderr
    assert refused.stderr.strip() == (
        f"indexer: database schema is at {HEAD}, this program needs 9999_test_extra: run `indexer db upgrade`"
    )
    current = _cli_with_newer_program(project, newer_program, "db", "current")
    assert current.returncode == 1
    assert f"database schema: {HEAD}; this program needs: 9999_test_extra" in current.stdout
    upgraded = _cli_with_newer_program(project, newer_program, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.strip() == f"database schema: {HEAD} -> 9999_test_extra"
    status = _cli_with_newer_program(project, newer_program, "status", "--json")
    assert status.returncode == 0 and '"documents": 1' in status.stdout
    # The older program now meets a newer database: one line, exit 1, nothing touched.
    newer = project.run("status", check=False)
    assert newer.returncode == 1
    assert newer.stderr.strip() == (
        f"indexer: database schema is at 9999_test_extra, newer than this program ({HEAD}): upgrade indexer"
    )


def test_auto_migrate_upgrades_at_start(project: Project, newer_program: Path) -> None:
    """On SQLite here; auto_migrate on PostgreSQL is covered in-process above."""
    assert project.run("db", "upgrade").stdout.strip() == f"database schema: none -> {HEAD}"
    project.config.write_text(project.config.read_text() + "\n[database]\nauto_migrate = true\n")
    proc = _cli_with_newer_program(project, newer_program, "status")
    assert proc.returncode == 0, proc.stderr
    db = open_database(
        project.database_url or f"sqlite:///{project.data / 'indexer.db'}", project.data, create=False
    )
    try:
        assert db.schema_state().current == "9999_test_extra"
    finally:
        db.dispose()


def test_bodies_survive_the_compression_migration_both_ways(tmp_path: Path, database_url: str) -> None:
    """0002 moves every body into zlib form and back, in batches, on both databases."""
    from indexer.db.models import Document

    db = _open(database_url, tmp_path, create=False)
    db.upgrade("0001_initial")
    bodies = [f"Paragraph {i}: Grüße aus Köln, 東京 — {'naïve text ' * i}" for i in range(1, 2503, 100)]
    with db.engine.begin() as conn:
        for i, body in enumerate(bodies, 1):
            _insert_document(conn, i, body=body)
    db.upgrade()
    with db.read() as session:
        assert [d.body for d in session.scalars(select(Document).order_by(Document.id))] == bodies
    db.downgrade("0001_initial")  # and back: the text column holds the same texts
    with db.engine.connect() as conn:
        assert [row[0] for row in conn.execute(text("SELECT body FROM documents ORDER BY id"))] == bodies
    db.dispose()


def test_fingerprints_and_band_keys_are_rebuilt_compact_both_ways(tmp_path: Path, database_url: str) -> None:
    """0004: hex fingerprints become raw bytes, band keys integers recomputed from them
    (tombstones keep none), and a downgrade gives back the hex and the old keys."""
    from indexer.db.models import DocBand, Document
    from indexer.ingest.fingerprint import band_keys, fingerprint

    db = _open(database_url, tmp_path, create=False)
    db.upgrade("0003_learned_lines")
    texts = [
        f"Story {i}: the harbour board met again to discuss the ferry timetable and fares {i}."
        for i in range(3)
    ]
    signatures = [fingerprint(t * 3) for t in texts]
    with db.engine.begin() as conn:
        for i, signature in enumerate(signatures, 1):
            _insert_document(
                conn,
                i,
                body_zlib=zlib.compress(b"x"),
                fingerprint=signature.hex(),
                deleted_at=NOW if i == 3 else None,
            )
    db.upgrade("0004_compact_bands")
    with db.read() as session:  # the columns of that revision, not the whole model's
        assert list(session.scalars(select(Document.fingerprint).order_by(Document.id))) == signatures
        rows = session.execute(select(DocBand.document_id, DocBand.band, DocBand.key)).all()
    assert sorted(rows) == sorted(
        (i, b, k) for i in (1, 2) for b, k in enumerate(band_keys(signatures[i - 1]))
    )
    db.downgrade("0003_learned_lines")
    with db.engine.connect() as conn:
        assert [r[0] for r in conn.execute(text("SELECT fingerprint FROM documents ORDER BY id"))] == [
            s.hex() for s in signatures
        ]
        assert conn.execute(text("SELECT count(*) FROM doc_bands")).scalar() == 2 * 21
    db.dispose()


def test_band_rows_lose_their_document_index_and_tombstones_rows(tmp_path: Path, database_url: str) -> None:
    """0005: doc_bands rows are deleted by primary key (recomputed from fingerprints), so
    the document_id index goes, and with it the rows a tombstone kept; a downgrade brings
    the index back."""
    from indexer.db.models import DocBand
    from indexer.ingest.fingerprint import band_keys, fingerprint

    def band_indexes() -> set[str]:
        with db.engine.connect() as conn:
            return {i["name"] for i in inspect(conn).get_indexes("doc_bands")}

    db = _open(database_url, tmp_path, create=False)
    db.upgrade("0004_compact_bands")
    signatures = [fingerprint(f"Story {i}: the harbour board met about ferry fares. " * 3) for i in range(2)]
    with db.engine.begin() as conn:
        for i, signature in enumerate(signatures, 1):
            _insert_document(
                conn,
                i,
                body_zlib=zlib.compress(b"x"),
                fingerprint=signature,
                deleted_at=NOW if i == 2 else None,
            )  # tombstoned by verify --repair
            conn.execute(
                text("INSERT INTO doc_bands (band, key, document_id) VALUES (:band, :key, :doc_id)"),
                [{"band": b, "key": k, "doc_id": i} for b, k in enumerate(band_keys(signature))],
            )
    assert "ix_doc_bands_document_id" in band_indexes()
    db.upgrade("0005_lean_keys")
    with db.read() as session:
        rows = session.execute(select(DocBand.document_id, DocBand.band, DocBand.key)).all()
    assert sorted(rows) == [(1, b, k) for b, k in enumerate(band_keys(signatures[0]))]
    assert "ix_doc_bands_document_id" not in band_indexes()
    db.downgrade("0004_compact_bands")
    assert "ix_doc_bands_document_id" in band_indexes()
    db.dispose()


def test_fingerprints_are_recomputed_from_the_texts_both_ways(tmp_path: Path, database_url: str) -> None:
    """0006: every fingerprint is made anew from its document's text by the faster
    function, doc_bands filled from them (tombstones keep none, a text too short has no
    fingerprint); a downgrade makes the old fingerprints again."""
    from indexer.db.models import DocBand, Document
    from indexer.ingest.fingerprint import band_keys, fingerprint

    texts = [
        f"Story {i}: the harbour board met again to discuss the ferry timetable, the fares and the new quay {i}."
        for i in range(3)
    ] + ["Too short."]
    # The first 12 bytes of the old (hashlib, modulo a prime) fingerprints of texts 0-2.
    old = ["26ba42a9015f57bd04565029", "26ba42a9015f57bd04565029", "00d87e08015f57bd04565029"]
    db = _open(database_url, tmp_path, create=False)
    db.upgrade("0005_lean_keys")
    with db.engine.begin() as conn:
        for i, body in enumerate(texts, 1):
            stale = bytes.fromhex(old[i - 1]) + bytes(244) if i <= 3 else None
            _insert_document(
                conn,
                i,
                body_zlib=zlib.compress(body.encode()),
                fingerprint=stale,
                deleted_at=NOW if i == 3 else None,
            )
        conn.execute(
            text("INSERT INTO doc_bands (band, key, document_id) VALUES (0, 7, 1)")
        )  # made by the old one
    db.upgrade()
    signatures = [fingerprint(t) for t in texts]
    assert signatures[3] is None and all(signatures[:3])
    with db.read() as session:
        assert [d.fingerprint for d in session.scalars(select(Document).order_by(Document.id))] == signatures
        rows = session.execute(select(DocBand.document_id, DocBand.band, DocBand.key)).all()
    assert sorted(rows) == sorted(
        (i, b, k) for i in (1, 2) for b, k in enumerate(band_keys(signatures[i - 1]))
    )
    db.downgrade("0005_lean_keys")
    with db.engine.connect() as conn:
        made = [r[0] for r in conn.execute(text("SELECT fingerprint FROM documents ORDER BY id"))]
    assert [bytes(m)[:12].hex() for m in made[:3]] == old and made[3] is None
    db.dispose()


def test_line_keys_become_raw_bytes_and_back(tmp_path: Path, database_url: str) -> None:
    """0005: doc_lines and learned_lines keep the 16 bytes their hex keys spell (the
    document's own row keeps its empty key); counting and the stale-document query work
    on them; a downgrade gives back the hex and the furniture index."""
    from indexer.db import lines
    from indexer.db.models import DocLine
    from indexer.ingest.boilerplate import group_key, line_key

    group, masthead, footer = group_key("folder:/in"), line_key("The Daily Bugle"), line_key("Call the desk")
    db = _open(database_url, tmp_path, create=False)
    db.upgrade("0004_compact_bands")
    with db.engine.begin() as conn:
        for i in (1, 2):
            _insert_document(conn, i, body_zlib=zlib.compress(b"x"))
            for key, furniture in ((b"", False), (masthead, i == 1), (footer, False)):
                conn.execute(
                    text(
                        "INSERT INTO doc_lines (document_id, line_key, group_key, furniture)"
                        " VALUES (:doc_id, :key, :group, :furniture)"
                    ),
                    {"doc_id": i, "key": key.hex(), "group": group.hex(), "furniture": furniture},
                )
        conn.execute(
            text(
                "INSERT INTO learned_lines (group_key, line_key, group_name, text, documents,"
                " group_documents, learned_at) VALUES (:group, :key, 'folder:/in', 'Call the desk',"
                " 2, 2, :now)"
            ),
            {"group": group.hex(), "key": footer.hex(), "now": NOW},
        )
    db.upgrade()
    with db.read() as session:
        rows = session.execute(select(DocLine.document_id, DocLine.line_key, DocLine.group_key)).all()
        assert sorted(rows) == sorted((i, k, group) for i in (1, 2) for k in (b"", masthead, footer))
        sizes, frequent = lines.count_lines(session, 2)
        assert (sizes, sorted(frequent)) == ({group: 2}, sorted([(group, footer, 2), (group, masthead, 2)]))
        assert lines.learned_rules(session) == {group: frozenset({footer})}
        # Document 1 took the masthead for furniture, no longer learned; both kept the footer.
        assert lines.stale_furniture_documents(session, 0, 10) == [(1, "/in/1.txt"), (2, "/in/2.txt")]
    with db.engine.connect() as conn:
        assert {i["name"] for i in inspect(conn).get_indexes("doc_lines")} == {"ix_doc_lines_group_line"}
    db.downgrade("0004_compact_bands")
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT document_id, line_key, group_key FROM doc_lines")).all()
        hex_rows = [(i, k.hex(), group.hex()) for i in (1, 2) for k in (b"", masthead, footer)]
        assert sorted(rows) == sorted(hex_rows)
        learned = conn.execute(text("SELECT group_key, line_key FROM learned_lines")).all()
        assert learned == [(group.hex(), footer.hex())]
        assert "ix_doc_lines_furniture" in {i["name"] for i in inspect(conn).get_indexes("doc_lines")}
    db.dispose()


def test_job_runs_gain_the_node_that_ran_them_and_lose_it_again(tmp_path: Path, database_url: str) -> None:
    """0007: job_runs.node, NULL for the runs recorded before; a downgrade drops the column
    and keeps the runs."""
    from indexer.db.models import JobRun

    def columns() -> set[str]:
        with db.engine.connect() as conn:
            return {c["name"] for c in inspect(conn).get_columns("job_runs")}

    db = _open(database_url, tmp_path, create=False)
    db.upgrade("0006_fast_fingerprints")
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO job_runs (job, started_at, ended_at, outcome, counts)"
                " VALUES ('scan', :now, :now, 'ok', '{}')"
            ),
            {"now": NOW},
        )
    assert "node" not in columns()
    db.upgrade("0007_job_run_node")
    with db.write() as session:
        assert [(r.job, r.node) for r in session.scalars(select(JobRun))] == [("scan", None)]
        session.add(JobRun(job="verify", started_at=NOW, node="host:/var/lib/indexer"))
    db.downgrade("0006_fast_fingerprints")
    assert "node" not in columns()
    with db.engine.connect() as conn:
        assert [r[0] for r in conn.execute(text("SELECT job FROM job_runs ORDER BY id"))] == [
            "scan",
            "verify",
        ]
    db.dispose()


def test_documents_gain_how_title_and_date_were_found_and_lose_it_again(
    tmp_path: Path, database_url: str
) -> None:
    """0009: documents.title_derived (false for those stored before) and date_source (NULL:
    not known); a downgrade drops both and keeps the documents."""
    from indexer.db.models import Document

    def columns() -> set[str]:
        with db.engine.connect() as conn:
            return {c["name"] for c in inspect(conn).get_columns("documents")}

    db = _open(database_url, tmp_path, create=False)
    db.upgrade("0007_job_run_node")
    with db.engine.begin() as conn:
        _insert_document(conn, 1, body_zlib=zlib.compress(b"Headline\n\nText."), published=date(2025, 12, 3))
    assert not {"title_derived", "date_source"} & columns()
    db.upgrade("0009_title_derived")
    with db.write() as session:
        doc = session.get(Document, 1)
        assert doc is not None and (doc.title_derived, doc.date_source) == (False, None)
        doc.title_derived, doc.date_source = True, "text line"
    with db.read() as session:
        assert session.execute(select(Document.title_derived, Document.date_source)).one() == (
            True,
            "text line",
        )
    db.downgrade("0007_job_run_node")
    assert not {"title_derived", "date_source"} & columns()
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT title FROM documents")).scalar() == "t"
    db.dispose()


def test_db_downgrade_command_goes_back_and_upgrade_returns(project: Project) -> None:
    project.write("a.txt", "Harbour report\n\nThe ferry timetable changes on Monday for the winter.\n")
    project.run("ingest", "inbox")
    back = project.run("db", "downgrade", "0003_learned_lines")
    assert back.stdout.strip() == f"database schema: {HEAD} -> 0003_learned_lines"
    refused = project.run("status", check=False)
    assert refused.returncode != 0 and "indexer db upgrade" in refused.stderr
    assert "Traceback" not in refused.stderr
    project.run("db", "upgrade")
    assert project.json("search", "ferry")["total"] == 1
    unknown = project.run("db", "downgrade", "nonsense", check=False)
    assert unknown.returncode != 0 and unknown.stderr.count("\n") == 1, unknown.stderr
    assert "no schema revision 'nonsense'" in unknown.stderr


def test_migration_0006_s_fingerprint_copy_is_the_program_s() -> None:
    """0006 recomputes fingerprints with its own copy of the function (a migration must not
    change when the program does): today the two must agree, on any text."""
    import importlib.util
    import random

    from indexer.ingest.fingerprint import fingerprint

    path = db_session.MIGRATIONS_DIR / "versions" / "0006_fast_fingerprints.py"
    spec = importlib.util.spec_from_file_location("migration_0006", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    rng = random.Random(6)
    alphabet = [
        "harbour",
        "Ferry",
        "élection",
        "Straße",
        "東京",
        "経済",
        "2025",
        "l'Élysée",
        "a",
        "the",
        "x_y",
    ]
    texts = ["", "one two", "one two three four five six seven"]
    texts += [" ".join(rng.choice(alphabet) for _ in range(rng.randint(1, 400))) for _ in range(200)]
    assert [migration._new(t) for t in texts] == [fingerprint(t) for t in texts]
    assert sum(fingerprint(t) is not None for t in texts) > 150
