"""`make eval-swap`: the garment swap judged on photos of people, for every target.

The served ensemble (model-store/closet.mar, run in-process) swaps every person of every scene to
every domain of its translator (seed 7, `person=all`, JSON answers). Each output garment is laid
flat by closet.flatlay.canonical_view (the ONE function that also makes the translator's input),
28x28, and the project's Fashion-MNIST classifier (assets/fmnist-classifier) names its class,
argmax over the translator's domains. Per scene and overall:

  hit      share of (person, target) pairs classified as the target; goal >= 70%
  colour   CIE a*b* distance between the mean colour of the input garment and of the output garment
           (per person); goal <= 4
  detail   Laplacian variance of the gray output inside the output garment / of the input inside the
           input garment; goal >= 0.6
  spread   mean IoU of one person's output garments between two targets; goal <= 0.85

and, to tell the translator's part from the render's:

  drawn    share of pairs whose translator output itself (the flat-lay drawing, its cloth's gray
           scaled as canonical_view scales an output's, 28x28) is classified as the target: what a
           render that pasted the drawings could reach
  shaped   the same, with the drawing cut to the shape the render reads from it and draws on the body
           (flatlay.read, flatlay.coverage in the translator's frame): what is left of the drawing
           once its outline is the render's parametric one (sleeve reach, hem), before any cloth

Scenes: the package photos (closet_dev.package_photos), their mirror images, two people side by
side, Ultralytics' bus.jpg and zidane.jpg when `make photos` fetched them, or every image in
`--photos DIR` (for a judge with photos of their own). Writes <out>/metrics.json and <out>/grid.png
(scenes as rows, the input then each target); `--docs` also redraws docs/swap_grid.png (the package
photos only: the fetched ones are never committed).
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import math
from pathlib import Path

import cv2
import numpy as np
import torch

from closet import color, ensemble, flatlay, upright
from closet import config as closet_config
from closet.body import body_from_keypoints
from closet.imageio import encode_image
from closet.render import drawn_cloth
from closet_dev.answers import iou
from closet_dev.mar import load_ensemble

log = logging.getLogger("closet_dev.eval_swap")

CLASSIFIER = "assets/fmnist-classifier/fmnist_cnn.pt"
VIEW_SIZE = 28  # Fashion-MNIST's own size
SEED = 7
GOALS = {"hit": (">=", 0.70), "colour": ("<=", 4.0), "detail": (">=", 0.6), "spread": ("<=", 0.85)}


def scenes(photos: Path | None) -> list[tuple[str, np.ndarray]]:
    """(name, uint8 RGB image) of the evaluation set."""
    from closet_dev import package_photos as pp
    from closet_dev import pose_photos

    if photos is not None:
        from closet.errors import ClosetError
        from closet.imageio import decode_photo

        out = []
        for p in sorted(photos.iterdir()):
            if p.suffix.lower() not in (".jpg", ".jpeg", ".png", ".webp"):
                continue
            try:
                # As the server sees it: upright, in sRGB, over white where it is transparent (the
                # colours a cut-out PNG keeps under alpha 0 are streaks no viewer shows).
                out.append((p.stem, decode_photo(p.read_bytes(), 1 << 40, 1 << 20).working()))
            except (OSError, ClosetError) as e:  # one bad file does not end a judge's run
                log.warning("skipped %s: %s", p.name, e)
        return out
    out = []
    for name in pp.PHOTOS:
        scene = pp.photo(name)
        out += [(name, scene.image), (f"{name}_flip", pp.flip(scene).image)]
    out.append(("two_people", pp.side_by_side(pp.photo("grace_hopper"), pp.photo("astronaut"), "two_people", 600).image))
    try:
        out += list(pose_photos.fetched_photos().items())
    except pose_photos.NotFetched as e:
        log.info("without bus and zidane: %s", e)
    return out


def committable(scene: str) -> bool:
    """A scene of `scenes(None)` whose pictures may be committed: the package photos, their mirror
    images and two_people, not the fetched bus.jpg and zidane.jpg (AGPL-3.0)."""
    from closet_dev import package_photos as pp

    return scene.split("_flip")[0] in pp.PHOTOS or scene == "two_people"


def classify(classifier, gray: np.ndarray, domains: list[str]) -> str:
    """The Fashion-MNIST classifier's class of a 28x28 flat lay, argmax over `domains`."""
    from closet_dev.train.data import FMNIST_CLASSES

    x = torch.from_numpy(gray.astype(np.float32) / 127.5 - 1.0)[None, None]
    x = torch.nn.functional.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)  # as it was trained
    with torch.inference_mode():
        logits = classifier(x)[0]
    idx = [FMNIST_CLASSES.index(d) for d in domains]
    return domains[int(torch.argmax(logits[idx]))]


