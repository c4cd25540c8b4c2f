"""Latency of the two parsers on this machine's CPU (`make bench-parsing`).

  SCHP ATR at 512x512, random weights (timing only; no checkpoint is needed): the network
    alone, and parse() end to end (letterbox, forward, inverse affine, argmax) on skimage's astronaut.
  The default torso estimator on the astronaut: U^2-Net-P masks + face/skin geometry.
Prints one JSON document (medians and minima in seconds) and the MAR size, if built.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import skimage.data
import torch
from PIL import Image

from closet import parsing, torso
from closet.config import REPO_ROOT
from closet.models import schp

log = logging.getLogger("bench_parsing")


def timed(fn, runs: int) -> dict:
    """Wall seconds (median, min) and process CPU seconds (median; all threads) over `runs` after a warm-up.

    On a shared host wall time inflates with other load; CPU time much less so.
    """
    fn()  # warm-up
    walls, cpus = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return {
        "median_s": round(statistics.median(walls), 3), "min_s": round(min(walls), 3),
        "cpu_median_s": round(statistics.median(cpus), 3), "runs": runs,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--u2net", default=str(REPO_ROOT / "model-store" / "weights" / "u2netp.pth"))
    ap.add_argument("--out", default=str(REPO_ROOT / "out" / "bench-parsing.json"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    photo = skimage.data.astronaut()
    torch.manual_seed(0)
    net = schp.build("atr").eval()
    x = torch.randn(1, 3, 512, 512)
    report: dict = {
        "env": {
            "torch": torch.__version__, "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2),
        }
    }
    with torch.inference_mode():
        report["schp_atr_forward_512"] = timed(lambda: net(x), args.runs)
    report["schp_atr_parse_astronaut"] = timed(lambda: parsing.parse(net, photo, "atr"), args.runs)
    net = None  # free ~270 MB before the estimator runs

    est = torso.load(args.u2net, "u2netp")
    img = Image.fromarray(photo)
    report["torso_estimate_astronaut"] = timed(lambda: est.estimate_batch([img]), args.runs)
    from closet.stages.segment import predict_masks

    mask = predict_masks(est.net, [img])[0]
    report["torso_geometry_only_astronaut"] = timed(lambda: torso.estimate(np.asarray(img), mask), args.runs)

    mar = REPO_ROOT / "model-store" / "parsing.mar"
    report["parsing_mar_bytes"] = mar.stat().st_size if mar.is_file() else None
    report["env"]["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    text = json.dumps(report, indent=2)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + "\n", encoding="utf-8")
    log.info("%s", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
