"""The fence around Whoosh's private names: search/_whoosh/ is the one place that uses
them, every one is listed here, and each must exist in the Whoosh installed.

A Whoosh release may rename or drop any of them; pyproject.toml pins the version, and
these tests say which name is gone before a search returns something wrong.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import warnings
from functools import cache
from importlib.metadata import version
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "indexer"
FENCE = PACKAGE / "search" / "_whoosh"

# Every private name of Whoosh that search/_whoosh/ uses, by the Whoosh class (or module)
# that has it: attributes and methods read, set or overridden.
WHOOSH_PRIVATES: dict[str, tuple[str, ...]] = {
    # postings.py: postings a block at a time; each document's length byte in a field
    "whoosh.codec.whoosh3:W3LeafMatcher": (
        "_read_ids",
        "_read_weights",
        "_ids",
        "_weights",
        "_i",
        "_next_block",
    ),
    "whoosh.reading:SegmentReader": ("_perdoc",),
    "whoosh.codec.whoosh3:W3PerDocReader": ("_cached_reader",),
    "whoosh.columns:FixedBytesColumn.Reader": ("_dbfile", "_basepos", "_count"),
    # bm25f.py: a field's own B
    "whoosh.scoring:BM25F": ("_field_B",),
    # collectors.py: the per-hit step of a scored collector
    "whoosh.collectors:TopCollector": ("_collect",),
    # phrase.py: the spans of a phrase's matcher
    "whoosh.query.spans:SpanNear2.SpanNear2Matcher": ("_get_spans",),
    # terms.py: the words a multi-term query stands for
    "whoosh.query:FuzzyTerm": ("_btexts",),
    # storage.py: the segments of an index; the buffer file a compound file's parts are
    "whoosh.index:FileIndex": ("_segments",),
    "whoosh.filedb.structfile:BufferFile": ("_buf", "_name"),
    # writer.py: the segment writer, its codec, field writer and posting blocks
    "whoosh.writing:SegmentWriter": (
        "_tempstorage",
        "_check_state",
        "_check_fields",
        "_added",
        "_flush_segment",
    ),
    "whoosh.codec.whoosh3:W3Codec": ("_blocklimit", "_compression", "_inlinelimit"),
    "whoosh.codec.whoosh3:W3FieldWriter": ("_create_file", "_postwriter"),
    "whoosh.codec.whoosh3:W3PostingsWriter": (
        "_write_block",
        "_new_block",
        "_blockcount",
        "_blocklimit",
        "_postfile",
        "_terminfo",
        "_compression",
        "_mini_ids",
        "_mini_weights",
        "_mini_values",
        "_ids",
        "_weights",
        "_values",
        "_maxweight",
        "_minlength",
        "_maxlength",
    ),
    "whoosh.filedb.structfile:StructFile": ("_name",),
}
# Module-level names search/_whoosh/ relies on beyond the public API: storage.py replaces
# compound.BufferFile; lighten.py stubs imports while these two modules load.
WHOOSH_MODULE_NAMES: dict[str, tuple[str, ...]] = {
    "whoosh.filedb.compound": ("BufferFile",),
    "whoosh.compat": (),
    "whoosh.reading": (),
}
# Private names search/_whoosh/ defines for itself (so a scan of its source can tell them
# from Whoosh's).
OWN = {
    "_view",
    "_pos",
    "_position",
    "_whoosh_only",
    "_prepared",
    "_terms",
    "_held",
    "_read_run",
    "_add_records",
    "_docset",
    "_lengths",
    "_lengths_of",
    "_length_cache",
    "_term_scores",
    "_stubs",
    "_urlretrieve",
}
# Whoosh's modules of its implementation: imported only inside search/_whoosh/.
PRIVATE_MODULES = (
    "whoosh.codec.whoosh3",
    "whoosh.filedb.compound",
    "whoosh.filedb.structfile",
    "whoosh.compat",
)

WHOOSH_VERSION = version("whoosh-reloaded")


def _resolve(owner: str) -> object:
    module_name, _, path = owner.partition(":")
    obj: object = importlib.import_module(module_name)
    for part in path.split(".") if path else ():
        obj = getattr(obj, part)
    return obj


def _mentions(cls: type, name: str) -> bool:
    """Whether ``cls`` has ``name``, as a class attribute or one its methods set or read on
    ``self`` (instance attributes exist only once an object is built)."""
    if hasattr(cls, name):
        return True
    pattern = re.compile(rf"\bself\.{re.escape(name)}\b")
    for klass in cls.__mro__:
        if klass is object:
            continue
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        if pattern.search(source):
            return True
    return False


@pytest.mark.parametrize(("owner", "name"), [(o, n) for o, names in WHOOSH_PRIVATES.items() for n in names])
def test_each_whoosh_private_name_used_exists(owner: str, name: str) -> None:
    try:
        cls = _resolve(owner)
    except (ImportError, AttributeError) as e:
        pytest.fail(f"whoosh-reloaded {WHOOSH_VERSION} has no {owner} ({e}); indexer/search/_whoosh/ uses it")
    assert isinstance(cls, type)
    assert _mentions(cls, name), (
        f"whoosh-reloaded {WHOOSH_VERSION}: {owner} has no {name}; indexer/search/_whoosh/ uses it "
        f"(pyproject.toml pins the version this code was written for)"
    )


@pytest.mark.parametrize("module_name", sorted(WHOOSH_MODULE_NAMES))
def test_each_whoosh_module_name_used_exists(module_name: str) -> None:
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        pytest.fail(
            f"whoosh-reloaded {WHOOSH_VERSION} has no module {module_name} ({e}); "
            "indexer/search/_whoosh/ uses it"
        )
    for name in WHOOSH_MODULE_NAMES[module_name]:
        assert hasattr(module, name), (
            f"whoosh-reloaded {WHOOSH_VERSION}: {module_name} has no {name}; indexer/search/_whoosh/ uses it"
        )


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _private_names_used(tree: ast.AST) -> set[str]:
    """Private attributes read or set, private methods defined, private names imported."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            found.add(node.attr)
        elif isinstance(node, ast.ClassDef):
            found.update(n.name for n in node.body if isinstance(n, ast.FunctionDef) and _private(n.name))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("whoosh"):
            found.update(a.name for a in node.names if _private(a.name))
    return found


