"""closet.imageio.decode_photo's two JPEG decoders agree: an upright colour JPEG goes through OpenCV
(`_jpeg_rgb`), anything else through PIL, and both give PIL's pixels; a broken JPEG is refused by both."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from closet import imageio
from closet.errors import BadImage
from closet.imageio import decode_photo

LIMITS = (10**8, 10**5)


def jpeg(pixels: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", **kw)
    return buf.getvalue()


def pil_pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    import matplotlib.cbook
    import skimage.data

    grace = np.asarray(Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")).convert("RGB"))
    noise = np.random.default_rng(0).integers(0, 256, (61, 83, 3), dtype=np.uint8)  # odd sides, no smooth area
    return {"astronaut": skimage.data.astronaut()[:301, :203].copy(), "grace_hopper": grace, "noise": noise}


@pytest.fixture
def opencv_calls(monkeypatch) -> list[int]:
    """How many decodes went through OpenCV (the spy lets the test fail if none did)."""
    calls: list[int] = []
    real = imageio._jpeg_rgb

    def spy(data):
        out = real(data)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(imageio, "_jpeg_rgb", spy)
    return calls


@pytest.mark.parametrize("subsampling", [0, 1, 2])  # 4:4:4, 4:2:2, 4:2:0
@pytest.mark.parametrize("quality", [50, 95])
@pytest.mark.parametrize("progressive", [False, True])
def test_a_colour_jpeg_decodes_to_pils_pixels(photos, opencv_calls, monkeypatch, subsampling, quality, progressive):
    from PIL import ImageFile

    # PIL writes a progressive JPEG in one block, so it needs a buffer as big as the file.
    monkeypatch.setattr(ImageFile, "MAXBLOCK", max(ImageFile.MAXBLOCK, 2 * max(p.size for p in photos.values())))
    for name, pixels in photos.items():
        data = jpeg(pixels, quality=quality, subsampling=subsampling, progressive=progressive)
        got = decode_photo(data, *LIMITS)
        assert got.pixels.dtype == np.uint8 and got.alpha is None, name
        assert np.array_equal(got.pixels, pil_pixels(data)), name
    assert opencv_calls == [True] * len(photos)


def test_the_grace_hopper_camera_file_decodes_to_pils_pixels(opencv_calls):
    import matplotlib.cbook

    data = matplotlib.cbook.get_sample_data("grace_hopper.jpg").read()
    assert np.array_equal(decode_photo(data, *LIMITS).pixels, pil_pixels(data))
    assert opencv_calls == [True]


def test_gray_and_rotated_jpegs_take_pil(photos, opencv_calls):
    gray = np.asarray(Image.fromarray(photos["astronaut"]).convert("L"))
    assert np.array_equal(decode_photo(jpeg(gray), *LIMITS).pixels, pil_pixels(jpeg(gray)))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees clockwise for display
    rotated = jpeg(photos["astronaut"], exif=exif)
    upright = decode_photo(rotated, *LIMITS).pixels
    assert upright.shape[:2] == photos["astronaut"].shape[1::-1]
    assert opencv_calls == []


@pytest.mark.parametrize("cut", [0.5, 0.9, 0.999])
def test_a_truncated_jpeg_is_refused(photos, cut):
    data = jpeg(photos["grace_hopper"], quality=90)
    assert imageio._jpeg_rgb(data[: int(len(data) * cut)]) is None
    with pytest.raises(BadImage, match="could not be decoded"):
        decode_photo(data[: int(len(data) * cut)], *LIMITS)


def test_an_rgb_profile_is_kept_through_the_opencv_decode(photos, opencv_calls):
    from closet_dev.iccwriter import DISPLAY_P3, profile

    p3 = profile(DISPLAY_P3)
    assert decode_photo(jpeg(photos["astronaut"], icc_profile=p3), *LIMITS).icc == p3
    assert decode_photo(jpeg(photos["astronaut"]), *LIMITS).icc is None
    assert opencv_calls == [True, True]
