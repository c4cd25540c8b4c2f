"""Start, wait for and stop one TorchServe: shared by `make serve` and the test fixture.

    python -m closet_dev.launcher start [--runtime torchserve|kserve] [--ts-config F] [--model-store D] [--logs D]
    python -m closet_dev.launcher stop [--runtime ...] [--logs D]

`--runtime kserve` starts the same archives on KServe's model server instead (closet_dev/kserve.py,
its own pid file beside TorchServe's); everything below holds for it too.

`start` runs `torchserve --start --foreground --ncs` in its own session (process group) in the
background, records that group's id in <logs>/torchserve.pid, waits until /ping answers and every
.mar in the model store reports `minWorkers` READY workers, then prints a ready line. It is
idempotent: when the recorded TorchServe is alive and ready it only prints the line again.
`stop` terminates exactly the recorded process group (frontend and its workers).

Each TorchServe gets its own TEMP/TMPDIR under <logs>/tmp, so its pid file and extracted models
never collide with another TorchServe on the same machine (tests run beside `make serve`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar

from closet import config as closet_config

log = logging.getLogger(__name__)

PID_FILE = "torchserve.pid"
# Environment every closet server starts with unless the caller's environment says otherwise (the
# image sets the same in docker/Dockerfile). libgomp's default busy-waits between parallel regions;
# beside a JVM and other workers on few cores that spinning is taken from the work (TorchServe p50
# 7.2 s -> 2.1 s on the shared 2-core box, docs/serving.md). glibc's malloc maps every block over
# its (adaptive, at most 32 MiB) mmap threshold afresh and unmaps it when freed, so each of a 12 MP
# photo's full-size arrays paid its page faults on every request: with blocks up to 256 MiB kept
# on the heap and not trimmed, a 12 MP request took 0.80-0.82 s in process instead of 0.90-0.91 s,
# for about 50 MiB more peak RSS there and 4-9% more at 40 MP (docs/serving.md, "Memory allocator").
SERVING_ENV = {"OMP_WAIT_POLICY": "PASSIVE", "MALLOC_MMAP_THRESHOLD_": "268435456",
               "MALLOC_TRIM_THRESHOLD_": "268435456"}
_LOAD_FAILED = re.compile(r"Load model failed: ([A-Za-z0-9_.-]+), error")


def under_serving_env() -> None:
    """Start this program again under SERVING_ENV where the environment lacks it, so that a bench's
    in-process numbers run under the servers' OpenMP and malloc policies (libgomp and glibc read
    them once, at load; a spinning bench against sleeping workers read 20-50 ms of false HTTP
    overhead)."""
    missing = {k: v for k, v in SERVING_ENV.items() if k not in os.environ}
    if missing:
        os.environ.update(missing)
        os.execv(sys.executable, [sys.executable, *sys.argv])


def _get_json(url: str, timeout: float = 5.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 (loopback URLs we built)
        return json.loads(r.read().decode("utf-8"))


def read_properties(path: str | Path) -> dict[str, str]:
    """key=value lines of a config.properties (comments and blanks skipped)."""
    out = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


@dataclass
class Server:
    """A TorchServe process group we started (or found via its pid file)."""

    inference_url: str
    management_url: str
    metrics_url: str
    model_store: Path
    log_dir: Path
    pgid: int | None = None
    proc: subprocess.Popen | None = field(default=None, repr=False)
    load_models: tuple[str, ...] = ("all",)
    # The workers' own-bucket histograms (closet/serving/worker_metrics.py); None: not served.
    worker_metrics_url: str | None = None
    _log_offset: int = field(default=0, repr=False)
    pid_file: ClassVar[str] = PID_FILE
    label: ClassVar[str] = "TorchServe"
    out_name: ClassVar[str] = "torchserve.out"  # the process's stdout and stderr, in log_dir

    @classmethod
    def from_properties(
        cls, ts_config: str | Path, model_store: str | Path, log_dir: str | Path, worker_metrics_port: int | None = None
    ) -> "Server":
        """The server a config.properties describes; `worker_metrics_port` binds the metrics address's host."""
        p = read_properties(ts_config)
        metrics_host = p["metrics_address"].rsplit(":", 1)[0]
        return cls(
            inference_url=p["inference_address"],
            management_url=p["management_address"],
            metrics_url=p["metrics_address"],
            model_store=Path(model_store),
            log_dir=Path(log_dir),
            load_models=tuple(x.strip() for x in p.get("load_models", "all").split(",") if x.strip()),
            worker_metrics_url=f"{metrics_host}:{worker_metrics_port}" if worker_metrics_port else None,
        )

    # -- state ------------------------------------------------------------
    def expected_models(self) -> list[str]:
        """The built .mar files TorchServe will load (load_models, or every .mar for `all`)."""
        built = {p.stem for p in self.model_store.glob("*.mar")}
        if "all" in self.load_models:
            return sorted(built)
        return sorted(built & {Path(m).stem for m in self.load_models})

    def alive(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        if self.pgid is None:
            return False
        try:
            os.killpg(self.pgid, 0)
            return True
        except (ProcessLookupError, PermissionError):
            return False

    def describe(self, model: str) -> dict:
        """Management API describe of one model (first version)."""
        return _get_json(f"{self.management_url}/models/{model}")[0]

    def ready_models(self) -> list[str]:
        """Models with at least minWorkers (>=1) READY workers."""
        out = []
        try:
            listed = _get_json(f"{self.management_url}/models")["models"]
        except (OSError, ValueError):
            return out
        for m in listed:
            try:
                d = self.describe(m["modelName"])
            except (OSError, ValueError, IndexError):
                continue
            ready = sum(w.get("status") == "READY" for w in d.get("workers", []))
            if ready >= max(1, d.get("minWorkers", 1)):
                out.append(m["modelName"])
        return sorted(out)

    def worker_pids(self, model: str) -> list[int]:
        """PIDs of a model's worker processes, as the management API reports them."""
        return sorted(int(w["pid"]) for w in self.describe(model).get("workers", []) if w.get("pid", -1) > 0)

    def failed_models(self, attempts: int = 2) -> dict[str, str]:
        """Models whose worker failed to load `attempts` times since start() (from ts_log.log).

        TorchServe retries a failing worker with growing back-off forever; two failures are
        enough to report it instead of waiting out the whole start timeout.
        """
        log_file = self.log_dir / "ts_log.log"
        try:
            with open(log_file, "rb") as f:
                f.seek(self._log_offset)
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return {}
        seen: dict[str, set[str]] = {}
        for line in text.splitlines():
            m = _LOAD_FAILED.search(line)
            if m:  # log4j may write a line twice; distinct (timestamped) lines are distinct failures
                seen.setdefault(m.group(1), set()).add(line)
        return {
            name: f"worker failed to load {len(lines)} times; see {self.log_dir}/model_log.log"
            for name, lines in seen.items()
            if len(lines) >= attempts
        }

    def pinged(self) -> bool:
        try:
            return _get_json(f"{self.inference_url}/ping", timeout=2).get("status") == "Healthy"
        except (OSError, ValueError):
            return False

    # -- lifecycle --------------------------------------------------------
    def start(self, ts_config: str | Path, extra_env: dict[str, str] | None = None) -> None:
        """Launch `torchserve --foreground` in a new session; logs go to log_dir."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        tmp = (self.log_dir / "tmp").resolve()
        tmp.mkdir(exist_ok=True)
        env = {**SERVING_ENV, **os.environ}
        env.update(
            {
                "LOG_LOCATION": str(self.log_dir.resolve()),
                "METRICS_LOCATION": str(self.log_dir.resolve()),
                "TEMP": str(tmp),  # java.io.tmpdir: extracted models
                "TMPDIR": str(tmp),  # the torchserve CLI's pid file
            }
        )
        if self.worker_metrics_url:
            # prometheus_client's multiprocess files: a fresh directory, so counts start at zero.
            multiproc = (self.log_dir / "prometheus-multiproc").resolve()
            shutil.rmtree(multiproc, ignore_errors=True)
            multiproc.mkdir()
            env["PROMETHEUS_MULTIPROC_DIR"] = str(multiproc)
            env["CLOSET_WORKER_METRICS_ADDRESS"] = self.worker_metrics_url.split("://", 1)[-1]
        env.update(extra_env or {})
        ts_log = self.log_dir / "ts_log.log"
        self._log_offset = ts_log.stat().st_size if ts_log.is_file() else 0
        torchserve = Path(sys.executable).parent / "torchserve"
        cmd = [
            str(torchserve if torchserve.exists() else "torchserve"),
            "--start",
            "--foreground",
            "--ncs",
            "--ts-config",
            str(ts_config),
            "--model-store",
            str(self.model_store),
        ]
        out = open(self.log_dir / self.out_name, "ab")
        self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        self.pgid = self.proc.pid
        (self.log_dir / self.pid_file).write_text(str(self.pgid))

    def wait_ready(
        self, models: list[str] | None = None, timeout: float = 300.0, allow_failed: bool = False,
        progress: Callable[[list[str]], None] | None = None,
    ) -> list[str]:
        """Block until /ping is healthy and `models` (default: every .mar) are READY; returns the READY ones.

        A model whose worker keeps failing to load (failed_models) raises RuntimeError at once, or,
        with allow_failed, is left out of the returned list once every other model is READY.
        """
        want = sorted(models if models is not None else self.expected_models())
        deadline = time.monotonic() + timeout
        ready: list[str] = []
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.label} exited while starting; see {self.log_dir}/{self.out_name}")
            if self.pinged():
                ready = self.ready_models()
                if progress is not None:
                    progress([n for n in want if n in ready])
                failed = {n: why for n, why in self.failed_models().items() if n in want and n not in ready}
                if failed and not allow_failed:
                    raise RuntimeError(f"models failed to load: {failed}")
                if set(want) <= set(ready) | set(failed):
                    return [n for n in want if n in ready]
            time.sleep(0.5)
        raise TimeoutError(
            f"models not READY after {timeout:.0f}s: {sorted(set(want) - set(ready))}; see {self.log_dir}"
        )

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM our process group, then SIGKILL what is left of it."""
        if self.pgid is None:
            return
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.pgid, sig)
            except ProcessLookupError:
                break
            end = time.monotonic() + wait
            while time.monotonic() < end and self._group_alive():
                if self.proc is not None:
                    self.proc.poll()  # reap the leader so the group can disappear
                time.sleep(0.2)
            if not self._group_alive():
                break
        pid_file = self.log_dir / self.pid_file
        if pid_file.is_file() and pid_file.read_text().strip() == str(self.pgid):
            pid_file.unlink()
        self.pgid = None

    def _group_alive(self) -> bool:
        try:
            os.killpg(self.pgid, 0)
        except ProcessLookupError:
            return False
        # Only zombies left (our own unreaped leader) count as gone.
        import psutil

        for p in psutil.process_iter(["pid", "status"]):
            try:
                if os.getpgid(p.info["pid"]) == self.pgid and p.info["status"] != psutil.STATUS_ZOMBIE:
                    return True
            except (ProcessLookupError, psutil.Error, OSError):
                continue
        return False


