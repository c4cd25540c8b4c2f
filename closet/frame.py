"""A photo inside plain borders (letterbox bars, a mount or a frame of one colour): the box the
photo itself fills, and what the stages found in that box placed back in the whole image.

The ensemble swaps the box as if it were the whole photo: a garment that runs to the box's edge
runs off the photo there (its sleeves and hem are cut by the frame, not by the body), and every
pixel of the border comes back as it was sent.

A border is a run of lines (rows or columns, from an edge inward) each of one lightness, within
BORDER_TOLERANCE levels (a JPEG rings a little along the bars), at least MIN_BORDER pixels deep,
and ending at a straight edge: one of the box's first EDGE_LINES lines on that side differs from
the border's colour along at least EDGE_SHARE of the box. A plain studio backdrop ends where the
person's outline first reaches it, at a few pixels of a line: it is part of the photo, and nothing
is trimmed there.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

BORDER_TOLERANCE = 12
MIN_BORDER = 2
EDGE_SHARE = 0.5
EDGE_LINES = 8  # a JPEG block
# Below this many pixels a side, the box is no photo worth swapping on its own: nothing is trimmed.
MIN_CONTENT = 32
# Lines looked at a time, from an edge inward: most photos have no border, and their first line ends the search.
CHUNK = 16


def _lightness(lines: np.ndarray) -> np.ndarray:
    """int16 (N, L): the lightness (gray) of `lines` (N, L, C) of an RGB image."""
    n, length = lines.shape[:2]
    if lines.shape[2] == 1:
        return lines[..., 0].astype(np.int16)
    flat = np.ascontiguousarray(lines[..., :3]).reshape(n * length, 1, 3)
    return cv2.cvtColor(flat, cv2.COLOR_RGB2GRAY).reshape(n, length).astype(np.int16)


def _plain_depth(lines: np.ndarray) -> int:
    """How many of `lines` (N, L, C), outermost first, are each of the outermost line's median
    lightness along their whole length (within BORDER_TOLERANCE). Lightness, not colour: a JPEG
    smears its subsampled colour a few pixels into black bars, its lightness hardly (the
    card-table photo between bars at quality 85: 4 rows against 0)."""
    level = np.int16(np.median(_lightness(lines[:1])))
    depth = 0
    for start in range(0, len(lines), CHUNK):
        plain = (np.abs(_lightness(lines[start:start + CHUNK]) - level) <= BORDER_TOLERANCE).all(axis=1)
        if not plain.all():
            return depth + int(np.argmin(plain))
        depth += len(plain)
    return depth


def _edge_share(lines: np.ndarray, colour: np.ndarray) -> float:
    """The largest share of one of `lines` (N, L, C) off `colour`."""
    off = (np.abs(lines.astype(np.int16) - colour.astype(np.int16)) > BORDER_TOLERANCE).any(axis=2)
    return float(off.mean(axis=1).max())


def content_box(image: np.ndarray) -> tuple[slice, slice] | None:
    """(rows, cols): the box of `image` (uint8 (H, W, C)) inside its plain borders, or None when it
    has none (or what they leave is under MIN_CONTENT pixels a side)."""
    h, w = image.shape[:2]
    across = image.transpose(1, 0, 2)
    sides = {"top": image, "bottom": image[::-1], "left": across, "right": across[::-1]}
    depth = {k: _plain_depth(v) for k, v in sides.items()}
    depth = {k: d if d >= MIN_BORDER else 0 for k, d in depth.items()}
    if not any(depth.values()) or depth["top"] + depth["bottom"] >= h or depth["left"] + depth["right"] >= w:
        return None
    rows, cols = slice(depth["top"], h - depth["bottom"]), slice(depth["left"], w - depth["right"])
    # Each border ends at a straight edge along the box: the photo's own, not a backdrop's first touch.
    # (within EDGE_LINES of it: a JPEG's colour blocks smear the bars a few pixels into the photo)
    inner = image[rows, cols]
    edges = {"top": (inner[:EDGE_LINES], image[0, cols]), "bottom": (inner[::-1][:EDGE_LINES], image[-1, cols]),
             "left": (inner.transpose(1, 0, 2)[:EDGE_LINES], image[rows, 0]),
             "right": (inner.transpose(1, 0, 2)[::-1][:EDGE_LINES], image[rows, -1])}
    for k, (edge, outer) in edges.items():
        if depth[k] and _edge_share(edge, np.median(outer, axis=0)) < EDGE_SHARE:
            depth[k] = 0
    rows, cols = slice(depth["top"], h - depth["bottom"]), slice(depth["left"], w - depth["right"])
    if not any(depth.values()) or rows.stop - rows.start < MIN_CONTENT or cols.stop - cols.start < MIN_CONTENT:
        return None
    return rows, cols


def place_mask(mask: np.ndarray, box: tuple[slice, slice], shape: tuple[int, ...]) -> np.ndarray:
    """A mask of the box, in the whole image of `shape` (False on the border)."""
    out = np.zeros(shape[:2], mask.dtype)
    out[box] = mask
    return out


def place_image(inner: np.ndarray, box: tuple[slice, slice], whole: np.ndarray) -> np.ndarray:
    """`whole` with the box's pixels taken from `inner`."""
    out = whole.copy()
    out[box] = inner
    return out


def place_person(person, box: tuple[slice, slice], shape: tuple[int, ...]):
    """A parse's Person (closet.stages.parse) found in the box, in the whole image of `shape`: its
    garment placed, its box and keypoints moved. Its garment geometry stays behind, as
    closet.upright.turn_person leaves it: the JSON answer does not carry it."""
    dy, dx = box[0].start, box[1].start
    keypoints = None
    if person.keypoints is not None:
        keypoints = person.keypoints.copy()
        keypoints[:, 0] += dx
        keypoints[:, 1] += dy
    x0, y0, x1, y1 = person.box
    return dataclasses.replace(person, garment=place_mask(person.garment, box, shape),
                               box=[x0 + dx, y0 + dy, x1 + dx, y1 + dy], keypoints=keypoints, geometry=None)
