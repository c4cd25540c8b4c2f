"""`make parsing-docs`: the pose-garment parser's garment masks drawn on the package photos.

Each photo gets the served parse stage's answer (closet.stages.parse, from the built parsing.mar):
every person's garment tinted (one colour per person), their skeleton, their box. Writes
docs/parsing/pose_garment.png (photos side by side, the same height).
"""

from __future__ import annotations

import argparse
import tempfile
import zipfile
from pathlib import Path

import cv2
import numpy as np

from closet import config as closet_config
from closet import pose
from closet.stages.parse import Parser
from closet.stages.segment import Segmenter

COLOURS = [(255, 64, 64), (64, 160, 255), (64, 220, 64), (255, 200, 0)]


def draw(image: np.ndarray, people) -> np.ndarray:
    """The photo with each person's garment tinted, skeleton and box drawn."""
    out = image.astype(np.float32)
    for person, colour in zip(people, COLOURS):
        out[person.garment] = 0.45 * out[person.garment] + 0.55 * np.array(colour, np.float32)
    out = out.astype(np.uint8)
    thick = max(2, image.shape[0] // 200)
    for person, colour in zip(people, COLOURS):
        k = person.keypoints
        for a, b in pose.POSE_CONNECTIONS:
            if min(k[a, 3], k[b, 3]) >= 0.5:
                cv2.line(out, tuple(int(v) for v in k[a, :2]), tuple(int(v) for v in k[b, :2]), (255, 255, 255), thick)
        x0, y0, x1, y1 = person.box
        cv2.rectangle(out, (x0, y0), (x1, y1), colour, thick)
    return out


def main(argv=None) -> int:
    from closet_dev import package_photos as pp

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mar", type=Path, default=Path("model-store") / f"{closet_config.PARSING}.mar")
    ap.add_argument("--out", type=Path, default=Path("docs/parsing/pose_garment.png"))
    args = ap.parse_args(argv)
    images = [pp.photo(n).image for n in pp.PHOTOS]
    images.append(pp.side_by_side(pp.photo("grace_hopper"), pp.photo("astronaut"), "two_people", 600).image)
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(args.mar) as z:
            z.extractall(tmp)
        segmenter, parser = Segmenter.load(tmp, "cpu"), Parser.load(tmp, "cpu")
        parsed = parser(images, segmenter(images))
    height = 360
    tiles = []
    for image, p in zip(images, parsed):
        tile = draw(image, p.people)
        tiles.append(cv2.resize(tile, (int(round(tile.shape[1] * height / tile.shape[0])), height),
                                interpolation=cv2.INTER_AREA))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(np.concatenate(tiles, axis=1), cv2.COLOR_RGB2BGR))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
