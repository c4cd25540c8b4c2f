#!/usr/bin/env python
"""CPU latency of U^2-Net(-P) at 320x320: model forward, full predict_mask, and onnxruntime (as
served, and with its two other settings: threads spinning between calls, no memory arena), with
the memory one served session keeps after a batch.

Usage: python tools/bench_u2net.py [--arch u2netp] [--runs 11] [--threads 2] [--json out/bench/u2net.json]
Needs `make weights` (u2netp) or `make weights-u2net` (u2net). Numbers are wall-clock medians;
on a shared machine they are noisy, so report median and min.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from closet.models.u2net import load_checkpoint
from closet.stages.segment import predict_mask, predict_masks, preprocess

log = logging.getLogger("bench_u2net")
ROOT = Path(__file__).resolve().parents[1]


def _time(fn, runs: int) -> dict[str, float]:
    fn()  # warm-up: first call allocates and picks kernels
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(samples), "min_s": min(samples), "runs": runs}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", choices=["u2netp", "u2net"], default="u2netp")
    p.add_argument("--runs", type=int, default=11)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=4, help="batch size of the batched measurement")
    p.add_argument("--json", default=str(ROOT / "out" / "bench" / "u2net.json"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    from skimage import data

    net = load_checkpoint(ROOT / "model-store" / "weights" / f"{args.arch}.pth", arch=args.arch)
    photo = Image.fromarray(data.astronaut())
    x = preprocess(photo)[None]  # (1, 3, 320, 320)
    xb = x.repeat(args.batch, 1, 1, 1)  # (B, 3, 320, 320)
    results = {}
    with torch.inference_mode():
        results["forward_b1"] = _time(lambda: net(x), args.runs)
        results[f"forward_b{args.batch}"] = _time(lambda: net(xb), max(3, args.runs // 2))
    fast = load_checkpoint(ROOT / "model-store" / "weights" / f"{args.arch}.pth", arch=args.arch, optimize=True)
    with torch.inference_mode():
        results["forward_b1_optimized"] = _time(lambda: fast(x), args.runs)
    results["predict_mask_512px"] = _time(lambda: predict_mask(net, photo), args.runs)
    results[f"predict_masks_b{args.batch}_512px"] = _time(
        lambda: predict_masks(net, [photo] * args.batch, "cpu"), max(3, args.runs // 2)
    )
    try:
        import psutil

        from closet.runtime import export_onnx, onnx_session

        served = export_onnx(net, (3, 320, 320))  # the graph `make mars` packs (a free batch dimension)
        xn, xbn = x.numpy(), xb.numpy()
        # First, before any other session: what one served session holds after a batch (its arena).
        proc = psutil.Process()
        sess = onnx_session(served, args.threads)
        name = sess.get_inputs()[0].name
        before = proc.memory_info().rss
        sess.run(None, {name: xbn})
        results[f"onnxruntime_rss_growth_after_b{args.batch}_mib"] = (proc.memory_info().rss - before) / 2**20
        results["onnxruntime_b1"] = _time(lambda: sess.run(None, {name: xn}), args.runs)  # as served
        for key, kw in (("onnxruntime_b1_spinning", {"spinning": True}), ("onnxruntime_b1_no_arena", {"arena": False})):
            other = onnx_session(served, args.threads, **kw)
            results[key] = _time(lambda s=other: s.run(None, {name: xn}), args.runs)
        # The port against rembg's own ONNX export (the wheel's, batch 1): an independent check of the weights.
        upstream = onnx_session(ROOT / ".cache" / "onnx" / f"{args.arch}.onnx", args.threads)
        ref = upstream.run(None, {upstream.get_inputs()[0].name: xn})[0]
        with torch.inference_mode():
            ours = net(x)[0].numpy()
        results["onnx_max_abs_diff_output0_astronaut"] = float(np.abs(ref - ours).max())
    except Exception as e:  # the bench still reports the torch numbers
        log.warning("onnxruntime comparison skipped: %s", e)
    env = {
        "arch": args.arch,
        "torch": torch.__version__,
        "threads": args.threads,
        "cpu": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "loadavg_1m": os.getloadavg()[0],
    }
    out = {"env": env, "results": results}
    for k, v in results.items():
        if isinstance(v, dict):
            log.info("%-28s median %.3f s  min %.3f s  (%d runs)", k, v["median_s"], v["min_s"], v["runs"])
        else:
            log.info("%-28s %.3e", k, v)
    log.info("env: %s", env)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
