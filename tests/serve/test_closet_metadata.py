"""/predictions/closet keeps what a person sees: the ICC profile and the alpha channel come back,
EXIF (GPS included) does not (real TorchServe, the session `torchserve` fixture).

Photos: skimage's astronaut (1) as a JPEG tagged Display P3 (closet_dev.iccwriter), stored sideways
with EXIF orientation 6 and a GPS position; (2) as an RGBA cut-out: an opaque ellipse around the
person, a feathered edge, and random colours under the transparent area. The requests of each
photo are sent at once, so they share batches.
"""

from __future__ import annotations

import base64
import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from closet import config as closet_config
from closet import icc
from closet.imageio import decode_photo
from closet.stages import composite as pipeline
from closet_dev.iccwriter import DISPLAY_P3, profile
from tests.support.openapi import b64_image, check_response

pytestmark = pytest.mark.serve
MODEL = "closet"
PATH = f"/predictions/{MODEL}"
assert MODEL in closet_config.MODEL_NAMES
P3 = profile(DISPLAY_P3)
GPS_IFD = 0x8825
MAKE = "closet-test-camera"
# Mean 8-bit error of an sRGB -> Display P3 -> sRGB round trip (measured on the whole astronaut: 0.11).
ROUND_TRIP_LEVELS = 1.0


@pytest.fixture(scope="module")
def serving(torchserve):
    torchserve.require(MODEL)
    return torchserve


def save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def post_all(serving, calls: list[dict]) -> list:
    with ThreadPoolExecutor(len(calls)) as pool:
        rs = list(pool.map(lambda kw: serving.predict(MODEL, **kw), calls))
    for r in rs:
        assert r.status_code == 200, r.text
        check_response(PATH, r)
    return rs


def b64decode_image(text: str) -> bytes:
    return base64.b64decode(text)


def opened(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def outside_garment(result: dict) -> np.ndarray:
    """Pixels outside the dilated union of the garment as it was and as it is (the byte-identity promise)."""
    garment = (b64_image(result["garment_mask"]) > 127) | (b64_image(result["result_mask"]) > 127)
    return ~pipeline.dilate(garment, pipeline.dilation_radius(garment.shape))


# -------------------------------------------------------------------------- ICC and EXIF
@pytest.fixture(scope="module")
def p3_jpeg(astronaut) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to view
    exif[0x010F] = MAKE
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)})
    data = save(Image.fromarray(np.rot90(astronaut).copy()), "JPEG", quality=95, exif=exif.tobytes(),
                icc_profile=P3)
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(GPS_IFD)
    return data


@pytest.fixture(scope="module")
def p3_answers(serving, p3_jpeg):
    """png (JSON, for the masks), jpeg, webp, and png converted to sRGB (JSON), in one batch."""
    photo = {"image": ("p3.jpg", p3_jpeg, "image/jpeg")}
    rs = post_all(serving, [
        dict(files={**photo, "return": (None, "json")}),
        dict(files={**photo, "format": (None, "jpeg")}),
        dict(files={**photo, "format": (None, "webp")}),
        dict(files={**photo, "return": (None, "json")}, headers={"X-Closet-Color-Profile": "srgb"}),
    ])
    return rs


def test_icc_in_is_icc_out_for_png_jpeg_and_webp(p3_answers, p3_jpeg):
    keep_json, jpeg, webp, _ = p3_answers
    png = b64decode_image(keep_json.json()["image"])
    for data, fmt in ((png, "PNG"), (jpeg.content, "JPEG"), (webp.content, "WEBP")):
        img = opened(data)
        assert img.format == fmt and img.info.get("icc_profile") == P3, fmt
    for r in p3_answers:
        assert r.headers["X-Closet-Alpha"] == "none"


def test_pixels_outside_the_garment_keep_the_photos_own_numbers(p3_answers, p3_jpeg):
    result = p3_answers[0].json()
    upright = decode_photo(p3_jpeg, 10**8, 10**5)
    assert upright.icc == P3
    out = np.asarray(opened(b64decode_image(result["image"])))
    outside = outside_garment(result)
    assert out.shape == upright.pixels.shape
    assert np.array_equal(out[outside], upright.pixels[outside])  # untouched, still Display P3 numbers


