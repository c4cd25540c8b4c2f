"""/predictions/closet on both runtimes (the session `server` fixture: TorchServe, then KServe): every option,
the error contract, byte-identity outside the garment, and responses checked against
openapi/closet.yaml. The ensemble takes seconds per request on CPU, so requests that need
the models are few and sent concurrently where possible (they then share batches)."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from closet import color
from closet import config as closet_config
from closet.imageio import decode_image
from closet.stages import composite as pipeline
from tests.support.openapi import b64_image, check_response

pytestmark = pytest.mark.serve
MODEL = "closet"
PATH = f"/predictions/{MODEL}"
CHROMA_TOLERANCE = 2.0  # Lab units, stated in docs/ensemble.md
assert MODEL in closet_config.MODEL_NAMES


def encode(arr: np.ndarray, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    import skimage.data

    return skimage.data.astronaut()


@pytest.fixture(scope="module")
def rotated_jpeg(astronaut) -> bytes:
    """The astronaut stored sideways with EXIF orientation 6 (display: rotate 90 degrees clockwise)."""
    pil = Image.fromarray(np.rot90(astronaut).copy())
    exif = pil.getexif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    pil.save(buf, format="JPEG", quality=95, exif=exif.tobytes())
    return buf.getvalue()


@pytest.fixture(scope="module")
def serving(server):
    server.require(MODEL)
    return server


@pytest.fixture(scope="module")
def json_result(serving, rotated_jpeg):
    r = serving.predict(MODEL, files={"image": ("a.jpg", rotated_jpeg, "image/jpeg"), "target": (None, "dress"),
                                      "return": (None, "json")})
    assert r.status_code == 200, r.text
    return check_response(PATH, r)


def test_json_result_keeps_every_pixel_outside_the_dilated_garment(json_result, rotated_jpeg, astronaut):
    upright = np.asarray(decode_image(rotated_jpeg, 10**8, 10**5))  # the input after EXIF transpose
    assert upright.shape == astronaut.shape
    assert np.abs(upright.astype(int) - astronaut).mean() < 5  # it is the upright astronaut
    out = b64_image(json_result["image"])
    garment = b64_image(json_result["garment_mask"]) > 127
    result = b64_image(json_result["result_mask"]) > 127
    person = b64_image(json_result["person_mask"]) > 127
    assert out.shape == upright.shape and garment.shape == result.shape == upright.shape[:2]
    assert 0.02 < garment.mean() < 0.6 and (garment & ~person).mean() < 0.05
    outside = ~pipeline.dilate(garment | result, pipeline.dilation_radius(out.shape))
    assert np.array_equal(out[outside], upright[outside])
    assert (out[garment] != upright[garment]).any(axis=-1).mean() > 0.5
    # preserve_color defaults to true: the cloth that stays keeps its chroma within the stated tolerance
    cloth = garment & result
    c_in = color.mean_chroma(upright, cloth)[2]
    assert abs(color.mean_chroma(out, cloth)[2] - c_in) < CHROMA_TOLERANCE
    assert json_result["render"] == "shape" and len(json_result["people"]) == 1
    assert len(json_result["people"][0]["keypoints"]) == 33
    assert json_result["parser"] == "pose-garment" and json_result["target"] == "dress"
    assert json_result["mode"] == "latent" and json_result["seed"] == 0 and json_result["preserve_color"] is True


def test_every_option_as_fields_and_headers_in_one_batch(serving, astronaut):
    photo = encode(astronaut)
    ref = encode(np.asarray(Image.fromarray(astronaut).resize((64, 64))))
    calls = [
        dict(data=photo),  # defaults: png image
        dict(files={"image": photo, "target": (None, "coat"), "seed": (None, "7"), "preserve_color": (None, "false"),
                    "format": (None, "jpeg")}),
        dict(data=photo, headers={"X-Closet-Target": "shirt", "X-Closet-Format": "webp", "X-Closet-Mode": "latent",
                                  "X-Closet-Return": "image", "X-Closet-Preserve-Color": "true"}),
        dict(files={"image": photo, "reference": ref, "mode": (None, "reference"), "return": (None, "json")}),
    ]
    with ThreadPoolExecutor(len(calls)) as pool:
        rs = list(pool.map(lambda kw: serving.predict(MODEL, **kw), calls))
    for r in rs:
        assert r.status_code == 200, r.text
        check_response(PATH, r)
        assert r.headers["X-Closet-Parser"] == "pose-garment"
    assert [r.headers["content-type"] for r in rs] == ["image/png", "image/jpeg", "image/webp", "application/json"]
    for r in rs[:3]:
        assert Image.open(io.BytesIO(r.content)).size == (astronaut.shape[1], astronaut.shape[0])
    ref_json = rs[3].json()
    assert ref_json["mode"] == "reference" and ref_json["seed"] is None


BAD = [
    ("unknown target", dict(headers={"X-Closet-Target": "spacesuit"}), 400, "unknown_target"),
    ("latent with a reference", dict(files={"mode": (None, "latent"), "reference": b"x"}), 400, "bad_option"),
    ("reference without one", dict(files={"mode": (None, "reference")}), 400, "bad_option"),
    ("seed in reference mode", dict(files={"seed": (None, "3"), "reference": b"x"}), 400, "bad_option"),
    ("bad format", dict(headers={"X-Closet-Format": "gif"}), 400, "bad_option"),
    ("bad seed", dict(headers={"X-Closet-Seed": "-1"}), 400, "bad_option"),
    ("unknown field", dict(files={"colour": (None, "red")}), 400, "bad_option"),
    ("field and header disagree", dict(files={"target": (None, "coat")}, headers={"X-Closet-Target": "dress"}),
     400, "bad_option"),
    ("not an image", dict(image=b"GIF89a but not really"), 400, "bad_image"),
    ("empty body", dict(image=b""), 400, "bad_image"),
    ("bad reference", dict(files={"reference": b"nope"}), 400, "bad_image"),
]


@pytest.mark.parametrize("why,kw,status,reason", BAD, ids=[b[0] for b in BAD])
def test_bad_requests_get_4xx_json(serving, astronaut, why, kw, status, reason):
    photo = encode(np.asarray(Image.fromarray(astronaut).resize((128, 128))))
    kw = dict(kw)  # the parametrized dict is shared by both runtimes' runs
    image = kw.pop("image", photo)
    files = kw.pop("files", None)
    if files is not None:
        r = serving.predict(MODEL, files={"image": image, **files}, **kw)
    else:
        r = serving.predict(MODEL, data=image, **kw)
    assert r.status_code == status, r.text
    body = check_response(PATH, r)
    assert body["reason"] == reason and body["error"] and body["detail"]


def test_too_large_and_no_person_then_the_same_worker_serves(serving, astronaut):
    pids = serving.worker_pids(MODEL)
    limits = serving.config.limits
    side = limits.max_side + 1
    big = encode(np.zeros((1, side), np.uint8))  # tiny file, declared size over the limit
    r = serving.predict(MODEL, data=big)
    assert r.status_code == 413 and check_response(PATH, r)["reason"] == "too_large"
    r = serving.predict(MODEL, data=encode(np.full((256, 256, 3), 180, np.uint8)))  # a gray wall: nobody
    assert r.status_code == 422, r.text
    body = check_response(PATH, r)
    assert body["reason"] == "no_person" and "photo" in str(body["detail"])
    r = serving.predict(MODEL, data=encode(astronaut), headers={"X-Closet-Target": "tshirt"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert serving.worker_pids(MODEL) == pids


@pytest.fixture(scope="module")
def two_people():
    """Grace Hopper and the astronaut side by side (closet_dev.package_photos), as the pose tests compose them."""
    from closet_dev import package_photos as pp

    return pp.side_by_side(pp.photo("grace_hopper"), pp.photo("astronaut"), "two_people", height=600).image


def test_person_picks_whose_garment_changes(serving, two_people):
    """person=all swaps both garments, person=1 only the right one's; an index past the end is a 400."""
    photo, half = encode(two_people), two_people.shape[1] // 2
    calls = [dict(files={"image": photo, "person": (None, p), "target": (None, "tshirt"), "return": (None, "json")})
             for p in ("all", "1", "5")]
    with ThreadPoolExecutor(len(calls)) as pool:
        both, right, past = pool.map(lambda kw: serving.predict(MODEL, **kw), calls)
    assert both.status_code == right.status_code == 200, (both.text, right.text)
    changed = {}
    for name, r in (("all", both), ("1", right)):
        body = check_response(PATH, r)
        out = b64_image(body["image"])
        changed[name] = (out != two_people).any(axis=-1)
        assert len(body["people"]) == (2 if name == "all" else 1)
    assert changed["all"][:, :half].mean() > 0.01 and changed["all"][:, half:].mean() > 0.01
    assert changed["1"][:, :half].mean() == 0 and changed["1"][:, half:].mean() > 0.01
    assert past.status_code == 400
    err = check_response(PATH, past)
    assert err["reason"] == "bad_option" and err["detail"]["people"] == 2


