"""Test helpers for the flat lay and the shape render: a flat-lay drawing of a shape, a shape worn on a
body, and what the shape render (closet.render) promises to keep."""

from __future__ import annotations

import numpy as np

from closet import flatlay, render
from closet import garment as gm
from closet.stages import composite as pipeline


def untouched(image: np.ndarray, out: render.RenderResult, old: np.ndarray) -> np.ndarray:
    """bool: the pixels the shape render promises to keep: outside the old and the new garment and
    the old garment's rim it painted (RenderResult.rim), which lies within `rim_reach` of them."""
    near = pipeline.dilate(old | out.result_mask, render.rim_reach(image.shape))
    rim = np.zeros(old.shape, bool)
    if out.rim is not None:
        rows, cols, box = out.rim
        rim[rows, cols] = box
    assert not (rim & ~near).any()
    return ~(old | out.result_mask | rim)


def drawing(shape: flatlay.Shape, frame, size: int = 32, gray: float = 170.0) -> np.ndarray:
    """A flat-lay drawing of `shape` in `frame`: the shape's silhouette, light gray on black."""
    return np.clip(flatlay.coverage(shape, frame, size) * gray + 0.5, 0, 255).astype(np.uint8)


def paint(parse: gm.GarmentParse, shape: flatlay.Shape) -> np.ndarray:
    """bool (H, W): `shape` worn on this body (the image pixels whose flat-lay point it covers)."""
    h, w = parse.mask.shape
    ys, xs = np.mgrid[0:h, 0:w]
    pts = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64) + 0.5
    flat, _ = flatlay.BodyMap(parse.body).flat_of(pts)
    return shape.covers(flat, worn=True).reshape(h, w)