def test_color_profile_srgb_converts(p3_answers, p3_jpeg):
    keep, srgb = p3_answers[0].json(), p3_answers[3].json()
    img = opened(b64decode_image(srgb["image"]))
    assert "icc_profile" not in img.info  # sRGB: untagged
    out = np.asarray(img)
    photo = decode_photo(p3_jpeg, 10**8, 10**5)
    converted = icc.to_srgb(photo.pixels, P3)
    outside = outside_garment(srgb)
    assert np.array_equal(out[outside], converted[outside])
    changed = (out[outside] != photo.pixels[outside]).any(axis=-1).mean()
    assert changed > 0.5, changed  # the numbers did change: the astronaut's colours are saturated
    # The garment is drawn in the photo's colour space: keep's answer, shown through its profile, is
    # the srgb answer inside the garment too, up to the 8-bit rounding of sRGB -> P3 -> sRGB; the
    # same numbers shown without the profile (the answer before profiles were kept) are not.
    garment = b64_image(keep["garment_mask"]) > 127
    assert np.array_equal(garment, b64_image(srgb["garment_mask"]) > 127) and garment.mean() > 0.02
    keep_numbers = np.asarray(opened(b64decode_image(keep["image"])))
    shown = np.abs(icc.to_srgb(keep_numbers, P3)[garment].astype(int) - out[garment])
    unprofiled = np.abs(keep_numbers[garment].astype(int) - out[garment]).mean()
    assert shown.mean() < ROUND_TRIP_LEVELS < unprofiled, (shown.mean(), unprofiled)


def test_exif_and_gps_are_stripped_orientation_applied(p3_answers, astronaut):
    keep_json, jpeg, webp, _ = p3_answers
    for data in (b64decode_image(keep_json.json()["image"]), jpeg.content, webp.content):
        img = opened(data)
        assert img.size == (astronaut.shape[1], astronaut.shape[0])  # upright
        assert len(img.getexif()) == 0 and "exif" not in img.info
        for marker in (b"Exif\0\0", b"eXIf", b"EXIF", MAKE.encode()):
            assert marker not in data


# -------------------------------------------------------------------------- alpha
@pytest.fixture(scope="module")
def cutout(astronaut) -> tuple[np.ndarray, np.ndarray]:
    """(RGB with random colours under the transparent area, alpha): an opaque ellipse, feathered."""
    h, w = astronaut.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot((yy - h * 0.55) / (h * 0.48), (xx - w * 0.5) / (w * 0.42))
    alpha = np.clip((1.1 - r) * 10 * 255, 0, 255).astype(np.uint8)
    rgb = astronaut.copy()
    hidden = alpha == 0
    rgb[hidden] = np.random.default_rng(0).integers(0, 256, (int(hidden.sum()), 3), dtype=np.uint8)
    assert 0.1 < hidden.mean() < 0.5 and ((alpha > 0) & (alpha < 255)).any()
    return rgb, alpha


@pytest.fixture(scope="module")
def alpha_answers(serving, cutout):
    rgb, alpha = cutout
    rgba = save(Image.fromarray(np.dstack([rgb, alpha]), "RGBA"), "PNG")
    return post_all(serving, [
        dict(files={"image": rgba, "return": (None, "json")}),
        dict(data=rgba, headers={"X-Closet-Format": "webp"}),
        dict(data=rgba, headers={"X-Closet-Format": "jpeg"}),
    ])


def test_rgba_in_rgba_out_with_the_alpha_byte_identical(alpha_answers, cutout):
    rgb, alpha = cutout
    png_json, webp, jpeg = alpha_answers
    png = opened(b64decode_image(png_json.json()["image"]))
    for img in (png, opened(webp.content)):
        assert img.mode == "RGBA"
        assert np.array_equal(np.asarray(img)[..., 3], alpha)
    assert png_json.headers["X-Closet-Alpha"] == "kept" and webp.headers["X-Closet-Alpha"] == "kept"
    assert opened(jpeg.content).mode == "RGB" and jpeg.headers["X-Closet-Alpha"] == "dropped"
    # every pixel outside the garment is the input's, the colours under alpha 0 included
    out = np.asarray(png)[..., :3]
    outside = outside_garment(png_json.json())
    assert np.array_equal(out[outside], rgb[outside])


def test_the_swap_is_computed_on_the_visible_pixels(serving, cutout):
    """The cut-out and the same picture flattened over white get the same garment and the same
    garment pixels: the random colours under the transparent area change nothing. Sent one after
    the other: each is a batch of one (CPU convolutions round differently per batch size)."""
    rgb, alpha = cutout
    rgba = save(Image.fromarray(np.dstack([rgb, alpha]), "RGBA"), "PNG")
    flat = save(Image.fromarray(decode_photo(rgba, 10**8, 10**5).visible()), "PNG")
    rgba_json, flat_json = (post_all(serving, [dict(files={"image": image, "return": (None, "json")})])[0].json()
                            for image in (rgba, flat))
    assert np.array_equal(b64_image(rgba_json["garment_mask"]), b64_image(flat_json["garment_mask"]))
    garment = b64_image(rgba_json["garment_mask"]) > 127
    assert garment.mean() > 0.02
    a = np.asarray(opened(b64decode_image(rgba_json["image"])))[..., :3]
    b = np.asarray(opened(b64decode_image(flat_json["image"])))
    visible = cutout[1] == 255
    assert np.array_equal(a[garment & visible], b[garment & visible])
