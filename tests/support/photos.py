"""Where things are in the package photos, read off each photo by eye: boxes [x0, y0, x1, y1]."""

from __future__ import annotations

import numpy as np

GARMENT_BOXES = {
    "astronaut": {"garment": {"chest": [150, 300, 300, 380], "right upper arm": [60, 300, 110, 360]},
                  "not": {"face": [195, 95, 255, 160], "hair": [160, 20, 290, 70], "background": [0, 0, 100, 100]}},
    "camera": {"garment": {"coat back": [20, 250, 120, 400]},
               "not": {"face": [200, 120, 250, 190], "hair": [160, 70, 240, 110], "background": [350, 0, 512, 100]}},
    "grace_hopper": {"garment": {"chest": [100, 450, 450, 580]},
                     "not": {"face": [180, 150, 350, 330], "hair": [200, 40, 330, 120], "background": [400, 0, 512, 300]}},
}


def share(mask: np.ndarray, box) -> float:
    """The share of `box` that `mask` covers."""
    x0, y0, x1, y1 = box
    return float(mask[y0:y1, x0:x1].mean())
