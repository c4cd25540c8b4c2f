"""Worker faults under load (`make chaos`): SIGKILL a TorchServe worker, then stop TorchServe.

Phase 1, kill: a TorchServe started for the run (free loopback ports, the built MAR of --model)
serves a headless Locust run of loadtest/locustfile.py. After --warmup seconds one worker of the
model gets SIGKILL. TorchServe starts a new one. Printed: requests failed (Locust's count, minus
any before the kill), seconds until a new worker is READY, seconds until the first successful
response after the kill.

Phase 2, stop: a fresh TorchServe serves --users threads of requests (each one recorded: start,
end, result). For each --drain value D: clients stop sending new requests (the endpoint is taken
out of the Service, as the chart's preStop sleep waits for), D seconds later the Java frontend
gets SIGTERM (what `torchserve --stop` sends). Printed: requests in flight at SIGTERM, and how many
of them were dropped (no 200). D=0 is a bare SIGTERM under load.

    python tools/chaos.py --model segmentation --users 4 --warmup 30 --after 60 --drain 0 10
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
import requests

from closet_dev.torchserve import ephemeral

REPO = Path(__file__).resolve().parent.parent

log = logging.getLogger("chaos")


@contextmanager
def start_server(model: str, work: Path):
    """An ephemeral TorchServe with only `model`'s MAR (closet_dev.torchserve), for the with-block."""
    src = REPO / "model-store" / f"{model}.mar"
    if not src.is_file():
        raise SystemExit(f"model-store/{model}.mar is not built: run `make mars`")
    with ephemeral(work / "ts", [src]) as session:
        log.info("TorchServe up in %.0f s at %s", session.startup_s, session.inference_url)
        yield session


def sample_image() -> bytes:
    import io

    from PIL import Image
    from skimage import data as skdata

    buf = io.BytesIO()
    Image.fromarray(skdata.astronaut()).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def frontend_pid(session) -> int:
    """PID of TorchServe's Java frontend (child of the `torchserve --foreground` CLI)."""
    for p in psutil.Process(session.server.pgid).children(recursive=True):
        if p.name() == "java":
            return p.pid
    raise RuntimeError("no java frontend found")


