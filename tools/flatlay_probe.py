#!/usr/bin/env python
"""Which classes the eval-swap judge can give a flat lay at all (docs/swap.md).

`make eval-swap` judges an output garment by its flat lay (closet.flatlay.canonical_view): the
shape's silhouette (sleeve reach, hem) filled with the garment's gray. This asks the same
Fashion-MNIST classifier, over the demo translator's targets, for the class of every silhouette the render
can draw (reach none / short / long x hems from hip to knee), plain and with random smooth
textures inside. A class that no silhouette gets is out of reach of the shape render, whatever the
cloth.

Then, on Fashion-MNIST's own test garments (`--fmnist` per class), how much of each class the judge
reads from the silhouette alone: each garment as it is, then its silhouette (gray > 20) filled flat
with its own mean gray. A class that falls far is told by its inner detail (a coat's opening, a
shirt's placket and pattern), which the shape render keeps from the photo, not by its outline.

Usage: python tools/flatlay_probe.py [--textures 40] [--seed 0] [--fmnist 300]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from closet import flatlay  # noqa: E402
from closet.stages.translate import STARGAN_META  # noqa: E402
from closet_dev import eval_swap  # noqa: E402

HEMS = (1.05, 1.1, 1.25, 1.45, 1.75, 2.0)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--textures", type=int, default=40, help="fills per silhouette (the first is plain)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fmnist", type=int, default=300, help="Fashion-MNIST test garments per class (0: skip)")
    args = p.parse_args(argv)
    from closet_dev.train.classifier import load_classifier

    classifier = load_classifier(eval_swap.CLASSIFIER)
    domains = json.loads((ROOT / STARGAN_META.default).read_text())["domains"]  # the demo translator's targets
    rng = np.random.default_rng(args.seed)
    cell = eval_swap.VIEW_SIZE // 7
    total: Counter = Counter()
    for reach in flatlay.SLEEVE_LENGTHS[::-1]:
        for hem in HEMS:
            shape = flatlay.Shape({-1: reach, 1: reach}, hem)
            sil = flatlay.coverage(shape, shape.frame, eval_swap.VIEW_SIZE)
            got: Counter = Counter()
            for k in range(args.textures):
                fill = flatlay.FMNIST_MEAN
                if k:  # smooth blotches, 4 view pixels wide, Fashion-MNIST's spread of gray
                    fill = fill + rng.normal(0, flatlay.FMNIST_STD) * np.kron(rng.normal(0, 1, (7, 7)), np.ones((cell, cell)))
                got[eval_swap.classify(classifier, np.clip(sil * fill, 0, 255).astype(np.uint8), domains)] += 1
            total += got
            print(f"reach {reach:<4} hem {hem:<4}: " + ", ".join(f"{c} {n}" for c, n in got.most_common()))
    print("all silhouettes: " + ", ".join(f"{c} {total.get(c, 0)}" for c in domains))
    if args.fmnist:
        silhouette_alone(classifier, domains, args.fmnist)
    return dict(total)


def silhouette_alone(classifier, domains: list[str], n: int) -> dict[str, tuple[float, float]]:
    """Per class: the judge's hit on n Fashion-MNIST test garments as they are, and filled flat."""
    from closet_dev.train.data import FMNIST_CLASSES, load_fmnist

    images, labels = load_fmnist("test")
    out = {}
    for name in domains:
        garments = images[labels == FMNIST_CLASSES.index(name)][:n]
        flat = [np.where(g > 20, np.uint8(round(float(g[g > 20].mean()))), np.uint8(0)) for g in garments]
        as_is = np.mean([eval_swap.classify(classifier, g, domains) == name for g in garments])
        filled = np.mean([eval_swap.classify(classifier, g, domains) == name for g in flat])
        out[name] = (float(as_is), float(filled))
        print(f"fashion-mnist {name:<9}: as it is {as_is:.0%}, silhouette filled flat {filled:.0%} ({len(garments)} garments)")
    return out


if __name__ == "__main__":
    main()