def _gray(drawing: np.ndarray) -> np.ndarray:
    return drawing if drawing.ndim == 2 else cv2.cvtColor(drawing, cv2.COLOR_RGB2GRAY)


def drawing_view(drawing: np.ndarray) -> np.ndarray:
    """The translator's flat-lay drawing (S, S[, 3]) as the judge reads a garment: its cloth's gray
    scaled to Fashion-MNIST's (flatlay.fmnist_gray, as canonical_view scales an output's), on black,
    28x28. So `drawn` is what a render that pasted the drawing could reach."""
    g = _gray(np.asarray(drawing)).astype(np.float32)
    cloth = drawn_cloth(g)
    return _view(np.where(cloth, flatlay.fmnist_gray(g, cloth), 0.0))


def shaped_view(drawing: np.ndarray, given: flatlay.CanonicalView, target: str) -> np.ndarray:
    """The drawing cut to the shape render_swap reads from it: its cloth's gray, scaled as
    drawing_view's, where that shape covers the frame (its mean where the drawing has no cloth
    there), black outside."""
    g = _gray(np.asarray(drawing)).astype(np.float32)
    shape = flatlay.read(g, given.frame, target, given.shape)
    cover = flatlay.coverage(shape, given.frame, g.shape[0])
    return _view(flatlay.fmnist_gray(g, (cover > 0) & drawn_cloth(g)) * cover)


def _view(gray: np.ndarray) -> np.ndarray:
    return np.clip(cv2.resize(gray, (VIEW_SIZE, VIEW_SIZE), interpolation=cv2.INTER_AREA) + 0.5, 0, 255).astype(np.uint8)


def mean_ab(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return color.to_lab(rgb[mask])[:, 1:].mean(axis=0)


def laplacian_var(rgb: np.ndarray, mask: np.ndarray) -> float:
    lap = cv2.Laplacian(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32), cv2.CV_32F)
    return float(lap[mask].var())


def judge(ens: ensemble.Ensemble, classifier, name: str, image: np.ndarray) -> tuple[list[dict], list[np.ndarray]]:
    """Every person of one scene swapped to every target: the records, and the output images."""
    domains = ens.translator.domains
    size = ens.translator.img_size
    photo = encode_image(image, "png")[0]
    outs = ens.run([ensemble.Request(image=photo, target=t, seed=SEED, person="all") for t in domains])
    records, results = [], {}
    for target, out in zip(domains, outs):
        if not isinstance(out, ensemble.Output):
            log.warning("%s -> %s refused: %s", name, target, out.to_json())
            continue
        # judged where the stages worked: in the photo's box inside plain borders (closet.frame),
        # turned as the parse turned it (closet.upright)
        def worked(a: np.ndarray, out=out) -> np.ndarray:
            return upright.turn(a if out.content is None else a[out.content], out.turns)

        seen, shown = worked(image), worked(out.image)
        for k, (person, result) in enumerate(zip(out.people, out.results)):
            result = worked(result)
            body = body_from_keypoints(person.keypoints, seen.shape)
            hidden, skin = person.geometry.in_front, person.geometry.skin_pixels
            view = flatlay.canonical_view(shown, result, body, VIEW_SIZE, hidden=hidden, skin=skin)
            got = classify(classifier, view.gray, domains)
            drawn = classify(classifier, drawing_view(out.translated[k]), domains)
            # the translator's input, as the composite stage made it (a pure function of the parse)
            given = flatlay.canonical_view(seen, person.geometry.mask, person.geometry.body, size, hidden=hidden,
                                           skin=skin)
            shaped = classify(classifier, shaped_view(out.translated[k], given, target), domains)
            records.append({
                "scene": name, "person": k, "target": target, "class": got, "hit": got == target,
                "drawing_class": drawn, "drawn": drawn == target, "shaped_class": shaped, "shaped": shaped == target,
                "colour": float(np.linalg.norm(mean_ab(seen, person.garment) - mean_ab(shown, result))),
                "detail": laplacian_var(shown, result) / max(laplacian_var(seen, person.garment), 1e-6),
            })
            results.setdefault(k, []).append(result)
    for k, masks in results.items():
        spread = float(np.mean([iou(a, b) for a, b in itertools.combinations(masks, 2)])) if len(masks) > 1 else 1.0
        for rec in records:
            if rec["person"] == k:
                rec["spread"] = spread
    return records, [image] + [o.image if isinstance(o, ensemble.Output) else image for o in outs]


