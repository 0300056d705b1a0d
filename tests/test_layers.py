"""The package's layers: arrows point down. db/ persists and never imports ingest/ (which
decides); search/ never imports the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "indexer"


def _imports() -> dict[str, set[str]]:
    """module -> the indexer modules it imports, anywhere in it (at the top, in a function,
    under TYPE_CHECKING: each is an arrow a reader has to follow)."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        package = module if parts[-1] == "__init__" else module.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(
                        package.split(".")[: len(package.split(".")) - node.level + 1]
                        + ([base] if base else [])
                    )
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in node.names)
        graph[module] = {name for name in found if name == "indexer" or name.startswith("indexer.")}
    return graph


def _arrows(source: str, target: str) -> list[str]:
    def within(name: str, package: str) -> bool:
        return name == package or name.startswith(package + ".")

    return sorted(
        f"{module} -> {name}"
        for module, names in _imports().items()
        if within(module, source)
        for name in names
        if within(name, target)
    )


def test_the_import_walk_sees_arrows() -> None:
    graph = _imports()
    assert "indexer.db.models" in graph["indexer.db.batch"]
    assert "indexer.ingest.cluster" in graph["indexer.ingest.outcomes"]
    assert "indexer.db.lines" in graph["indexer.ingest.learned"]  # imported in a function
    assert _arrows("indexer.ingest", "indexer.db")


def test_db_never_imports_ingest() -> None:
    assert _arrows("indexer.db", "indexer.ingest") == []


def test_search_never_imports_the_cli() -> None:
    assert _arrows("indexer.search", "indexer.cli") == []
