"""The demo page beside `make serve`'s TorchServe: start it in the background, find it again, stop it.

Like the launcher's TorchServe, it runs in its own session (process group), records that group in
<logs>/web.pid and logs to <logs>/web.log; `start` is idempotent and waits until /healthz answers.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

log = logging.getLogger(__name__)
PID_FILE = "web.pid"
LOG_FILE = "web.log"


def page_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return f"http://{shown}:{port}/"


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}healthz", timeout=2) as r:  # noqa: S310 (the URL we built)
            return json.loads(r.read()).get("status") == "ok"
    except (OSError, ValueError):
        return False


def recorded_group(log_dir: Path) -> int | None:
    """The recorded process group, if it is still alive."""
    try:
        pgid = int((log_dir / PID_FILE).read_text().strip())
        os.killpg(pgid, 0)
        return pgid
    except (OSError, ValueError):
        return None


def start(log_dir: Path, host: str, port: int, api_url: str, timeout: float = 60.0) -> str:
    """Start `python -m closet_client.web` (unless it already runs) and return the page's URL once it answers."""
    url = page_url(host, port)
    if recorded_group(log_dir) is not None and healthy(url):
        return url
    log_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "closet_client.web", "--host", host, "--port", str(port), "--api", api_url]
    with open(log_dir / LOG_FILE, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    (log_dir / PID_FILE).write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            (log_dir / PID_FILE).unlink(missing_ok=True)
            raise RuntimeError(f"the demo page exited ({proc.returncode}; port {port} taken?); see {log_dir / LOG_FILE}")
        if healthy(url):
            return url
        time.sleep(0.3)
    stop(log_dir)
    raise TimeoutError(f"the demo page did not answer {url}healthz within {timeout:.0f} s; see {log_dir / LOG_FILE}")


def _gone(pgid: int, wait: float) -> bool:
    end = time.monotonic() + wait
    while time.monotonic() < end:
        try:
            os.waitpid(pgid, os.WNOHANG)  # reap the leader when it is our own child (tests), so the group can vanish
        except ChildProcessError:
            pass
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def stop(log_dir: Path, timeout: float = 10.0) -> bool:
    """SIGTERM the recorded group (then SIGKILL); True when one was running."""
    pgid = recorded_group(log_dir)
    try:
        if pgid is None:
            return False
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 2.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            if _gone(pgid, wait):
                break
        return True
    finally:
        (log_dir / PID_FILE).unlink(missing_ok=True)
