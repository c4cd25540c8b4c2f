"""`make framings`: the swap on the evaluation photos framed every way a user might send them.

A user's photo is not framed as the package photos are: a person cut anywhere, tiny or huge, on
their side. Each framing is seeded and drawn at random from a scene of `make eval-swap`
(closet_dev.eval_swap.scenes; with `--photos DIR`, from every image in DIR): a crop of 25-100% of
each side, anywhere in the photo, scaled 0.15x to 3x (longer side at most MAX_SIDE), a quarter
turn one time in four. It goes to the served
ensemble in-process as PNG, for every target, `person=all`. Every answer must be one of:
  - a swap: the photo's own size, a garment in `result_mask`, and every pixel outside the dilated
    union of `garment_mask` and `result_mask` byte-identical (closet.stages.composite's guarantee);
  - a 422 the user can act on (ACCEPTED): a crop that shows nobody, or nobody's torso.
Anything else, an exception or another error, fails. Prints a line per framing and a summary,
writes <out>/sheet-NN.png (each swapped framing: the input, then every target) and <out>/framings.json,
and exits 1 on any failure. `--docs` also draws docs/swap/framings.png: the first DOC_ROWS swapped
framings of the photos whose pictures may be committed (eval_swap.committable).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import traceback
from pathlib import Path

import cv2
import numpy as np
import torch

from closet import config as closet_config
from closet import ensemble
from closet.errors import NoGarment, NoPerson
from closet.imageio import encode_image
from closet.stages.composite import dilate, dilation_radius
from closet_dev.eval_swap import committable, grid, scenes
from closet_dev.mar import load_ensemble

log = logging.getLogger("closet_dev.framings")

ACCEPTED = (NoPerson, NoGarment)
SCALES = (0.15, 0.3, 0.6, 1.0, 1.0, 1.7, 3.0)  # 1.0 twice: most photos arrive at their own size
MIN_SHARE = 0.25  # the smallest crop, per side
TURN_SHARE = 0.25  # the share of framings sent on their side or upside down
MAX_SIDE = 4000  # a phone photo's longer side; larger ones only cost time
SHEET_ROWS = 8
DOC_ROWS = 6


def framing(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """One random crop of `image`, scaled and perhaps turned, and how it was made."""
    h, w = image.shape[:2]
    ch, cw = (max(1, int(n * rng.uniform(MIN_SHARE, 1.0))) for n in (h, w))
    y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    scale = float(rng.choice(SCALES))
    scale = min(scale, MAX_SIDE / max(ch, cw))
    size = (max(8, round(cw * scale)), max(8, round(ch * scale)))
    crop = cv2.resize(image[y0:y0 + ch, x0:x0 + cw], size,
                      interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    turns = int(rng.integers(1, 4)) if rng.random() < TURN_SHARE else 0
    return np.ascontiguousarray(np.rot90(crop, turns)), f"crop y{y0} x{x0} {cw}x{ch}, x{scale:.2f}, {turns} turns"


def failures(photo: np.ndarray, answer: ensemble.Output | Exception) -> list[str]:
    """What is wrong with one answer to `photo` (uint8 RGB, as sent); [] when nothing is."""
    if isinstance(answer, ACCEPTED):
        return []
    if not isinstance(answer, ensemble.Output):
        return [f"{type(answer).__name__}: {answer}"]
    if answer.image.shape != photo.shape:
        return [f"answer {answer.image.shape} for a photo {photo.shape}"]
    wrong = []
    if not answer.result_mask.any():
        wrong.append("an empty result_mask")
    kept = ~dilate(answer.garment | answer.result_mask, dilation_radius(photo.shape))
    changed = int(((answer.image != photo).any(axis=-1) & kept).sum())
    if changed:
        wrong.append(f"{changed} pixels changed outside the dilated garments")
    return wrong


def run(ens: ensemble.Ensemble, count: int, seed: int,
        photos: Path | None = None) -> tuple[list[dict], list[tuple[str, list[np.ndarray]]]]:
    """`count` framings of the evaluation scenes (or of every image in `photos`), every target each:
    one record per framing, and (scene, row: the input, then each target's answer) of those that
    were swapped."""
    rng = np.random.default_rng(seed)
    todo = scenes(photos)
    if not todo:
        raise SystemExit(f"no photos in {photos}")
    domains = ens.translator.domains
    records, rows = [], []
    for i in range(count):
        name, image = todo[int(rng.integers(len(todo)))]
        photo, how = framing(image, rng)
        requests = [ensemble.Request(image=encode_image(photo, "png")[0], target=t, seed=seed, person="all")
                    for t in domains]
        start = time.perf_counter()
        try:
            answers = ens.run(requests)
        except Exception as e:  # noqa: BLE001 -- what escapes the ensemble is the finding
            traceback.print_exc()
            answers = [e] * len(domains)
        wrong = {t: w for t, a in zip(domains, answers) if (w := failures(photo, a))}
        swapped = [a for a in answers if isinstance(a, ensemble.Output)]
        records.append({"framing": i, "scene": name, "how": how, "size": list(photo.shape[1::-1]),
                        "seconds": round(time.perf_counter() - start, 3), "swapped": len(swapped),
                        "refused": sorted({type(a).__name__ for a in answers if isinstance(a, ACCEPTED)}),
                        "failures": wrong})
        log.info("%3d %-18s %-38s %9s %5.2fs swapped %d/%d%s", i, name, how, "x".join(map(str, photo.shape[1::-1])),
                 records[-1]["seconds"], len(swapped), len(domains), f"  FAILED {wrong}" if wrong else "")
        if swapped:
            rows.append((name, [photo] + [a.image for a in swapped]))
    return records, rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mar", type=Path, default=Path("model-store") / f"{closet_config.ENSEMBLE}.mar")
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("out/framings"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--photos", type=Path, help="frame every image in this folder instead of the built-in set")
    p.add_argument("--docs", action="store_true", help="also draw docs/swap/framings.png (committable photos)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    records, rows = run(load_ensemble(args.mar), args.count, args.seed, args.photos)
    for stale in args.out.glob("sheet-*.png"):  # a longer earlier run's
        stale.unlink()
    for k in range(0, len(rows), SHEET_ROWS):
        sheet = grid([row for _, row in rows[k:k + SHEET_ROWS]], 128)
        cv2.imwrite(str(args.out / f"sheet-{k // SHEET_ROWS:02d}.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if args.docs and args.photos is None:
        shown = [row for name, row in rows if committable(name)][:DOC_ROWS]
        cv2.imwrite("docs/swap/framings.png", cv2.cvtColor(grid(shown, 96), cv2.COLOR_RGB2BGR))
    failed = [r for r in records if r["failures"]]
    summary = {"framings": len(records), "swapped": sum(bool(r["swapped"]) for r in records),
               "refused": sum(not r["swapped"] and not r["failures"] for r in records), "failed": len(failed),
               "seconds_p50": float(np.median([r["seconds"] for r in records])) if records else None,
               "seed": args.seed}
    (args.out / "framings.json").write_text(json.dumps({"summary": summary, "framings": records}, indent=1) + "\n")
    log.info("framings: %s", summary)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
