"""The default parser (closet.torso) on real photos, with the real U^2-Net-P weights (`make weights`).

Boxes are (x0, y0, x1, y1), inclusive, in the photos' own pixels; they were read off the
photos by eye (see docs/parsing.md):
  astronaut (skimage.data.astronaut(), 512x512): face within ASTRONAUT_FACE_AREA, chest ASTRONAUT_CHEST
    (the orange suit between the neck ring and the name patch);
  Grace Hopper (matplotlib sample grace_hopper.jpg, 512x600): face within HOPPER_FACE_AREA, chest
    HOPPER_CHEST (the navy jacket, white shirt and tie below the collar).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import matplotlib.cbook
import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from closet import parsing, torso
from closet.config import REPO_ROOT
from closet.errors import ClosetError, NoGarment, NoPerson
from closet.models.u2net import load_checkpoint
from closet.stages.segment import Segmenter

U2NETP = REPO_ROOT / "model-store" / "weights" / "u2netp.pth"

ASTRONAUT_FACE_AREA = (160, 50, 290, 190)
ASTRONAUT_CHEST = (150, 230, 330, 330)
HOPPER_FACE_AREA = (130, 80, 400, 350)
HOPPER_CHEST = (100, 400, 450, 560)


def inside(box, area) -> bool:
    return area[0] <= box[0] and area[1] <= box[1] and box[2] <= area[2] and box[3] <= area[3]


@pytest.fixture(scope="module")
def results():
    if not Path(U2NETP).is_file():
        pytest.fail(f"{U2NETP} missing: run `make weights` (a prerequisite of `make test`)")
    segmenter = Segmenter(load_checkpoint(U2NETP, "u2netp", optimize=True), "u2netp", torch.device("cpu"))
    photos = {
        "astronaut": Image.fromarray(skimage.data.astronaut()),
        "hopper": Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")).convert("RGB"),
        "coffee": Image.fromarray(skimage.data.coffee()),  # a cup on a saucer: an object, no face
        "blank": Image.new("RGB", (320, 240), (128, 128, 128)),  # nothing at all
    }
    images = [np.asarray(p) for p in photos.values()]
    out = {}
    for name, image, mask in zip(photos, images, segmenter(images)):  # one U^2-Net pass for the four
        try:
            out[name] = torso.estimate(image, mask)
        except ClosetError as e:
            out[name] = e
    return out


@pytest.mark.parametrize("name,face_area,chest", [
    ("astronaut", ASTRONAUT_FACE_AREA, ASTRONAUT_CHEST),
    ("hopper", HOPPER_FACE_AREA, HOPPER_CHEST),
])
def test_garment_is_on_the_person_below_the_face_covering_the_chest(results, name, face_area, chest):
    r = results[name]
    assert isinstance(r, torso.TorsoResult), r
    assert inside(r.face.box, face_area), f"face {r.face.box} not within {face_area}"
    garment = parsing.garment_mask(r.labels, "torso")
    assert garment.any()
    assert not (garment & ~r.person).any(), "garment pixels outside the person mask"
    ys, xs = np.nonzero(garment)
    assert ys.min() > r.face.box[3], "garment starts above the bottom of the face box"
    x0, y0, x1, y1 = chest
    coverage = garment[y0: y1 + 1, x0: x1 + 1].mean()
    assert coverage > 0.8, f"chest box {chest} only {coverage:.0%} garment"
    # Face pixels are labelled Face, never garment; labels stay in the documented space.
    assert (r.labels == torso.FACE).any()
    assert set(np.unique(r.labels)) <= {torso.BACKGROUND, torso.UPPER_CLOTHES, torso.FACE, torso.PERSON_OTHER}


def test_skin_below_the_face_is_not_garment(results):
    # The astronaut's neck (between chin and the black collar) is skin: not Upper-clothes.
    r = results["astronaut"]
    neck = r.labels[168:180, 205:240]
    assert (neck == torso.UPPER_CLOTHES).mean() < 0.2


def test_no_face_is_a_422_saying_so(results):
    e = results["coffee"]
    assert isinstance(e, NoPerson) and e.status == 422
    assert "no face detected" in e.message


def test_no_person_is_a_422(results):
    e = results["blank"]
    assert isinstance(e, NoPerson) and e.status == 422
    assert e.to_json()["reason"] == "no_person"


def test_face_search_on_a_big_photo_is_scaled_back_to_image_pixels():
    # 2x astronaut (1024 px): searched at 640 px, box reported in the big photo's pixels.
    big = cv2.resize(skimage.data.astronaut(), None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    faces = torso.detect_faces(big)
    assert faces and inside(faces[0].box, tuple(2 * v for v in ASTRONAUT_FACE_AREA)), faces


def test_estimate_refuses_an_empty_region():
    # A face-like photo whose person mask excludes everything below the face gives NoGarment, not an empty mask.
    photo = skimage.data.astronaut()
    person = np.zeros(photo.shape[:2], np.uint8)
    person[:165] = 255  # head only
    with pytest.raises(NoGarment):
        torso.estimate(photo, person)
