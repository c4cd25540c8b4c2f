"""Soak (`make soak`): Locust at ~70% of the measured max throughput for 10 minutes.

A TorchServe started for the run (free loopback ports, the built MAR of --model) first gets a
short closed-loop probe (--probe-users users, --probe-seconds) to measure its max throughput,
unless --max-rps gives it (e.g. from `make loadtest-capacity`). The soak then runs the users of
loadtest/locustfile.py paced with Locust's constant_throughput so that together they send
--fraction x max req/s. Every --sample seconds the RSS of the model's worker processes (psutil,
PIDs from the management API) is recorded.

Pass/fail (exit 1 on a miss): zero failed requests, no worker restart, and worker RSS growth
<= --max-growth from minute 2 (median of the samples in [120 s, 150 s)) to the end (median of
the last 60 s). Numbers are printed and written to --json.

    python tools/soak.py --model closet --minutes 10
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))

from chaos import read_totals, start_server  # noqa: E402

log = logging.getLogger("soak")

# The soak's Locust file: the project's users, paced (constant_throughput) instead of between(0.5, 1.5).
PACED = '''import sys
sys.path.insert(0, {loadtest!r})
import locustfile as _lf  # registers the closet options and listeners
from locust import constant_throughput


class PacedClosetUser(_lf.ClosetUser):
    wait_time = constant_throughput({rate!r})
'''


def locust(locustfile: Path, host: str, model: str, users: int, seconds: float, prefix: Path, logf: Path) -> int:
    cmd = [
        str(Path(sys.executable).parent / "locust"), "-f", str(locustfile), "--headless", "-H", host,
        "--model", model, "-u", str(users), "-r", str(users), "-t", f"{int(seconds)}s", "--stop-timeout", "300",
        "--slo-file", "", "--csv", str(prefix), "--only-summary",
    ]
    with open(logf, "wb") as out:
        return subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
                              timeout=seconds + 900).returncode


def probe(session, model: str, users: int, seconds: float, work: Path) -> float:
    """Closed-loop max throughput (req/s) with `users` users of the unmodified locustfile."""
    prefix = work / "probe"
    locust(REPO / "loadtest" / "locustfile.py", session.inference_url, model, users, seconds, prefix,
           work / "probe.log")
    with open(f"{prefix}_stats.csv", newline="") as f:
        agg = next(r for r in csv.DictReader(f) if r["Name"] == "Aggregated")
    return float(agg["Requests/s"])


def worker_rss(session, model: str) -> tuple[list[int], int]:
    pids = session.worker_pids(model)
    total = 0
    for pid in pids:
        try:
            total += psutil.Process(pid).memory_info().rss
        except psutil.Error:
            pass
    return pids, total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="closet")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--max-rps", type=float, default=0.0, help="measured max throughput; 0: probe it first")
    ap.add_argument("--fraction", type=float, default=0.7)
    ap.add_argument("--users", type=int, default=4, help="Locust users (probe and soak)")
    ap.add_argument("--probe-seconds", type=float, default=90.0)
    ap.add_argument("--sample", type=float, default=10.0, help="seconds between RSS samples")
    ap.add_argument("--max-growth", type=float, default=0.05)
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    work = Path(tempfile.mkdtemp(prefix="closet-soak-"))
    res: dict = {"model": args.model, "load_average_start": os.getloadavg()}
    ok = True
    with start_server(args.model, work) as session:
        max_rps = args.max_rps or probe(session, args.model, args.users, args.probe_seconds, work)
        target = args.fraction * max_rps
        res.update(max_rps=round(max_rps, 4), target_rps=round(target, 4), users=args.users)
        log.info("max %.3f req/s -> soak at %.3f req/s for %.0f min", max_rps, target, args.minutes)
        paced = work / "paced_locustfile.py"
        paced.write_text(PACED.format(loadtest=str(REPO / "loadtest"), rate=target / args.users))
        seconds = args.minutes * 60
        prefix = work / "soak"
        cmd_done: dict = {}

        import threading

        def run():
            cmd_done["rc"] = locust(paced, session.inference_url, args.model, args.users, seconds, prefix,
                                    work / "soak.log")

        th = threading.Thread(target=run)
        t0 = time.monotonic()
        th.start()
        pids0 = session.worker_pids(args.model)
        samples: list[tuple[float, int]] = []
        restarted = False
        while th.is_alive():
            pids, rss = worker_rss(session, args.model)
            restarted |= pids != pids0
            samples.append((time.monotonic() - t0, rss))
            th.join(timeout=args.sample)
        total, failed, messages = read_totals(prefix)
        base = [r for t, r in samples if 120 <= t < 150] or [samples[min(len(samples) - 1, 12)][1]]
        end = [r for t, r in samples if t >= samples[-1][0] - 60]
        rss2, rss_end = statistics.median(base), statistics.median(end)
        growth = (rss_end - rss2) / rss2
        duration = samples[-1][0]
        res.update(
            requests=total, failed=failed, failures=messages, achieved_rps=round(total / max(duration, 1), 4),
            worker_restarted=restarted, rss_minute2_mb=round(rss2 / 2**20, 1), rss_end_mb=round(rss_end / 2**20, 1),
            rss_growth=round(growth, 4), rss_max_mb=round(max(r for _, r in samples) / 2**20, 1),
            seconds=round(duration), load_average_end=os.getloadavg(),
        )
        ok = failed == 0 and not restarted and growth <= args.max_growth and total > 0
        shutil.rmtree(work, ignore_errors=True)
    print(f"SOAK {res['model']}: {res.get('seconds')} s at {res.get('target_rps')} req/s target "
          f"({res.get('achieved_rps')} achieved; max {res.get('max_rps')}), {res.get('requests')} requests, "
          f"{res.get('failed')} failed; worker RSS {res.get('rss_minute2_mb')} MB at minute 2 -> "
          f"{res.get('rss_end_mb')} MB at the end ({100 * res.get('rss_growth', 0):+.1f} %, limit "
          f"{100 * args.max_growth:.0f} %); restarted: {res.get('worker_restarted')}: {'PASS' if ok else 'FAIL'}")
    print(json.dumps(res, indent=1, default=str))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
