"""What the shape render (closet.render) promises to keep, for the tests that check it."""

from __future__ import annotations

import numpy as np

from closet import render
from closet.stages import composite as pipeline


def untouched(image: np.ndarray, out: render.RenderResult, old: np.ndarray) -> np.ndarray:
    """bool: the pixels the shape render promises to keep: outside the old and the new garment and
    the old garment's rim it painted (RenderResult.rim), which lies within `edge_rim` of them."""
    near = pipeline.dilate(old | out.result_mask, render.edge_rim(image.shape))
    rim = np.zeros(old.shape, bool)
    if out.rim is not None:
        rows, cols, box = out.rim
        rim[rows, cols] = box
    assert not (rim & ~near).any()
    return ~(old | out.result_mask | rim)
