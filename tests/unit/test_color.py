"""closet.color: colours from the photo, shading from the generator."""

from __future__ import annotations

import numpy as np

from closet import color

# Stated tolerance (also in docs/ensemble.md): mean Lab chroma of the garment
# stays within this many units of the input's with preserve_color=true.
CHROMA_TOLERANCE = 2.0


def _garment(rgb, h=64, w=64):
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = rgb
    rng = np.random.default_rng(1)
    img = np.clip(img.astype(int) + rng.integers(-20, 21, img.shape), 0, 255).astype(np.uint8)
    mask = np.zeros((h, w), bool)
    mask[8:56, 12:52] = True
    return img, mask


def test_gray_generator_keeps_the_photo_colours():
    photo, mask = _garment((200, 40, 40))  # red shirt
    gen = np.zeros_like(photo)
    gen[mask] = 180
    gen[20:40, 20:40] = 60  # a dark pattern from the generator
    out = color.preserve_color(gen, photo, mask)
    a0, b0, c0 = color.mean_chroma(photo, mask)
    a1, b1, c1 = color.mean_chroma(out, mask)
    assert abs(c1 - c0) < CHROMA_TOLERANCE
    assert abs(a1 - a0) < CHROMA_TOLERANCE and abs(b1 - b0) < CHROMA_TOLERANCE
    # the generator's pattern survives as lightness
    lab = color.to_lab(out)
    assert lab[25:35, 25:35, 0].mean() < lab[10:18, 14:50, 0].mean() - 5


def test_lightness_statistics_match_the_photo():
    photo, mask = _garment((40, 90, 200))
    gen = np.random.default_rng(2).integers(0, 256, photo.shape, dtype=np.uint8)
    out = color.preserve_color(gen, photo, mask)
    l_in = color.to_lab(photo)[..., 0][mask]
    l_out = color.to_lab(out)[..., 0][mask]
    assert abs(l_out.mean() - l_in.mean()) < 3.0


def test_raw_colours_differ_from_preserved():
    photo, mask = _garment((30, 160, 60))
    gen = np.full_like(photo, 128)
    gen[..., 0] = 250  # generator says "pink"
    out = color.preserve_color(gen, photo, mask)
    assert abs(color.mean_chroma(out, mask)[0] - color.mean_chroma(gen, mask)[0]) > 20


def test_empty_mask_is_harmless():
    photo, _ = _garment((10, 20, 30))
    out = color.preserve_color(photo, photo, np.zeros(photo.shape[:2], bool))
    assert out.shape == photo.shape and out.dtype == np.uint8
