"""How two of the ensemble's answers differ: the comparisons the benches and evaluations print."""

from __future__ import annotations

import numpy as np


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two bool masks (0 when both are empty)."""
    return float((a & b).sum() / max(1, (a | b).sum()))


def answer_difference(a, b) -> dict:
    """Two answers (closet.ensemble.Output) to one request: the garment masks' IoU and the pixels
    (per pixel, the largest change over the channels)."""
    diff = np.abs(a.image.astype(np.int16) - b.image.astype(np.int16)).max(axis=2)
    return {"garment_iou": iou(a.garment, b.garment), "result_mask_iou": iou(a.result_mask, b.result_mask),
            "pixels_differing": float((diff > 0).mean()), "pixels_differing_over_8": float((diff > 8).mean()),
            "pixels_differing_over_16": float((diff > 16).mean()), "mean_abs_diff": float(diff.mean())}
