"""closet.png: the parallel PNG writer gives back every byte, in every mode, through PIL and zlib."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms
from skimage import data

from closet import host, png
from closet.png import encode_png, filtered_rows


def _decode(blob: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(blob))
    img.load()
    return img


def _chunks(blob: bytes) -> list[tuple[bytes, bytes]]:
    assert blob[:8] == png.SIGNATURE
    out, at = [], 8
    while at < len(blob):
        (n,) = struct.unpack(">I", blob[at:at + 4])
        kind, body = blob[at + 4:at + 8], blob[at + 8:at + 8 + n]
        assert struct.unpack(">I", blob[at + 8 + n:at + 12 + n])[0] == zlib.crc32(kind + body)
        out.append((kind, body))
        at += 12 + n
    return out


@pytest.mark.parametrize("pixels, mode", [
    (data.astronaut(), "RGB"),
    (data.camera(), "L"),
    (np.dstack([data.astronaut(), np.arange(512 * 512, dtype=np.uint32).reshape(512, 512).astype(np.uint8)]), "RGBA"),
    (np.array([[[7, 8, 9]]], np.uint8), "RGB"),  # one pixel
    (np.random.default_rng(0).integers(0, 256, (37, 3001, 3), dtype=np.uint8), "RGB"),  # noise, odd sizes
])
def test_every_pixel_comes_back(pixels, mode):
    img = _decode(encode_png(pixels))
    assert img.mode == mode and img.size == (pixels.shape[1], pixels.shape[0])
    assert np.array_equal(np.asarray(img), pixels)


def test_bands_deflated_apart_make_one_valid_zlib_stream(monkeypatch):
    # Force many bands on a small photo: each band ends on a full flush, the last one finishes.
    pixels = data.astronaut()
    raw = filtered_rows(pixels)
    for bands in (1, 2, 7, 512, 10_000):
        stream = png.zlib_stream(raw, bands)
        assert zlib.decompress(stream) == raw.tobytes()  # zlib checks the Adler-32 too
    monkeypatch.setattr(png, "BAND_BYTES", 1024)
    monkeypatch.setattr(host, "threads", lambda: 5)
    idat = b"".join(body for kind, body in _chunks(encode_png(pixels)) if kind == b"IDAT")
    assert zlib.decompress(idat) == raw.tobytes()
    assert np.array_equal(np.asarray(_decode(encode_png(pixels))), pixels)


def test_up_filter_undoes_to_the_rows():
    pixels = np.random.default_rng(1).integers(0, 256, (5, 4, 3), dtype=np.uint8)
    raw = filtered_rows(pixels)
    assert (raw[:, 0] == png.UP).all()
    rows = np.cumsum(raw[:, 1:].astype(np.int64), axis=0) % 256  # Up: each row adds the one above
    assert np.array_equal(rows.astype(np.uint8), pixels.reshape(5, -1))


def test_icc_profile_is_embedded_and_read_back():
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    img = _decode(encode_png(data.astronaut(), icc=icc))
    assert img.info["icc_profile"] == icc
    assert "icc_profile" not in _decode(encode_png(data.astronaut())).info
    kinds = [kind for kind, _ in _chunks(encode_png(data.astronaut(), icc=icc))]
    assert kinds == [b"IHDR", b"iCCP", b"IDAT", b"IEND"]  # no other metadata


def test_a_photo_is_no_bigger_than_pils_level_1():
    pixels = data.astronaut()
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", compress_level=1)
    assert len(encode_png(pixels)) < 1.1 * len(buf.getvalue())


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.uint16), np.zeros((4, 4, 2), np.uint8),
                                 np.zeros((4,), np.uint8)])
def test_other_arrays_are_refused(bad):
    with pytest.raises((TypeError, ValueError)):
        encode_png(bad)