def figures(records: list[dict]) -> dict:
    """The figures' means over `records`; None without any (metrics.json stays strict JSON)."""
    return {k: float(np.mean([r[k] for r in records])) if records else None
            for k in ("hit", "colour", "detail", "spread", "drawn", "shaped")} | {"pairs": len(records)}


def grid(rows: list[list[np.ndarray]], height: int = 192) -> np.ndarray:
    """Each row's images side by side at `height`, rows one under the other. A row about k times
    as wide as the median row (two people side by side) is wrapped over k lines, so that the grid
    is not mostly white beside the one-person rows."""
    def tile(img):
        return cv2.resize(img, (int(round(img.shape[1] * height / img.shape[0])), height), interpolation=cv2.INTER_AREA)

    tiled = [[tile(im) for im in row] for row in rows]
    widths = [sum(t.shape[1] for t in row) for row in tiled]
    median = float(np.median(widths))
    lines = []
    for row, width in zip(tiled, widths):
        per_line = math.ceil(len(row) / max(1, round(width / median)))
        lines += [np.concatenate(row[i:i + per_line], axis=1) for i in range(0, len(row), per_line)]
    width = max(line.shape[1] for line in lines)
    return np.concatenate([np.pad(line, ((0, 4), (0, width - line.shape[1]), (0, 0)), constant_values=255)
                           for line in lines], axis=0)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mar", type=Path, default=Path("model-store") / f"{closet_config.ENSEMBLE}.mar")
    p.add_argument("--photos", type=Path, help="judge every image in this folder instead of the built-in set")
    p.add_argument("--out", type=Path, default=Path("out/eval-swap"))
    p.add_argument("--docs", action="store_true", help="also redraw docs/swap_grid.png (package photos)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    from closet_dev.progress import Progress
    from closet_dev.train.classifier import load_classifier

    classifier = load_classifier(CLASSIFIER)
    args.out.mkdir(parents=True, exist_ok=True)
    ens = load_ensemble(args.mar)
    records, rows = [], {}
    todo = scenes(args.photos)
    with Progress(len(todo), "eval-swap", unit="scene") as bar:
        for name, image in todo:
            recs, row = judge(ens, classifier, name, image)
            records += recs
            rows[name] = row
            bar.update(1)
    domains = ens.translator.domains
    per_scene = {name: figures([r for r in records if r["scene"] == name]) for name in rows}
    overall = figures(records)
    met = {k: overall[k] is not None and bool(overall[k] >= v if op == ">=" else overall[k] <= v)
           for k, (op, v) in GOALS.items()}
    report = {"overall": overall, "met": met, "goals": {k: f"{op} {v}" for k, (op, v) in GOALS.items()},
              "per_scene": per_scene, "pairs": records, "seed": SEED, "domains": domains, "view_size": VIEW_SIZE}
    (args.out / "metrics.json").write_text(json.dumps(report, indent=1) + "\n")
    log.info("%-20s %6s %7s %7s %7s %5s %6s %6s", "scene", "hit", "colour", "detail", "spread", "pairs", "drawn",
             "shaped")
    for name, f in [*per_scene.items(), ("overall", overall)]:
        if not f["pairs"]:  # every target refused (no person, no garment): the log above says why
            log.info("%-20s %s", name, "no swap judged: every target was refused")
            continue
        log.info("%-20s %5.0f%% %7.2f %7.2f %7.2f %5d %5.0f%% %5.0f%%", name, 100 * f["hit"], f["colour"], f["detail"],
                 f["spread"], f["pairs"], 100 * f["drawn"], 100 * f["shaped"])
    for target in domains:
        mine = [r for r in records if r["target"] == target]
        log.info("%-9s hit %2d/%d, drawn %2d/%d, shaped %2d/%d", target, sum(r["hit"] for r in mine), len(mine),
                 sum(r["drawn"] for r in mine), len(mine), sum(r["shaped"] for r in mine), len(mine))
    log.info("goals (hit >= 70%%, colour <= 4, detail >= 0.6, spread <= 0.85) met: %s", met)
    cv2.imwrite(str(args.out / "grid.png"), cv2.cvtColor(grid(list(rows.values())), cv2.COLOR_RGB2BGR))
    if args.docs:
        mine = [name for name in rows if committable(name)]
        cv2.imwrite("docs/swap_grid.png", cv2.cvtColor(grid([rows[n] for n in mine], 128), cv2.COLOR_RGB2BGR))
    return report


if __name__ == "__main__":
    main()
