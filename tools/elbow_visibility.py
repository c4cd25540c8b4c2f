#!/usr/bin/env python
"""Every elbow BlazePose reads near closet.body.ELBOW_SEEN (`make elbow-visibility`): the evaluation
scenes (`make eval-swap`'s, and `make eval-variants`' when out/variants holds them) through the built
closet.mar's segmentation and parse, one line per arm whose elbow visibility lies within --near of
the threshold: the scene, the person, the side, the elbow's and the wrist's visibility, whether the
arm counts as seen, and how much of its bone lies on the torso block (where a bared arm is drawn
over the chest). It is the sweep behind ELBOW_SEEN's value; which of these elbows are hidden is
told by looking at the photos (docs/swap.md, "An elbow pose barely sees is not seen").

Usage: python tools/elbow_visibility.py [--variants out/variants] [--near 0.12]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from closet import flatlay
from closet.body import ELBOW_SEEN, L_ELBOW, L_WRIST, R_ELBOW, R_WRIST
from closet_dev.eval_swap import scenes
from closet_dev.mar import load_ensemble


def on_torso(bm: flatlay.BodyMap, side: int) -> float:
    """The share of the arm's bone (shoulder -> elbow -> wrist) on the flat lay's torso block."""
    t = np.linspace(0.0, 1.0, 41)
    b = bm.image_to_torso(bm.sleeve_to_image(side, t, np.zeros_like(t)))
    return float(((np.abs(b[:, 0]) <= flatlay.TORSO_W) & (b[:, 1] >= 0.0)).mean())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variants", type=Path, default=Path("out/variants"))
    ap.add_argument("--near", type=float, default=0.12, help="list elbows within this of ELBOW_SEEN")
    args = ap.parse_args(argv)
    ens = load_ensemble()
    found = scenes(None) + (scenes(args.variants) if args.variants.is_dir() else [])
    print(f"elbows within {args.near} of ELBOW_SEEN = {ELBOW_SEEN}, over {len(found)} scenes")
    for name, image in found:
        parsed = ens.parser([image], ens.segmenter([image]))[0]
        for i, person in enumerate(getattr(parsed, "people", [])):
            body, k = person.geometry.body, person.keypoints
            bm = flatlay.BodyMap(body)
            for side, arm, elbow, wrist in ((-1, body.right_arm, R_ELBOW, R_WRIST), (1, body.left_arm, L_ELBOW, L_WRIST)):
                if abs(k[elbow, 3] - ELBOW_SEEN) <= args.near:
                    print(f"{name:28s} person {i} side {side:+d}  elbow {k[elbow, 3]:.3f}  wrist {k[wrist, 3]:.3f}  "
                          f"seen {arm.seen!s:5s}  off the photo {arm.off_photo!s:5s}  on the torso {on_torso(bm, side):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
