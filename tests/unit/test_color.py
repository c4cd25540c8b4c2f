"""closet.color: colours from the photo, shading from the generator."""

from __future__ import annotations

import warnings

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


def test_no_pixels_convert_to_no_pixels():
    assert color.to_lab(np.zeros((0, 3), np.uint8)).shape == (0, 3)
    assert color.to_rgb8(np.zeros((0, 3), np.float32)).shape == (0, 3)


def test_empty_mask_is_harmless():
    photo, _ = _garment((10, 20, 30))
    out = color.preserve_color(photo, photo, np.zeros(photo.shape[:2], bool))
    assert out.shape == photo.shape and out.dtype == np.uint8


def test_the_float32_conversions_agree_with_scikit_image():
    """OpenCV float32 Lab (the request path) against scikit-image's float64 reference."""
    from skimage import color as skcolor

    rgb = np.random.default_rng(3).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    rgb[0, :8] = [[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 255, 255],
                  [255, 0, 255]]
    lab = color.to_lab(rgb)
    # OpenCV interpolates the sRGB curve: measured 0.35 units at most, 0.08 on average (1 is a just-noticeable step)
    diff = np.abs(lab - skcolor.rgb2lab(rgb / 255.0))
    assert lab.dtype == np.float32 and diff.max() < 0.5 and diff.mean() < 0.15
    assert np.abs(color.to_rgb8(lab).astype(int) - rgb).max() <= 1
    # the gamut test: Lab colours all over the space, against scikit-image's own inverse
    grid = np.stack(np.meshgrid(np.linspace(0, 100, 21), np.linspace(-120, 120, 25), np.linspace(-120, 120, 25),
                                indexing="ij"), axis=-1).reshape(-1, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-image notes the negative Z it clips
        lin = skcolor.lab2xyz(grid) @ skcolor.colorconv.rgb_from_xyz.T  # linear sRGB, unclipped
    reference = ((lin >= -0.5 / 255) & (lin <= 1 + 0.5 / 255)).all(axis=-1)
    ours = color.in_gamut(grid)
    assert (ours == reference).all() and ours.any() and not ours.all()


def test_saturated_dark_pixels_keep_their_chroma():
    """A deep blue garment under a dark generator: L steps back toward the photo's until it fits sRGB."""
    photo, mask = _garment((20, 30, 160))
    gen = np.zeros_like(photo)
    gen[mask] = 10
    gen[8:20, 12:52] = 250  # some bright rows, so the dark ones land far below the photo's mean
    out = color.preserve_color(gen, photo, mask)
    assert color.in_gamut(color.to_lab(out)).all()
    assert abs(color.mean_chroma(out, mask)[2] - color.mean_chroma(photo, mask)[2]) < 4 * CHROMA_TOLERANCE
