"""closet.upright: the quarter turns that stand people up, and the points, boxes and people turned
with the photo. Pure functions; the ensemble's use of them is in test_ensemble.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

from closet import upright
from closet.body import L_HIP, L_SHOULDER, R_HIP, R_SHOULDER
from closet.stages.parse import Parsed, Person


def skeleton(lean_degrees: float, visible: float = 1.0, centre=(200.0, 150.0)) -> np.ndarray:
    """(33, 4) keypoints of a torso 100 px long, leaning `lean_degrees` (0: upright; 90: lying with
    the hips to the right of the shoulders)."""
    kp = np.zeros((33, 4), np.float32)
    a = math.radians(lean_degrees)
    down = np.array([math.sin(a), math.cos(a)])  # shoulders -> hips
    across = np.array([down[1], -down[0]])
    cx, cy = centre
    for k, (along, side) in {L_SHOULDER: (-50, 30), R_SHOULDER: (-50, -30), L_HIP: (50, 20), R_HIP: (50, -20)}.items():
        kp[k, :2] = (cx, cy) + along * down + side * across
        kp[k, 3] = visible
    return kp


@pytest.mark.parametrize("lean, turns", [(0, 0), (40, 0), (-40, 0), (50, 3), (90, 3), (180, 2), (-90, 1), (-130, 1)])
def test_the_turns_stand_the_torso_up(lean, turns):
    assert upright.turns_to_upright([skeleton(lean)]) == turns
    # and turned so, the hips are below the shoulders
    image = np.zeros((300, 400), np.uint8)
    kp = upright.turn_points(skeleton(lean), turns, image.shape)
    down = kp[[L_HIP, R_HIP], :2].mean(axis=0) - kp[[L_SHOULDER, R_SHOULDER], :2].mean(axis=0)
    assert down[1] > abs(down[0])


def test_the_largest_torso_decides_and_unseen_shoulders_do_not():
    small_lying = skeleton(90) * [0.5, 0.5, 1, 1]
    assert upright.turns_to_upright([small_lying, skeleton(0)]) == 0
    assert upright.turns_to_upright([skeleton(90, visible=0.2)]) == 0
    assert upright.turns_to_upright([]) == 0


@pytest.mark.parametrize("k", [0, 1, 2, 3, -1])
def test_points_and_boxes_turn_with_the_pixels(k):
    image = np.zeros((30, 50), np.uint8)
    image[7, 11] = 1  # (x 11, y 7)
    image[20:26, 30:34] = 2  # a box [30, 20, 33, 25]
    turned = upright.turn(image, k)
    (y, x), = np.argwhere(turned == 1)
    assert upright.turn_points(np.array([[11.0, 7.0, 0.5]]), k, image.shape).tolist() == [[x, y, 0.5]]
    ys, xs = np.nonzero(turned == 2)
    assert upright.turn_box([30, 20, 33, 25], k, image.shape) == [xs.min(), ys.min(), xs.max(), ys.max()]
    assert turned.shape == ((50, 30) if k % 2 else (30, 50))


def test_a_parse_made_turned_comes_back_in_the_photos_frame():
    photo = np.zeros((30, 50), np.uint8)
    garment = np.zeros((30, 50), bool)
    garment[5:12, 20:40] = True
    kp = np.zeros((33, 4), np.float32)
    kp[0] = (25, 8, 0.1, 0.9)
    person = Person(garment, [20, 5, 39, 11], 0.9, kp)
    k = 3
    turned = upright.turn_person(person, k, photo.shape)
    parsed = Parsed(upright.turn(garment.astype(np.uint8), k), [turned], turns=k)
    back = parsed.in_photo()
    assert back.labels.shape == photo.shape and np.array_equal(back.labels.astype(bool), garment)
    (p,) = back.people
    assert np.array_equal(p.garment, garment) and p.box == person.box
    np.testing.assert_allclose(p.keypoints, kp, atol=1e-4)


@pytest.mark.parametrize("lean, down", [(0, False), (90, False), (-130, False), (140, True), (180, True), (-170, True)])
def test_a_torso_whose_hips_are_above_its_shoulders_is_head_down(lean, down):
    assert upright.torso_angle(skeleton(lean)) == pytest.approx(abs(lean), abs=1e-3)
    assert upright.head_down(skeleton(lean)) is down
