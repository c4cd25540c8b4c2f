"""`make framings` (closet_dev/framings.py): the evaluation photos cropped, scaled and turned at
random through the served ensemble; every answer a swap that keeps the byte-identity guarantee, or
a 422 the user can act on. A few framings here; `make framings` runs a hundred."""

from __future__ import annotations

import json

import numpy as np
import pytest
import skimage.data

from closet import ensemble
from closet.errors import BadImage, NoPerson
from closet.stages.composite import dilation_radius
from closet_dev import framings
from closet_dev.mar import mar_path


def test_framings_of_the_photos_are_swapped_or_refused_and_nothing_else(tmp_path):
    from closet.config import ENSEMBLE

    if not mar_path(ENSEMBLE).exists():
        pytest.skip(f"{mar_path(ENSEMBLE)} is not built: run `make mars`")
    (tmp_path / "sheet-07.png").write_bytes(b"a longer earlier run's")
    assert framings.main(["--count", "6", "--seed", "3", "--out", str(tmp_path), "--threads", "1"]) == 0
    report = json.loads((tmp_path / "framings.json").read_text())
    assert report["summary"]["failed"] == 0 and report["summary"]["framings"] == 6
    assert report["summary"]["swapped"] >= 1
    assert len({tuple(r["size"]) for r in report["framings"]}) > 1  # framed differently, not one photo six times
    assert sorted(p.name for p in tmp_path.glob("sheet-*.png")) == ["sheet-00.png"]


def test_a_framing_is_seeded_and_within_its_bounds():
    image = skimage.data.astronaut()
    a = [framings.framing(image, np.random.default_rng(5)) for _ in range(2)]
    assert a[0][1] == a[1][1] and np.array_equal(a[0][0], a[1][0])
    rng = np.random.default_rng(0)
    sides = [framings.framing(image, rng)[0].shape for _ in range(40)]
    assert all(max(s[:2]) <= framings.MAX_SIDE and min(s[:2]) >= 8 and s[2] == 3 for s in sides)
    assert len({s[:2] for s in sides}) > 20


def _answer(photo: np.ndarray, image: np.ndarray) -> ensemble.Output:
    garment = np.zeros(photo.shape[:2], bool)
    garment[100:200, 100:200] = True
    return ensemble.Output(b"", "image/png", "coat", "latent", "pose", image, garment, garment, garment.copy())


def test_what_fails_a_framing():
    photo = skimage.data.astronaut()
    assert framings.failures(photo, _answer(photo, photo.copy())) == []
    assert framings.failures(photo, NoPerson("nobody")) == []
    assert framings.failures(photo, BadImage("broken")) != []  # a photo the test made is never broken
    assert framings.failures(photo, RuntimeError("boom")) != []
    near, far = photo.copy(), photo.copy()
    near[200 + dilation_radius(photo.shape) - 1, 150] ^= 1  # inside the dilation: the render may touch it
    far[400, 400] ^= 1
    assert framings.failures(photo, _answer(photo, near)) == []
    assert framings.failures(photo, _answer(photo, far)) == ["1 pixels changed outside the dilated garments"]
    assert framings.failures(photo, _answer(photo, photo[:-1].copy())) != []


def test_only_the_package_photos_go_into_committed_pictures():
    from closet_dev.eval_swap import committable

    assert all(committable(n) for n in ("astronaut", "camera_flip", "grace_hopper", "two_people"))
    assert not any(committable(n) for n in ("bus", "zidane"))  # Ultralytics' photos: AGPL-3.0


def test_a_users_own_photos_are_framed_instead(tmp_path):
    import cv2

    from closet.config import ENSEMBLE

    if not mar_path(ENSEMBLE).exists():
        pytest.skip(f"{mar_path(ENSEMBLE)} is not built: run `make mars`")
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "mine.png"), cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR))
    assert framings.main(["--count", "2", "--photos", str(photos), "--out", str(tmp_path / "out"), "--threads", "1"]) == 0
    report = json.loads((tmp_path / "out" / "framings.json").read_text())
    assert [r["scene"] for r in report["framings"]] == ["mine", "mine"]
