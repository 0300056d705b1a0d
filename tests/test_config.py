"""Settings: defaults, the file, the environment, one-line errors, and docs kept honest."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from indexer.config import iter_settings, load
from indexer.errors import ConfigError
from tests.conftest import REPO


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load(None, env={})
    assert config.paths.inbox == ["inbox"]
    assert config.data_dir == tmp_path / "var"
    assert config.database_url == f"sqlite:///{tmp_path / 'var' / 'indexer.db'}"


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "c.toml"
    path.write_text('[paths]\ninbox = ["in", "/abs/other"]\ndata_dir = "data"\n')
    config = load(path, env={})
    assert config.inbox_dirs == [tmp_path / "conf" / "in", Path("/abs/other")]
    assert config.data_dir == tmp_path / "conf" / "data"


def test_env_names_the_file_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[database]\nurl = "sqlite:///x.db"\n')
    config = load(
        None,
        env={
            "INDEXER_CONFIG": str(path),
            "INDEXER_DATA_DIR": str(tmp_path / "d"),
            "INDEXER_DATABASE_URL": "postgresql+psycopg://u@h/db",
        },
    )
    assert config.data_dir == tmp_path / "d"
    assert config.database_url == "postgresql+psycopg://u@h/db"
    assert load(path, env={}).database_url == "sqlite:///x.db"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[paths]\ninboxx = []\n", r"unknown setting \[paths\] inboxx"),
        ("[pathz]\n", r"unknown section \[pathz\]"),
        ('[ingest]\nbatch_size = "many"\n', r"\[ingest\] batch_size: expected int"),
        ("[ingest]\nbatch_size = 0\n", r"\[ingest\] batch_size: must be at least 1"),
        ('[daemon]\nwatch = "sometimes"\n', r"\[daemon\] watch: must be one of"),
        ("[paths]\ninbox = [1]\n", r"\[paths\] inbox: expected a list of strings"),
        ("[paths\n", r"invalid TOML"),
    ],
)
def test_bad_config_is_one_line_naming_key_and_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load(path, env={})
    assert str(path) in str(caught.value)
    assert re.search(message, str(caught.value))
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "env", "where"),
    [
        (None, {}, "cwd/var"),
        ('[paths]\ndata_dir = "data"\n', {}, "conf/data"),
        ("[ingest]\nbatch_size = 10\n", {}, "conf/var"),
        ('[paths]\ndata_dir = "../up/./d"\n', {}, "up/d"),
        ('[paths]\ndata_dir = "~/d"\n', {}, "home/d"),
        ('[paths]\ndata_dir = "data"\n', {"INDEXER_DATA_DIR": "elsewhere"}, "cwd/elsewhere"),
        ('[paths]\ndata_dir = "data"\n', {"INDEXER_DATA_DIR": "~/e"}, "home/e"),
    ],
)
def test_the_data_dir_alone_resolves_as_load_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str | None, env: dict[str, str], where: str
) -> None:
    # `indexer search` finds the daemon's socket with configfile.data_dir before it loads anything.
    from indexer import configfile

    for folder in ("cwd", "conf", "home"):
        (tmp_path / folder).mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    cwd = tmp_path / "cwd"
    path = None
    if text is not None:
        path = "../conf/c.toml"  # relative to the command's folder, not this process's
        (tmp_path / "conf" / "c.toml").write_text(text)
    assert load(path, env=env, cwd=cwd).data_dir == tmp_path / where
    assert configfile.data_dir(path, env, str(cwd)) == str(tmp_path / where)
    if path is not None:  # named by INDEXER_CONFIG instead of --config
        named = {**env, "INDEXER_CONFIG": path}
        assert configfile.data_dir(None, named, str(cwd)) == str(load(None, env=named, cwd=cwd).data_dir)


@pytest.mark.parametrize("text", ["[paths\n", "[paths]\ndata_dir = 3\n", "paths = 1\n", None])
def test_the_data_dir_alone_is_none_when_load_would_fail(tmp_path: Path, text: str | None) -> None:
    from indexer import configfile

    path = tmp_path / "c.toml"
    if text is not None:
        path.write_text(text)
    assert configfile.data_dir(str(path), {}, str(tmp_path)) is None
    with pytest.raises(ConfigError):
        load(path, env={})


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load(tmp_path / "nope.toml", env={})


def test_config_toml_lists_every_setting_with_its_default() -> None:
    shipped = tomllib.loads((REPO / "config.toml").read_text())
    declared = {(section, key): default for section, key, default, _ in iter_settings()}
    listed = {(section, key): value for section, table in shipped.items() for key, value in table.items()}
    assert listed == declared


def test_readme_documents_every_setting() -> None:
    readme = (REPO / "README.md").read_text()
    missing = [f"[{s}] {k}" for s, k, _, _ in iter_settings() if f"`{k}`" not in readme]
    assert not missing, f"README does not mention: {missing}"


def test_bad_boilerplate_regex_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[ingest]\nboilerplate_rules = ["(unclosed"]\n')
    with pytest.raises(ConfigError, match=r"\[ingest\] boilerplate_rules: invalid boilerplate rule"):
        load(path, env={})


def test_user_boilerplate_rule_removes_lines(tmp_path: Path) -> None:
    from tests.conftest import Project, write_config

    (tmp_path / "inbox").mkdir()
    write_config(tmp_path, '\n[ingest]\nboilerplate_rules = ["^Sponsored by "]\n')
    project = Project(tmp_path)
    project.write(
        "a.txt", "Tram line opens\n\nSponsored by Acme Trams\n\nThe new tram line opened to riders today.\n"
    )
    project.run("ingest", "inbox")
    shown = project.json("show", "1")
    assert "Sponsored" not in shown["body"]
    assert shown["removed"] == [{"rule": "user:^Sponsored by ", "text": "Sponsored by Acme Trams"}]


def test_folder_source_map(tmp_path: Path) -> None:
    from tests.conftest import Project, write_config

    (tmp_path / "inbox").mkdir()
    write_config(tmp_path, '\n[ingest]\nsources = { "inbox/tempo" = "Tempo" }\n')
    project = Project(tmp_path)
    project.write(
        "tempo/a.txt", "Harga beras naik\n\nHarga beras di pasar naik lagi minggu ini menurut pedagang.\n"
    )
    project.write("other/b.txt", "Tram line opens\n\nThe new tram line opened to riders today in the city.\n")
    project.run("ingest", "inbox")
    sources = {Path(d["path"]).name: d["source"] for d in (project.json("show", str(i)) for i in (1, 2))}
    assert sources == {"a.txt": "Tempo", "b.txt": None}
