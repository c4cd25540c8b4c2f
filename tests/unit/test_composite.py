"""The composite stage's geometric steps, and decoding, on synthetic images (no weights, no server)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from closet.errors import BadImage, NoGarment, NoPerson, TooLarge
from closet.imageio import decode_image, encode_mask
from closet.stages import composite as pipeline
from closet.stages.parse import label_map_people as people
from closet.stages.segment import check_person


def decode(data: bytes, max_pixels: int, max_side: int) -> np.ndarray:
    return np.asarray(decode_image(data, max_pixels, max_side))


def _scene(h=120, w=100):
    """A 'photo' with noise texture, a person rectangle and a garment rectangle inside it."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    person = np.zeros((h, w), bool)
    person[20:115, 25:75] = True
    garment = np.zeros((h, w), bool)
    garment[45:90, 30:70] = True
    return img, person, garment


def test_decode_applies_exif_orientation():
    img = np.zeros((20, 40, 3), np.uint8)
    img[:, :20] = 255  # left half white
    pil = Image.fromarray(img)
    exif = pil.getexif()
    exif[0x0112] = 6  # rotate 90 CW on display
    buf = io.BytesIO()
    pil.save(buf, format="JPEG", exif=exif.tobytes(), quality=95)
    out = decode(buf.getvalue(), max_pixels=10**6, max_side=1000)
    assert out.shape == (40, 20, 3) and out.dtype == np.uint8
    assert out[:20].mean() > 200 and out[20:].mean() < 50  # white half moved to the top


def test_decode_rejects_bad_and_large():
    with pytest.raises(BadImage):
        decode(b"not an image", 10**6, 1000)
    buf = io.BytesIO()
    Image.new("RGB", (300, 10)).save(buf, format="PNG")
    with pytest.raises(TooLarge):
        decode(buf.getvalue(), 10**6, 200)


def test_crop_box_is_square_padded_and_contains_garment():
    _, _, garment = _scene()
    box = pipeline.crop_box(garment)
    assert box.size >= 45 * (1 + 2 * pipeline.CROP_PAD) - 1
    assert box.left <= 30 and box.left + box.size >= 70
    assert box.top <= 45 and box.top + box.size >= 90


def test_crop_uncrop_round_trip_shapes_and_black_background():
    img, _, garment = _scene()
    box = pipeline.crop_box(garment)
    c = pipeline.crop(img, garment, box, 32)
    assert c.shape == (32, 32, 3) and c.dtype == np.uint8
    assert c[0, 0].sum() == 0  # outside the garment is black
    region, (rows, cols) = pipeline.uncrop(c, box, img.shape[:2])
    assert region.shape[:2] == (rows.stop - rows.start, cols.stop - cols.start)


def test_box_past_the_edge_is_clipped_on_uncrop():
    img = np.full((50, 50, 3), 100, np.uint8)
    garment = np.zeros((50, 50), bool)
    garment[:30, :30] = True
    box = pipeline.crop_box(garment, pad=0.5)
    assert box.left < 0 and box.top < 0
    c = pipeline.crop(img, garment, box, 16)
    region, (rows, cols) = pipeline.uncrop(c, box, img.shape[:2])
    assert rows.start == 0 and cols.start == 0 and region.shape[:2] == (rows.stop, cols.stop)


@pytest.mark.parametrize("preserve", [True, False])
def test_composite_leaves_every_pixel_outside_dilated_garment_untouched(preserve):
    img, person, garment = _scene()
    box = pipeline.crop_box(garment)
    translated = np.zeros((32, 32, 3), np.uint8)
    translated[:, :16] = 255  # a half-white, half-black "garment"
    out = pipeline.composite(img, translated, box, garment, person, preserve_color=preserve)
    outside = ~pipeline.dilate(garment, pipeline.dilation_radius(img.shape))
    assert np.array_equal(out[outside], img[outside])
    assert (out[garment] != img[garment]).any(axis=-1).mean() > 0.5


def test_composite_only_inside_dilated_person():
    img, person, garment = _scene()
    garment[45:90, 5:70] = True  # garment reaches past the person on the left
    box = pipeline.crop_box(garment)
    out = pipeline.composite(img, np.full((32, 32, 3), 255, np.uint8), box, garment, person, preserve_color=False)
    far = np.zeros_like(garment)
    far[45:90, 5:15] = True  # >= 10 px left of the person; the dilation there is 2 px
    assert np.array_equal(out[far], img[far])


def test_checks_raise_typed_errors():
    with pytest.raises(NoPerson):
        check_person(np.zeros((10, 10), bool))
    assert people(np.zeros((10, 10), bool)) == []  # no garment: the ensemble answers NoGarment
    with pytest.raises(NoGarment):
        pipeline.crop_box(np.zeros((10, 10), bool))


def test_encode_mask_png():
    m = np.zeros((8, 9), bool)
    m[2:4] = True
    back = np.asarray(Image.open(io.BytesIO(encode_mask(m))))
    assert back.shape == (8, 9) and set(np.unique(back)) == {0, 255}
