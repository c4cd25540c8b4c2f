"""People lying sideways or upside down: the quarter turns that stand them up, and back.

A phone photo whose EXIF orientation was lost (a messaging app, an editor) arrives on its side.
BlazePose finds people at any angle, but its joints on a sideways body are looser than on the
same body upright (the astronaut turned a quarter: elbows and hips 20-55 px off, a wrist 150 px),
and the render then draws bare arms across the suit. So the ensemble turns such a photo upright
(`np.rot90`, lossless), swaps it as it would any upright photo, and turns the answer back.

Turns count as `np.rot90` counts them: k quarter turns counter-clockwise.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np

from closet.body import L_HIP, L_SHOULDER, R_HIP, R_SHOULDER

# A torso counts when both shoulders are at least this visible. Its hips need not be: BlazePose
# places them below the photo's edge too, and on a photo cut at the waist they are the only ones.
MIN_VISIBILITY = 0.5
# A torso leaning more than this from standing, in a photo turned upright by its largest torso, is
# read upside down. On a photo of two people whose second was cut at the mouth, BlazePose put her
# hips above the photo and her nose on her suit (172 degrees), and every target drew dark slabs
# across her neck ring.
HEAD_DOWN = 135.0


def turns_to_upright(keypoints: Sequence[np.ndarray]) -> int:
    """Quarter turns (np.rot90's k) that bring the people's hips below their shoulders.

    Read from the largest torso (shoulder midpoint to hip midpoint, BlazePose keypoints (33, 4)
    in image px), to the nearest quarter: a body leaning less than 45 degrees is upright. 0 when
    no person's shoulders are visible."""
    best, turns = 0.0, 0
    for kp in keypoints:
        if (kp[[L_SHOULDER, R_SHOULDER], 3] < MIN_VISIBILITY).any():
            continue
        down = torso(kp)
        length = float(np.hypot(*down))
        if length > best:
            # 0 upright, 90 with the hips to the right: np.rot90 (k=1) turned +y into +x, k=3 undoes it.
            angle = math.degrees(math.atan2(float(down[0]), float(down[1])))
            best, turns = length, -int(round(angle / 90.0)) % 4
    return turns


def torso(keypoints: np.ndarray) -> np.ndarray:
    """(2,) the torso from the shoulders' midpoint to the hips' (BlazePose keypoints, image px)."""
    return keypoints[[L_HIP, R_HIP], :2].mean(axis=0) - keypoints[[L_SHOULDER, R_SHOULDER], :2].mean(axis=0)


def torso_angle(keypoints: np.ndarray) -> float:
    """Degrees between a person's torso and the image's down: 0 standing, 180 head down."""
    down = torso(keypoints)
    return math.degrees(math.atan2(abs(float(down[0])), float(down[1])))


def head_down(keypoints: np.ndarray) -> bool:
    """Pose puts this person's hips above their shoulders (more than HEAD_DOWN from standing) in a
    photo its largest torso stands up in (`turns_to_upright`): a misread, not a handstand."""
    return torso_angle(keypoints) > HEAD_DOWN


def turn(image: np.ndarray, k: int) -> np.ndarray:
    """The image (or mask) turned k quarter turns counter-clockwise, contiguous."""
    return np.ascontiguousarray(np.rot90(image, k)) if k % 4 else image


def turn_points(xy: np.ndarray, k: int, shape: tuple[int, ...]) -> np.ndarray:
    """(N, 2+) points (x, y in pixels of an image of `shape`) as they lie after `turn(image, k)`;
    columns past the second are kept."""
    out = np.array(xy, dtype=np.float64, copy=True)
    h, w = shape[:2]
    for _ in range(k % 4):  # one quarter counter-clockwise: (x, y) -> (y, w - 1 - x)
        out[:, 0], out[:, 1] = out[:, 1].copy(), (w - 1) - out[:, 0]
        h, w = w, h
    return out


def turn_box(box: Sequence[int], k: int, shape: tuple[int, ...]) -> list[int]:
    """An inclusive [x0, y0, x1, y1] box after `turn(image, k)`."""
    corners = turn_points(np.array([[box[0], box[1]], [box[2], box[3]]], np.float64), k, shape)
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    return [int(round(v)) for v in (lo[0], lo[1], hi[0], hi[1])]


def turn_person(person, k: int, shape: tuple[int, ...]):
    """A parse's Person (closet.stages.parse) as it lies after `turn(image, k)`; `shape` is the image's
    before the turn. Its garment geometry stays behind: the JSON answer does not carry it."""
    keypoints = None if person.keypoints is None else turn_points(person.keypoints, k, shape).astype(np.float32)
    return dataclasses.replace(person, garment=turn(person.garment, k), box=turn_box(person.box, k, shape),
                               keypoints=keypoints, geometry=None)
