"""The README's systemd unit and crontab line, run as written (with /opt/indexer in tmp)."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, wait_for, write_config


def _block(language: str) -> str:
    readme = (REPO / "README.md").read_text()
    match = re.search(rf"```{language}\n(.*?)```", readme, re.S)
    assert match, f"README has no {language} block"
    return match.group(1)


def _opt(tmp_path: Path) -> Path:
    """A stand-in for /opt/indexer: a config, an inbox and the installed `indexer` script."""
    root = tmp_path / "opt" / "indexer"
    (root / ".venv" / "bin").mkdir(parents=True)
    (root / "inbox").mkdir()
    (root / ".venv" / "bin" / "indexer").symlink_to(Path(sys.executable).parent / "indexer")
    write_config(root)
    return root


def _command(line: str, root: Path) -> list[str]:
    return shlex.split(line.replace("/opt/indexer", str(root)))


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("INDEXER_")}


def test_systemd_exec_start_runs_the_daemon_and_stops_on_sigterm(tmp_path: Path) -> None:
    unit = _block("ini")
    exec_start = re.search(r"^ExecStart=(.+)$", unit, re.M)
    working_dir = re.search(r"^WorkingDirectory=(.+)$", unit, re.M)
    assert exec_start and working_dir
    root = _opt(tmp_path)
    (root / "inbox" / "a.txt").write_text("Flood warning\n\nRivers rose across the valley overnight.\n")
    proc = subprocess.Popen(
        _command(exec_start.group(1), root),
        cwd=working_dir.group(1).replace("/opt/indexer", str(root)),
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        search = _command(
            "/opt/indexer/.venv/bin/indexer search flood --json --config /opt/indexer/config.toml", root
        )
        wait_for(
            lambda: '"total": 1' in subprocess.run(search, capture_output=True, text=True, env=_env()).stdout,
            timeout=30,
            what="daemon under the unit's command ingests",
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr


def test_crontab_line_runs_silently_and_exits_0(tmp_path: Path) -> None:
    line = next(x for x in _block("crontab").splitlines() if x and not x.startswith("#"))
    schedule, command = " ".join(line.split()[:5]), " ".join(line.split()[5:])
    assert schedule == "0 3 * * *"
    root = _opt(tmp_path)
    (root / "inbox" / "a.txt").write_text("Storm report\n\nWinds reached record speeds on the coast.\n")
    ingest = _command(
        "/opt/indexer/.venv/bin/indexer ingest /opt/indexer/inbox --config /opt/indexer/config.toml", root
    )
    subprocess.run(ingest, check=True, capture_output=True, env=_env())

    def generations() -> list[Path]:
        return [p for p in (root / "var").glob("index.*") if p.is_dir() and not p.is_symlink()]

    def run_cron() -> None:
        proc = subprocess.run(_command(command, root), capture_output=True, text=True, env=_env())
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == "" and proc.stderr == ""  # cron mails any output: silent on success

    run_cron()
    assert len(generations()) == 1  # the index is current: nothing rebuilt
    (live,) = generations()
    state = json.loads((live / "state.json").read_text())
    (live / "state.json").write_text(json.dumps({**state, "schema_version": state["schema_version"] - 1}))
    run_cron()
    assert len(generations()) == 2  # rebuilt: the new live one, and the previous one kept for readers
