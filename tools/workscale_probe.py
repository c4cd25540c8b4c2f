#!/usr/bin/env python
"""What the working width costs a big photo (docs/swap.md, docs/speed.md).

The 12 MP bench photo (tools/bench_ensemble.phone_jpeg: the astronaut blown up to 4000x3000) is
swapped by the served ensemble in-process twice per target: with the parser and the shape render at
the photo's own size, and at closet.workscale.WORK_BODY_WIDTH. Prints, per target, the result
masks' IoU, the share of the garments' pixels that move by more than 8 levels, and both composite
times; writes a picture of the dress output (whole photo, then two 500 px crops at full size: full
size on the left, working width on the right).

Usage: python tools/workscale_probe.py [--out docs/speed/workscale_12mp.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from closet import ensemble, workscale  # noqa: E402
from closet_dev.answers import iou  # noqa: E402
from closet_dev.mar import load_ensemble  # noqa: E402

TARGETS = ("coat", "tshirt", "dress")
CROP = 500


def swap(ens, photo: bytes, target: str, width: float) -> tuple[ensemble.Output, float]:
    """The output at working width `width`, and its composite stage's seconds."""
    import bench_ensemble

    workscale.WORK_BODY_WIDTH = width
    out, _, stages = bench_ensemble.timed_run(ens, ensemble.Request(image=photo, target=target, seed=7))
    return out, stages["composite"]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("out/workscale_12mp.png"))
    args = p.parse_args(argv)
    import bench_ensemble

    working = workscale.WORK_BODY_WIDTH
    ens = load_ensemble(ROOT / "model-store" / "closet.mar")
    photo = bench_ensemble.phone_jpeg()
    for target in TARGETS:
        full, t_full = swap(ens, photo, target, 1e9)
        work, t_work = swap(ens, photo, target, working)
        union = full.result_mask | work.result_mask | full.garment
        moved = np.abs(full.image.astype(np.int16) - work.image.astype(np.int16)).max(axis=2) > 8
        print(f"{target:7s} result-mask IoU {iou(full.result_mask, work.result_mask):.3f}, "
              f"{100 * moved[union].mean():.1f}% of garment pixels move > 8 levels, "
              f"composite {t_full:.2f} s at full size, {t_work:.2f} s at {working:.0f} px")
    h, w = full.image.shape[:2]
    whole = np.concatenate([cv2.resize(im, (w // 8, h // 8), interpolation=cv2.INTER_AREA)
                            for im in (full.image, work.image)], axis=1)
    # two crops: the bared arm's edge (the garment's left edge, halfway down) and kept cloth (its middle)
    ys, xs = np.nonzero(full.result_mask)
    y0 = int(np.median(ys)) - CROP // 2
    spots = [(y0, int(xs.min())), (y0, int(np.median(xs)) - CROP // 2)]
    crops = [np.concatenate([im[y:y + CROP, x:x + CROP] for im in (full.image, work.image)], axis=1)
             for y, x in ((max(0, y), max(0, x)) for y, x in spots)]
    crops = np.concatenate(crops, axis=0)
    crops = cv2.resize(crops, (whole.shape[1], int(crops.shape[0] * whole.shape[1] / crops.shape[1])),
                       interpolation=cv2.INTER_AREA)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(np.concatenate([whole, crops], axis=0), cv2.COLOR_RGB2BGR))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
