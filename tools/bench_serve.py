"""Benchmark one model over real TorchServe: cold start and /predictions/<model> latency.

`make bench-serve` (segmentation) and `make bench-translation` (translation). Starts a private
TorchServe (free loopback ports, its own model store holding model-store/<model>.mar) and times:
  cold start  `torchserve --start` until the worker is READY (management describe), per run
  latency     sequential POSTs of each request kind of the model (REQUESTS), after warm-up requests
              segmentation: a 320x320 JPEG (skimage astronaut)
              translation:  the demo's 32x32 tshirt sample to dress, latent (seed 7) and reference-guided
Writes out/bench-<model>.json and prints a summary table.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests
from PIL import Image
from skimage import data

from closet import config as closet_config
from closet_dev.torchserve import ephemeral

REPO = closet_config.REPO_ROOT
SAMPLES = REPO / "assets" / "stargan-fmnist" / "samples"


def segmentation_requests() -> dict[str, dict]:
    buf = io.BytesIO()
    Image.fromarray(data.astronaut()).resize((320, 320), Image.BILINEAR).save(buf, format="JPEG", quality=90)
    return {"320x320 JPEG": {"data": buf.getvalue(), "headers": {"Content-Type": "image/jpeg"}}}


def translation_requests() -> dict[str, dict]:
    shirt, coat = (SAMPLES / "tshirt.png").read_bytes(), (SAMPLES / "coat.png").read_bytes()
    return {
        "latent (seed 7) 32x32 PNG": {
            "data": shirt, "headers": {"Content-Type": "image/png", "X-Closet-Target": "dress", "X-Closet-Seed": "7"}},
        "reference 32x32 PNG": {
            "files": {"image": ("tshirt.png", shirt, "image/png"), "reference": ("coat.png", coat, "image/png"),
                      "target": (None, "coat")}},
    }  # fmt: skip


REQUESTS = {"segmentation": segmentation_requests, "translation": translation_requests}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=sorted(REQUESTS), default="segmentation")
    ap.add_argument("--starts", type=int, default=2, help="cold starts to time")
    ap.add_argument("--requests", type=int, default=20, help="timed sequential requests per request kind")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--out", default="", help="default out/bench-<model>.json")
    args = ap.parse_args(argv)
    if not (REPO / "model-store" / f"{args.model}.mar").is_file():
        print(f"model-store/{args.model}.mar missing: run `make mars`", file=sys.stderr)
        return 1
    kinds = REQUESTS[args.model]()
    cold, lat = [], {}
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as d:
        for i in range(args.starts):
            with ephemeral(Path(d) / f"run{i}", [REPO / "model-store" / f"{args.model}.mar"]) as ts:
                cold.append(ts.startup_s)
                if i == args.starts - 1:
                    lat = time_requests(ts.url(args.model), kinds, args)
    result = {
        "model": args.model,
        "cold_start_s": [round(x, 2) for x in cold],
        "latency_s": {kind: summary(xs) for kind, xs in lat.items()},
        "cpus": os.cpu_count(),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),  # shared machines: read numbers with this
    }
    out = REPO / (args.out or f"out/bench-{args.model}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"cold start (torchserve --start -> {args.model} READY): " + ", ".join(f"{x:.1f} s" for x in cold))
    for kind, s in result["latency_s"].items():
        print(f"POST /predictions/{args.model} {kind}, {s['n']} sequential: "
              f"p50 {s['p50']:.3f} s, p90 {s['p90']:.3f} s, min {s['min']:.3f} s")  # fmt: skip
    print(f"wrote {out.relative_to(REPO)}")
    return 0


def time_requests(url: str, kinds: dict[str, dict], args) -> dict[str, list[float]]:
    """Seconds per sequential request of each kind, after `args.warmup` untimed ones."""
    http, lat = requests.Session(), {}
    for kind, req in kinds.items():
        for _ in range(args.warmup):
            http.post(url, timeout=120, **req).raise_for_status()
        lat[kind] = []
        for _ in range(args.requests):
            t0 = time.perf_counter()
            http.post(url, timeout=120, **req).raise_for_status()
            lat[kind].append(time.perf_counter() - t0)
    return lat


def summary(xs: list[float]) -> dict:
    xs = sorted(xs)
    return {"n": len(xs), "min": round(xs[0], 3), "p50": round(statistics.median(xs), 3),
            "p90": round(xs[int(0.9 * (len(xs) - 1))], 3), "max": round(xs[-1], 3)}


if __name__ == "__main__":
    sys.exit(main())
