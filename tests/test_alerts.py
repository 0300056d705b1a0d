"""Alerts: the same documents as `search`, once per story, each delivery exactly once
(file, exec, a real HTTP server that fails), across `ingest`, the daemon, kill -9 and
two PostgreSQL nodes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from indexer import config, jobs
from indexer.alerts import manage
from indexer.alerts.definitions import AlertDef, delivery, load_alerts
from indexer.alerts.evaluate import run_pass
from indexer.errors import ConfigError
from indexer.search.engine import SearchEngine, SearchOptions
from tests.conftest import Project, running_daemon, wait_for, write_config

TOPICS = {
    "volcano": "A volcano erupted on the remote island overnight, sending ash high into the sky above the harbour.",
    "markets": "Stock markets were calm today as traders awaited the central bank decision on interest rates.",
    "football": "The football club won the final after extra time, and the fans celebrated in the streets.",
    "wetter": "Das Wetter in Berlin bleibt kalt, und der Winter bringt viel Schnee in die Stadt und die Berge.",
}


WORDS = [
    "harbour",
    "council",
    "railway",
    "orchard",
    "glacier",
    "meadow",
    "canal",
    "bridge",
    "river",
    "tower",
    "lantern",
    "quarry",
    "ferry",
    "garden",
    "pylon",
    "beacon",
    "cellar",
    "chapel",
    "cottage",
    "dockyard",
    "embassy",
    "foundry",
    "granary",
    "hangar",
    "kiosk",
    "laundry",
    "mill",
    "observatory",
    "pavilion",
    "refinery",
    "sawmill",
    "tannery",
    "vineyard",
    "warehouse",
    "workshop",
]


def _text(topic: str, n: int = 0, extra: str = "") -> str:
    """An article on ``topic``; each ``n`` its own story (its own 30 words), so that only
    texts of one ``n`` are near-duplicates."""
    import random

    if topic == "wetter":  # German alone (its language is a filter below)
        return f"Wetter Bericht {n}\n\n{TOPICS[topic]} {extra}Bericht Nummer {n}.\n"
    words = list(WORDS)
    random.Random(f"{topic}{n}").shuffle(words)
    return f"{topic.title()} report {n}\n\n{TOPICS[topic]} {extra}Nearby: {' '.join(words[:30])}.\n"


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


class Hook:
    """A real HTTP server on localhost that records the JSON POSTed to it; it answers 500
    to the first ``fail_first`` requests, and to all while ``down`` is set."""

    def __init__(self, fail_first: int = 0) -> None:
        self.received: list[dict] = []
        self.requests = 0
        self.fail_first = fail_first
        self.down = False
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.requests += 1
                if hook.down or hook.requests <= hook.fail_first:
                    self.send_response(500)
                    self.end_headers()
                    return
                hook.received.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def ids(self) -> list[int]:
        return [entry["id"] for entry in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook(fail_first=2)
    yield server
    server.close()


def _alert_config(project: Project, body: str, extra: str = "") -> None:
    write_config(project.root, extra + body)


# -- definitions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, message",
    [
        ('[[alerts]]\nname = "a"\nquery = "x"\n', "at least one delivery"),
        (
            '[[alerts]]\nname = "a"\nquery = "x"\nfile = "f"\ncolour = "red"\n',
            r"unknown setting \[\[alerts\]\] #1 colour",
        ),
        (
            '[[alerts]]\nname = "a"\nquery = "x"\nfile = "f"\n[[alerts]]\nname = "a"\nquery = "y"\nfile = "g"\n',
            "two alerts are named 'a'",
        ),
        ('[[alerts]]\nquery = "x"\nfile = "f"\n', "needs a name and a query"),
    ],
)
def test_bad_alert_tables_are_config_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        config.load(path, env={})


def test_a_config_alert_and_a_stored_one_of_one_name_is_an_error_naming_both(project: Project) -> None:
    project.run("alerts", "add", "oil", "oil", "--file", "out.jsonl")
    _alert_config(project, '[[alerts]]\nname = "oil"\nquery = "gas"\nfile = "x.jsonl"\n')
    proc = project.run("alerts", "list", check=False)
    assert proc.returncode == 2
    assert (
        "'oil' is defined twice" in proc.stderr and "config.toml" in proc.stderr and "database" in proc.stderr
    )
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = project.run("daemon", check=False, timeout=30)
    assert proc.returncode == 2 and "defined twice" in proc.stderr


def test_a_malformed_alert_query_is_refused_in_one_line(project: Project) -> None:
    proc = project.run("alerts", "add", "bad", "title:(oil", "--file", "out.jsonl", check=False)
    assert proc.returncode == 2 and "query error" in proc.stderr and "Traceback" not in proc.stderr
    proc = project.run("alerts", "add", "nowhere", "oil", check=False)
    assert proc.returncode == 2 and "at least one delivery" in proc.stderr


# -- one code path with search ------------------------------------------------------------


def test_an_alert_matches_what_search_finds_among_the_new_documents(ctx: jobs.Context) -> None:
    inbox = ctx.config.inbox_dirs[0]
    for n in range(6):
        for topic in TOPICS:
            (inbox / f"{topic}-{n}.txt").write_text(_text(topic, n, "volcano " if n == 3 else ""))
    jobs.ingest(ctx, [inbox])
    queries = [
        ("volcano", SearchOptions()),
        ("volcano NOT harbour", SearchOptions()),
        ('"central bank"', SearchOptions()),
        ("schnee", SearchOptions(langs=("de",))),
        ("volcano", SearchOptions(langs=("de",))),
        ("footbal~", SearchOptions()),
        ("elect* OR report", SearchOptions(path="*-2.txt")),
        ("*", SearchOptions()),
    ]
    with SearchEngine(ctx.config.data_dir, ctx.config.database_url) as engine:
        everything = engine.matching(queries)
        with ctx.db.read() as session:
            from indexer.db import documents

            ids = sorted(documents.live_document_ids(session))
        some = ids[::2]
        among = engine.matching(queries, some)
        for (text, options), all_hits, some_hits in zip(queries, everything, among, strict=True):
            searched = engine.search(
                text, SearchOptions(**{**options.__dict__, "limit": 1000, "collapse": False})
            )
            expected = set() if searched.fallback else {h.id for h in searched.hits}
            assert {h.id for h in all_hits} == expected, text
            assert {h.id for h in some_hits} == expected & set(some), text
            assert expected or (text == "volcano" and options.langs)  # the queries find something
    assert any(h.snippet for h in everything[0])


# -- ingest: once per document, once per story --------------------------------------------


def test_ingest_fires_once_per_new_or_newly_matching_document_and_folds_copies(project: Project) -> None:
    out = project.root / "volcano.jsonl"
    project.write("old.txt", _text("volcano", 0))
    project.run("ingest", str(project.inbox))
    _alert_config(project, f'[[alerts]]\nname = "volcano"\nquery = "volcano"\nfile = "{out}"\n')
    project.run("ingest", str(project.inbox))
    assert _lines(out) == []  # there before the alert was first seen: history, not news
    project.write("a.txt", _text("volcano", 1))
    project.write("m.txt", _text("markets", 1))
    project.run("ingest", str(project.inbox))
    [first] = _lines(out)
    assert first["alert"] == "volcano" and first["title"] == "Volcano report 1" and "<b>" in first["snippet"]
    assert set(first) == {
        "alert",
        "id",
        "title",
        "path",
        "source",
        "language",
        "published",
        "ingested",
        "snippet",
        "cluster",
    }
    project.run("ingest", str(project.inbox))  # nothing new
    project.write("a.txt", _text("volcano", 1, "More ash fell. "))  # changed, matched before
    project.write("m.txt", _text("markets", 1, "A volcano worried them. "))  # newly matching
    project.write("copy.txt", _text("volcano", 1, "More ash fell. Syndicated. "))  # a copy of a's story
    project.run("ingest", str(project.inbox))
    lines = _lines(out)
    assert [entry["title"] for entry in lines] == ["Volcano report 1", "Markets report 1"]
    shown = project.json("alerts", "show", "volcano")
    notice = next(n for n in shown["recent"] if n["id"] == first["id"])
    assert len(notice["copies"]) == 1  # the syndicated copy, folded into the first notice
    assert shown["deliveries"][0]["delivered"] == 2 and shown["deliveries"][0]["pending"] == 0


def test_every_copy_notifies_each_copy(project: Project) -> None:
    out = project.root / "all.jsonl"
    project.run("init")
    project.run("alerts", "add", "all", "volcano", "--every-copy", "--file", str(out))
    project.write("a.txt", _text("volcano", 1))
    project.write("b.txt", _text("volcano", 1, "Syndicated. "))
    project.run("ingest", str(project.inbox))
    assert len(_lines(out)) == 2


@pytest.mark.slow
def test_alerts_test_is_a_dry_run_and_backfill_delivers_it_first(project: Project, hook: Hook) -> None:
    for n in range(3):
        project.write(f"v{n}.txt", _text("volcano", n))
    project.write("copy.txt", _text("volcano", 0, "Syndicated. "))
    project.write("m.txt", _text("markets", 0))
    project.run("ingest", str(project.inbox))
    dry = project.json("alerts", "test", "volcano", "--since", "7d")
    assert len(dry["notices"]) == 3 and sum(len(n["copies"]) for n in dry["notices"]) == 1
    assert project.json("alerts", "test", "volcano", "--since", "2099-01-01")["notices"] == []
    assert "3 notices" in project.run("alerts", "test", "volcano").stdout
    added = project.json("alerts", "add", "v", "volcano", "--webhook", hook.url, "--backfill", "7d")
    assert added["backfilled"] == 3 and added["delivered"] == 3
    assert sorted(hook.ids()) == sorted(n["id"] for n in dry["notices"])
    assert hook.requests == 5  # two refused first, retried with backoff within the delivery
    project.write("v9.txt", _text("volcano", 9))
    project.run("ingest", str(project.inbox))
    assert len(hook.ids()) == 4 and len(set(hook.ids())) == 4
    assert project.json("alerts", "remove", "v") == {"format_version": 1, "removed": "v"}
    assert project.json("alerts", "list")["alerts"] == []
    proc = project.run("alerts", "remove", "v", check=False)
    assert proc.returncode == 1 and "no alert named 'v'" in proc.stderr


# -- failing deliveries: recorded, retried, never blocking ---------------------------------


def test_failed_deliveries_are_recorded_retried_and_do_not_hold_up_the_others(
    project: Project, hook: Hook, tmp_path: Path
) -> None:
    hook.down = True
    out = project.root / "ok.jsonl"
    _alert_config(
        project,
        f'[[alerts]]\nname = "v"\nquery = "volcano"\nfile = "{out}"\nwebhook = "{hook.url}"\n'
        '[[alerts]]\nname = "slow"\nquery = "volcano"\nexec = "sleep 30"\n'
        '[[alerts]]\nname = "bad"\nquery = "volcano"\nexec = "echo broken pipe >&2; exit 3"\n',
        "[delivery]\ntimeout_seconds = 0.5\nwebhook_attempts = 2\n\n",
    )
    project.run("ingest", str(project.inbox))  # the alerts start here
    project.write("a.txt", _text("volcano", 1))
    started = time.monotonic()
    project.run("ingest", str(project.inbox))
    assert time.monotonic() - started < 15  # one try each, with timeouts: `sleep 30` did not hold it
    assert len(_lines(out)) == 1  # the file delivery went out beside the failing webhook
    shown = {a["name"]: a for a in project.json("alerts", "list")["alerts"]}
    webhook = next(d for d in shown["v"]["deliveries"] if d["delivery"].startswith("webhook:"))
    assert webhook["failures"] == 1 and "HTTP 500" in webhook["last_error"] and webhook["pending"] == 1
    assert "timed out after 0.5 s" in shown["slow"]["deliveries"][0]["last_error"]
    assert "exec exited 3" in shown["bad"]["deliveries"][0]["last_error"]
    assert "broken pipe" in shown["bad"]["deliveries"][0]["last_error"]
    status = project.json("status")
    assert {f["alert"] for f in status["failing_deliveries"]} == {"v", "slow", "bad"}
    assert "delivery failing" in project.run("status").stdout
    # Retried once its backoff is over: delivered once, the failure cleared.
    hook.down = False
    cfg = config.load(project.config, env={})
    context = jobs.open_context(cfg)
    try:
        with SearchEngine(cfg.data_dir, cfg.database_url) as engine:
            alerts = [a for a in load_alerts(cfg, context.db) if a.name == "v"]
            run_pass(context, engine, alerts, now=datetime.now(UTC) - timedelta(minutes=1))  # in its backoff
            assert hook.ids() == []
            result = run_pass(context, engine, alerts, now=datetime.now(UTC) + timedelta(minutes=5))
            assert result.delivered == 1 and len(hook.ids()) == 1
            run_pass(context, engine, alerts, now=datetime.now(UTC) + timedelta(minutes=10))
            assert len(hook.ids()) == 1
    finally:
        context.close()
    assert "v" not in {f["alert"] for f in project.json("status")["failing_deliveries"]}


# -- the daemon: files dropped while alerts run, kill -9 during delivery --------------------


def test_the_daemon_delivers_each_match_once_across_kill_9_during_delivery(project: Project) -> None:
    out = project.root / "got.jsonl"
    # A slow delivery: the kill lands while one runs (or between one and its record).
    _alert_config(project, f'[[alerts]]\nname = "v"\nquery = "volcano"\nexec = "cat >> {out}; sleep 0.4"\n')
    project.run("init")
    proc = project.spawn("daemon")
    wait_for(lambda: (project.data / "daemon.json").exists(), what="daemon start")
    wanted = 8
    for n in range(wanted):
        project.write(f"v{n}.txt", _text("volcano", n))
        project.write(f"m{n}.txt", _text("markets", n))
    wait_for(lambda: len(_lines(out)) >= 2, timeout=30, what="first deliveries")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    killed_at = len(_lines(out))
    assert killed_at < wanted, "the kill came too late to test anything"
    with _daemon(project):
        wait_for(
            lambda: len({e["id"] for e in _lines(out)}) == wanted, timeout=40, what="every match delivered"
        )
        time.sleep(1.0)
    ids = [e["id"] for e in _lines(out)]
    assert len(set(ids)) == wanted
    assert len(ids) - wanted <= 1  # at most the delivery the kill interrupted, again
    assert all(e["title"].startswith("Volcano") for e in _lines(out))


class _daemon:
    def __init__(self, project: Project) -> None:
        self.gen = running_daemon(project)

    def __enter__(self) -> subprocess.Popen[str]:
        return next(self.gen)

    def __exit__(self, *exc: object) -> None:
        for _ in self.gen:
            pass


def test_a_dead_webhook_never_holds_up_the_daemon_s_ingest(project: Project) -> None:
    # A server that accepts and never answers: each try waits out its timeout.
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
    _alert_config(
        project,
        f'[[alerts]]\nname = "v"\nquery = "volcano"\nwebhook = "{url}"\n',
        "[delivery]\ntimeout_seconds = 5\nwebhook_attempts = 3\n\n",
    )
    try:
        with _daemon(project) as proc:
            project.write("first.txt", _text("volcano", 0))
            time.sleep(2.5)  # the alert's pass is now stuck on the webhook for ~15 s
            started = time.monotonic()
            project.write("second.txt", _text("football", 1))
            wait_for(
                lambda: "Football" in project.run("search", "football", check=False).stdout,
                timeout=10,
                what="the next file searchable",
            )
            assert time.monotonic() - started < 8
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0 and time.monotonic() - started < 10
    finally:
        silent.close()


# -- two nodes on PostgreSQL ------------------------------------------------------------------


@pytest.mark.slow
def test_two_postgres_nodes_fire_each_match_once(tmp_path: Path, hook: Hook) -> None:
    from tests.conftest import postgres_database

    with postgres_database() as url:
        nodes = []
        for name in ("a", "b"):
            node = Project(tmp_path / name, url)
            (node.root / "inbox").mkdir(parents=True)
            write_config(
                node.root,
                "[ingest]\nworkers = 1\n\n"
                f'[[alerts]]\nname = "v"\nquery = "volcano"\nwebhook = "{hook.url}"\n',
            )
            nodes.append(node)
        nodes[0].run("db", "upgrade")
        with _daemon(nodes[0]), _daemon(nodes[1]):
            wanted = 0
            for n in range(12):
                node = nodes[n % 2]
                node.write(f"v{n}.txt", _text("volcano", n))
                node.write(f"f{n}.txt", _text("football", n))
                wanted += 1
                time.sleep(0.2)
            wait_for(lambda: len(set(hook.ids())) == wanted, timeout=60, what="every match delivered")
            time.sleep(3)  # a second delivery would come within a pass or two
        assert sorted(hook.ids()) == sorted(set(hook.ids()))
        assert len(hook.ids()) == wanted


# -- in-process API -------------------------------------------------------------------------


def test_a_delivery_added_to_an_alert_starts_from_now(ctx: jobs.Context, tmp_path: Path) -> None:
    inbox = ctx.config.inbox_dirs[0]
    first, second = tmp_path / "1.jsonl", tmp_path / "2.jsonl"
    alert = AlertDef("v", "volcano", deliveries=(delivery("file", str(first)),))
    manage.add(ctx, alert)
    (inbox / "a.txt").write_text(_text("volcano", 1))
    jobs.ingest(ctx, [inbox])
    assert len(_lines(first)) == 1
    with ctx.db.write() as session:
        from indexer.db.models import Alert

        row = session.query(Alert).filter_by(name="v").one()
        row.deliveries = json.dumps([delivery("file", str(first)), delivery("file", str(second))])
    (inbox / "b.txt").write_text(_text("volcano", 2))
    jobs.ingest(ctx, [inbox])
    assert len(_lines(first)) == 2 and len(_lines(second)) == 1
    assert os.stat(first).st_mode & 0o077 == 0


def test_readme_documents_every_alert_key_and_command() -> None:
    import dataclasses

    from indexer.config import AlertConfig

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    missing = [f.name for f in dataclasses.fields(AlertConfig) if f"`{f.name}`" not in readme]
    assert not missing, f"README does not mention [[alerts]] keys: {missing}"
    for command in ("alerts add", "alerts list", "alerts test", "export", "import"):
        assert f"`indexer {command}" in readme, command
    assert "kill -9" in readme.split("## Alerts")[1].split("## Export")[0]


def test_a_slow_delivery_gets_its_share_of_a_pass_then_the_others_theirs(
    ctx: jobs.Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from indexer.alerts import evaluate

    monkeypatch.setattr(evaluate, "DELIVERY_SECONDS_PER_PASS", 0.0)  # one match per pass, then the next alert
    slow_out, fast_out = tmp_path / "slow.jsonl", tmp_path / "fast.jsonl"
    slow = AlertDef("slow", "volcano", deliveries=(delivery("exec", f"cat >> {slow_out}"),))
    fast = AlertDef("fast", "volcano", deliveries=(delivery("file", str(fast_out)),))
    manage.add(ctx, slow)
    manage.add(ctx, fast)
    inbox = ctx.config.inbox_dirs[0]
    for n in range(3):
        (inbox / f"v{n}.txt").write_text(_text("volcano", n))
    jobs.ingest(ctx, [inbox])  # one pass at its end
    assert len(_lines(slow_out)) < 3 and len(_lines(fast_out)) == 3  # the slow one: a match a pass
    with SearchEngine(ctx.config.data_dir, ctx.config.database_url) as engine:
        for _ in range(3):
            run_pass(ctx, engine, [slow, fast])
    assert sorted(e["id"] for e in _lines(slow_out)) == sorted(e["id"] for e in _lines(fast_out))