def test_both_render_modes_and_result_mask(serving, astronaut):
    """shape (the demo's default) re-cuts the garment: a t-shirt bares her right forearm; appearance
    repaints it in place: its result_mask is the garment mask."""
    photo = encode(astronaut)
    calls = [dict(files={"image": photo, "target": (None, "tshirt"), "render": (None, mode), "return": (None, "json")})
             for mode in ("shape", "appearance")]
    with ThreadPoolExecutor(2) as pool:
        shape, appearance = (check_response(PATH, r) for r in pool.map(lambda kw: serving.predict(MODEL, **kw), calls))
    assert shape["render"] == "shape" and appearance["render"] == "appearance"
    # the cut shape mode drew: a t-shirt's short sleeves on both sides, no sleeve left as it was (her
    # right arm is seen, her left one on the photo behind the helmet); appearance mode cuts nothing
    cut = shape["people"][0]["shape"]
    assert 0 < cut["sleeves"]["right"] == cut["sleeves"]["left"] < 1 and cut["kept"] == [] and cut["hem"] > 0.5
    assert "shape" not in appearance["people"][0]
    garment = b64_image(appearance["garment_mask"]) > 127
    assert np.array_equal(b64_image(appearance["result_mask"]) > 127, garment)
    result = b64_image(shape["result_mask"]) > 127
    # points down her right forearm (elbow 14 -> wrist 16, the keypoints' x, y), in a sleeve in the photo
    elbow, wrist = (np.array(shape["people"][0]["keypoints"][k][:2]) for k in (14, 16))
    points = [np.round(elbow + f * (wrist - elbow)).astype(int) for f in np.linspace(0.4, 0.9, 6)]
    sleeve = [garment[y, x] for x, y in points]
    bare = [not result[y, x] for x, y in points]
    assert np.mean(sleeve) > 0.8 and np.mean(bare) > 0.8, (sleeve, bare)
    bad = serving.predict(MODEL, data=photo, headers={"X-Closet-Render": "sketch"})
    assert bad.status_code == 400 and check_response(PATH, bad)["reason"] == "bad_option"