def test_the_list_holds_every_private_name_the_subpackage_uses() -> None:
    listed = {n for names in WHOOSH_PRIVATES.values() for n in names} | OWN
    for path in sorted(FENCE.glob("*.py")):
        unlisted = _private_names_used(ast.parse(path.read_text(encoding="utf-8"))) - listed
        assert not unlisted, (
            f"{path.relative_to(REPO)} uses {sorted(unlisted)}: list each in WHOOSH_PRIVATES (Whoosh's, "
            "by the class that has it) or OWN (defined here)"
        )


@cache
def _defined_private_names(files: tuple[Path, ...]) -> frozenset[str]:
    """Private names these files define: functions and methods, names assigned at module or
    class level, attributes set on ``self``."""
    names: set[str] = set()
    for path in files:
        with warnings.catch_warnings():  # Whoosh's source has escapes Python now warns of
            warnings.simplefilter("ignore", SyntaxWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and _private(
                node.name
            ):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and _private(node.id):
                names.add(node.id)
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Store)
                and _private(node.attr)
                and isinstance(node.value, ast.Name)
                and node.value.id == "self"
            ):
                names.add(node.attr)
    return frozenset(names)


def _outside_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if FENCE not in p.parents)


def _whoosh_names() -> frozenset[str]:
    whoosh_dir = Path(importlib.import_module("whoosh").__file__ or "").parent
    return _defined_private_names(tuple(sorted(whoosh_dir.rglob("*.py"))))


