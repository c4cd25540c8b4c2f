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


def _cmdline(pid: int) -> list[bytes]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")


def _session_processes(pgid: int) -> list[int]:
    """Every process of the server's session (TorchServe: the Java frontend and its workers)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == pgid:
                    pids.append(int(entry.name))
            except (OSError, ProcessLookupError):
                continue
    return pids


def _session_pythons(pgid: int) -> list[int]:
    """The Python processes of the server's session: TorchServe's workers, or the KServe server."""
    pythons = []
    for pid in _session_processes(pgid):
        try:
            if b"python" in b" ".join(_cmdline(pid)):
                pythons.append(pid)
        except OSError:
            continue
    return pythons


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


def test_no_worker_maps_scipy_or_scikit_image(server):
    """The request path and the warm-up use OpenCV and numpy only: importing scipy.ndimage alone
    cost a worker 0.3-0.4 s of CPU at its start (docs/speed.md, cold start)."""
    server.require("closet")
    maps = {pid: Path(f"/proc/{pid}/maps").read_text() for pid in _session_pythons(server.server.pgid)}
    # The processes that serve (TorchServe's workers, the KServe server) map torch and OpenCV.
    serving = {pid: m for pid, m in maps.items() if "libtorch" in m and "/cv2/" in m}
    assert len(serving) >= (len(server.models) if server.runtime == "torchserve" else 1), maps.keys()
    for pid, m in serving.items():
        assert "/scipy/" not in m and "/skimage/" not in m, pid


def test_the_frontend_runs_with_the_configured_jvm_options(torchserve):
    """config/closet.yaml server.jvm_options reaches the Java frontend (config.properties vmargs)."""
    torchserve.require("closet")
    options = torchserve.config.server.jvm_options.split()
    javas = [pid for pid in _session_processes(torchserve.server.pgid) if b"java" in _cmdline(pid)[0]]
    assert len(javas) == 1
    cmdline = [arg.decode() for arg in _cmdline(javas[0])]
    assert options and all(opt in cmdline for opt in options), cmdline
