"""/predictions/translation on a real TorchServe (the session `torchserve` fixture), demo checkpoint."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from closet.config import REPO_ROOT
from closet_dev.train.classifier import load_classifier
from closet_dev.train.data import FMNIST_CLASSES, GARMENT_DOMAINS

pytestmark = pytest.mark.serve
MODEL = "translation"
ROOT = REPO_ROOT
SAMPLES = ROOT / "assets" / "stargan-fmnist" / "samples"  # one Fashion-MNIST test image per domain
CLASSIFIER = ROOT / "assets" / "fmnist-classifier" / "fmnist_cnn.pt"
DOMAINS = json.loads((ROOT / "assets" / "stargan-fmnist" / "meta.json").read_text())["domains"]
# A Fashion-MNIST test image (the first tshirt of the test split) and a target/seed. tshirt->pullover is one of
# the demo's better pairs (96% hit rate in make eval-demo of the 11,706-step checkpoint).
SOURCE, TARGET, SEED = "tshirt", "pullover", 7


def sample(domain: str) -> bytes:
    return (SAMPLES / f"{domain}.png").read_bytes()


def decode(body: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(body)))


def classify(arr: np.ndarray) -> str:
    net = load_classifier(CLASSIFIER)
    x = torch.from_numpy(arr.astype(np.float32) / 127.5 - 1).view(1, 1, *arr.shape[:2])
    with torch.no_grad():
        return FMNIST_CLASSES[int(net(x).argmax(1))]


def error_of(r) -> dict:
    assert r.headers["Content-Type"].startswith("application/json"), r.headers
    body = r.json()
    assert {"error", "detail"} <= set(body)
    return body


def test_latent_seed_is_deterministic_and_in_target(torchserve):
    fields = {"target": TARGET, "mode": "latent", "seed": str(SEED)}
    r1 = torchserve.predict(MODEL, files={"image": sample(SOURCE)}, data=fields)
    r2 = torchserve.predict(MODEL, files={"image": sample(SOURCE)}, data=fields)
    assert r1.status_code == 200, r1.text
    assert r1.headers["Content-Type"] == "image/png"
    assert r1.content == r2.content  # same seed -> same bytes
    assert r1.headers["X-Closet-Seed"] == str(SEED) and r1.headers["X-Closet-Target"] == TARGET
    out = decode(r1.content)
    assert out.shape == (32, 32) and out.dtype == np.uint8
    assert classify(out) == TARGET  # the committed classifier agrees: it is a pullover now
    assert FMNIST_CLASSES.index(TARGET) == GARMENT_DOMAINS[TARGET]


def test_headers_raw_body_and_seed_changes_output(torchserve):
    base = {"X-Closet-Target": TARGET, "X-Closet-Seed": str(SEED)}
    r1 = torchserve.predict(MODEL, data=sample(SOURCE), headers=base)
    r2 = torchserve.predict(MODEL, data=sample(SOURCE), headers={**base, "X-Closet-Seed": str(SEED + 1)})
    assert r1.status_code == 200 and r2.status_code == 200, (r1.text, r2.text)
    assert r1.content != r2.content
    ref = torchserve.predict(MODEL, files={"image": sample(SOURCE)}, data={"target": TARGET, "seed": str(SEED)})
    assert ref.content == r1.content  # header and field give the same request


def test_reference_mode(torchserve):
    r = torchserve.predict(MODEL, files={"image": sample(SOURCE), "reference": sample("coat")},
                           data={"target": "coat", "mode": "reference"})
    assert r.status_code == 200, r.text
    assert r.headers["X-Closet-Mode"] == "reference" and "X-Closet-Seed" not in r.headers
    assert decode(r.content).shape == (32, 32)


def test_describe(torchserve):
    r = torchserve.predict(MODEL, data={"describe": "true"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["domains"] == DOMAINS and body["img_size"] == 32
    r = torchserve.http.get(f"{torchserve.management_url}/models/{MODEL}?customized=true", timeout=30)
    meta = r.json()[0]["customizedMetadata"]
    meta = json.loads(meta) if isinstance(meta, str) else meta
    assert meta["domains"] == DOMAINS and meta["model"] == MODEL


@pytest.mark.parametrize("kwargs,status,words", [
    ({"data": {"target": "hoodie"}}, 400, ["unknown target", "allowed"]),
    ({"data": {"target": "dress", "mode": "reference"}}, 400, ["reference"]),
    ({"data": {"target": "dress", "seed": "abc"}}, 400, ["seed", "integer"]),
    ({"data": {"target": "dress", "seed": "-1"}}, 400, ["seed"]),
    ({"data": {"target": "dress", "mode": "sketch"}}, 400, ["mode", "latent", "reference"]),
    ({"data": {"target": "dress", "psi": "2"}}, 400, ["psi"]),
])
def test_bad_options_are_4xx_json(torchserve, kwargs, status, words):
    r = torchserve.predict(MODEL, files={"image": sample(SOURCE)}, **kwargs)
    assert r.status_code == status, r.text
    text = json.dumps(error_of(r)).lower()
    for w in words:
        assert w in text, (w, text)


def test_defaults_are_the_documented_ones(torchserve):
    """No target: the checkpoint's first domain; no seed: 0 (openapi Target/Seed), as on /predictions/closet."""
    r = torchserve.predict(MODEL, files={"image": sample(SOURCE)})
    assert r.status_code == 200, r.text
    assert r.headers["X-Closet-Target"] == DOMAINS[0] and r.headers["X-Closet-Seed"] == "0"
    again = torchserve.predict(MODEL, files={"image": sample(SOURCE)}, data={"target": DOMAINS[0], "seed": "0"})
    assert again.content == r.content


def test_bad_images_then_still_serving(torchserve):
    r = torchserve.predict(MODEL, data=b"this is not an image", headers={"X-Closet-Target": "dress"})
    assert r.status_code == 400 and error_of(r)["reason"] == "bad_image"
    r = torchserve.predict(MODEL, files={"image": sample(SOURCE), "reference": b"GIF89a garbage"},
                           data={"target": "coat", "mode": "reference"})
    assert r.status_code == 400 and error_of(r)["reason"] == "bad_image"
    r = torchserve.predict(MODEL, files={"image": sample(SOURCE)}, data={"target": "coat", "seed": "1"})
    assert r.status_code == 200, r.text


def test_reference_file_implies_reference_mode(torchserve):
    """As on /predictions/closet (closet.stages.translate.resolve_mode): no mode + a reference file = reference."""
    files = {"image": sample(SOURCE), "reference": sample("coat")}
    r = torchserve.predict(MODEL, files=files, data={"target": "coat"})
    assert r.status_code == 200, r.text
    assert r.headers["X-Closet-Mode"] == "reference" and "X-Closet-Seed" not in r.headers
    explicit = torchserve.predict(MODEL, files=files, data={"target": "coat", "mode": "reference"})
    assert explicit.status_code == 200 and explicit.content == r.content
    conflict = torchserve.predict(MODEL, files=files, data={"target": "coat", "mode": "latent"})
    assert conflict.status_code == 400 and "conflicts" in error_of(conflict)["error"]
