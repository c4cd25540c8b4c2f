"""/predictions/parsing on both runtimes (the session `server` fixture: TorchServe, then KServe).

The MAR `make mars` builds by default has no SCHP checkpoint, so the parser is pose-garment
(BlazePose keypoints + closet.garment); with PARSER_CKPT set the same contract tests check SCHP.
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

from closet import parsing, pose, upright
from closet_dev import package_photos as pp
from tests.support.openapi import b64_image
from tests.support.photos import GARMENT_BOXES, share

pytestmark = pytest.mark.serve
MODEL = "parsing"
PARSERS = {"pose-garment": "pose", "schp-atr": "atr", "schp-lip": "lip", "schp-pascal": "pascal"}


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


@pytest.fixture(scope="module")
def pose_parser(metadata):
    if metadata["parser"] != "pose-garment":
        pytest.skip(f"the pose-garment checks need the default parser, this MAR serves {metadata['parser']}")


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
    if metadata["parser"] == "pose-garment":
        garment = parsing.garment_mask(labels, metadata["label_space"])
        assert set(np.unique(labels)) == {0, 1}  # one person: her garment is label 1
        for part, box in GARMENT_BOXES["astronaut"]["garment"].items():
            assert share(garment, box) > 0.85, part


def test_json_summary(server, astronaut, metadata):
    r = server.predict(MODEL, data=astronaut, headers={"X-Closet-Output": "json"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["parser"] == metadata["parser"] == r.headers["X-Closet-Parser"]
    assert (body["width"], body["height"]) == (512, 512)
    assert sum(d["pixels"] for d in body["labels"]) == 512 * 512
    assert body["garment"]["garments"] == ["upper-clothes"]
    # The same option as a multipart field, with a garment list.
    r2 = server.predict(MODEL, files={"image": ("a.png", astronaut, "image/png")},
                            data={"output": "json", "garments": "upper-clothes,coat"})
    assert r2.status_code == 200, r2.text
    assert r2.json()["garment"]["garments"] == ["upper-clothes", "coat"]


@pytest.mark.parametrize("name", pp.PHOTOS)
def test_people_keypoints_and_garments_where_a_person_would_put_them(server, pose_parser, name):
    """One person per package photo: 33 keypoints in image pixels with visibility, the garment on
    the chest and arms, not on the face, hair or background (boxes read off the photos)."""
    r = server.predict(MODEL, data=png(pp.photo(name).image), headers={"X-Closet-Output": "json"})
    assert r.status_code == 200, r.text
    (person,) = r.json()["people"]
    keypoints = np.array(person["keypoints"])
    assert keypoints.shape == (33, 4) and 0 < person["score"] <= 1
    x, y, _, visibility = keypoints[pose.LANDMARK["nose"]]
    x0, y0, x1, y1 = GARMENT_BOXES[name]["not"]["face"]
    assert visibility > 0.5 and x0 - 40 <= x <= x1 + 40 and y0 - 40 <= y <= y1 + 40  # on the face
    garment = b64_image(person["garment"]["mask"]) > 127
    for part, box in GARMENT_BOXES[name]["garment"].items():
        assert share(garment, box) > 0.85, part
    for part, box in GARMENT_BOXES[name]["not"].items():
        assert share(garment, box) < 0.02, part


def test_a_photo_on_its_side_is_parsed_as_upright_and_answered_as_sent(server, pose_parser):
    """No EXIF, the astronaut lying on her side: parsed turned upright (closet.upright), the garment
    and keypoints come back in the photo as sent, where they lie upright, turned."""
    image = skimage.data.astronaut()
    side = np.ascontiguousarray(np.rot90(image, 1))
    r = server.predict(MODEL, data=png(side), headers={"X-Closet-Output": "json"})
    assert r.status_code == 200, r.text
    (person,) = r.json()["people"]
    garment = b64_image(person["garment"]["mask"]) > 127
    assert garment.shape == side.shape[:2]
    stood = np.rot90(garment, -1)
    for part, box in GARMENT_BOXES["astronaut"]["garment"].items():
        assert share(stood, box) > 0.85, part
    nose = upright.turn_points(np.array([person["keypoints"][pose.LANDMARK["nose"]]]), -1, side.shape)[0]
    x0, y0, x1, y1 = GARMENT_BOXES["astronaut"]["not"]["face"]
    assert x0 - 40 <= nose[0] <= x1 + 40 and y0 - 40 <= nose[1] <= y1 + 40


def test_two_people_side_by_side_give_two_labelled_garments(server, pose_parser):
    scene = pp.side_by_side(pp.photo("grace_hopper"), pp.photo("astronaut"), "two_people", height=600)
    photo = png(scene.image)
    body = server.predict(MODEL, data=photo, headers={"X-Closet-Output": "json"}).json()
    assert len(body["people"]) == 2
    left, right = (np.array(p["box"]) for p in body["people"])
    assert (left[0] + left[2]) / 2 < scene.image.shape[1] / 2 < (right[0] + right[2]) / 2  # left to right
    labels = np.asarray(Image.open(io.BytesIO(server.predict(MODEL, data=photo).content)))
    assert set(np.unique(labels)) == {0, 1, 2}
    assert (labels[:, : scene.image.shape[1] // 2] == 1).sum() > 0.9 * (labels == 1).sum()


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


def test_no_person_and_no_torso_are_422_then_it_keeps_serving(server, astronaut, pose_parser):
    for nobody in (np.full((240, 320, 3), 128, np.uint8), skimage.data.coffee()):
        r = server.predict(MODEL, data=png(nobody))
        assert r.status_code == 422, r.text
        assert r.json()["reason"] == "no_person" and r.json()["detail"]["parser"] == "pose-garment"
    face = skimage.data.astronaut()[0:180, 140:310]  # her head: the shoulders are below the frame
    r = server.predict(MODEL, data=png(face))
    assert r.status_code == 422, r.text
    assert r.json()["reason"] == "no_garment" and r.json()["detail"]["missing"] == "shoulders"
    assert server.predict(MODEL, data=astronaut).status_code == 200
