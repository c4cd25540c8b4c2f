"""closet_dev.photo_variants: the package photos shot or cut otherwise (pure functions, no server)."""

import numpy as np
import pytest

from closet_dev import photo_variants as pv


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A smooth gradient with a little noise on it, as a photo has."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:120, 0:90]
    smooth = np.stack([60 + x, 80 + y // 2, 140 - x // 2], -1).astype(np.float32)
    return np.clip(smooth + rng.normal(0, 8, smooth.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("name", sorted(pv.VARIANTS))
def test_every_variant_is_an_rgb_photo(photo, name):
    out = pv.VARIANTS[name](photo)
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3 and out.flags.c_contiguous


def test_the_variants_are_what_they_say(photo):
    h, w = photo.shape[:2]
    small = pv.smaller(photo)
    assert small.shape[:2] == (2 * h, 2 * w) and (small[: h] == 128).all()  # the person low in a wide frame
    assert pv.darker(photo).mean() < 0.4 * photo.mean() and pv.brighter(photo).mean() > photo.mean()
    assert pv.cut_at_chest(photo).shape[:2] == (h * 3 // 4, w) and np.array_equal(pv.cut_at_chest(photo), photo[: h * 3 // 4])
    assert pv.cut_at_side(photo).shape[:2] == (h, w * 3 // 5)
    turned = pv.turned(photo)
    assert turned.shape == photo.shape and not np.array_equal(turned, photo)
    assert np.abs(pv.blurred(photo).astype(int) - photo).mean() > 4  # the noise blurred away
    assert 0 < np.abs(pv.compressed(photo).astype(int) - photo).mean() < 15


def test_main_writes_each_variant_of_each_package_photo(tmp_path):
    from closet_dev import package_photos as pp

    written = pv.main(["--out", str(tmp_path)])
    assert len(written) == len(pp.PHOTOS) * len(pv.VARIANTS) and all(p.is_file() for p in written)