def test_a_photo_on_its_side_is_swapped_upright_and_answered_as_sent(serving, astronaut):
    """No EXIF, the astronaut lying on her side: swapped turned upright (closet.upright), answered
    in the frame it was sent in: a t-shirt bares her right forearm there, along the answer's own
    keypoints, and every pixel outside the dilated garments is the photo's."""
    side = np.ascontiguousarray(np.rot90(astronaut, 1))
    r = serving.predict(MODEL, files={"image": encode(side), "target": (None, "tshirt"), "return": (None, "json")})
    body = check_response(PATH, r)
    assert (body["height"], body["width"]) == side.shape[:2]
    garment, result = (b64_image(body[k]) > 127 for k in ("garment_mask", "result_mask"))
    elbow, wrist = (np.array(body["people"][0]["keypoints"][k][:2]) for k in (14, 16))
    points = [np.round(elbow + f * (wrist - elbow)).astype(int) for f in np.linspace(0.4, 0.9, 6)]
    assert np.mean([garment[y, x] for x, y in points]) > 0.8 and np.mean([not result[y, x] for x, y in points]) > 0.8
    got = b64_image(body["image"])
    outside = ~pipeline.dilate(garment | result, pipeline.dilation_radius(side.shape))
    assert np.array_equal(got[outside], side[outside])


def test_a_letterboxed_photo_is_swapped_as_the_photo_alone(serving, astronaut):
    """The astronaut between black letterbox bars (closet.frame): the answer inside the bars is the
    photo alone's, the bars come back as sent, and the answer's keypoints lie on her in the
    letterboxed frame."""
    bar = 96
    boxed = np.zeros((astronaut.shape[0] + 2 * bar, astronaut.shape[1], 3), np.uint8)
    boxed[bar:bar + astronaut.shape[0]] = astronaut
    bodies = [check_response(PATH, serving.predict(MODEL, files={"image": encode(photo), "target": (None, "tshirt"),
                                                                  "return": (None, "json")}))
              for photo in (astronaut, boxed)]
    alone, framed = bodies
    assert (framed["height"], framed["width"]) == boxed.shape[:2]
    got = b64_image(framed["image"])
    assert np.array_equal(got[:bar], boxed[:bar]) and np.array_equal(got[-bar:], boxed[-bar:])
    assert np.array_equal(got[bar:-bar], b64_image(alone["image"]))
    assert np.array_equal(b64_image(framed["result_mask"])[bar:-bar], b64_image(alone["result_mask"]))
    shoulders = np.array(framed["people"][0]["keypoints"])[[11, 12], :2]
    assert np.allclose(shoulders, np.array(alone["people"][0]["keypoints"])[[11, 12], :2] + [0, bar], atol=0.01)


def test_a_profile_gets_a_swap(serving):
    """The cameraman, seen from the side, gets a garment (the face-based parser of earlier versions answered 422 here)."""
    import skimage.data

    camera = np.repeat(skimage.data.camera()[..., None], 3, axis=2)
    r = serving.predict(MODEL, files={"image": encode(camera), "target": (None, "coat"), "return": (None, "json")})
    assert r.status_code == 200, r.text
    body = check_response(PATH, r)
    assert (b64_image(body["result_mask"]) > 127).mean() > 0.05
