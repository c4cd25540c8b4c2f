"""The demo page's app without a model server: option controls from the spec, the sample photos, the upload
limit (closet.config's server.max_request_size) and the static page. Swaps are tested against real TorchServe
in tests/serve/test_web_browser.py."""

from __future__ import annotations

import copy
import io
import warnings
from pathlib import Path

import matplotlib.cbook
import numpy as np
import pytest
import skimage.data
from PIL import Image

from closet import config as closet_config
from closet_client.web.app import create_app
from closet_client.web.form import PAGE_FIELDS, load_spec, page_options
from closet_client.web.samples import SAMPLES, sample_bytes

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette 1.x nudges towards httpx2, which the lock does not carry
    from starlette.testclient import TestClient

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi" / "closet.yaml"
LIMIT = closet_config.load().server.max_request_size


@pytest.fixture(scope="module")
def spec():
    return load_spec(SPEC_PATH)


@pytest.fixture
def app():
    # Nothing listens on port 1: every request here must be answered without the API.
    with TestClient(create_app("http://127.0.0.1:1", LIMIT, SPEC_PATH, retries=0, timeout=2)) as client:
        yield client


def test_every_extra_multipart_option_gets_a_control(spec):
    props = spec["paths"]["/predictions/closet"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"][
        "properties"]
    controls = {c["name"]: c for c in page_options(spec)}
    assert set(controls) == set(props) - PAGE_FIELDS
    assert controls["preserve_color"]["kind"] == "bool" and controls["preserve_color"]["default"] == "true"
    assert controls["format"] == {**controls["format"], "kind": "choice", "choices": ["png", "jpeg", "webp"],
                                  "default": "png"}


def test_an_option_added_to_the_spec_appears_on_the_page(spec):
    grown = copy.deepcopy(spec)
    schema = grown["paths"]["/predictions/closet"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    schema["properties"]["render"] = {"type": "string", "enum": ["flat", "shaded"], "default": "shaded"}
    schema["properties"]["person"] = {"type": "string", "description": "which person, by index"}
    controls = {c["name"]: c for c in page_options(grown)}
    assert controls["render"]["kind"] == "choice" and controls["render"]["default"] == "shaded"
    assert controls["person"]["kind"] == "text" and controls["person"]["help"] == "which person, by index"


@pytest.mark.parametrize("name, pixels", [
    ("astronaut", skimage.data.astronaut),
    ("camera", skimage.data.camera),
    ("grace_hopper", lambda: np.asarray(Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")))),
])
def test_samples_are_the_packages_photos(name, pixels):
    img = Image.open(io.BytesIO(sample_bytes(name)))
    assert img.format == SAMPLES[name].content_type.split("/")[1].upper()
    assert np.array_equal(np.asarray(img), pixels())


def test_page_and_samples_are_served(app):
    page = app.get("/")
    assert page.status_code == 200 and 'id="swap-form"' in page.text
    for asset in ("/static/app.js", "/static/style.css"):
        assert app.get(asset).status_code == 200
    r = app.get("/api/samples/astronaut")
    assert r.headers["content-type"] == "image/png" and r.content == sample_bytes("astronaut")
    missing = app.get("/api/samples/secret")
    assert missing.status_code == 404 and missing.json()["reason"] == "not_found"


def test_a_body_over_the_api_limit_is_refused_before_parsing(app):
    r = app.post("/api/swap", content=b"x" * (LIMIT + 1),
                 headers={"content-type": "multipart/form-data; boundary=b"})
    assert r.status_code == 413
    assert r.json()["reason"] == "too_large" and r.json()["message"].startswith("The photo is too large.")


def test_a_chunked_body_over_the_limit_is_counted(app):
    def chunks():  # no Content-Length: the middleware must count
        part = b"--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"x\"\r\n\r\n"
        yield part
        for _ in range(LIMIT // 2**20 + 1):
            yield b"\0" * 2**20

    r = app.post("/api/swap", content=chunks(), headers={"content-type": "multipart/form-data; boundary=b"})
    assert r.status_code == 413 and r.json()["reason"] == "too_large"


def test_no_photo_and_unreachable_api_are_clear_errors(app):
    r = app.post("/api/swap", files={"target": (None, "coat")})
    assert r.status_code == 400 and r.json()["reason"] == "bad_image"
    r = app.post("/api/swap", files={"image": ("p.png", b"\x89PNG...")})
    assert r.status_code == 502 and r.json()["reason"] == "unreachable"
    assert r.json()["message"].startswith("The closet server cannot be reached.")
    assert app.get("/readyz").status_code == 503 and app.get("/healthz").json() == {"status": "ok"}


def test_malformed_forms_get_the_error_json(app):
    three = {"image": ("a.png", b"1"), "reference": ("b.png", b"2"), "extra": ("c.png", b"3")}
    r = app.post("/api/swap", files=three)
    assert r.status_code == 400 and r.json()["reason"] == "bad_option" and "files" in r.json()["error"].lower()
    r = app.post("/api/swap", content=b"x", headers={"content-type": "multipart/form-data"})  # no boundary
    assert r.status_code == 400 and r.json()["reason"] == "bad_option"
    r = app.get("/api/nothing")
    assert r.status_code == 404 and r.json()["reason"] == "not_found"
    assert app.get("/api/swap").status_code == 405