def _whoosh_bound(tree: ast.AST) -> set[str]:
    """The names a module binds to Whoosh's modules and classes (``wq``, ``FuzzyTerm``)."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            ("whoosh", "indexer.search._whoosh")
        ):
            bound.update(a.asname or a.name for a in node.names)
        elif isinstance(node, ast.Import):
            bound.update(
                (a.asname or a.name).split(".")[0] for a in node.names if a.name.startswith("whoosh")
            )
    return bound


def _root(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _whoosh_classes(tree: ast.AST) -> list[ast.ClassDef]:
    """The classes that subclass one of Whoosh's (or of search/_whoosh/'s)."""
    bound = _whoosh_bound(tree)
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef) and any(_root(base) in bound for base in node.bases)
    ]


@cache
def _own_names() -> frozenset[str]:
    """Private names indexer defines outside search/_whoosh/, but not in subclasses of
    Whoosh's classes (there a private name may be Whoosh's, overridden)."""
    names: set[str] = set()
    for path in _outside_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        inherited = {id(node) for cls in _whoosh_classes(tree) for node in ast.walk(cls)}
        for node in ast.walk(tree):
            if id(node) in inherited:
                continue
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and _private(
                node.name
            ):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and _private(node.id):
                names.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and _private(node.attr):
                names.add(node.attr)
    return frozenset(names)


def _problems(where: str, tree: ast.AST, whoosh_names: frozenset[str], own: frozenset[str]) -> list[str]:
    """Each use of a Whoosh private in ``tree``: a private name or module imported; an
    attribute Whoosh defines privately (and indexer does not, outside Whoosh's subclasses);
    in a subclass of Whoosh's, a private name of Whoosh's defined, set or read."""
    problems = []
    inherited = {id(node) for cls in _whoosh_classes(tree) for node in ast.walk(cls)}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("whoosh"):
            if node.module in PRIVATE_MODULES:
                problems.append(f"{where}:{node.lineno} imports from {node.module}")
            problems += [
                f"{where}:{node.lineno} imports {node.module}.{a.name}"
                for a in node.names
                if _private(a.name)
            ]
        elif isinstance(node, ast.Import):
            problems += [
                f"{where}:{node.lineno} imports {a.name}"
                for a in node.names
                if a.name in PRIVATE_MODULES or any(_private(p) for p in a.name.split("."))
            ]
        elif isinstance(node, ast.FunctionDef) and id(node) in inherited and node.name in whoosh_names:
            problems.append(f"{where}:{node.lineno} overrides Whoosh's {node.name}")
        elif (
            isinstance(node, ast.Attribute)
            and _private(node.attr)
            and node.attr in whoosh_names
            and (node.attr not in own or id(node) in inherited)
        ):
            problems.append(f"{where}:{node.lineno} uses Whoosh's {node.attr}")
    return problems


def test_no_module_outside_the_subpackage_uses_a_whoosh_private() -> None:
    whoosh_names, own = _whoosh_names(), _own_names()
    problems = [
        problem
        for path in _outside_modules()
        for problem in _problems(
            str(path.relative_to(REPO)), ast.parse(path.read_text(encoding="utf-8")), whoosh_names, own
        )
    ]
    assert not problems, "Whoosh's private names belong in indexer/search/_whoosh/:\n" + "\n".join(problems)


def test_the_fence_check_finds_each_kind_of_use() -> None:
    example = ast.parse(
        "from whoosh.system import _INT_SIZE\n"
        "from whoosh.codec.whoosh3 import W3LeafMatcher\n"
        "from whoosh import query as wq\n"
        "n = len(ix._segments())\n"
        "class T(wq.FuzzyTerm):\n"
        "    def _btexts(self, r):\n"
        "        return super()._btexts(r)\n"
    )
    found = _problems("example", example, _whoosh_names(), frozenset())
    assert sorted(found) == [
        "example:1 imports whoosh.system._INT_SIZE",
        "example:2 imports from whoosh.codec.whoosh3",
        "example:4 uses Whoosh's _segments",
        "example:6 overrides Whoosh's _btexts",
        "example:7 uses Whoosh's _btexts",
    ], found


def test_the_import_hook_keeps_whoosh_s_unused_imports_out() -> None:
    """search/_whoosh/lighten.py: loading the engine (all of Whoosh a search needs) imports
    neither urllib.request nor asyncio, the hook steps aside once its two modules are
    loaded, and a later real import gets the real module."""
    import subprocess
    import sys

    code = (
        "import sys, indexer.search.engine\n"
        "from indexer.search._whoosh.lighten import _LightWhoosh\n"
        "print('urllib.request' in sys.modules, 'asyncio' in sys.modules,"
        " any(isinstance(f, _LightWhoosh) for f in sys.meta_path))\n"
        "import urllib.request\n"
        "print(hasattr(urllib.request, 'Request'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.split() == ["False", "False", "False", "True"], out.stdout + out.stderr
