"""Property-based tests (hypothesis) of decode, crop and composite.

Any image, of any size, mode and container format, either decodes to upright 8-bit RGB of
its own size or raises closet's ClosetError; any byte string (random, truncated, bit-flipped)
does the same. Through crop -> composite, the output keeps the input size and every pixel
outside the dilated garment mask is byte-identical. No other exception type may escape.
Example counts are small: this runs on a shared 2-core CPU.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from closet import config
from closet.errors import ClosetError
from closet.imageio import decode_image
from closet.stages import composite as pipeline
from closet.stages.segment import check_person

LIMITS = config.load().limits
PROFILE = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)

MODES = ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "YCbCr", "I;16", "I", "F")
FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")


def _pixels(seed: int, mode: str, w: int, h: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    rgb = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")
    if mode in ("I;16", "I", "F"):
        arr = rng.integers(0, 65536, (h, w)).astype({"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode])
        return Image.fromarray(arr)  # uint16 -> I;16, int32 -> I, float32 -> F
    return rgb.convert(mode)


@st.composite
def encoded_images(draw, max_side: int = 96):
    w = draw(st.integers(1, max_side))
    h = draw(st.integers(1, max_side))
    mode = draw(st.sampled_from(MODES))
    fmt = draw(st.sampled_from(FORMATS))
    seed = draw(st.integers(0, 2**32 - 1))
    # EXIF orientation (0 and 9 are out of range: ignored); 5-8 swap width and height.
    orientation = draw(st.integers(0, 9)) if fmt in ("JPEG", "PNG", "WEBP", "TIFF") else 1
    img = _pixels(seed, mode, w, h)
    buf = io.BytesIO()
    kw = {}
    if orientation != 1:
        exif = Image.Exif()
        exif[0x0112] = orientation
        kw["exif"] = exif.tobytes()
    try:
        img.save(buf, format=fmt, **kw)
    except (OSError, ValueError, KeyError, TypeError):
        assume(False)  # PIL cannot write this mode in this format: not a valid image to test
    upright = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
    return buf.getvalue(), upright, mode, fmt


def _decode_or_closet_error(data: bytes):
    try:
        return decode_image(data, LIMITS.max_pixels, LIMITS.max_side)
    except ClosetError as e:
        assert 400 <= e.status < 500 and e.to_json()["error"]
        return None


@PROFILE
@given(encoded_images())
def test_any_valid_image_decodes_to_rgb_of_its_own_size(sample):
    data, size, mode, fmt = sample
    img = _decode_or_closet_error(data)
    assert img is not None, f"a valid {fmt} in mode {mode} was refused"
    assert img.mode == "RGB" and img.size == size
    arr = np.asarray(img)
    assert arr.dtype == np.uint8 and arr.shape == (size[1], size[0], 3)


@PROFILE
@given(encoded_images(), st.data())
def test_damaged_bytes_decode_or_raise_closet_error(sample, data):
    raw = bytearray(sample[0])
    cut = data.draw(st.integers(0, len(raw)), label="truncate at")
    flips = data.draw(st.lists(st.tuples(st.integers(0, max(len(raw) - 1, 0)), st.integers(1, 255)), max_size=4))
    for pos, xor in flips:
        raw[pos] ^= xor
    img = _decode_or_closet_error(bytes(raw[:cut]))
    if img is not None:
        assert img.mode == "RGB" and img.width >= 1 and img.height >= 1


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_raise_anything_else(blob):
    img = _decode_or_closet_error(blob)
    if img is not None:
        assert img.mode == "RGB"


@st.composite
def scenes(draw):
    """An image, a garment mask (rectangle, maybe empty or off-image) and a person mask."""
    h = draw(st.integers(1, 120))
    w = draw(st.integers(1, 120))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    y0, x0 = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))
    y1, x1 = draw(st.integers(y0, h)), draw(st.integers(x0, w))
    garment = np.zeros((h, w), bool)
    garment[y0:y1, x0:x1] = True
    garment &= rng.random((h, w)) < draw(st.floats(0.3, 1.0))  # ragged edges, holes
    person = garment | (rng.random((h, w)) < draw(st.floats(0.0, 1.0)))
    img_size = draw(st.sampled_from([8, 28, 64]))
    preserve = draw(st.booleans())
    return image, garment, person, img_size, preserve, seed


@PROFILE
@given(scenes())
def test_crop_and_composite_keep_size_and_pixels_outside_the_dilated_garment(scene):
    image, garment, person, img_size, preserve, seed = scene
    try:
        box = pipeline.crop_box(garment)
    except ClosetError:
        assert not garment.any()
        return
    c = pipeline.crop(image, garment, box, img_size)
    assert c.shape == (img_size, img_size, 3) and c.dtype == np.uint8
    translated = np.random.default_rng(seed + 1).integers(0, 256, (img_size, img_size, 3), dtype=np.uint8)
    try:
        out = pipeline.composite(image, translated, box, garment, person, preserve_color=preserve)
    except ClosetError:
        return
    assert out.shape == image.shape and out.dtype == np.uint8
    outside = ~pipeline.dilate(garment, pipeline.dilation_radius(image.shape))
    assert np.array_equal(out[outside], image[outside])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(encoded_images(max_side=80), st.integers(0, 2**32 - 1))
def test_pipeline_chain_from_bytes(sample, seed):
    """bytes -> decode -> crop -> composite: same size out, or ClosetError, nothing else."""
    data, size, _, _ = sample
    try:
        image = np.asarray(decode_image(data, LIMITS.max_pixels, LIMITS.max_side))
    except ClosetError:
        return
    h, w = image.shape[:2]
    assert (w, h) == size
    rng = np.random.default_rng(seed)
    garment = rng.random((h, w)) < 0.3
    person = garment | (rng.random((h, w)) < 0.5)
    try:
        check_person(person)
        box = pipeline.crop_box(garment)
        pipeline.crop(image, garment, box, 28)
        out = pipeline.composite(image, rng.integers(0, 256, (28, 28, 3), dtype=np.uint8), box, garment, person)
    except ClosetError:
        return
    assert out.shape == image.shape
    outside = ~pipeline.dilate(garment, pipeline.dilation_radius(image.shape))
    assert np.array_equal(out[outside], image[outside])


def test_size_limits_come_from_the_one_config():
    side = LIMITS.max_side + 1
    buf = io.BytesIO()
    Image.new("L", (side, 1)).save(buf, format="PNG")
    with pytest.raises(ClosetError) as e:
        decode_image(buf.getvalue(), LIMITS.max_pixels, LIMITS.max_side)
    assert e.value.status == 413
