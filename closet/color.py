"""Colour preservation: shape and shading from the generator, colour from the photo.

The default Fashion-MNIST generator outputs gray garments on black, so its
colours are never what the user wants. `preserve_color` works in CIE Lab:
lightness L comes from the generator, rescaled so its mean and spread inside
the garment match the photo's garment, while the chroma channels a, b are the
photo's own, pixel for pixel. A grayscale generator therefore works as is, and
the garment keeps its original colours (measured: `mean_chroma`).
"""

from __future__ import annotations

import numpy as np
from skimage import color as skcolor

# Floor on the generator's L spread inside the mask, so a flat output is not blown up.
_MIN_STD = 1.0


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB (H, W, 3) -> float64 CIE Lab (D65)."""
    return skcolor.rgb2lab(rgb.astype(np.float64) / 255.0)


def to_rgb8(lab: np.ndarray) -> np.ndarray:
    """float Lab -> uint8 RGB, clipped to the sRGB gamut."""
    rgb = skcolor.lab2rgb(lab)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def mean_chroma(rgb: np.ndarray, mask: np.ndarray) -> tuple[float, float, float]:
    """Mean a, b and chroma sqrt(a^2+b^2) of the pixels where mask is true."""
    lab = to_lab(rgb)[mask.astype(bool)]
    if lab.size == 0:
        return 0.0, 0.0, 0.0
    a, b = lab[:, 1], lab[:, 2]
    return float(a.mean()), float(b.mean()), float(np.hypot(a, b).mean())


def preserve_color(generated: np.ndarray, original: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Recolour `generated` with the colours of `original` inside `mask`.

    Args:
        generated: uint8 RGB (H, W, 3), the generator's output resized to the photo region.
        original: uint8 RGB (H, W, 3), the same region of the photo.
        mask: bool (H, W), the garment; statistics are taken here.
    Returns:
        uint8 RGB (H, W, 3): L from `generated` (mean/std matched to `original` in the mask),
        a and b from `original`. Pixels outside the mask are computed the same way; the
        compositor decides which pixels are used.
    """
    m = mask.astype(bool)
    gen_lab = to_lab(generated)
    org_lab = to_lab(original)
    out = org_lab.copy()
    if m.any():
        g, o = gen_lab[..., 0][m], org_lab[..., 0][m]
        scale = max(o.std(), _MIN_STD) / max(g.std(), _MIN_STD)
        out[..., 0] = np.clip((gen_lab[..., 0] - g.mean()) * scale + o.mean(), 0.0, 100.0)
    else:
        out[..., 0] = gen_lab[..., 0]
    return to_rgb8(out)
