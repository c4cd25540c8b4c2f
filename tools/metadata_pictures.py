"""Pictures of what the closet answer keeps (`make metadata-pictures`): docs/reliability/*.png.

In-process closet.ensemble on skimage's astronaut (target coat, seed 0), from model-store/closet.mar:

icc.png    a Display P3 photo (the astronaut's colours written as P3 numbers and tagged; profile by
           closet_dev.iccwriter). Panels, each drawn in sRGB as a colour-managed viewer shows it:
           the input; the answer read without a profile (what a viewer showed when closet dropped
           it: the whole photo washed out); the answer with the profile it now carries.
alpha.png  an RGBA cut-out (opaque ellipse around the person, random colours under the transparent
           area), over a checkerboard: the input; the answer's colours without its alpha (what
           closet returned before: the hidden colours show); the answer with its alpha.
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from closet import config as closet_config
from closet import icc
from closet.ensemble import Ensemble, Output, Request
from closet_dev.iccwriter import DISPLAY_P3, profile
from closet_dev.mar import load_ensemble

log = logging.getLogger("metadata_pictures")
REPO = closet_config.REPO_ROOT
OUT = REPO / "docs" / "reliability"
P3 = profile(DISPLAY_P3)


def encode(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", **kw)
    return buf.getvalue()


def swap(ens: Ensemble, data: bytes) -> Image.Image:
    (out,) = ens.run([Request(image=data, target="coat", seed=0)])
    assert isinstance(out, Output), out
    img = Image.open(io.BytesIO(out.body))
    img.load()
    return img


def checkerboard(h: int, w: int, cell: int = 16) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.where(((yy // cell + xx // cell) % 2)[..., None] == 0, 204, 153).astype(np.uint8).repeat(3, axis=2)


def over_checkerboard(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha[..., None].astype(np.float32) / 255
    return np.clip(rgb * a + checkerboard(*alpha.shape) * (1 - a) + 0.5, 0, 255).astype(np.uint8)


def strip(panels: list[tuple[str, np.ndarray]], side: int = 384) -> Image.Image:
    """Panels side by side, each `side` px square and captioned above."""
    h = w = side
    sheet = Image.new("RGB", (w * len(panels), h + 24), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (caption, pixels) in enumerate(panels):
        sheet.paste(Image.fromarray(pixels).resize((w, h), Image.Resampling.LANCZOS), (i * w, 24))
        draw.text((i * w + 6, 6), caption, fill="black")
    return sheet


def icc_picture(ens: Ensemble, astronaut: np.ndarray) -> Image.Image:
    p3_numbers = icc.from_srgb(astronaut, P3)  # the same colours, written in Display P3
    answer = swap(ens, encode(Image.fromarray(p3_numbers), icc_profile=P3))
    assert answer.info.get("icc_profile") == P3
    numbers = np.asarray(answer.convert("RGB"))
    return strip([("input: Display P3 photo", icc.to_srgb(p3_numbers, P3)),
                  ("answer, profile dropped (before)", numbers),
                  ("answer, profile kept (now)", icc.to_srgb(numbers, P3))])


def alpha_picture(ens: Ensemble, astronaut: np.ndarray) -> Image.Image:
    h, w = astronaut.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot((yy - h * 0.55) / (h * 0.48), (xx - w * 0.5) / (w * 0.42))
    alpha = np.clip((1.1 - r) * 10 * 255, 0, 255).astype(np.uint8)
    rgb = astronaut.copy()
    rgb[alpha == 0] = np.random.default_rng(0).integers(0, 256, (int((alpha == 0).sum()), 3), dtype=np.uint8)
    answer = np.asarray(swap(ens, encode(Image.fromarray(np.dstack([rgb, alpha]), "RGBA"))))
    assert answer.shape[2] == 4 and np.array_equal(answer[..., 3], alpha)
    return strip([("input: RGBA cut-out", over_checkerboard(rgb, alpha)),
                  ("answer, alpha dropped (before)", answer[..., :3].copy()),
                  ("answer, alpha kept (now)", over_checkerboard(answer[..., :3], answer[..., 3]))])


def main(argv: list[str] | None = None) -> int:
    import skimage.data

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ens = load_ensemble()
    astronaut = skimage.data.astronaut()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, make in (("icc.png", icc_picture), ("alpha.png", alpha_picture)):
        make(ens, astronaut).save(args.out / name, optimize=True)
        log.info("wrote %s", args.out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
