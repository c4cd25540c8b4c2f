"""/predictions/segmentation on a real TorchServe (the session `torchserve` fixture)."""

from __future__ import annotations

import io
import json
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image
from skimage import data
from skimage.draw import polygon

from closet.config import MODEL_NAMES

pytestmark = pytest.mark.serve
MODEL = "segmentation"
assert MODEL in MODEL_NAMES

# The astronaut's silhouette (head, suit, helmet she holds), traced by hand on skimage's
# 512x512 astronaut() and checked by overlaying it on the image: (x, y) vertices, clockwise.
ASTRONAUT_OUTLINE = [
    (230, 14), (280, 30), (302, 80), (290, 130), (300, 170), (345, 260), (360, 330), (420, 345),
    (480, 370), (505, 420), (511, 511), (20, 511), (18, 400), (35, 300), (110, 200), (150, 150),
    (160, 110), (155, 60), (190, 22),
]  # fmt: skip


def png(img: Image.Image | np.ndarray) -> bytes:
    if isinstance(img, np.ndarray):
        img = Image.fromarray(img)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def jpeg(img: np.ndarray, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def bomb_png(width: int = 50000, height: int = 50000) -> bytes:
    """A ~60-byte PNG that declares width x height 8-bit gray pixels (a decompression bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()


@pytest.fixture(scope="module")
def astronaut_mask(torchserve, astronaut) -> np.ndarray:
    r = torchserve.predict(MODEL, data=png(astronaut), headers={"Content-Type": "image/png"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(r.content)))


def decode(r) -> np.ndarray:
    assert r.status_code == 200, r.text
    return np.asarray(Image.open(io.BytesIO(r.content)))


def test_served_with_configured_batching(torchserve):
    torchserve.require(MODEL)
    d = torchserve.describe(MODEL)
    m = torchserve.config.model(MODEL)
    assert (d["batchSize"], d["maxBatchDelay"], d["minWorkers"], d["maxWorkers"], d["responseTimeout"]) == (
        m.batch_size, m.max_batch_delay_ms, m.min_workers, m.max_workers, m.response_timeout_s,
    )  # fmt: skip


def test_customized_describe_names_the_network(torchserve):
    torchserve.require(MODEL)
    r = torchserve.http.get(f"{torchserve.management_url}/models/{MODEL}?customized=true", timeout=30)
    meta = r.json()[0]["customizedMetadata"]
    meta = json.loads(meta) if isinstance(meta, str) else meta
    assert meta["model"] == MODEL and meta["arch"] in ("u2netp", "u2net") and meta["outputs"] == ["mask", "rgba"]


def test_mask_covers_the_astronaut(astronaut_mask):
    assert astronaut_mask.shape == (512, 512) and astronaut_mask.dtype == np.uint8
    xs, ys = zip(*ASTRONAUT_OUTLINE)
    expected = np.zeros((512, 512), bool)
    rr, cc = polygon(ys, xs, expected.shape)
    expected[rr, cc] = True
    got = astronaut_mask > 127
    iou = (got & expected).sum() / (got | expected).sum()
    assert iou > 0.9, f"IoU {iou:.3f} against the hand-traced outline"
    # Sky/flag corners are background, the suit's centre is person.
    assert not got[:60, :100].any() and not got[:100, 420:].any()
    assert got[400:500, 100:250].all()


def test_rgba_is_the_person_on_transparent(torchserve, astronaut, astronaut_mask):
    rgba = decode(torchserve.predict(MODEL, data=png(astronaut), headers={"X-Closet-Output": "rgba"}))
    assert rgba.shape == (512, 512, 4)
    np.testing.assert_array_equal(rgba[..., 3], astronaut_mask)
    np.testing.assert_array_equal(rgba[..., :3], astronaut)


def test_options_as_multipart_field_or_header(torchserve, astronaut):
    body = png(astronaut)
    by_field = torchserve.predict(MODEL, files={"image": ("a.png", body, "image/png")}, data={"output": "rgba"})
    by_header = torchserve.predict(MODEL, data=body, headers={"X-Closet-Output": "RGBA"})
    assert by_field.status_code == by_header.status_code == 200
    assert by_field.headers["X-Closet-Output"] == "rgba"
    assert by_field.content == by_header.content


@pytest.mark.parametrize(
    "kwargs, reason",
    [
        ({"headers": {"X-Closet-Output": "sepia"}}, "bad_option"),
        ({"headers": {"X-Closet-Colour": "red"}}, "bad_option"),
        ({"headers": {"X-Closet-Output": "mask"}, "form": {"output": "rgba"}}, "bad_option"),
    ],
)
def test_bad_options_are_400_json(torchserve, astronaut, kwargs, reason):
    form = kwargs.pop("form", None)
    body = png(astronaut[:64, :64])
    if form:
        r = torchserve.predict(MODEL, files={"image": ("a.png", body)}, data=form, **kwargs)
    else:
        r = torchserve.predict(MODEL, data=body, **kwargs)
    assert r.status_code == 400
    assert r.json()["reason"] == reason and {"error", "detail"} <= set(r.json())


def test_concurrent_requests_batch_and_match_single_results(torchserve, astronaut, astronaut_mask):
    images = [astronaut, astronaut[::-1].copy(), astronaut[100:, 50:400].copy(), astronaut[:, ::-1].copy()]
    bodies = [png(im) for im in images]
    single = [astronaut_mask] + [decode(torchserve.predict(MODEL, data=b)) for b in bodies[1:]]
    before = _batch_histogram(torchserve.metrics_text())
    with ThreadPoolExecutor(len(bodies)) as pool:
        responses = list(pool.map(lambda b: torchserve.predict(MODEL, data=b), bodies))
    batched = [decode(r) for r in responses]
    after = _batch_histogram(torchserve.metrics_text())
    for s, b in zip(single, batched):
        assert s.shape == b.shape
        # Same weights, same per-image normalisation: a batched conv may differ in float rounding only.
        diff = np.abs(s.astype(int) - b.astype(int))
        assert diff.max() <= 2 and (diff > 0).mean() < 0.01
    batches = after[1] - before[1]
    assert 1 <= batches < len(bodies), f"{len(bodies)} concurrent requests ran as {batches} batches"
    assert after[0] - before[0] == len(bodies)


def _batch_histogram(text: str) -> tuple[float, float]:
    """(sum, count) of closet_batch_size for this model: requests and batches handled."""
    vals = {}
    for line in text.splitlines():
        if line.startswith(("closet_batch_size_sum", "closet_batch_size_count")) and f'"{MODEL}"' in line:
            vals[line.split("{")[0]] = float(line.rsplit(" ", 1)[1])
    return vals.get("closet_batch_size_sum", 0.0), vals.get("closet_batch_size_count", 0.0)


def _truncated_jpeg(img: np.ndarray) -> bytes:
    full = jpeg(img)
    return full[: len(full) // 3]


@pytest.mark.parametrize(
    "name, make_body, status, reason",
    [
        ("empty", lambda a: b"", 400, "bad_image"),
        ("not-an-image", lambda a: b"hello, this is text and not a picture" * 10, 400, "bad_image"),
        ("truncated-jpeg", _truncated_jpeg, 400, "bad_image"),
        ("decompression-bomb", lambda a: bomb_png(), 413, "too_large"),
    ],
)
def test_bad_input_is_4xx_json_and_the_worker_keeps_serving(torchserve, astronaut, name, make_body, status, reason):
    pids = torchserve.worker_pids(MODEL)
    r = torchserve.predict(MODEL, data=make_body(astronaut), headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert {"error", "detail"} <= set(body) and body["reason"] == reason
    ok = torchserve.predict(MODEL, data=png(astronaut[:128, :128]))
    assert ok.status_code == 200
    assert torchserve.worker_pids(MODEL) == pids
