"""Autoscaling under load, with the real signal: step-shaped Locust load on a real TorchServe,
a real Prometheus (monitoring/ config and rules) scraping it, and the chart's HPA computed on the
exact adapter query at every sync. Passes when the desired replicas rise above the minimum
under load and come back to the minimum after the load stops.

    python tools/autoscale_check.py --out docs/autoscale.png      # `make autoscale-check`

Inputs, none retyped: the query from k8s/prometheus-adapter-values.yaml (series = the record of
monitoring/rules/autoscaling.yml, which Prometheus evaluates here), min/max/target/behavior from
helm/closet/values.yaml. Knobs:
  --values FILE      a values overlay, as `helm -f` (make: helm/closet/values-cpu.yaml, the CPU
                     profile: target 2 s, max 8 replicas; this machine is a CPU pod).
  --target S         HPA target (mean queue seconds per request); default the (overlaid) chart's
                     targetAverageValue. This 2-core shared machine queues more than a real CPU
                     pod, so a different target can be set here without editing the chart.
  --time-scale F     multiplies every stabilisation window and policy period (default 0.05:
                     the chart's 600 s scale-down window becomes 30 s) so the check sees the way down.
  --model NAME       model under load (default closet when its MAR is built, else segmentation).
The simulated HPA's "current replicas" is its own previous decision, and each simulated pod is
taken to see what the one real pod sees (an upper bound: real extra pods would share the load).
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from closet.config import REPO_ROOT
from closet_dev import autoscale, monitoring
from closet_dev.torchserve import ephemeral

log = logging.getLogger("autoscale_check")
LOCUST = Path(sys.executable).parent / "locust"


def _value(prom: monitoring.Prometheus, query: str) -> float | None:
    res = prom.query(query)
    rows = res.get("data", {}).get("result", [])
    if res.get("status") != "success":
        raise RuntimeError(f"query failed: {res}")
    return float(rows[0]["value"][1]) if rows else None


def plot(samples: list[dict], spec: autoscale.HpaSpec, out: Path, title: str, load_end: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s["t"] for s in samples]
    fig, (ax_m, ax_r) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    ax_m.plot(t, [s["value"] if s["value"] is not None else float("nan") for s in samples], label="metric (adapter query)")
    ax_m.axhline(spec.target, ls="--", color="tab:red", label=f"target {spec.target:g} s")
    ax_m.set_yscale("symlog", linthresh=0.1)
    ax_m.set_ylim(bottom=0)
    ax_m.set_ylabel("queue s / request (symlog)")
    ax_u = ax_m.twinx()
    ax_u.step(t, [s["users"] for s in samples], where="post", color="tab:gray", alpha=0.5, label="shape users (then in-flight requests finish)")
    ax_u.set_ylabel("users")
    ax_m.legend(loc="upper left", fontsize=8)
    ax_u.legend(loc="upper right", fontsize=8)
    ax_r.step(t, [s["replicas"] for s in samples], where="post", color="tab:green", label="HPA desired replicas")
    ax_r.step(t, [s["raw"] for s in samples], where="post", color="tab:olive", ls=":", label="raw ceil(cur*value/target)")
    ax_r.axhline(spec.min_replicas, ls="--", color="k", alpha=0.4)
    ax_r.axhline(spec.max_replicas, ls="--", color="k", alpha=0.4)
    ax_r.set_ylim(0, spec.max_replicas + 1)
    for ax in (ax_m, ax_r):
        ax.axvline(load_end, color="tab:purple", ls="-.", alpha=0.5)
    ax_r.set_ylabel("replicas")
    ax_r.set_xlabel("seconds (dash-dot: Locust exits, last in-flight request answered)")
    ax_r.legend(loc="upper right", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="")
    ap.add_argument("--values", action="append", default=[],
                    help="values overlay merged over helm/closet/values.yaml, like helm -f (repeatable)")
    ap.add_argument("--target", type=float, default=None, help="HPA target override (seconds); default: chart value")
    ap.add_argument("--time-scale", type=float, default=0.05)
    ap.add_argument("--peak-users", type=int, default=6)
    ap.add_argument("--load-seconds", type=float, default=160)
    ap.add_argument("--drain-timeout", type=float, default=300, help="seconds to wait for the way down")
    ap.add_argument("--sync", type=float, default=5.0, help="seconds between HPA syncs (Kubernetes: 15)")
    ap.add_argument("--scrape", default="2s")
    ap.add_argument("--out", default="docs/autoscale.png")
    ap.add_argument("--reports", default="loadtest/reports/autoscale")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    store = REPO_ROOT / "model-store"
    model = a.model or ("closet" if (store / "closet.mar").is_file() else "segmentation")
    mar = store / f"{model}.mar"
    if not mar.is_file():
        log.error("%s is not built (make mars)", mar)
        return 2
    spec = autoscale.HpaSpec.from_values(target=a.target, time_scale=a.time_scale,
                                         overlays=tuple(Path(v) for v in a.values))
    series, query = autoscale.adapter_query()
    rule = monitoring.autoscaling_rule()
    if series != rule.name:
        log.error("adapter series %s is not the autoscaling record %s", series, rule.name)
        return 2
    log.info("model %s; query %s; %s", model, query, spec)
    reports = Path(a.reports)
    reports.mkdir(parents=True, exist_ok=True)

    samples: list[dict] = []
    hpa = autoscale.Hpa(spec)
    with tempfile.TemporaryDirectory(prefix="closet-autoscale-") as tmp:
        tmp = Path(tmp)
        with ephemeral(tmp / "ts", [mar]) as server:
            target = server.metrics_url.split("://", 1)[1]
            with monitoring.run_prometheus(target, tmp / "prom", scrape_interval=a.scrape) as prom:
                monitoring.wait_for(prom.targets_up, 60, what="scrape target up")
                cmd = [str(LOCUST), "-f", str(REPO_ROOT / "loadtest" / "locustfile.py"), "--headless",
                       "-H", server.inference_url, "--model", model, "--shape", "step",
                       "--peak-users", str(a.peak_users), "--shape-seconds", str(a.load_seconds),
                       "--stop-timeout", "300", "--slo-file", "", "--csv", str(reports / "step"),
                       "--csv-full-history", "--html", str(reports / "step.html"), "--only-summary"]
                locust_log = open(reports / "locust.log", "w")
                proc = subprocess.Popen(cmd, stdout=locust_log, stderr=subprocess.STDOUT)
                t0 = time.monotonic()
                load_end = None
                try:
                    while True:
                        now = time.monotonic() - t0
                        if load_end is None and proc.poll() is not None:
                            load_end = now
                            log.info("load stopped at %.0f s (locust exit %s)", now, proc.returncode)
                        value = _value(prom, query)
                        raw = autoscale.desired_replicas(hpa.replicas, value or 0.0, spec.target)
                        replicas = hpa.step(now, value or 0.0)
                        users = 0 if load_end is not None else _users(now, a)
                        samples.append({"t": round(now, 1), "value": value, "raw": raw, "replicas": replicas, "users": users})
                        log.info("t=%5.0f users=%2d value=%s raw=%d replicas=%d", now, users,
                                 "none" if value is None else f"{value:.3f}", raw, replicas)
                        if load_end is not None and replicas == spec.min_replicas and (value or 0.0) == 0.0 \
                                and max(s["replicas"] for s in samples) > spec.min_replicas:
                            break
                        if load_end is not None and now - load_end > a.drain_timeout:
                            break
                        time.sleep(a.sync)
                finally:
                    if proc.poll() is None:
                        proc.terminate()
                        proc.wait(timeout=30)
                    locust_log.close()
    peak = max(s["replicas"] for s in samples)
    final = samples[-1]["replicas"]
    ok = peak > spec.min_replicas and final == spec.min_replicas
    summary = {"model": model, "query": query, "target": spec.target, "time_scale": a.time_scale,
               "min": spec.min_replicas, "max": spec.max_replicas, "peak_replicas": peak, "final_replicas": final,
               "peak_value": max((s["value"] or 0.0) for s in samples), "load_seconds": load_end,
               "back_to_min_after_s": round(samples[-1]["t"] - load_end, 1), "passed": ok, "samples": samples}
    (reports / "autoscale.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    title = (f"{model}: step load to {a.peak_users} users; HPA target {spec.target:g} s, max {spec.max_replicas}, "
             f"windows x{a.time_scale:g};\n"
             f"peak {peak} replicas, back to {final} {summary['back_to_min_after_s']:.0f} s after the load")
    plot(samples, spec, Path(a.out), title, load_end)
    log.info("peak replicas %d, final %d, peak metric %.2f s: %s", peak, final, summary["peak_value"],
             "PASS" if ok else "FAIL")
    return 0 if ok else 1


def _users(now: float, a) -> int:
    sys.path.insert(0, str(REPO_ROOT / "loadtest"))
    import shapes

    t = shapes.tick("step", now, a.peak_users, a.load_seconds)
    return t[0] if t else 0


if __name__ == "__main__":
    sys.exit(main())
