"""How a server's workers start: with closet's serving environment (closet_dev.launcher.SERVING_ENV),
and each model answers the archive's warm-up photo before it is READY."""

from __future__ import annotations

import os
import re
from pathlib import Path

from closet_dev.launcher import SERVING_ENV


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode(errors="replace").partition("=")[::2] for item in raw if b"=" in item)


def _session_pythons(pgid: int) -> list[int]:
    """The Python processes of the server's session: TorchServe's workers, or the KServe server."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == pgid and b"python" in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except (OSError, ProcessLookupError):
                continue
    return pids


def test_workers_run_with_the_serving_environment(server):
    server.require("closet")
    pythons = _session_pythons(server.server.pgid)
    assert pythons, "no Python process in the server's session"
    for pid in pythons:
        env = _environ(pid)
        for key, value in SERVING_ENV.items():
            assert env.get(key) == os.environ.get(key, value), (pid, key)


def test_every_model_answered_its_warm_up_request(server):
    server.require("closet")
    log = server.log_file.read_text(errors="replace")
    answered = set(re.findall(r"(\w+): warm-up request answered in", log))
    assert set(server.models) <= answered, (server.models, answered)
    assert "warm-up request refused" not in log
