"""docs/runtimes_same_answer.png: one request, both runtimes, the answers side by side with their difference.

    .venv/bin/python tools/runtimes_picture.py [--out docs/runtimes_same_answer.png]

Starts TorchServe and the KServe runtime (closet_dev ephemeral servers) on model-store/closet.mar,
sends each the astronaut with target=coat, seed=7, and draws input | TorchServe | KServe | the
pixels that differ (white). tests/serve/test_kserve_runtime.py asserts the bytes are equal.
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np
import requests
import skimage.data
from PIL import Image, ImageDraw

from closet.config import ENSEMBLE
from closet_dev import kserve, torchserve
from closet_dev.torchserve import MODEL_STORE

log = logging.getLogger("runtimes_picture")
PANEL = 256  # pixels per panel side


def swap(url: str, photo: bytes) -> tuple[bytes, np.ndarray]:
    r = requests.post(f"{url}/predictions/{ENSEMBLE}", timeout=600,
                      files={"image": ("a.png", photo, "image/png"), "target": (None, "coat"), "seed": (None, "7")})
    r.raise_for_status()
    return r.content, np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("docs/runtimes_same_answer.png"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    src = skimage.data.astronaut()
    buf = io.BytesIO()
    Image.fromarray(src).save(buf, format="PNG")
    mars = [MODEL_STORE / f"{ENSEMBLE}.mar"]
    with tempfile.TemporaryDirectory() as d, torchserve.ephemeral(Path(d) / "ts", mars) as ts, \
            kserve.ephemeral(Path(d) / "ks", mars) as ks:
        (ts_bytes, a), (ks_bytes, b) = swap(ts.inference_url, buf.getvalue()), swap(ks.inference_url, buf.getvalue())
    differ = np.abs(a.astype(int) - b.astype(int)).sum(-1) > 0
    log.info("byte-identical PNGs: %s; differing pixels: %d", ts_bytes == ks_bytes, int(differ.sum()))
    panels = [("input", src), ("TorchServe: coat, seed 7", a), ("KServe runtime: coat, seed 7", b),
              (f"differing pixels: {int(differ.sum())}", np.repeat((differ * 255).astype(np.uint8)[..., None], 3, -1))]
    canvas = Image.new("RGB", (PANEL * len(panels), PANEL + 22), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (title, image) in enumerate(panels):
        canvas.paste(Image.fromarray(image).resize((PANEL, PANEL)), (i * PANEL, 22))
        draw.text((i * PANEL + 4, 5), title, fill="black")
    canvas.save(args.out, optimize=True)
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
