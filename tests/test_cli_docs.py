"""Every command and option says what it does, in `--help` and in the README."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click

from indexer.cli import cli

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _commands(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    if path:
        yield " ".join(path), command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from _commands(sub, (*path, name))


def test_every_command_and_option_has_help_and_a_place_in_the_readme() -> None:
    missing: list[str] = []
    for name, command in _commands(cli):
        if not (command.help or command.short_help):
            missing.append(f"`indexer {name}` has no help text")
        if f"indexer {name}" not in README:
            missing.append(f"`indexer {name}` is not in the README")
        for param in command.params:
            if not isinstance(param, click.Option) or param.hidden:
                continue
            if not param.help:
                missing.append(f"`indexer {name} {param.opts[0]}` has no help text")
            spelled = [o for o in param.opts if o.startswith("--")] or param.opts
            if not any(re.search(re.escape(o) + r"(?![\w-])", README) for o in spelled):
                missing.append(f"`indexer {name} {spelled[0]}` is not in the README")
    assert not missing, "\n".join(missing)
    assert len(list(_commands(cli))) > 20  # the walk found the commands, groups' included
