"""How soft a photo's own edges are, so that what the render draws into it is as soft.

An edge between two flat regions, blurred by a Gaussian of sigma (a lens out of focus, a photo
enlarged or smoothed), rises with a peak gradient of step / (sigma * sqrt(2 pi)). So along each
strong edge, the step across it over its steepest gradient gives that edge's sigma; the median over
a garment's outline is the photo's, where the garment meets what is around it.
"""

from __future__ import annotations

import cv2
import numpy as np

MIN_STEP = 24.0  # gray levels across an edge for it to be read (weaker ones are texture or noise)
REACH = 8.0  # px each side of an edge that its profile reads: a step blurred up to sigma 3 is whole there
PROFILE_STEP = 0.5  # px between the profile's samples
MIN_EDGES = 20  # outline pixels with a strong step that a measure needs
MAX_EDGES = 2000  # outline pixels read at most, evenly strided (the median needs no more)
SHARP = 0.5  # sigma (px) of a photo whose outline has too few strong steps to tell: taken as sharp


def edge_sigma(gray: np.ndarray, mask: np.ndarray) -> float:
    """The Gaussian blur (sigma, px) of `gray`'s edges along the outline of `mask` (bool, same
    shape): the median over its pixels with a step of MIN_STEP or more across them, read on a
    profile along the gradient, of step / (peak gradient * sqrt(2 pi)). SHARP when fewer than
    MIN_EDGES such pixels. A sharp photo reads 0.4-0.6, a JPEG or a low-light one up to about 1.1;
    one blurred by a Gaussian of 3 px about 2.6-2.9."""
    g = np.ascontiguousarray(gray, dtype=np.float32)
    m = mask.astype(np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    outline = cv2.dilate(m, kernel).astype(bool) & ~cv2.erode(m, kernel).astype(bool)
    ys, xs = np.nonzero(outline)
    if len(ys) < MIN_EDGES:
        return SHARP
    stride = max(1, len(ys) // MAX_EDGES)
    ys, xs = ys[::stride], xs[::stride]
    h, w = g.shape
    # central differences at those pixels only (a Sobel over the whole box cost more than the rest)
    gx = (g[ys, np.minimum(xs + 1, w - 1)] - g[ys, np.maximum(xs - 1, 0)]) / 2.0
    gy = (g[np.minimum(ys + 1, h - 1), xs] - g[np.maximum(ys - 1, 0), xs]) / 2.0
    magnitude = np.hypot(gx, gy)
    strong = magnitude > 1.0
    ys, xs, gx, gy, magnitude = ys[strong], xs[strong], gx[strong], gy[strong], magnitude[strong]
    if len(ys) < MIN_EDGES:
        return SHARP
    d = np.arange(-REACH, REACH + PROFILE_STEP / 2, PROFILE_STEP, dtype=np.float32)
    px = np.clip(xs[:, None] + (gx / magnitude)[:, None] * d, 0, w - 1).astype(np.float32)
    py = np.clip(ys[:, None] + (gy / magnitude)[:, None] * d, 0, h - 1).astype(np.float32)
    profile = cv2.remap(g, px, py, cv2.INTER_LINEAR)  # (N, len(d)): across each edge
    step = np.abs(profile[:, -1] - profile[:, 0])
    peak = np.abs(np.diff(profile, axis=1)).max(axis=1) / PROFILE_STEP
    read = (step >= MIN_STEP) & (peak > 0)
    if read.sum() < MIN_EDGES:
        return SHARP
    return float(np.median(step[read] / (peak[read] * np.sqrt(2.0 * np.pi))))
