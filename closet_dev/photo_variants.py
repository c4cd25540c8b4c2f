"""The package photos shot or cut otherwise: the same people, smaller, darker, turned, cut.

`make eval-variants` writes them to a folder and runs `make eval-swap` on it. The evaluation set
has three photos; a judge's photos differ from them in ways these variants try first. The sweep
that began this module found the astronaut cut at her chest unchanged by every target (her elbow
seen at visibility 0.29: docs/swap.md, "An arm whose wrist runs off the photo is placed").
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np


def smaller(image: np.ndarray) -> np.ndarray:
    """The photo at half size, low in a gray frame twice its size: a person far off in a wide shot."""
    h, w = image.shape[:2]
    frame = np.full((2 * h, 2 * w, 3), 128, np.uint8)
    small = cv2.resize(image, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    frame[h:h + h // 2, w // 3:w // 3 + w // 2] = small
    return frame


def darker(image: np.ndarray) -> np.ndarray:
    """Underexposed: a third of the light."""
    return np.clip(image.astype(np.float32) * 0.35 + 0.5, 0, 255).astype(np.uint8)


def brighter(image: np.ndarray) -> np.ndarray:
    """Overexposed: gamma 0.5."""
    return np.clip(255.0 * (image / 255.0) ** 0.5 + 0.5, 0, 255).astype(np.uint8)


def turned(image: np.ndarray) -> np.ndarray:
    """Turned 12 degrees (a camera held askew), the corners filled by reflection."""
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 12, 1.0)
    return cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REFLECT)


def compressed(image: np.ndarray) -> np.ndarray:
    """JPEG at quality 15: blocks and ringing."""
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(image[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 15])
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1])


def blurred(image: np.ndarray) -> np.ndarray:
    """Out of focus: a Gaussian of 3 px."""
    return cv2.GaussianBlur(image, (0, 0), 3)


def cut_at_chest(image: np.ndarray) -> np.ndarray:
    """The top three quarters: arms running off the bottom."""
    return np.ascontiguousarray(image[: image.shape[0] * 3 // 4])


def cut_at_side(image: np.ndarray) -> np.ndarray:
    """The left 60%: a person cut by the frame's edge."""
    return np.ascontiguousarray(image[:, : image.shape[1] * 3 // 5])


VARIANTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "smaller": smaller, "darker": darker, "brighter": brighter, "turned": turned,
    "compressed": compressed, "blurred": blurred, "cut_at_chest": cut_at_chest, "cut_at_side": cut_at_side,
}


def main(argv=None) -> list[Path]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("out/variants"))
    args = p.parse_args(argv)
    from closet_dev import package_photos as pp

    args.out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in pp.PHOTOS:
        image = pp.photo(name).image
        for variant, make in VARIANTS.items():
            path = args.out / f"{name}_{variant}.png"
            cv2.imwrite(str(path), make(image)[:, :, ::-1])
            written.append(path)
    print(f"{len(written)} variants of {len(pp.PHOTOS)} photos in {args.out}")
    return written


if __name__ == "__main__":
    main()
