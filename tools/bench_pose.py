#!/usr/bin/env python
"""CPU latency of BlazePose detect(): the port (OpenVINO, the CPU default; ONNX Runtime; PyTorch) vs LiteRT, beside U^2-Net-P.

Usage: python tools/bench_pose.py [--runs 21] [--threads 2] [--json out/bench/pose.json]
                                 [--pipeline model-store/closet.mar]
Needs `make weights`. One image per call, at 512x512 (the astronaut) and 4000x3000 (the same
photo upscaled, as a phone picture); detect() looks at the whole image and its tiles
(closet.pose.detector_windows), `_single_scale` at the whole image only (max_inputs=1, as
MediaPipe), which shows what the tiles cost. The candidates run round-robin, one call each per
round, so load from other processes on this shared machine hits them alike; p50 and min in ms.
The stage budget: the pose stage may add at most 10% to the pipeline's p50, whose biggest part
is U^2-Net-P (`pose / U^2-Net-P` in the output). With --pipeline, the whole default pipeline
(closet.ensemble in process, from that ensemble archive) runs on the 512x512 photo too, once
with detect() as it is and once at the single scale, and the output gives detect() as a share
of it (`pose / pipeline`).
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import logging
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from closet import pose
from closet.config import NetworkRuntime
from closet.models.u2net import load_checkpoint

try:  # closet/segmentation.py becomes closet/stages/segment.py in the stages layout
    from closet.stages.segment import predict_masks
except ImportError:
    from closet.segmentation import predict_masks

log = logging.getLogger("bench_pose")
ROOT = Path(__file__).resolve().parents[1]


def round_robin(candidates: dict, runs: int) -> dict[str, dict[str, float]]:
    """Wall-clock p50/min and CPU-time p50 in ms of each zero-argument callable, calls
    interleaved; one warm-up call each. With one thread the CPU time is the work itself,
    whatever else runs on the machine; with more it also counts threads waiting for work."""
    for fn in candidates.values():
        fn()
    wall: dict[str, list[float]] = {name: [] for name in candidates}
    cpu: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(runs):
        for name, fn in candidates.items():
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    return {
        name: {
            "p50_ms": 1000 * statistics.median(wall[name]),
            "min_ms": 1000 * min(wall[name]),
            "cpu_p50_ms": 1000 * statistics.median(cpu[name]),
            "runs": runs,
        }
        for name in candidates
    }


def pipeline_candidates(mar: Path, image: np.ndarray) -> dict[str, Callable[[], None]]:
    """One in-process Ensemble.run on `image` (PNG, default options) from the ensemble archive
    `mar`, with the pose parser's detect() as it is and at the single scale (max_inputs=1)."""
    from closet import ensemble
    from closet_dev.mar import load_ensemble

    ens = load_ensemble(mar)
    poses = getattr(ens.parser, "poses", None)
    if poses is None:
        raise SystemExit(f"bench_pose: {mar} parses with {ens.parser.name}, not the pose parser")
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    request = ensemble.Request(image=buf.getvalue())
    detect = poses.detect

    def run(chosen) -> Callable[[], None]:
        def call() -> None:
            poses.detect = chosen  # this instance only: the parse stage calls self.poses.detect
            out = ens.run([request])[0]
            assert isinstance(out, ensemble.Output), out

        return call

    return {"pipeline_512": run(detect), "pipeline_512_single_scale": run(functools.partial(detect, max_inputs=1))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=21)
    p.add_argument("--threads", type=int, default=2, help="torch and LiteRT threads (this machine has 2 cores)")
    p.add_argument("--json", default=str(ROOT / "out" / "bench" / "pose.json"))
    p.add_argument("--pipeline", metavar="MAR", help="also time the whole pipeline from this ensemble archive")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    from closet_dev import pose_photos
    from closet_dev.blazepose_oracle import OraclePoseEstimator

    weights = ROOT / "model-store" / "weights"
    port = pose.PoseEstimator.load(weights)  # the CPU default (`auto`: OpenVINO)
    ort = pose.PoseEstimator.load(weights, choice=NetworkRuntime("onnxruntime"))  # the same export in ONNX Runtime
    eager = pose.PoseEstimator.load(weights, choice=NetworkRuntime("torch"))  # the same port in PyTorch
    litert = OraclePoseEstimator.load(ROOT / ".cache" / "blazepose", num_threads=args.threads)
    u2netp = load_checkpoint(weights / "u2netp.pth", arch="u2netp")

    small = pose_photos.astronaut()  # 512x512
    large = cv2.resize(small, (4000, 3000), interpolation=cv2.INTER_LINEAR)
    small_pil = Image.fromarray(small)
    assert len(port.detect([small])[0]) == 1 and len(port.detect([large])[0]) == 1
    small_batch = np.stack([pose.detector_input(small)[0]])
    crop_batch = np.stack([pose.landmark_input(small, port.detect([small])[0][0].roi.astype(np.float64))])

    pipeline = pipeline_candidates(Path(args.pipeline), small) if args.pipeline else {}
    with torch.inference_mode():
        results = round_robin(
            {
                **pipeline,
                "port_detect_512": lambda: port.detect([small]),
                "port_detect_512_single_scale": lambda: port.detect([small], max_inputs=1),
                "litert_detect_512": lambda: litert.detect([small]),
                "port_detect_4000x3000": lambda: port.detect([large]),
                "port_detect_4000x3000_single_scale": lambda: port.detect([large], max_inputs=1),
                "litert_detect_4000x3000": lambda: litert.detect([large]),
                "port_detector_forward": lambda: port.run_detector(small_batch),
                "port_landmark_forward": lambda: port.run_landmark(crop_batch),
                "onnxruntime_detect_512": lambda: ort.detect([small]),
                "onnxruntime_detector_forward": lambda: ort.run_detector(small_batch),
                "onnxruntime_landmark_forward": lambda: ort.run_landmark(crop_batch),
                "torch_detect_512": lambda: eager.detect([small]),
                "torch_detector_forward": lambda: eager.run_detector(small_batch),
                "torch_landmark_forward": lambda: eager.run_landmark(crop_batch),
                "u2netp_predict_masks_512": lambda: predict_masks(u2netp, [small_pil], "cpu"),
            },
            args.runs,
        )
    u2 = results["u2netp_predict_masks_512"]
    share = {k: results[k]["p50_ms"] / u2["p50_ms"] for k in results if "detect_" in k}
    cpu_share = {k: results[k]["cpu_p50_ms"] / u2["cpu_p50_ms"] for k in results if "detect_" in k}
    tiles_cost = {
        size: results[f"port_detect_{size}"]["cpu_p50_ms"] / results[f"port_detect_{size}_single_scale"]["cpu_p50_ms"]
        for size in ("512", "4000x3000")
    }
    # detect() over the pipeline that ran it (the same detect() inside): the 10% budget.
    pipeline_share = {
        f"port_detect_512{variant}": results[f"port_detect_512{variant}"]["cpu_p50_ms"]
        / results[f"pipeline_512{variant}"]["cpu_p50_ms"]
        for variant in ("", "_single_scale")
        if pipeline
    }
    report = {
        "threads": args.threads,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
        "detector_inputs": {
            "512": len(pose.detector_windows(512, 512)),
            "4000x3000": len(pose.detector_windows(4000, 3000)),
        },
        "multi_over_single_scale_cpu_p50": tiles_cost,
        "pose_cpu_p50_over_pipeline_cpu_p50": pipeline_share,
        # Other processes share the 2 cores: the 1-minute load average at the end of the run.
        "load_average_1min": os.getloadavg()[0],
        "machine": {"cpus": torch.get_num_threads(), "platform": platform.platform(), "torch": torch.__version__},
        "results": results,
        "pose_p50_over_u2netp_p50": share,
        "pose_cpu_p50_over_u2netp_cpu_p50": cpu_share,
    }
    for name, r in results.items():
        log.info(
            "%-36s p50 %7.1f ms   min %7.1f ms   cpu p50 %7.1f ms", name, r["p50_ms"], r["min_ms"], r["cpu_p50_ms"]
        )
    for name, ratio in share.items():
        log.info("%-36s / U^2-Net-P: p50 %.1f%%, cpu p50 %.1f%%", name, 100 * ratio, 100 * cpu_share[name])
    for name, ratio in pipeline_share.items():
        log.info("%-36s / its pipeline: cpu p50 %.1f%%", name, 100 * ratio)
    for size, ratio in tiles_cost.items():
        log.info(
            "detect %-9s %d detector inputs: cpu p50 %.2fx the single scale's",
            size,
            report["detector_inputs"][size],
            ratio,
        )
    log.info("load average (1 min) at the end: %.1f on %d cores", report["load_average_1min"], os.cpu_count())
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    log.info("wrote %s", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
