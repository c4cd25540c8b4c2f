"""`make eval-swap`: the garment swap judged on package photos, for every target.

For each scene of closet_dev.package_photos (photos, mirror images, crops, two people side by
side), each person and each translator domain, `swap_one` runs the in-process pipeline
(U^2-Net-P person mask, pose-garment mask, canonical view, StarGAN v2, shape render) and the
figures below are taken; per photo and overall:

  hit      share of (person, target) pairs whose output garment, brought into the canonical
           frame by closet.render.canonical_view (the same function that made the translator's
           input), the project's Fashion-MNIST classifier puts in the target class (argmax over
           the 5 upper-garment classes); goal >= 70%
  colour   CIE a*b* distance between the mean colour of the input garment (its mask) and of
           the output garment (result_mask); goal <= 4
  detail   Laplacian variance of the gray output inside result_mask / of the input inside the
           garment mask; goal >= 0.6
  spread   mean IoU of the result_masks of two different targets of the same person; goal <= 0.85

Writes out/eval-swap/metrics.json and the grid (scenes as rows, input then targets as columns).
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from closet import render
from closet.garment import GarmentParse, garment_mask, to_lab

log = logging.getLogger("closet_dev.eval_swap")

STARGAN = "assets/stargan-fmnist/nets_ema.ckpt"
STARGAN_META = "assets/stargan-fmnist/meta.json"
CLASSIFIER = "assets/fmnist-classifier/fmnist_cnn.pt"
GOALS = {"hit": (">=", 0.70), "colour": ("<=", 4.0), "detail": (">=", 0.6), "spread": ("<=", 0.85)}


@dataclass
class Swap:
    image: np.ndarray
    parse: GarmentParse
    source: render.CanonicalView
    generated: np.ndarray
    result: render.RenderResult
    render_ms: float


def swap_one(translator, image: np.ndarray, person: np.ndarray, keypoints, target: str, seed: int = 7,
             preserve_color: bool = True) -> Swap:
    """One person's garment swapped to `target` in-process: the stand-in for the ensemble call."""
    from PIL import Image

    from closet.stages import translate as tr

    parse = garment_mask(image, person, keypoints)
    size = int(translator.img_size)
    source = render.canonical_view(image, parse.mask, parse.body, size)
    x = tr.prepare(translator, Image.fromarray(source.gray))[None]  # (1, C, S, S)
    with torch.inference_mode():
        y = tr.translate(translator, x, [translator.domains.index(target)], tr.Latent(seed))
    generated = tr.postprocess(y, grayscale=True)[0]  # (S, S) uint8
    t0 = time.perf_counter()
    result = render.render_swap(image, parse, source, generated, target, preserve_color)
    ms = (time.perf_counter() - t0) * 1000
    return Swap(result.image, parse, source, generated, result, ms)


def classify(classifier, view: render.CanonicalView, domains: list[str]) -> str:
    """The classifier's class for a canonical view, argmax over the translator's domains."""
    from closet_dev.train.data import FMNIST_CLASSES

    x = torch.from_numpy(view.gray.astype(np.float32) / 127.5 - 1.0)[None, None]
    if x.shape[-1] != 32:
        x = torch.nn.functional.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)
    with torch.inference_mode():
        logits = classifier(x)[0]
    idx = [FMNIST_CLASSES.index(d) for d in domains]
    return domains[int(torch.argmax(logits[idx]))]


