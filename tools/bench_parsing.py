"""Latency of the parsers on this machine's CPU (`make bench-parsing`), on skimage's astronaut.

  segmentation: the U^2-Net-P person mask (closet.stages.segment), the stage beside it;
  pose: BlazePose detect() (closet.pose), and the whole pose-garment parse stage (detect + the
    garment mask, closet.stages.parse), and its share of segmentation + parse;
  SCHP ATR at 512x512, random weights (timing only; no checkpoint is needed): the network alone,
    and parse() end to end (letterbox, forward, inverse affine, argmax).
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

import skimage.data
import torch

from closet import parsing, pose
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

    from closet.models.u2net import load_checkpoint
    from closet.stages.parse import Parser
    from closet.stages.segment import Segmenter

    segmenter = Segmenter(load_checkpoint(args.u2net, "u2netp", optimize=True), "u2netp", torch.device("cpu"))
    estimator = pose.PoseEstimator.load(Path(args.u2net).parent)
    parser = Parser(parsing.POSE_LABEL_SPACE, poses=estimator)
    mask = segmenter([photo])[0]
    report["segmentation_astronaut"] = timed(lambda: segmenter([photo]), args.runs)
    report["pose_detect_astronaut"] = timed(lambda: estimator.detect([photo]), args.runs)
    report["pose_garment_parse_astronaut"] = timed(lambda: parser([photo], [mask]), args.runs)
    seg, parse_s = report["segmentation_astronaut"]["median_s"], report["pose_garment_parse_astronaut"]["median_s"]
    report["pose_share_of_segmentation_plus_parse"] = round(parse_s / (seg + parse_s), 3)
    log.info("segmentation p50 %.3f s, pose detect p50 %.3f s, pose-garment parse p50 %.3f s (%.0f%% of the two)",
             seg, report["pose_detect_astronaut"]["median_s"], parse_s, 100 * report["pose_share_of_segmentation_plus_parse"])

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
