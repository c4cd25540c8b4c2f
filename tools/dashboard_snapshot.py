"""Render key dashboard panels from a real load run to a PNG (`make dashboard-snapshot`).

Starts a TorchServe on free loopback ports serving every built model-store/<name>.mar (the probe
model, monitoring/probe_handler.py, when none is built), a Prometheus scraping it every second with
monitoring/rules loaded, drives a two-phase load (light, then heavier so queue time rises) with
a few bad requests mixed in, then runs the dashboard's own queries (monitoring/grafana/closet.json)
over the run with query_range and plots them with matplotlib:

    python tools/dashboard_snapshot.py --seconds 90 --out docs/dashboard.png
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from closet import config as closet_config
from closet_dev import monitoring
from closet_dev.torchserve import ephemeral

log = logging.getLogger("dashboard_snapshot")

# (dashboard panel title, refIds to draw, y label): the panels the snapshot shows.
PANELS = (
    ("Requests per second by model", ("A",), "requests/s"),
    ("Stage latency p50 / p95 / p99", ("B",), "p95 seconds"),
    ("Queue and inference time per request", ("A",), "queue s/request"),
    ("Error ratio by reason", ("A",), "fraction of requests"),
)
RATE_WINDOW = "15s"  # $__rate_interval for a short run at a 1 s scrape


def drive(url_by_model: dict[str, str], seconds: float, stop: threading.Event) -> None:
    """Two load phases: 2 clients for the first 40 %, then 6; 1 in 6 requests is bad (400 or 413)."""
    imgs = monitoring.sample_images()
    options = {m: monitoring.valid_headers(u, m) for m, u in url_by_model.items()}
    t_end = time.monotonic() + seconds
    t_heavy = time.monotonic() + 0.4 * seconds
    rng = random.Random(0)

    counter = iter(range(10**9))  # shared request number: every 12th is garbage, every 12th+6 too large

    def client(i: int) -> None:
        while not stop.is_set() and time.monotonic() < t_end:
            if i >= 2 and time.monotonic() < t_heavy:
                time.sleep(0.2)
                continue
            n = next(counter)
            model = sorted(url_by_model)[n % len(url_by_model)]
            headers = dict(options[model][n % len(options[model])])
            body = {0: imgs["garbage"], 6: imgs["huge"]}.get(n % 12, imgs["good"])
            if model == monitoring.PROBE_MODEL:
                headers = {"X-Closet-Stage-Ms": str(rng.choice((5, 20, 40))), "X-Closet-Target": rng.choice(("tshirt", "hoodie"))}
                if n % 12 == 3:
                    headers["X-Closet-Fail"] = "no_garment"
            monitoring.post_all(url_by_model[model], [(body, headers)], concurrency=1)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def plot(prom: monitoring.Prometheus, start: float, end: float, out: Path, models: list[str]) -> None:
    """Draw PANELS for `models` (the dashboard's $model variable) over [start, end]."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    queries = {(q.panel, q.ref_id): q.expr for q in monitoring.dashboard_queries()}
    fig, axes = plt.subplots(2, 2, figsize=(13, 7.5), sharex=True)
    for ax, (panel, refs, ylabel) in zip(axes.flat, PANELS):
        for ref in refs:
            expr = monitoring.grafana_substitute(
                queries[(panel, ref)], {"__rate_interval": RATE_WINDOW, "model": "|".join(models)}
            )
            res = prom.query_range(expr, start, end, 1.0)
            if res.get("status") != "success":
                raise RuntimeError(f"{panel}/{ref}: {res.get('error')}")
            for series in sorted(res["data"]["result"], key=lambda s: sorted(s["metric"].items())):
                m = series["metric"]
                label = " ".join(m[k] for k in ("model_name", "stage", "reason") if k in m)
                xs = [float(t) - start for t, _ in series["values"]]
                ys = [float(v) for _, v in series["values"]]
                ax.plot(xs, ys, label=label, linewidth=1.2)
        ax.set_title(panel, fontsize=10)
        ax.set_ylabel(ylabel, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2, loc="upper left")
    for ax in axes[1]:
        ax.set_xlabel("seconds into the load run")
    stamp = datetime.fromtimestamp(end, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    fig.suptitle(
        f"closet dashboard panels from a load run on a shared 2-core CPU, {stamp}: real TorchServe 0.12 + Prometheus\n"
        f"models {', '.join(models)}; 1 s scrape, rate window {RATE_WINDOW}; ratios from the 1m recording rules",
        fontsize=9,
    )
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    log.info("wrote %s", out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=90.0, help="length of the load run")
    ap.add_argument("--out", default="docs/dashboard.png")
    ap.add_argument("--models", default="all", help="comma list of built MARs to load, or 'all' (default)")
    args = ap.parse_args(argv)
    store = closet_config.REPO_ROOT / "model-store"
    built = [n for n in closet_config.MODEL_NAMES if (store / f"{n}.mar").is_file()]
    if args.models != "all":
        built = [n for n in built if n in args.models.split(",")]
    with tempfile.TemporaryDirectory(prefix="closet-snapshot-") as tmp:
        work = Path(tmp)
        # The probe is synthetic: it stands in only when no real model is built.
        mars = [store / f"{n}.mar" for n in built] or [monitoring.build_probe_mar(work / "mars")]
        models = built or [monitoring.PROBE_MODEL]
        log.info("serving %s", models)
        with ephemeral(work / "ts", mars) as ts:
            targets = monitoring.scrape_targets(ts)
            with monitoring.run_prometheus(targets, work / "prometheus", scrape_interval="1s") as prom:
                monitoring.wait_for(prom.targets_up, 30, what="Prometheus targets up")
                urls = {m: f"{ts.inference_url}/predictions/{m}" for m in models}
                start = time.time()
                stop = threading.Event()
                try:
                    drive(urls, args.seconds, stop)
                finally:
                    stop.set()
                time.sleep(3)  # last scrapes
                plot(prom, start, time.time(), Path(args.out), models)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    sys.exit(main())
