"""A small fixed corpus for the search tests (real articles plus a few written here), and
a check that it builds as the other search tests expect.

Built once per test module: the files are ingested by the real CLI, then a few documents
get a publication date, a source and a near-duplicate cluster in the database (the
ingest does not extract these yet), and the index is rebuilt from the database.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from tests.conftest import CORPORA, Project, corpora_or_skip, write_config

NOTES = {
    "notes/harbour.txt": (
        "Harbour plan approved after long debate\n\n"
        "The city council approved the harbour plan on Monday after a long debate about interest "
        "rates and the cost of borrowing for the new quay. Councillors said the work would start in spring.\n"
    ),
    "notes/rail.txt": (
        "Rail strike ends as drivers return\n\n"
        "Train drivers returned to work after a week-long strike over pay. Union leaders said running "
        "the network safely came first and that talks would continue next month.\n"
    ),
    "notes/elysee.txt": (
        "Réunion des ministres à l'Élysée\n\n"
        "Le président de la République a réuni les ministres à l'Élysée mardi pour préparer les "
        "élections régionales de l'automne prochain. Plusieurs réformes économiques ont été discutées.\n"
    ),
    "notes/haeuser.txt": (
        "Neue Häuser am Stadtrand\n\n"
        "Die Stadtverwaltung plant den Bau von dreihundert neuen Häusern am Rand der Stadt, teilte der "
        "Bürgermeister am Dienstag mit. Die Wohnungen sollen bis zum Jahr 2027 fertig sein.\n"
    ),
    "notes/peking.txt": (
        "北京大学发布城市交通报告\n\n"
        "北京大学的研究人员周二发布了一份关于城市交通的新报告，报告指出地铁客流量持续增长，公交系统需要进一步改善。\n"
    ),
    "dups/volcano-1.txt": (
        "Volcano erupts on remote island\n\n"
        "A volcano erupted on the remote island overnight, sending ash high into the sky. Residents "
        "were moved to shelters and flights were cancelled across the region.\n"
    ),
    "dups/volcano-2.txt": (
        "Volcano erupts on remote island\n\n"
        "A volcano erupted on the remote island overnight, sending ash high into the sky. Residents "
        "were moved to shelters and flights were cancelled across the region. Officials said nobody was hurt.\n"
    ),
    "dups/volcano-3.txt": (
        "Volcano erupts on remote island\n\n"
        "A volcano erupted on the remote island late last night, sending ash high into the sky. Thousands "
        "of residents were moved to shelters and flights were cancelled across the region.\n"
    ),
    "dups/volcano-other.txt": (
        "Scientists warn of a new eruption\n\n"
        "Scientists monitoring the volcano on the island warned that a new eruption could follow within "
        "weeks, as ash and gas continued to rise from the crater and residents stayed in shelters.\n"
    ),
}

META = {
    "notes/harbour.txt": {"published": date(2025, 1, 15), "source": "Reuters"},
    "notes/rail.txt": {"published": date(2025, 6, 30), "source": "Associated Press"},
    "notes/elysee.txt": {"published": date(2025, 7, 1), "source": "AFP"},
    "notes/haeuser.txt": {"published": date(2024, 12, 3)},
    "dups/volcano-1.txt": {"cluster_id": 900},
    "dups/volcano-2.txt": {"cluster_id": 900},
    "dups/volcano-3.txt": {"cluster_id": 900},
}

REAL = ["multi/de/00001.txt", "multi/fr/00002.txt", "multi/zh/00001.txt", "multi/es/00001.txt"]
BBC_PER_CATEGORY = 6


def build(root: Path) -> Project:
    """Write, ingest and annotate the corpus under ``root``; return the project."""
    from sqlalchemy import select

    from indexer.db.models import Document
    from indexer.db.session import open_database
    from indexer.search.index import Generations

    corpora_or_skip("bbc")
    corpora_or_skip("multilingual")
    project = Project(root)
    project.inbox.mkdir(parents=True)
    write_config(root)
    for relative, text in NOTES.items():
        project.write(relative, text)
    for relative in REAL:
        source = CORPORA / "multilingual" / relative.removeprefix("multi/")
        target = project.inbox / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    for category in sorted(p.name for p in (CORPORA / "bbc").iterdir() if p.is_dir()):
        for source in sorted((CORPORA / "bbc" / category).glob("*.txt"))[:BBC_PER_CATEGORY]:
            target = project.inbox / "bbc" / category / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    subprocess.run(
        [sys.executable, "-m", "indexer", "ingest", str(project.inbox)],
        cwd=root,
        env=project.env(),
        check=True,
        capture_output=True,
        timeout=300,
    )
    db = open_database(f"sqlite:///{project.data / 'indexer.db'}", project.data, create=False)
    try:
        with db.write() as session:
            for relative, values in META.items():
                doc = session.scalars(
                    select(Document).where(Document.path == str(project.inbox / relative))
                ).one()
                for name, value in values.items():
                    setattr(doc, name, value)
        Generations(project.data).rebuild(db)
    finally:
        db.dispose()
    return project


def ids_by_path(project: Project) -> dict[str, int]:
    """relative path -> document id, from the database."""
    from sqlalchemy import select

    from indexer.db.models import Document
    from indexer.db.session import open_database

    db = open_database(f"sqlite:///{project.data / 'indexer.db'}", project.data, create=False)
    try:
        with db.read() as session:
            rows = session.execute(select(Document.path, Document.id)).all()
    finally:
        db.dispose()
    return {str(Path(path).relative_to(project.inbox)): doc_id for path, doc_id in rows}


_built: list[Project] = []


def shared(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """One corpus for every search test module of the session (searching does not change it)."""
    if not _built:
        _built.append(build(tmp_path_factory.mktemp("search_corpus")))
    return _built[0]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Project:
    return shared(tmp_path_factory)


def test_corpus_documents_carry_their_metadata_in_the_index(corpus: Project) -> None:
    from whoosh import index as whoosh_index

    ids = ids_by_path(corpus)
    assert len(ids) == len(NOTES) + len(REAL) + 5 * BBC_PER_CATEGORY
    ix = whoosh_index.open_dir(str(corpus.data / "index"), readonly=True)
    with ix.searcher() as searcher:
        harbour = searcher.document(id=str(ids["notes/harbour.txt"]))
        volcano = searcher.document(id=str(ids["dups/volcano-2.txt"]))
    ix.close()
    assert harbour["source"] == "Reuters" and harbour["published"].date() == date(2025, 1, 15)
    assert volcano["cluster"] == "900"
