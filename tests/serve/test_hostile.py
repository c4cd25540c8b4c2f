"""Hostile input against both runtimes (`server`: TorchServe, KServe): every public endpoint, one payload table.

Each payload gets a correct result or a 4xx JSON error; never a 5xx, never a worker restart
(worker PIDs from the management API before and after), and a good request succeeds afterwards.
Cheap bad inputs go to all four endpoints; the slower "valid but odd" images go to every
endpoint only where the model path differs (tiny/thin/EXIF), the mode conversions (shared
decode_image) are exercised through segmentation, the cheapest full model.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
import requests
from PIL import Image
from skimage import data as skdata

from closet.config import MODEL_NAMES
from closet.imageio import decode_image

pytestmark = pytest.mark.serve

ALL = MODEL_NAMES
# Image-in, same-size-image-out endpoints (translation answers at the generator's size).
SAME_SIZE = ("segmentation", "parsing", "closet")
TARGETED = ("translation", "closet")  # the endpoints with a `target` option
# Raw markers that must never come back in an error body (the newline/HTML targets carry them).
HTML_MARK = "<script>alert(1)</script>"
NEWLINE_MARK = "evil\r\nX-Injected: 1"


# ---------------------------------------------------------------- image builders
def _astronaut(size=(240, 160)) -> Image.Image:
    return Image.fromarray(skdata.astronaut()).resize(size, Image.Resampling.BILINEAR)


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def jpeg() -> bytes:
    return _save(_astronaut(), "JPEG", quality=90)


def png() -> bytes:
    return _save(_astronaut(), "PNG")


def corrupt_huffman_jpeg() -> bytes:
    """A JPEG whose first DHT segment declares 255 codes of every length (an impossible table)."""
    b = bytearray(jpeg())
    i = b.find(b"\xff\xc4")
    assert i > 0
    b[i + 5:i + 21] = b"\xff" * 16  # after marker(2) length(2) class/id(1): the 16 code counts
    return bytes(b)


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_bomb(side: int = 50_000) -> bytes:
    """A ~100-byte PNG declaring side x side 8-bit gray (2.5 GB decoded), with a few rows of data."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * (side + 1) * 4, 9)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", rows) + _chunk(b"IEND", b"")


def exif_rotated_jpeg() -> bytes:
    """The 480x320 astronaut stored sideways (320x480) with EXIF orientation 6."""
    pil = _astronaut((480, 320)).transpose(Image.Transpose.ROTATE_90)
    exif = pil.getexif()
    exif[0x0112] = 6
    return _save(pil, "JPEG", quality=95, exif=exif.tobytes())


def png16() -> bytes:
    gray = np.asarray(_astronaut().convert("L"), dtype=np.uint16) * 257
    return _save(Image.fromarray(gray), "PNG")  # mode I;16 -> 16-bit PNG


def palette_png() -> bytes:
    return _save(_astronaut().convert("P", palette=Image.Palette.ADAPTIVE), "PNG", transparency=0)


def animated_gif() -> bytes:
    a = _astronaut().convert("P", palette=Image.Palette.ADAPTIVE)
    b = a.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return _save(a, "GIF", save_all=True, append_images=[b], duration=100, loop=0)


# ---------------------------------------------------------------- the table
@dataclass(frozen=True)
class Hostile:
    """One payload: `build()` returns requests.post kwargs; `ok_200` allows a correct result."""

    name: str
    build: Callable[[], dict]
    models: tuple[str, ...] = ALL
    ok_200: bool = False
    size: tuple[int, int] | None = None  # expected upright (w, h) of an image result
    require_200: tuple[str, ...] = ()  # endpoints that must give a correct result, not a 4xx


def body(data: Callable[[], bytes]) -> Callable[[], dict]:
    return lambda: {"data": data()}


def form(*fields: tuple[str, object]) -> Callable[[], dict]:
    """Multipart fields; a bytes value is a file part, a str a text part."""
    def build():
        parts = []
        for name, value in fields:
            value = value() if callable(value) else value
            parts.append((name, ("x.jpg", value, "image/jpeg") if isinstance(value, bytes) else (None, value)))
        return {"files": parts}
    return build


def with_target(target: str) -> Callable[[], dict]:
    return form(("image", jpeg), ("target", target))


