"""/predictions/parsing on both runtimes (the session `server` fixture: TorchServe, then KServe).

The MAR `make mars` builds by default has no SCHP checkpoint, so the parser is the torso
estimator; with PARSER_CKPT set the same tests check the SCHP parser's contract.
"""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests
import skimage.data
from PIL import Image

from closet import parsing

pytestmark = pytest.mark.serve
MODEL = "parsing"
PARSERS = {"torso-estimate": "torso", "schp-atr": "atr", "schp-lip": "lip", "schp-pascal": "pascal"}
ASTRONAUT_FACE_BOTTOM = 159  # Haar face box [177, 67, 269, 159] on skimage's astronaut (tests/unit/test_torso.py)


def png(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def astronaut() -> bytes:
    return png(skimage.data.astronaut())


@pytest.fixture(scope="module")
def metadata(server) -> dict:
    server.require(MODEL)
    r = requests.get(f"{server.management_url}/models/{MODEL}?customized=true", timeout=30)
    assert r.status_code == 200, r.text
    meta = r.json()[0]["customizedMetadata"]
    return json.loads(meta) if isinstance(meta, str) else meta


def test_metadata_names_the_parser(metadata):
    assert metadata["parser"] in PARSERS
    assert metadata["label_space"] == PARSERS[metadata["parser"]]
    assert metadata["labels"] == list(parsing.LABELS[metadata["label_space"]])


def test_png_is_a_palettised_label_map(server, astronaut, metadata):
    r = server.predict(MODEL, data=astronaut)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    assert r.headers["X-Closet-Parser"] == metadata["parser"]
    img = Image.open(io.BytesIO(r.content))
    assert img.mode == "P" and img.size == (512, 512)
    labels = np.asarray(img)
    assert labels.max() < len(metadata["labels"])
    assert img.getpalette()[:9] == parsing.PALETTE[:9]
    garment = parsing.garment_mask(labels, metadata["label_space"])
    if metadata["parser"] == "torso-estimate":
        assert garment[230:331, 150:331].mean() > 0.8  # the astronaut's chest (tests/unit/test_torso.py)


def test_json_summary(server, astronaut, metadata):
    r = server.predict(MODEL, data=astronaut, headers={"X-Closet-Output": "json"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["parser"] == metadata["parser"] == r.headers["X-Closet-Parser"]
    assert (body["width"], body["height"]) == (512, 512)
    assert sum(d["pixels"] for d in body["labels"]) == 512 * 512
    g = body["garment"]
    assert g["garments"] == ["upper-clothes"]
    if metadata["parser"] == "torso-estimate":
        x0, y0, x1, y1 = g["bbox"]
        assert y0 > ASTRONAUT_FACE_BOTTOM and g["pixels"] > 0.1 * 512 * 512
        assert {d["name"] for d in body["labels"]} <= {"Background", "Upper-clothes", "Face", "Person-other"}
    # The same option as a multipart field, with a garment list.
    r2 = server.predict(MODEL, files={"image": ("a.png", astronaut, "image/png")},
                            data={"output": "json", "garments": "upper-clothes,coat"})
    assert r2.status_code == 200, r2.text
    assert r2.json()["garment"]["garments"] == ["upper-clothes", "coat"]


def test_concurrent_requests_are_batched_and_consistent(server, astronaut):
    n = server.config.model(MODEL).batch_size
    with ThreadPoolExecutor(n) as pool:
        rs = list(pool.map(lambda _: server.predict(MODEL, data=astronaut), range(n)))
    assert all(r.status_code == 200 for r in rs), [r.text for r in rs if r.status_code != 200]
    assert len({r.content for r in rs}) == 1


@pytest.mark.parametrize("body,headers,status,reason", [
    (b"not an image", {}, 400, "bad_image"),
    (b"", {}, 400, "bad_image"),
    (None, {"X-Closet-Output": "gif"}, 400, "bad_option"),
    (None, {"X-Closet-Garments": "cape"}, 400, "bad_option"),
    (None, {"X-Closet-Colour": "red"}, 400, "bad_option"),
])
def test_bad_input_is_4xx_json(server, astronaut, body, headers, status, reason):
    r = server.predict(MODEL, data=astronaut if body is None else body, headers=headers)
    assert r.status_code == status, r.text
    err = r.json()
    assert err["reason"] == reason and err["error"] and "detail" in err


def test_no_person_and_no_face_are_422_then_it_keeps_serving(server, astronaut, metadata):
    if metadata["parser"] != "torso-estimate":
        pytest.skip("NoPerson/no-face refusals are the torso estimator's; SCHP labels any image")
    blank = server.predict(MODEL, data=png(np.full((240, 320, 3), 128, np.uint8)))
    assert blank.status_code == 422, blank.text
    assert blank.json()["reason"] == "no_person"
    cup = server.predict(MODEL, data=png(skimage.data.coffee()))
    assert cup.status_code == 422, cup.text
    assert cup.json()["error"] == "no face detected"
    assert cup.json()["detail"]["parser"] == "torso-estimate"
    assert server.predict(MODEL, data=astronaut).status_code == 200
