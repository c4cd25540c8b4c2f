"""closet.imageio round trips of what a photo carries besides its pixels: the ICC profile and alpha
are kept, EXIF (GPS included) is applied (orientation) and then dropped.

The wide-gamut profile is Display P3 written by closet_dev.iccwriter (tests/unit/test_iccwriter.py
checks it against published coordinates); the photo is skimage's astronaut.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from closet import icc
from closet.imageio import Photo, decode_photo, encode_image
from closet_dev.iccwriter import ADOBE_RGB, DISPLAY_P3, profile

LIMITS = (10**8, 10**5)
P3 = profile(DISPLAY_P3)
FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
GPS_IFD = 0x8825


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    import skimage.data

    return np.asarray(Image.fromarray(skimage.data.astronaut()).resize((128, 128)))


def save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def cutout(rgb: np.ndarray) -> np.ndarray:
    """An alpha channel with every value 0..255: a gradient, a transparent frame and an opaque core."""
    h, w = rgb.shape[:2]
    a = np.tile(np.linspace(0, 255, w).astype(np.uint8), (h, 1))
    a[:8], a[-8:] = 0, 0
    a[h // 3: 2 * h // 3, w // 3: 2 * w // 3] = 255
    return a


def gps_exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "closet-test-camera"  # Make
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)})
    return exif


@pytest.mark.parametrize("fmt", FORMATS)
def test_icc_profile_in_is_the_profile_out(astronaut, fmt):
    data = save(Image.fromarray(astronaut), FORMATS[fmt], icc_profile=P3)
    photo = decode_photo(data, *LIMITS)
    assert photo.icc == P3 and photo.alpha is None
    out, ctype = encode_image(photo.pixels, fmt, icc=photo.icc)
    back = Image.open(io.BytesIO(out))
    assert back.format == FORMATS[fmt] and ctype == f"image/{fmt}"
    assert back.info.get("icc_profile") == P3
    if fmt == "png":  # lossless: the numbers are the input's, untouched by keeping the profile
        assert np.array_equal(np.asarray(back), astronaut)


def test_a_large_profile_survives_jpeg_app2_chunking(astronaut):
    big = P3 + bytes(70_000)  # over one APP2 segment (64 KiB): Pillow splits and rejoins it
    data = save(Image.fromarray(astronaut), "JPEG", icc_profile=big)
    out, _ = encode_image(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), "jpeg", icc=big)
    assert Image.open(io.BytesIO(out)).info["icc_profile"] == big


def test_no_profile_in_no_profile_out(astronaut):
    photo = decode_photo(save(Image.fromarray(astronaut), "PNG"), *LIMITS)
    assert photo.icc is None
    for fmt in FORMATS:
        assert "icc_profile" not in Image.open(io.BytesIO(encode_image(photo.pixels, fmt)[0])).info


@pytest.mark.parametrize("bad", [
    b"not a profile" * 20,
    P3.replace(b"rTRC", b"xTRC", 1),  # LittleCMS opens it (an RGB profile), but no transform has a red curve
], ids=["garbage", "no-red-curve"])
def test_an_unusable_profile_is_dropped_not_fatal(astronaut, bad):
    photo = decode_photo(save(Image.fromarray(astronaut), "PNG", icc_profile=bad), *LIMITS)
    assert photo.icc is None and np.array_equal(photo.pixels, astronaut)
    assert np.array_equal(photo.working(), astronaut)


def test_to_srgb_converts_the_numbers_and_drops_the_profile():
    # sRGB red and green written in Display P3 numbers (published: color(display-p3 0.9175 0.2003 0.1386)).
    p3_numbers = icc.from_srgb(np.array([[[255, 0, 0], [0, 255, 0], [128, 128, 128]]], np.uint8), P3)
    assert p3_numbers[0, 0].tolist() == [234, 51, 35]
    photo = decode_photo(save(Image.fromarray(p3_numbers), "PNG", icc_profile=P3), *LIMITS)
    srgb = photo.to_srgb()
    assert srgb.icc is None
    # Back to the sRGB numbers, within the 8-bit quantisation of the round trip (measured: 3, near black).
    assert np.abs(srgb.pixels.astype(int) - [[[255, 0, 0], [0, 255, 0], [128, 128, 128]]]).max() <= 4
    assert not np.array_equal(srgb.pixels, photo.pixels)


def test_another_rgb_profile_is_kept_too(astronaut):
    adobe = profile(ADOBE_RGB)
    assert decode_photo(save(Image.fromarray(astronaut), "JPEG", icc_profile=adobe), *LIMITS).icc == adobe


@pytest.mark.parametrize("fmt", ["png", "webp"])
def test_alpha_is_copied_byte_for_byte(astronaut, fmt):
    alpha = cutout(astronaut)
    data = save(Image.fromarray(np.dstack([astronaut, alpha]), "RGBA"), "PNG", icc_profile=P3)
    photo = decode_photo(data, *LIMITS)
    assert np.array_equal(photo.alpha, alpha) and np.array_equal(photo.pixels, astronaut) and photo.icc == P3
    out, _ = encode_image(photo.pixels, fmt, icc=photo.icc, alpha=photo.alpha)
    back = Image.open(io.BytesIO(out))
    assert back.mode == "RGBA" and back.info.get("icc_profile") == P3
    assert np.array_equal(np.asarray(back)[..., 3], alpha)


def test_jpeg_has_no_alpha_channel(astronaut):
    out, _ = encode_image(astronaut, "jpeg", alpha=cutout(astronaut))
    assert Image.open(io.BytesIO(out)).mode == "RGB"


@pytest.mark.parametrize("make", [
    lambda rgb, a: Image.fromarray(np.dstack([rgb[..., 0], a]), "LA"),
    lambda rgb, a: Image.fromarray(np.dstack([rgb, a]), "RGBA").convert("P"),  # palette + tRNS
])
def test_other_transparent_modes_give_alpha(astronaut, make):
    alpha = np.where(cutout(astronaut) > 127, 255, 0).astype(np.uint8)
    photo = decode_photo(save(make(astronaut, alpha), "PNG"), *LIMITS)
    assert photo.alpha is not None and photo.pixels.shape == astronaut.shape
    assert np.array_equal(photo.alpha > 127, alpha > 127)


def test_visible_is_over_white_and_merge_restores_hidden_colours(astronaut):
    alpha = cutout(astronaut)
    photo = Photo(astronaut, None, alpha)
    visible = photo.visible()
    assert (visible[alpha == 0] == 255).all()
    assert np.array_equal(visible[alpha == 255], astronaut[alpha == 255])
    half = alpha == 127
    expected = (astronaut[half].astype(int) * 127 + 255 * 128 + 127) // 255
    assert np.array_equal(visible[half], expected)
    assert np.array_equal(photo.working(), visible)  # no profile: sRGB already
    swapped = visible.copy()
    swapped[50:60, 50:60] = [10, 200, 30]  # a "garment" drawn on the visible pixels
    merged = photo.merge(swapped, visible)
    assert np.array_equal(merged[50:60, 50:60], swapped[50:60, 50:60])
    outside = np.ones(alpha.shape, bool)
    outside[50:60, 50:60] = False
    assert np.array_equal(merged[outside], astronaut[outside])  # hidden colour under alpha 0 included
    assert Photo(astronaut).visible() is astronaut and Photo(astronaut).merge(swapped, astronaut) is swapped


def test_the_stages_work_in_srgb_and_their_changes_go_back_into_the_profile(astronaut):
    photo = Photo(astronaut, P3)
    working = photo.working()
    assert np.array_equal(working, icc.to_srgb(astronaut, P3)) and not np.array_equal(working, astronaut)
    swapped = working.copy()
    swapped[50:60, 40:70] = [200, 30, 30]
    merged = photo.merge(swapped, working)
    outside = np.ones(astronaut.shape[:2], bool)
    outside[50:60, 40:70] = False
    assert np.array_equal(merged[outside], astronaut[outside])  # the photo's own numbers, not a round trip
    drawn = icc.from_srgb(np.full((1, 1, 3), [200, 30, 30], np.uint8), P3)[0, 0]
    assert (merged[50:60, 40:70] == drawn).all() and not (drawn == [200, 30, 30]).all()


@pytest.mark.parametrize("fmt", FORMATS)
def test_exif_orientation_is_applied_and_gps_is_stripped(astronaut, fmt):
    sideways = Image.fromarray(np.rot90(astronaut, k=1).copy())  # orientation 6: rotate 90 clockwise to view
    data = save(sideways, "JPEG", quality=95, exif=gps_exif(6).tobytes(), icc_profile=P3)
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(GPS_IFD)  # the input does carry GPS
    photo = decode_photo(data, *LIMITS)
    assert photo.pixels.shape == astronaut.shape and np.abs(photo.pixels.astype(int) - astronaut).mean() < 5
    out, _ = encode_image(photo.pixels, fmt, icc=photo.icc)
    back = Image.open(io.BytesIO(out))
    assert back.info.get("icc_profile") == P3  # kept
    assert len(back.getexif()) == 0 and "exif" not in back.info  # EXIF, GPS included, stripped
    for marker in (b"Exif\0\0", b"eXIf", b"EXIF", b"closet-test-camera"):
        assert marker not in out
