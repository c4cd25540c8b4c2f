"""closet_dev.iccwriter writes profiles LittleCMS reads and converts through as the colour spaces define.

Reference values: sRGB's primaries in Display P3 and in Adobe RGB (1998), as published with the
spaces (CSS Color 4 examples; Adobe RGB (1998) Color Image Encoding, section 4.3.4), rounded to 8 bits.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import ImageCms

from closet import icc
from closet_dev.iccwriter import ADOBE_RGB, D65, DISPLAY_P3, RGBSpace, profile

SRGB_PRIMARIES = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0]]], np.uint8)


@pytest.mark.parametrize("space, expected", [
    # display-p3: red (0.9175, 0.2003, 0.1386), green (0.4584, 0.9853, 0.2983), blue (0, 0, 0.9596)
    (DISPLAY_P3, [[234, 51, 35], [117, 251, 76], [0, 0, 245], [255, 255, 255], [0, 0, 0]]),
    # Adobe RGB: red (0.8590, 0, 0), green (0.5649, 1, 0.2344), blue (0, 0, 0.9816)
    (ADOBE_RGB, [[219, 0, 0], [144, 255, 60], [0, 0, 250], [255, 255, 255], [0, 0, 0]]),
])
def test_srgb_primaries_land_on_published_coordinates(space, expected):
    data = profile(space)
    assert icc.colour_space(data) == "RGB"
    assert ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(data))).strip() == space.name
    got = icc.from_srgb(SRGB_PRIMARIES, data)[0]
    assert np.abs(got.astype(int) - expected).max() <= 1, got.tolist()


def test_srgb_written_here_equals_littlecms_srgb():
    srgb = profile(RGBSpace("sRGB", ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06)), D65))
    x = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert np.abs(icc.from_srgb(x, srgb).astype(int) - x).max() <= 1


def test_profiles_are_deterministic():
    assert profile(DISPLAY_P3) == profile(DISPLAY_P3) and profile(DISPLAY_P3) != profile(ADOBE_RGB)
