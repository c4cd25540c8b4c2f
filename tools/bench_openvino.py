#!/usr/bin/env python
"""OpenVINO against the served ONNX Runtime (`make bench-openvino`): the U^2-Net-P export packed in
model-store/closet.mar, on the package photos at 320 px, each runtime on the served thread count,
the calls alternating so that a drift of the box falls on both. It prints the p50 and the best time
of each, and the person mask IoU of OpenVINO f32 and bf16 against ONNX Runtime's.

The issue (#18) asked for the fastest maintained CPU runtime by measurement: this is the one that
made OpenVINO `auto`'s choice on CPU (closet/runtime.py); docs/speed.md keeps what it read.

Usage: python tools/bench_openvino.py [--runs 25] [--mar model-store/closet.mar] [--json out/bench/openvino.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import zipfile
from pathlib import Path

import numpy as np
import torch

from closet.runtime import onnx_session
from closet.stages.segment import U2NET_ONNX, is_person, norm_pred, postprocess, preprocess
from closet_dev import pose_photos
from closet_dev.answers import iou

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ("astronaut", "grace_hopper", "camera")


def openvino_model(onnx: bytes, precision: str, threads: int):
    """The export compiled by OpenVINO for the CPU at `precision` ("f32" or "bf16"), or None when
    the CPU has no bf16."""
    import openvino

    core = openvino.Core()
    if precision == "bf16" and "BF16" not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        return None
    model = core.read_model(onnx, b"")
    config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": precision,
              "PERFORMANCE_HINT": "LATENCY"}
    request = core.compile_model(model, "CPU", config).create_infer_request()
    return lambda x: request.infer({0: x})[0]


def person(saliency: np.ndarray) -> np.ndarray:
    """The person mask at 320 px as the stage makes it from U^2-Net's fused output."""
    prob = norm_pred(torch.from_numpy(saliency[:, 0])).numpy()[0]
    return is_person(postprocess(prob, prob.shape[::-1]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=25)
    ap.add_argument("--mar", default=str(ROOT / "model-store" / "closet.mar"))
    ap.add_argument("--json", default=str(ROOT / "out" / "bench" / "openvino.json"))
    args = ap.parse_args(argv)

    with zipfile.ZipFile(args.mar) as z:
        onnx = z.read(U2NET_ONNX)
    threads = torch.get_num_threads()
    served = onnx_session(onnx, threads)
    name = served.get_inputs()[0].name
    runtimes = {"onnxruntime f32": lambda x: served.run(None, {name: x})[0]}
    for precision in ("f32", "bf16"):
        model = openvino_model(onnx, precision, threads)
        if model is not None:
            runtimes[f"openvino {precision}"] = model

    scenes = pose_photos.photos()
    photos = [preprocess(scenes[p]).numpy()[None] for p in PHOTOS]
    reference = [runtimes["onnxruntime f32"](x) for x in photos]
    result: dict = {"threads": threads, "runtimes": {}}
    for key, run in runtimes.items():
        masks = [person(run(x)) for x in photos]
        result["runtimes"][key] = {
            "mask_iou": {p: round(iou(m, person(r)), 4) for p, m, r in zip(PHOTOS, masks, reference)},
            "largest_difference": float(max(np.abs(run(x) - r).max() for x, r in zip(photos, reference))),
            "samples": []}
    for i in range(args.runs):  # alternating, one photo a round
        x = photos[i % len(photos)]
        for key, run in runtimes.items():
            t0 = time.perf_counter()
            run(x)
            result["runtimes"][key]["samples"].append(time.perf_counter() - t0)

    print(f"U^2-Net-P export ({U2NET_ONNX} in {Path(args.mar).name}) at 320 px, {threads} threads, "
          f"{args.runs} alternating calls:")
    for key, r in result["runtimes"].items():
        samples = r.pop("samples")
        r["p50_s"], r["best_s"] = statistics.median(samples), min(samples)
        ious = ", ".join(f"{p} {v:.4f}" for p, v in r["mask_iou"].items())
        print(f"  {key:16s} p50 {r['p50_s']:.3f} s, best {r['best_s']:.3f} s; mask IoU against "
              f"onnxruntime: {ious}; largest output difference {r['largest_difference']:.2g}")
    if len(runtimes) < 3:
        print("  openvino bf16: this CPU has no bf16")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
