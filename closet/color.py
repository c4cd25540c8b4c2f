"""Colour preservation: shape and shading from the generator, colour from the photo.

The default Fashion-MNIST generator outputs gray garments on black, so its
colours are never what the user wants. `preserve_color` works in CIE Lab:
lightness L comes from the generator, rescaled so its mean and spread inside
the garment match the photo's garment, while the chroma channels a, b are the
photo's own, pixel for pixel. A grayscale generator therefore works as is, and
the garment keeps its original colours (measured: `mean_chroma`).
"""

from __future__ import annotations

import warnings

import numpy as np
from skimage import color as skcolor
from skimage.color import colorconv as _colorconv

# Floor on the generator's L spread inside the mask, so a flat output is not blown up.
_MIN_STD = 1.0
# Fractions of the generator's lightness tried, largest first, until a pixel fits in sRGB.
_GAMUT_STEPS = (1.0, 0.75, 0.5, 0.25)
_RGB_FROM_XYZ = np.linalg.inv(np.asarray(_colorconv.xyz_from_rgb))


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB (H, W, 3) -> float64 CIE Lab (D65)."""
    return skcolor.rgb2lab(rgb.astype(np.float64) / 255.0)


def to_rgb8(lab: np.ndarray) -> np.ndarray:
    """float Lab -> uint8 RGB, clipped to the sRGB gamut."""
    with warnings.catch_warnings():  # out-of-gamut Z is clipped by design; not worth a log line per request
        warnings.simplefilter("ignore", UserWarning)
        rgb = skcolor.lab2rgb(lab)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def mean_chroma(rgb: np.ndarray, mask: np.ndarray) -> tuple[float, float, float]:
    """Mean a, b and chroma sqrt(a^2+b^2) of the pixels where mask is true."""
    lab = to_lab(rgb)[mask.astype(bool)]
    if lab.size == 0:
        return 0.0, 0.0, 0.0
    a, b = lab[:, 1], lab[:, 2]
    return float(a.mean()), float(b.mean()), float(np.hypot(a, b).mean())


def in_gamut(lab: np.ndarray, tol: float = 0.5 / 255) -> np.ndarray:
    """bool (H, W): the Lab colour maps into sRGB without clipping."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        xyz = skcolor.lab2xyz(lab)
    lin = xyz @ _RGB_FROM_XYZ.T  # (H, W, 3) linear sRGB
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
    gen_lab = to_lab(generated)
    org_lab = to_lab(original)
    l_org = org_lab[..., 0]
    if m.any():
        g, o = gen_lab[..., 0][m], l_org[m]
        scale = max(o.std(), _MIN_STD) / max(g.std(), _MIN_STD)
        l_new = np.clip((gen_lab[..., 0] - g.mean()) * scale + o.mean(), 0.0, 100.0)
    else:
        l_new = gen_lab[..., 0]
    out = org_lab.copy()
    pending = np.ones(l_org.shape, dtype=bool)
    for t in _GAMUT_STEPS:
        cand = org_lab.copy()
        cand[..., 0] = l_org + t * (l_new - l_org)
        fits = pending & in_gamut(cand)
        out[..., 0][fits] = cand[..., 0][fits]
        pending &= ~fits
    # pending pixels keep the photo's L (always representable)
    return to_rgb8(out)
