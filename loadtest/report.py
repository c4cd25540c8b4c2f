"""Plot a Locust run over time from its --csv-full-history file (matplotlib; run outside Locust).

    python loadtest/report.py loadtest/reports/run --slo-file loadtest/slo-local.yaml --out loadtest/reports/run.png

Reads <prefix>_stats_history.csv (the "Aggregated" rows) and draws users, requests/s and
failures/s, p50/p95 latency, with the SLO's p95 and min_rps lines.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import slo as slo_gate  # noqa: E402


def _num(v: str) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")  # Locust writes "N/A" before the first answer


def read_history(prefix: str | Path) -> dict[str, list[float]]:
    """Aggregated rows of <prefix>_stats_history.csv as columns (t seconds from the first row)."""
    path = Path(f"{prefix}_stats_history.csv")
    with path.open(newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["Name"] == "Aggregated"]
    if not rows:
        raise ValueError(f"{path}: no Aggregated rows (was the run given --csv-full-history?)")
    t0 = int(rows[0]["Timestamp"])
    cols = {"t": [int(r["Timestamp"]) - t0 for r in rows]}
    for key, col in (("users", "User Count"), ("rps", "Requests/s"), ("fps", "Failures/s"), ("p50", "50%"),
                     ("p95", "95%"), ("requests", "Total Request Count"), ("failures", "Total Failure Count")):
        cols[key] = [_num(r[col]) for r in rows]
    return cols


def plot(prefix: str | Path, out: str | Path, slo: dict[str, float] | None = None, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h = read_history(prefix)
    fig, (ax_u, ax_r, ax_l) = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    ax_u.plot(h["t"], h["users"], color="tab:gray")
    ax_u.set_ylabel("users")
    ax_r.plot(h["t"], h["rps"], label="requests/s", color="tab:blue")
    ax_r.plot(h["t"], h["fps"], label="failures/s", color="tab:red")
    if slo:
        ax_r.axhline(slo["min_rps"], ls="--", color="tab:blue", alpha=0.6, label=f"SLO min_rps {slo['min_rps']:g}")
    ax_r.set_ylabel("per second")
    ax_r.legend(loc="upper left", fontsize=8)
    ax_l.plot(h["t"], [v / 1000 for v in h["p50"]], label="p50", color="tab:green")
    ax_l.plot(h["t"], [v / 1000 for v in h["p95"]], label="p95", color="tab:orange")
    if slo:
        ax_l.axhline(slo["p95_ms"] / 1000, ls="--", color="tab:orange", alpha=0.6, label=f"SLO p95 {slo['p95_ms'] / 1000:g} s")
    ax_l.set_ylabel("latency, s (running)")
    ax_l.set_xlabel("seconds")
    ax_l.legend(loc="upper left", fontsize=8)
    total, fails = h["requests"][-1], h["failures"][-1]
    fig.suptitle(title or f"{Path(prefix).name}: {total:.0f} requests, {fails:.0f} failed")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("prefix", help="the --csv prefix of the run")
    ap.add_argument("--slo-file", default="")
    ap.add_argument("--out", default="")
    ap.add_argument("--title", default="")
    a = ap.parse_args(argv)
    out = plot(a.prefix, a.out or f"{a.prefix}.png", slo_gate.load(a.slo_file) if a.slo_file else None, a.title)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
