"""Sustainable throughput: one constant-users Locust run per user count, judged by the SLO gate.

    python loadtest/capacity.py --host http://127.0.0.1:8080 --users 1 2 4 6 --seconds 60 \
        --slo-file loadtest/slo-local.yaml            # `make loadtest-capacity`

Prints a Markdown table (users, requests, req/s, p95, errors, SLO verdict) and the highest
throughput whose p95 and error ratio meet the SLO. Numbers come from the gate's own log lines.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOCUST = Path(sys.executable).parent / "locust"
LINE = re.compile(r"SLO (\w+): measured ([0-9.e+-]+) .*?: (ok|MISSED)")


def run(host: str, model: str, users: int, seconds: int, slo_file: str, reports: Path, extra: list[str]) -> dict:
    reports.mkdir(parents=True, exist_ok=True)
    prefix = reports / f"u{users}"
    cmd = [str(LOCUST), "-f", str(HERE / "locustfile.py"), "--headless", "-H", host, "--model", model,
           "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--stop-timeout", "300",
           "--slo-file", slo_file, "--csv", str(prefix), "--csv-full-history", "--only-summary", *extra]
    p = subprocess.run(cmd, capture_output=True, text=True)
    (reports / f"u{users}.log").write_text(p.stdout + p.stderr, encoding="utf-8")
    got = {m.group(1): (float(m.group(2)), m.group(3) == "ok") for m in LINE.finditer(p.stdout + p.stderr)}
    if "p95_ms" not in got:
        raise RuntimeError(f"no SLO lines from Locust (exit {p.returncode}); see {reports / f'u{users}.log'}")
    return {"users": users, "requests": int(got.get("min_requests", (0, True))[0]), "rps": got["min_rps"][0],
            "p95_s": got["p95_ms"][0] / 1000, "errors": got["max_error_ratio"][0],
            "meets": got["p95_ms"][1] and got["max_error_ratio"][1], "exit": p.returncode}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", required=True)
    ap.add_argument("--model", default="closet")
    ap.add_argument("--users", type=int, nargs="+", default=[1, 2, 4, 6])
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--slo-file", default=str(HERE / "slo-local.yaml"))
    ap.add_argument("--reports", default=str(HERE / "reports" / "capacity"))
    a, extra = ap.parse_known_args(argv)
    rows = []
    print(f"| users | requests | req/s | p95 s | error ratio | p95+errors meet {Path(a.slo_file).name} |")
    print("|---:|---:|---:|---:|---:|:---|")
    for u in a.users:
        r = run(a.host, a.model, u, a.seconds, a.slo_file, Path(a.reports), extra)
        rows.append(r)
        print(f"| {u} | {r['requests']} | {r['rps']:.3f} | {r['p95_s']:.1f} | {r['errors']:.3f} | "
              f"{'yes' if r['meets'] else 'no'} |", flush=True)
    good = [r for r in rows if r["meets"]]
    if good:
        best = max(good, key=lambda r: r["rps"])
        print(f"\nmax sustainable: {best['rps']:.3f} req/s at {best['users']} users (p95 {best['p95_s']:.1f} s)")
    else:
        print("\nno user count met the SLO's p95 and error ratio")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
