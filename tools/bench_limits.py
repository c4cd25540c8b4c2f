#!/usr/bin/env python
"""Time at the limits (`make bench-limits`): the ensemble in-process on a batch of photos at
limits.max_pixels, per stage, with the process's peak RSS, against the closet model's
response_timeout_s (past it TorchServe kills the worker and fails the whole batch).

Usage: python tools/bench_limits.py [--batch 4] [--pixels N] [--json out/bench/limits.json]
The photo is the astronaut upscaled to a square of `--pixels` (default limits.max_pixels), sent
as a JPEG, one target per request, JPEG answers (a PNG this size is over max_response_size).
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import resource
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import cv2
from PIL import Image

from closet import config as closet_config
from closet import ensemble
from closet_dev.launcher import under_serving_env
from closet_dev.mar import load_ensemble

log = logging.getLogger("bench_limits")
ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    cfg = closet_config.load()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=cfg.model("closet").batch_size)
    p.add_argument("--pixels", type=int, default=cfg.limits.max_pixels)
    p.add_argument("--mar", default=str(ROOT / "model-store" / "closet.mar"))
    p.add_argument("--json", default=str(ROOT / "out" / "bench" / "limits.json"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from skimage import data

    side = math.isqrt(args.pixels)
    photo = cv2.resize(data.astronaut(), (side, side), interpolation=cv2.INTER_CUBIC)
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, "JPEG", quality=90)
    ens = load_ensemble(args.mar)
    targets = ens.describe()["targets"]
    requests = [ensemble.Request(buf.getvalue(), target=targets[i % len(targets)], seed=7, format="jpeg")
                for i in range(args.batch)]
    stages: dict[str, float] = {}

    @contextmanager
    def timer(stage):
        t = time.perf_counter()
        yield
        stages[stage] = round(time.perf_counter() - t, 2)

    t = time.perf_counter()
    out = ens.run(requests, timer)
    seconds = time.perf_counter() - t
    timeout = cfg.model("closet").response_timeout_s
    report = {
        "photo": f"{side}x{side}", "batch": args.batch, "seconds": round(seconds, 1), "stages": stages,
        "answers": [type(o).__name__ for o in out],
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "response_timeout_s": timeout, "margin": round(timeout / seconds, 2),
    }
    log.info("%s x%d: %.1f s (%s), peak RSS %.1f GB; response_timeout_s %d: margin %.1f",
             report["photo"], args.batch, seconds, stages, report["peak_rss_bytes"] / 1e9, timeout, report["margin"])
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0 if all(isinstance(o, ensemble.Output) for o in out) and seconds < timeout else 1


if __name__ == "__main__":
    under_serving_env()  # time and peak RSS as a worker runs, under its OpenMP and malloc policies
    sys.exit(main())