HOSTILE: list[Hostile] = [
    # --- not images (cheap, every endpoint)
    Hostile("empty body", body(lambda: b"")),
    Hostile("plain text", body(lambda: b"hello, this is not an image\n" * 10)),
    Hostile("html", body(lambda: f"<html><body>{HTML_MARK}</body></html>".encode())),
    Hostile("truncated jpeg", body(lambda: jpeg()[:600])),
    Hostile("truncated png", body(lambda: png()[:300])),
    Hostile("corrupt huffman table", body(corrupt_huffman_jpeg), ok_200=True),
    Hostile("png bomb 50000x50000", body(png_bomb)),
    Hostile("body above max_request_size", lambda: {"data": b"\0" * (_cfg().server.max_request_size + 4096)}),
    # --- multipart shape
    Hostile("multipart without image", form(("output", "png"), ("foo", "bar"))),
    Hostile("multipart image twice", form(("image", jpeg), ("image", jpeg)), ok_200=True),
    Hostile("unknown field", form(("image", jpeg), ("no_such_option", "1"))),
    Hostile("huge field 10k", form(("image", jpeg), ("format", "x" * 10_000))),
    Hostile("unknown header", lambda: {"data": jpeg(), "headers": {"X-Closet-No-Such": "1"}}),
    Hostile("huge header value 6k", lambda: {"data": jpeg(), "headers": {"X-Closet-Format": "y" * 6000}}),
    Hostile("option field and header disagree",
            lambda: {**form(("image", jpeg), ("format", "png"))(), "headers": {"X-Closet-Format": "jpeg"}},
            models=("closet",)),
    # --- hostile target (translation/closet own the option; elsewhere it is an unknown field)
    Hostile("target path", with_target("../../../../etc/passwd")),
    Hostile("target newline", with_target(NEWLINE_MARK)),
    Hostile("target html", with_target(HTML_MARK)),
    Hostile("target 10k chars", with_target("t" * 10_000)),
    # --- valid but odd images (a model runs: slower)
    Hostile("1x1", body(lambda: _save(Image.new("RGB", (1, 1), (200, 10, 10)), "PNG")), ok_200=True, size=(1, 1)),
    Hostile("1x4000", body(lambda: _save(Image.new("RGB", (1, 4000), (90, 90, 200)), "PNG")), ok_200=True,
            size=(1, 4000)),
    Hostile("exif-rotated jpeg", body(exif_rotated_jpeg), ok_200=True, size=(480, 320),
            require_200=SAME_SIZE),
    Hostile("16-bit png", body(png16), models=("segmentation",), ok_200=True, size=(240, 160)),
    Hostile("cmyk jpeg", body(lambda: _save(_astronaut().convert("CMYK"), "JPEG")), models=("segmentation",),
            ok_200=True, size=(240, 160)),
    Hostile("palette png with transparency", body(palette_png), models=("segmentation",), ok_200=True,
            size=(240, 160)),
    Hostile("grayscale", body(lambda: _save(_astronaut().convert("L"), "PNG")), models=("segmentation",),
            ok_200=True, size=(240, 160)),
    Hostile("animated gif", body(animated_gif), models=("segmentation",), ok_200=True, size=(240, 160)),
]



def _cfg():
    from closet import config

    return config.load()


CASES = [pytest.param(h, m, id=f"{m}-{h.name.replace(' ', '_')}") for h in HOSTILE for m in h.models]


@pytest.fixture(scope="module")
def served(server):
    """The session server, the worker PIDs at module start and a good-request builder."""
    for m in ALL:
        server.require(m)
    return server, {m: server.worker_pids(m) for m in ALL}


def _assert_safe_error(r: requests.Response, what: str) -> dict:
    assert 400 <= r.status_code < 500, f"{what}: {r.status_code} {r.text[:300]}"
    try:
        doc = r.json()
    except ValueError:
        pytest.fail(f"{what}: {r.status_code} error is not JSON: {r.text[:200]!r}")
    assert isinstance(doc, dict), doc
    # Handler errors: {"error","detail","reason"}; TorchServe frontend errors: {"code","type","message"};
    # the KServe runtime answers every refusal in closet's shape.
    assert "error" in doc or {"code", "message"} <= set(doc), doc
    text = r.text
    assert HTML_MARK not in text and "<script" not in text.lower(), f"{what}: raw HTML echoed: {text[:300]}"
    assert NEWLINE_MARK not in text and "\r\nX-Injected" not in text, f"{what}: raw newline echoed"
    assert "X-Injected" not in r.headers, f"{what}: header injection"
    assert "t" * 200 not in text and "x" * 200 not in text and "y" * 200 not in text, f"{what}: long input echoed"
    return doc