def wait_new_worker(session, model: str, old: set[int], timeout: float) -> float | None:
    """Monotonic time at which `model` has a READY worker whose PID is not in `old`."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            workers = session.describe(model).get("workers", [])
        except (OSError, ValueError, IndexError):
            workers = []
        if any(w.get("status") == "READY" and w.get("pid") not in old and w.get("pid", -1) > 0 for w in workers):
            return time.monotonic()
        time.sleep(0.2)
    return None


# ---------------------------------------------------------------- phase 1: SIGKILL a worker under Locust
def locust_cmd(host: str, model: str, users: int, seconds: float, csv_prefix: Path) -> list[str]:
    return [
        str(Path(sys.executable).parent / "locust"), "-f", str(REPO / "loadtest" / "locustfile.py"), "--headless",
        "-H", host, "--model", model, "--shape", "constant", "-u", str(users), "-r", str(users),
        "-t", f"{int(seconds)}s", "--stop-timeout", "300", "--slo-file", "", "--csv", str(csv_prefix),
        "--csv-full-history", "--only-summary",
    ]


def read_history(prefix: Path) -> list[tuple[float, int, int]]:
    """(unix time, total requests, total failures) per second, aggregated over request names."""
    rows = []
    with open(f"{prefix}_stats_history.csv", newline="") as f:
        for r in csv.DictReader(f):
            if r.get("Name") == "Aggregated":
                rows.append((float(r["Timestamp"]), int(r["Total Request Count"]), int(r["Total Failure Count"])))
    return rows


def read_totals(prefix: Path) -> tuple[int, int, list[str]]:
    with open(f"{prefix}_stats.csv", newline="") as f:
        agg = next(r for r in csv.DictReader(f) if r["Name"] == "Aggregated")
    messages = []
    fail_csv = Path(f"{prefix}_failures.csv")
    if fail_csv.is_file():
        with open(fail_csv, newline="") as f:
            messages = [f"{r['Occurrences']}x {r['Error'][:160]}" for r in csv.DictReader(f)]
    return int(agg["Request Count"]), int(agg["Failure Count"]), messages


def kill_phase(model: str, users: int, warmup: float, after: float, work: Path) -> dict:
    with start_server(model, work / "kill") as session:
        prefix = work / "kill" / "locust"
        out = open(work / "kill" / "locust.log", "wb")
        proc = subprocess.Popen(locust_cmd(session.inference_url, model, users, warmup + after, prefix),
                                stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        time.sleep(warmup)
        old = set(session.worker_pids(model))
        victim = sorted(old)[0]
        t_kill_wall, t_kill = time.time(), time.monotonic()
        os.kill(victim, signal.SIGKILL)
        log.info("SIGKILL worker %d of %s", victim, model)
        t_ready = wait_new_worker(session, model, old, timeout=300)
        proc.wait(timeout=warmup + after + 600)
        out.close()
        total, failed, messages = read_totals(prefix)
        hist = read_history(prefix)
        # History timestamps are whole seconds (int(time.time()) when the row is written), so only a
        # row stamped a full second before the kill certainly counts requests from before it.
        before = [(t, n, f) for t, n, f in hist if t < t_kill_wall - 1]
        ok_at_kill = (before[-1][1] - before[-1][2]) if before else 0
        failed_before = before[-1][2] if before else 0
        first_ok = next((t for t, n, f in hist if t > t_kill_wall and n - f > ok_at_kill), None)
        return {
            "model": model, "users": users, "requests": total, "failed": failed,
            "failed_before_kill": failed_before, "failed_by_kill": failed - failed_before,
            "worker_ready_s": None if t_ready is None else round(t_ready - t_kill, 1),
            "first_success_after_kill_s": None if first_ok is None else round(first_ok - t_kill_wall, 1),
            "new_worker_pids": session.worker_pids(model), "killed_pid": victim, "failures": messages,
            "locust_exit": proc.returncode,
        }


# ---------------------------------------------------------------- phase 2: stop under load
@dataclass
class Call:
    start: float
    end: float | None = None
    status: int | str | None = None


def stop_phase(model: str, users: int, warmup: float, drain: float, work: Path) -> dict:
    with start_server(model, work / f"stop-{drain:g}") as session:
        url = f"{session.inference_url}/predictions/{model}"
        body = sample_image()
        calls: list[Call] = []
        lock = threading.Lock()
        sending = threading.Event()
        sending.set()

        def client():
            http = requests.Session()
            while sending.is_set():
                c = Call(time.monotonic())
                with lock:
                    calls.append(c)
                try:
                    r = http.post(url, data=body, timeout=300)
                    c.status = r.status_code
                except requests.RequestException as e:
                    c.status = type(e).__name__
                c.end = time.monotonic()

        threads = [threading.Thread(target=client, daemon=True) for _ in range(users)]
        for t in threads:
            t.start()
        time.sleep(warmup)
        sending.clear()  # the endpoint leaves the Service: no new requests reach this pod
        t_unrouted = time.monotonic()
        time.sleep(drain)  # the chart's preStop sleep (drainSeconds)
        java = frontend_pid(session)
        t_term = time.monotonic()
        os.kill(java, signal.SIGTERM)  # `torchserve --stop` / the kubelet's SIGTERM after preStop
        log.info("SIGTERM to the frontend %d after %.0f s of drain", java, drain)
        try:
            psutil.Process(java).wait(timeout=120)
        except psutil.TimeoutExpired:
            log.warning("frontend still running 120 s after SIGTERM")
        stopped_s = time.monotonic() - t_term
        for t in threads:
            t.join(timeout=330)
    sent_before = [c for c in calls if c.start < t_unrouted]
    in_flight = [c for c in sent_before if c.end is None or c.end >= t_term]
    dropped = [c for c in in_flight if c.status != 200]
    return {
        "model": model, "users": users, "drain_s": drain, "requests": len(calls),
        "ok": sum(c.status == 200 for c in calls), "in_flight_at_sigterm": len(in_flight),
        "dropped": len(dropped), "dropped_results": sorted({str(c.status) for c in dropped}),
        "failed_before_sigterm": sum(c.status != 200 for c in calls if c.end is not None and c.end < t_term),
        "frontend_exit_s": round(stopped_s, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="segmentation", help="model to load and fault (a built MAR)")
    ap.add_argument("--users", type=int, default=4)
    ap.add_argument("--warmup", type=float, default=30, help="seconds of load before the fault")
    ap.add_argument("--after", type=float, default=60, help="seconds of load after the kill")
    ap.add_argument("--drain", type=float, nargs="*", default=[0.0, 10.0], help="preStop seconds to try")
    ap.add_argument("--skip-kill", action="store_true")
    ap.add_argument("--skip-stop", action="store_true")
    ap.add_argument("--json", default="", help="also write the results here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    results: dict = {"load_average": os.getloadavg()}
    work = Path(tempfile.mkdtemp(prefix="closet-chaos-"))
    try:
        if not args.skip_kill:
            results["kill"] = kill_phase(args.model, args.users, args.warmup, args.after, work)
            k = results["kill"]
            print(f"KILL {k['model']}: {k['users']} users, {k['requests']} requests, failed by the kill "
                  f"{k['failed_by_kill']} (before it {k['failed_before_kill']}); new worker READY after "
                  f"{k['worker_ready_s']} s; first success after {k['first_success_after_kill_s']} s")
            for m in k["failures"]:
                print("   ", m)
        if not args.skip_stop:
            results["stop"] = [stop_phase(args.model, args.users, args.warmup, d, work) for d in args.drain]
            for s in results["stop"]:
                print(f"STOP {s['model']} drain {s['drain_s']:g} s: in flight at SIGTERM {s['in_flight_at_sigterm']}, "
                      f"dropped {s['dropped']} {s['dropped_results']}; frontend exited {s['frontend_exit_s']} s "
                      f"after SIGTERM; {s['ok']}/{s['requests']} ok")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=1, default=str))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
