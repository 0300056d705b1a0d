"""Which files a scan takes: name patterns, excludes, hidden and temporary files."""

from __future__ import annotations

from pathlib import Path

from indexer.ingest.discover import Rules, discover, matches


def test_matches_follows_include_exclude_and_hides_dot_paths(tmp_path: Path) -> None:
    root = str(tmp_path / "inbox")
    rules = Rules(include=("*.txt", "*.text"), exclude=("drafts/*", "*-old.txt"))
    assert matches(f"{root}/a.txt", root, rules)
    assert matches(f"{root}/deep/er/b.text", root, rules)
    assert not matches(f"{root}/a.md", root, rules)  # not included
    assert not matches(f"{root}/drafts/c.txt", root, rules)  # excluded by relative path
    assert not matches(f"{root}/x/report-old.txt", root, rules)  # excluded by name
    assert not matches(f"{root}/.git/d.txt", root, rules)  # inside a hidden folder
    assert not matches(f"{root}/sub/.cache/e.txt", root, rules)
    assert not matches(f"{root}/.f.txt", root, rules)  # hidden file
    assert matches(f"{root}/", root, Rules()) is False
    assert matches(f"{root}/g.txt", root + "/", Rules())  # a root given with its slash


def test_discover_walks_in_a_stable_order_and_skips_what_rules_refuse(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    for rel in ("b/2.txt", "a/1.txt", "a/.hidden/3.txt", "a/notes.md", "c/skip-old.txt", "0.txt"):
        (inbox / rel).parent.mkdir(parents=True, exist_ok=True)
        (inbox / rel).write_text("text")
    found = [c.path for c in discover([inbox], Rules(exclude=("*-old.txt",)))]
    assert found == [str(inbox / p) for p in ("0.txt", "a/1.txt", "b/2.txt")]
