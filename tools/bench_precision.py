#!/usr/bin/env python
"""What reduced precision changes (`make bench-precision`): U^2-Net-P person masks in tf32 / bf16 / fp16
(in the runtime `auto` picks for it: OpenVINO for bf16 on CPU, PyTorch on CUDA) against PyTorch
fp32, on the package photos, with p50 times; a precision the device lacks is reported as
refused, as a worker would refuse it at load (closet/runtime.py). Then what a user sees: the served
ensemble (model-store/closet.mar, in-process) with only u2net at that precision, and with every
network at it, each against the ensemble as configured: the answer's result_mask IoU and the share of output pixels moved by more
than 8 levels per photo, and the request's p50 on the 512x512 astronaut.

Usage: python tools/bench_precision.py [--device cpu|cuda] [--runs 5] [--model-dir DIR] [--json out/bench/precision.json]
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch

from closet.config import NetworkRuntime
from closet.runtime import UnsupportedRuntime
from closet.stages.segment import Segmenter
from closet_dev import pose_photos
from closet_dev.answers import answer_difference, iou
from closet_dev.floor import p50_seconds
from closet_dev.launcher import under_serving_env
from closet_dev.mar import every_network_in, load_ensemble

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ("astronaut", "grace_hopper", "camera")
MOVED = 8  # an output pixel "moved" when a channel changed by more than this many levels


def ensemble_effect(precision: str, images: list[np.ndarray], device: str, model_dir: Path | None, runs: int,
                    names: tuple[str, ...] | None) -> dict:
    """The served ensemble with the networks `names` (None: every one) at `precision`, each in the
    runtime `auto` picks, against the ensemble as configured (coat, seed 7)."""
    from closet.ensemble import Request
    from closet.imageio import encode_image

    base = load_ensemble(device=device, model_dir=model_dir)
    with every_network_in(precision, "auto", names=names):
        low = load_ensemble(device=device, model_dir=model_dir)
    requests = [Request(image=encode_image(im, "png")[0], target="coat", seed=7) for im in images]
    out: dict = {"result_iou": {}, "moved_share": {}}
    for name, req in zip(PHOTOS, requests):
        diff = answer_difference(base.run([req])[0], low.run([req])[0])
        out["result_iou"][name] = diff["result_mask_iou"]
        out["moved_share"][name] = diff[f"pixels_differing_over_{MOVED}"]
    for key, ens in (("configured_p50_s", base), ("p50_s", low)):
        out[key] = p50_seconds(functools.partial(ens.run, requests[:1]), runs)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--model-dir", type=Path, help="an extracted closet archive (it holds u2net.pth; default: model-store/*.mar)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    photos = pose_photos.photos()
    images = [photos[n] if photos[n].ndim == 3 else np.dstack([photos[n]] * 3) for n in PHOTOS]
    res: dict = {"device": args.device}
    with tempfile.TemporaryDirectory() as tmp:
        d = args.model_dir or tmp
        if not args.model_dir:
            with zipfile.ZipFile(ROOT / "model-store" / "segmentation.mar") as z:
                z.extractall(d)
        full = Segmenter.load(d, args.device, NetworkRuntime("torch", "fp32"))
        reference = full(images)
        res["fp32"] = {"p50_s": p50_seconds(functools.partial(full, images[:1]), args.runs)}
        print(f"U^2-Net-P on {args.device}, PyTorch: fp32 p50 {res['fp32']['p50_s']:.3f} s per 512x512 photo")
        for precision in ("tf32", "bf16", "fp16"):
            try:
                low = Segmenter.load(d, args.device, NetworkRuntime("auto", precision))
            except UnsupportedRuntime as e:
                res[precision] = {"refused": str(e)}
                print(f"  {precision}: refused at load: {e}")
                continue
            masks = low(images)
            ious = {n: iou(a >= 128, b >= 128) for n, a, b in zip(PHOTOS, masks, reference)}
            diff = max(int(np.abs(a.astype(int) - b.astype(int)).max()) for a, b in zip(masks, reference))
            res[precision] = {"p50_s": p50_seconds(functools.partial(low, images[:1]), args.runs), "mask_iou": ious,
                              "max_mask_difference": diff}
            res[precision]["runtime"] = low.runtime
            print(f"  {precision} ({low.runtime}): p50 {res[precision]['p50_s']:.3f} s ({res['fp32']['p50_s'] / res[precision]['p50_s']:.2f}x "
                  f"fp32); mask IoU against fp32 " + ", ".join(f"{n} {v:.4f}" for n, v in ious.items())
                  + f"; largest mask difference {diff}/255")
            for key, names, which in (("ensemble", ("u2net",), "u2net"), ("ensemble_every_network", None, "every network")):
                ens = res[precision][key] = ensemble_effect(precision, images, args.device, args.model_dir, args.runs, names)
                print(f"    the ensemble with {which} in {precision}: p50 {ens['p50_s']:.3f} s against "
                      f"{ens['configured_p50_s']:.3f} s as configured; result_mask IoU "
                      + ", ".join(f"{n} {v:.4f}" for n, v in ens["result_iou"].items()) + f"; output pixels moved > "
                      f"{MOVED} levels " + ", ".join(f"{n} {v:.2%}" for n, v in ens["moved_share"].items()))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    under_serving_env()  # the ensemble's p50 as a worker would run it
    sys.exit(main())