def mean_ab(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return to_lab(rgb)[mask][:, 1:].mean(axis=0)


def laplacian_var(rgb: np.ndarray, mask: np.ndarray) -> float:
    lap = cv2.Laplacian(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32), cv2.CV_32F)
    return float(lap[mask].var())


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def _tile(img: np.ndarray, height: int) -> np.ndarray:
    return cv2.resize(img, (int(round(img.shape[1] * height / img.shape[0])), height), interpolation=cv2.INTER_AREA)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="out/eval-swap")
    p.add_argument("--grid", default=None, help="also write the grid PNG here (e.g. docs/swap_grid.png)")
    p.add_argument("--demo-dir", default=None, help="write per-photo input/target PNGs here (e.g. docs/demo)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    from closet.models.stargan_v2 import load_with_sidecar
    from closet_dev import package_photos as pp
    from closet_dev.train.classifier import load_classifier

    translator = load_with_sidecar(STARGAN, STARGAN_META).eval()
    classifier = load_classifier(CLASSIFIER)
    domains = list(translator.domains)
    scenes = pp.scenes()
    persons = pp.person_masks([s.image for s in scenes])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, records, times = [], [], []
    for scene, person in zip(scenes, persons):
        outputs = {t: scene.image.copy() for t in domains}
        for i, kp in enumerate(scene.people):
            results = {}
            for t in domains:
                sw = swap_one(translator, scene.image, person, kp, t, args.seed)
                # several people: each swap runs on the photo, then is pasted where it changed
                changed = np.any(sw.image != scene.image, axis=2)
                outputs[t][changed] = sw.image[changed]
                view = render.canonical_view(sw.image, sw.result.result_mask, sw.parse.body, 32)
                got = classify(classifier, view, domains)
                d_ab = float(np.linalg.norm(mean_ab(scene.image, sw.parse.mask) - mean_ab(sw.image, sw.result.result_mask)))
                detail = laplacian_var(sw.image, sw.result.result_mask) / max(laplacian_var(scene.image, sw.parse.mask), 1e-6)
                results[t] = sw.result.result_mask
                times.append({"scene": scene.name, "shape": list(scene.image.shape[:2]), "ms": sw.render_ms,
                              "garment_px": int(sw.parse.mask.sum())})
                records.append({"scene": scene.name, "person": i, "target": t, "class": got, "hit": got == t,
                                "colour": d_ab, "detail": detail})
            spread = [iou(results[a], results[b]) for a, b in itertools.combinations(domains, 2)]
            for rec in records[-len(domains):]:
                rec["spread"] = float(np.mean(spread))
        rows.append([scene.image] + [outputs[t] for t in domains])
        if args.demo_dir and scene.name in pp.PHOTOS:
            d = Path(args.demo_dir)
            d.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(d / f"{scene.name}_input.png"), cv2.cvtColor(scene.image, cv2.COLOR_RGB2BGR))
            for t in domains:
                cv2.imwrite(str(d / f"{scene.name}_{t}.png"), cv2.cvtColor(outputs[t], cv2.COLOR_RGB2BGR))

    def figures(recs: list[dict]) -> dict:
        return {"hit": float(np.mean([r["hit"] for r in recs])), "colour": float(np.mean([r["colour"] for r in recs])),
                "detail": float(np.mean([r["detail"] for r in recs])), "spread": float(np.mean([r["spread"] for r in recs])),
                "pairs": len(recs)}

    per_scene = {s.name: figures([r for r in records if r["scene"] == s.name]) for s in scenes}
    overall = figures(records)
    met = {k: (overall[k] >= v if op == ">=" else overall[k] <= v) for k, (op, v) in GOALS.items()}
    ms = [t["ms"] for t in times if t["shape"] == [512, 512]]
    report = {"overall": overall, "goals": {k: f"{op} {v}" for k, (op, v) in GOALS.items()}, "met": met,
              "per_scene": per_scene, "render_ms_512_median": float(np.median(ms)) if ms else None,
              "render_ms": times, "pairs": records, "seed": args.seed, "domains": domains}
    (out / "metrics.json").write_text(json.dumps(report, indent=1) + "\n")
    log.info("%-20s %6s %7s %7s %7s", "scene", "hit", "colour", "detail", "spread")
    for name, f in per_scene.items():
        log.info("%-20s %5.0f%% %7.2f %7.2f %7.2f", name, 100 * f["hit"], f["colour"], f["detail"], f["spread"])
    log.info("%-20s %5.0f%% %7.2f %7.2f %7.2f   (goals: hit >= 70%%, colour <= 4, detail >= 0.6, spread <= 0.85)",
             "overall", 100 * overall["hit"], overall["colour"], overall["detail"], overall["spread"])
    log.info("goals met: %s; shape render at 512x512: median %.0f ms", met, report["render_ms_512_median"] or -1)
    height = 192
    grid = [np.concatenate([_tile(im, height) for im in row], axis=1) for row in rows]
    width = max(g.shape[1] for g in grid)
    grid = np.concatenate([np.pad(g, ((0, 4), (0, width - g.shape[1]), (0, 0)), constant_values=255) for g in grid], axis=0)
    for path in filter(None, [out / "grid.png", args.grid]):
        cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    return report


if __name__ == "__main__":
    main()