def _recorded(log_dir: Path, pid_file: str = PID_FILE) -> int | None:
    f = log_dir / pid_file
    try:
        return int(f.read_text().strip())
    except (OSError, ValueError):
        return None


RUNTIMES = {"torchserve": "TorchServe", "kserve": "KServe"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m closet_dev.launcher")
    ap.add_argument("cmd", choices=("start", "stop", "status"))
    ap.add_argument("--runtime", choices=tuple(RUNTIMES), default="torchserve",
                    help="kserve: the same MARs on KServe's model server (closet/kserve), same ports")
    ap.add_argument("--ts-config", default="config/config.properties")
    ap.add_argument("--model-store", default="model-store")
    ap.add_argument("--logs", default="logs")
    ap.add_argument("--timeout", type=float, default=600.0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    runtime = RUNTIMES[args.runtime]
    if args.runtime == "kserve":
        from closet_dev.kserve import KServeProcess

        srv = KServeProcess.from_config(closet_config.load(), args.model_store, args.logs)
    else:
        port = closet_config.load().server.worker_metrics_port
        srv = Server.from_properties(args.ts_config, args.model_store, args.logs, worker_metrics_port=port)
    srv.pgid = _recorded(srv.log_dir, srv.pid_file)
    from closet_dev import web_process  # the demo page beside the server (closet_client.web)

    if args.cmd == "stop":
        if web_process.stop(srv.log_dir):
            log.info("demo page stopped")
        if srv.pgid is None or not srv.alive():
            log.info("%s is not running (no live process group in %s/%s)", runtime, args.logs, srv.pid_file)
        else:
            pgid = srv.pgid
            srv.stop()
            log.info("%s stopped (process group %d)", runtime, pgid)
        (srv.log_dir / srv.pid_file).unlink(missing_ok=True)
        return 0
    if args.cmd == "status":
        up = srv.pgid is not None and srv.alive()
        log.info("running, ready: %s" % srv.ready_models() if up else "not running")
        return 0 if up else 1
    models = srv.expected_models()
    if not models:
        log.error("no .mar in %s: run `make mars`", srv.model_store)
        return 1
    if srv.pgid is not None and srv.alive():
        log.info("%s already running (process group %d); waiting for READY", runtime, srv.pgid)
    else:
        t0 = time.monotonic()
        srv.start(args.ts_config)
        log.info("started %s (process group %d), logs in %s/", runtime, srv.pgid, args.logs)
    from closet_dev.progress import Progress

    try:
        with Progress(len(models), "models READY", unit="model", log=log, every_s=15) as bar:
            srv.wait_ready(models, timeout=args.timeout, progress=lambda ready: bar.set(len(ready)))
    except (RuntimeError, TimeoutError) as e:
        log.error("%s", e)
        srv.stop()
        return 1
    server_cfg = closet_config.load().server
    try:
        page = web_process.start(srv.log_dir, server_cfg.bind, server_cfg.web_port, srv.inference_url)
    except (RuntimeError, TimeoutError) as e:
        log.error("%s is READY on %s, but the demo page did not start: %s", runtime, srv.inference_url, e)
        return 1
    if "t0" in locals():
        log.info("cold start: %.1f s to all models READY", time.monotonic() - t0)
    # The example shows the product (the ensemble) when it is loaded.
    first = "closet" if "closet" in models else models[0]
    option = "-F target=coat " if first == "closet" else ""
    log.info(
        "closet is READY on %s: demo page %s ; models %s on %s (management %s, metrics %s/metrics and %s/metrics). "
        "Try:\n"
        "  curl -sS -F image=@photo.jpg %s%s/predictions/%s -o out.png\n"
        "Stop with `make stop`.",
        runtime,
        page,
        ", ".join(models),
        srv.inference_url,
        srv.management_url,
        srv.metrics_url,
        srv.worker_metrics_url,
        option,
        srv.inference_url,
        first,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
