"""The deliveries of a match's JSON: append to a file, run a command, POST to a URL.

Each raises DeliveryError saying what went wrong (a timeout, an exit code and the end of
stderr, an HTTP status); the caller records it and tries again later. Nothing here
touches the database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence

from indexer.config import DeliveryConfig
from indexer.errors import DeliveryError

__all__ = ["deliver", "one_at_a_time"]

STDERR_KEPT = 500  # characters of a failed command's stderr kept in its record
FIRST_BACKOFF_SECONDS = 0.5  # between a webhook's tries within one delivery, doubling


def one_at_a_time(delivery: str) -> bool:
    """Whether the delivery sends each match on its own (exec, webhook) rather than a
    batch in one write (file)."""
    return not delivery.startswith("file:")


def deliver(
    delivery: str,
    lines: Sequence[str],
    settings: DeliveryConfig,
    should_stop: Callable[[], bool] = lambda: False,
    alert: str = "",
) -> None:
    """Deliver JSON ``lines`` (one per match; exec and webhook take one at a time)."""
    kind, _, target = delivery.partition(":")
    if kind == "file":
        _append(target, lines)
    elif kind == "exec":
        for line in lines:
            _run(target, line, settings.timeout_seconds, alert)
    elif kind == "webhook":
        for line in lines:
            _post(target, line, settings, should_stop)
    else:
        raise DeliveryError(f"unknown delivery {kind!r}")


def _append(path: str, lines: Sequence[str]) -> None:
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)  # on disk before its mark says delivered
        finally:
            os.close(fd)
    except OSError as e:
        raise DeliveryError(f"cannot append to {path}: {e.strerror or e}") from e


def _run(command: str, line: str, timeout: float, alert: str) -> None:
    env = {**os.environ, "INDEXER_ALERT": alert}
    # Its own process group, so a timeout ends the command's children too.
    proc = subprocess.Popen(
        ["/bin/sh", "-c", command],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    try:
        _, stderr = proc.communicate((line + "\n").encode("utf-8"), timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise DeliveryError(f"exec timed out after {timeout:g} s: {command}") from None
    if proc.returncode != 0:
        tail = stderr.decode("utf-8", "replace").strip()[-STDERR_KEPT:]
        raise DeliveryError(f"exec exited {proc.returncode}: {command}" + (f": {tail}" if tail else ""))


def _post(url: str, line: str, settings: DeliveryConfig, should_stop: Callable[[], bool]) -> None:
    request = urllib.request.Request(
        url,
        data=line.encode("utf-8"),
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "indexer-alerts"},
    )
    delay = FIRST_BACKOFF_SECONDS
    problem = ""
    for attempt in range(1, settings.webhook_attempts + 1):
        try:
            with urllib.request.urlopen(request, timeout=settings.timeout_seconds) as response:
                response.read()
            return
        except urllib.error.HTTPError as e:
            problem = f"HTTP {e.code} {e.reason}"
        except (urllib.error.URLError, OSError, ValueError) as e:
            reason = getattr(e, "reason", e)
            problem = f"{reason}"
        if attempt < settings.webhook_attempts and not should_stop():
            time.sleep(delay)
            delay *= 2
        else:
            break
    raise DeliveryError(f"webhook {url}: {problem} (after {attempt} tries)")