@pytest.mark.parametrize(("hostile", "model"), CASES)
def test_hostile_input(served, hostile: Hostile, model: str):
    ts, _ = served
    before = ts.worker_pids(model)
    kw = hostile.build()
    try:
        r = ts.predict(model, timeout=300, **kw)
    except requests.ConnectionError as e:
        # The server may close the socket on a body it refuses before reading it all; that is a
        # refusal, not a crash, but only for the oversized body.
        assert hostile.name == "body above max_request_size", f"{hostile.name}: connection failed: {e}"
        r = None
    if r is not None:
        if model in hostile.require_200:
            assert r.status_code == 200, f"{model}/{hostile.name}: {r.status_code} {r.text[:300]}"
        if r.status_code == 200:
            assert hostile.ok_200, f"{hostile.name}: accepted with 200, expected a 4xx"
            _check_result(model, hostile, r)
        elif hostile.name == "body above max_request_size" and r.status_code == 413 and not r.content:
            pass  # Netty's aggregator refuses it before TorchServe's JSON layer: a bare 413 (documented)
        else:
            _assert_safe_error(r, f"{model}/{hostile.name}")
    assert ts.worker_pids(model) == before, f"{hostile.name}: {model} worker restarted"


def _check_result(model: str, hostile: Hostile, r: requests.Response) -> None:
    """A 200 image answer of a same-size endpoint has the input's upright size (EXIF applied)."""
    ctype = r.headers.get("Content-Type", "")
    if not ctype.startswith("image/") or hostile.size is None or model not in SAME_SIZE:
        return
    out = Image.open(io.BytesIO(r.content))
    assert out.size == hostile.size, f"{hostile.name}: output {out.size}, input upright {hostile.size}"


def test_exif_rotated_mask_matches_the_upright_image(served):
    ts, _ = served
    rotated = exif_rotated_jpeg()
    upright_png = _save(decode_image(rotated, 10**8, 10**5), "PNG")
    a = ts.predict("segmentation", data=rotated, timeout=300)
    b = ts.predict("segmentation", data=upright_png, timeout=300)
    assert a.status_code == b.status_code == 200, (a.text[:200], b.text[:200])
    ma = np.asarray(Image.open(io.BytesIO(a.content)), dtype=np.int16)
    mb = np.asarray(Image.open(io.BytesIO(b.content)), dtype=np.int16)
    assert ma.shape == mb.shape == (320, 480)
    assert np.abs(ma - mb).mean() < 2.0  # same pixels in, same mask out (a sideways mask would differ)


def test_error_messages_escape_input(served):
    """The newline/HTML target comes back escaped in the JSON error of the endpoints that read it."""
    ts, _ = served
    for model in TARGETED:
        for target in (HTML_MARK, NEWLINE_MARK):
            r = ts.predict(model, timeout=300, **with_target(target)())
            doc = _assert_safe_error(r, f"{model}/{target!r}")
            assert doc.get("reason") == "unknown_target", doc


def test_good_request_after_hostile_input(served):
    """Runs after the table (file order): every endpoint still answers, on the same workers."""
    ts, pids = served
    good = _save(_astronaut((512, 512)), "JPEG", quality=90)
    for model in ALL:
        kw = {"data": good}
        if model in TARGETED:
            kw = {"files": [("image", ("a.jpg", good, "image/jpeg"))]}
            target = _first_target(ts, model)
            kw["files"].append(("target", (None, target)))
        r = ts.predict(model, timeout=300, **kw)
        assert r.status_code == 200, f"{model}: {r.status_code} {r.text[:300]}"
        assert ts.worker_pids(model) == pids[model], f"{model}: worker restarted during the hostile suite"


def _first_target(ts, model: str) -> str:
    r = ts.http.get(f"{ts.management_url}/models/{model}?customized=true", timeout=30)
    r.raise_for_status()
    meta = r.json()[0].get("customizedMetadata")
    meta = json.loads(meta) if isinstance(meta, str) else meta
    return (meta.get("targets") or meta.get("domains"))[0]
