"""Colour preservation: shape and shading from the generator, colour from the photo.

The default Fashion-MNIST generator outputs gray garments on black, so its
colours are never what the user wants. `preserve_color` works in CIE Lab:
lightness L comes from the generator, rescaled so its mean and spread inside
the garment match the photo's garment, while the chroma channels a, b are the
photo's own, pixel for pixel. A grayscale generator therefore works as is, and
the garment keeps its original colours (measured: `mean_chroma`).
"""

from __future__ import annotations

import cv2
import numpy as np

# Floor on the generator's L spread inside the mask, so a flat output is not blown up.
_MIN_STD = 1.0
# Fractions of the generator's lightness tried, largest first, until a pixel fits in sRGB.
_GAMUT_STEPS = (1.0, 0.75, 0.5, 0.25)
# CIE XYZ (D65, as OpenCV's Lab conversion) -> linear sRGB (IEC 61966-2-1).
_WHITE = np.float32([0.950456, 1.0, 1.088754])
_RGB_FROM_XYZ = np.float32([[3.240479, -1.53715, -0.498535],
                            [-0.969256, 1.875991, 0.041556],
                            [0.055648, -0.204043, 1.057311]])
_DELTA = 6.0 / 29.0


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB (..., 3) -> float32 CIE Lab (D65; L 0-100), through OpenCV."""
    flat = np.ascontiguousarray(rgb, dtype=np.float32).reshape(-1, 1, 3) / 255.0
    if not flat.size:
        return flat.reshape(rgb.shape)
    return cv2.cvtColor(flat, cv2.COLOR_RGB2LAB).reshape(rgb.shape)


def to_rgb8(lab: np.ndarray) -> np.ndarray:
    """float Lab (..., 3) -> uint8 RGB, clipped to the sRGB gamut."""
    flat = np.ascontiguousarray(lab, dtype=np.float32).reshape(-1, 1, 3)
    rgb = cv2.cvtColor(flat, cv2.COLOR_LAB2RGB).reshape(lab.shape) if flat.size else flat.reshape(lab.shape)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def near_median(lab: np.ndarray, sample: np.ndarray, spreads: float, min_diff: np.ndarray) -> np.ndarray:
    """bool (N,): which Lab colours (N, 3) lie, in every channel, within `spreads` median absolute
    deviations of `sample`'s median (M, 3), or `min_diff` (3,) where that is wider: a cloth's own
    colours, told from what lies beside or on it."""
    centre = np.median(sample, axis=0)
    reach = np.maximum(spreads * np.median(np.abs(sample - centre), axis=0), min_diff)
    return (np.abs(lab - centre) <= reach).all(axis=-1)


def mean_chroma(rgb: np.ndarray, mask: np.ndarray) -> tuple[float, float, float]:
    """Mean a, b and chroma sqrt(a^2+b^2) of the pixels where mask is true."""
    lab = to_lab(rgb[mask.astype(bool)])
    if lab.size == 0:
        return 0.0, 0.0, 0.0
    a, b = lab[:, 1].astype(np.float64), lab[:, 2].astype(np.float64)
    return float(a.mean()), float(b.mean()), float(np.hypot(a, b).mean())


def in_gamut(lab: np.ndarray, tol: float = 0.5 / 255) -> np.ndarray:
    """bool (...): the Lab colours (..., 3) map into sRGB without clipping."""
    lab = np.asarray(lab, np.float32)
    fy = (lab[..., 0] + 16.0) / 116.0
    f = np.stack([fy + lab[..., 1] / 500.0, fy, fy - lab[..., 2] / 200.0], axis=-1)
    xyz = np.where(f > _DELTA, f**3, 3 * _DELTA**2 * (f - 4.0 / 29.0)) * _WHITE
    lin = xyz @ _RGB_FROM_XYZ.T  # a negative X or Z (b or a beyond any real colour) lands outside
    return ((lin >= -tol) & (lin <= 1 + tol)).all(axis=-1)


def preserve_color(generated: np.ndarray, original: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Recolour `generated` with the colours of `original` inside `mask`.

    Args:
        generated: uint8 RGB (H, W, 3), the generator's output resized to the photo region.
        original: uint8 RGB (H, W, 3), the same region of the photo.
        mask: bool (H, W), the garment; statistics are taken here.
    Returns:
        uint8 RGB (H, W, 3): a and b from `original`; L from `generated`, its mean/std matched
        to `original` in the mask. Where that (L, a, b) falls outside sRGB (a dark pixel of a
        saturated colour), L moves back toward the photo's own L in steps until it fits, so
        the chroma is kept rather than clipped away.
    """
    m = mask.astype(bool)
    l_gen = to_lab(generated)[..., 0]
    org_lab = to_lab(original)
    l_org = org_lab[..., 0]
    if m.any():
        g, o = l_gen[m], l_org[m]
        scale = max(float(o.std()), _MIN_STD) / max(float(g.std()), _MIN_STD)
        l_new = np.clip((l_gen - g.mean()) * scale + o.mean(), 0.0, 100.0)
    else:
        l_new = l_gen
    out = org_lab.copy()
    # Each step tests only the pixels still pending; the rest keep the photo's L (always representable).
    pending = np.arange(l_org.size)
    flat_out, flat_org, flat_new = out.reshape(-1, 3), org_lab.reshape(-1, 3), l_new.reshape(-1)
    for t in _GAMUT_STEPS:
        cand = flat_org[pending].copy()
        cand[:, 0] += t * (flat_new[pending] - cand[:, 0])
        fits = in_gamut(cand)
        flat_out[pending[fits], 0] = cand[fits, 0]
        pending = pending[~fits]
        if not pending.size:
            break
    return to_rgb8(out)
