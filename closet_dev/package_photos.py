"""Photos of people that ship inside packages, their pose keypoints, and compositions of them.

The photos: scikit-image `astronaut()` and `camera()` (grayscale, a profile), matplotlib's
`grace_hopper.jpg` (hips below the frame). Debian's opencv-doc photos are kept for
independent checks and are never used here.

Keypoints (`package_photos_keypoints.json`, (33, 3) x, y, visibility per photo) are MediaPipe
BlazePose (pose_landmark_full, mediapipe 0.10.21) on each photo, looked at drawn on the photo;
on `camera` BlazePose put the far shoulder on the mouth, the hips 100 px high and the wrists
on the camera, so those 8 landmarks were placed by hand from the picture (the far arm's elbow and
wrist at visibility 0.7, as closet.pose reads that elbow: partly hidden, but seen). The served
parser runs closet.pose itself; these fixed, checked keypoints are what the unit tests build on.

A composition's keypoints are the photos' keypoints moved by the same flip, crop and offset,
so every case here has keypoints that were checked by eye.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

KEYPOINTS_FILE = Path(__file__).with_name("package_photos_keypoints.json")
# BlazePose's left/right landmark pairs, swapped by a horizontal flip.
_FLIP_PAIRS = [(1, 4), (2, 5), (3, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16), (17, 18), (19, 20),
               (21, 22), (23, 24), (25, 26), (27, 28), (29, 30), (31, 32)]


@dataclass
class Scene:
    """A photo and the keypoints of each person in it (left to right)."""

    name: str
    image: np.ndarray  # uint8 (H, W, 3)
    people: list[np.ndarray] = field(default_factory=list)  # each (33, 3) x, y, visibility


@lru_cache(maxsize=None)
def _photo(name: str) -> np.ndarray:
    if name == "astronaut":
        from skimage import data

        return data.astronaut()
    if name == "camera":
        from skimage import data

        return np.repeat(data.camera()[..., None], 3, axis=2)
    if name == "grace_hopper":
        import matplotlib.cbook as cbook
        from PIL import Image

        with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as im:
            return np.asarray(im.convert("RGB"))
    raise KeyError(name)


@lru_cache(maxsize=None)
def _keypoints() -> dict[str, np.ndarray]:
    return {k: np.asarray(v, dtype=np.float64) for k, v in json.loads(KEYPOINTS_FILE.read_text()).items()}


PHOTOS = ("astronaut", "camera", "grace_hopper")


def photo(name: str) -> Scene:
    return Scene(name, _photo(name).copy(), [_keypoints()[name].copy()])


def flip(scene: Scene) -> Scene:
    """Mirror left-right: x -> w - 1 - x, and left/right landmarks swap names."""
    w = scene.image.shape[1]
    people = []
    for kp in scene.people:
        k = kp.copy()
        k[:, 0] = w - 1 - k[:, 0]
        for a, b in _FLIP_PAIRS:
            k[[a, b]] = k[[b, a]]
        people.append(k)
    return Scene(scene.name + "_flip", scene.image[:, ::-1].copy(), people)


def crop(scene: Scene, box: tuple[int, int, int, int], name: str) -> Scene:
    """The part x0:x1, y0:y1 of the photo; keypoints shifted (those outside keep their place)."""
    x0, y0, x1, y1 = box
    people = []
    for kp in scene.people:
        k = kp.copy()
        k[:, 0] -= x0
        k[:, 1] -= y0
        people.append(k)
    return Scene(name, scene.image[y0:y1, x0:x1].copy(), people)


def side_by_side(a: Scene, b: Scene, name: str, height: int = 384) -> Scene:
    """Two photos scaled to one height, next to each other; keypoints scaled and shifted."""
    import cv2

    parts, people, x = [], [], 0
    for s in (a, b):
        f = height / s.image.shape[0]
        img = cv2.resize(s.image, (int(round(s.image.shape[1] * f)), height), interpolation=cv2.INTER_AREA)
        for kp in s.people:
            k = kp.copy()
            k[:, :2] *= f
            k[:, 0] += x
            people.append(k)
        parts.append(img)
        x += img.shape[1]
    return Scene(name, np.concatenate(parts, axis=1), people)


def scenes() -> list[Scene]:
    """The evaluation set: the three photos, their mirror images, a tighter crop of each, a
    crop of the astronaut to one side (a partial body), and two people side by side."""
    a, c, g = photo("astronaut"), photo("camera"), photo("grace_hopper")
    return [
        a, c, g,
        flip(a), flip(c), flip(g),
        crop(a, (40, 60, 400, 512), "astronaut_crop"),
        crop(g, (0, 150, 512, 600), "grace_hopper_crop"),
        crop(c, (0, 60, 340, 512), "camera_crop"),
        side_by_side(a, flip(g), "two_people"),
    ]


def person_masks(images: list[np.ndarray], weights: str = "model-store/weights/u2netp.pth") -> list[np.ndarray]:
    """U^2-Net-P person masks (bool) for the images, thresholded at 50% as the segment stage does."""
    from PIL import Image

    from closet.models.u2net import load_checkpoint
    from closet.stages.segment import predict_masks

    net = load_checkpoint(weights, "u2netp")
    probs = predict_masks(net, [Image.fromarray(im) for im in images], None)
    return [np.asarray(p).reshape(im.shape[:2]) >= 128 for p, im in zip(probs, images)]

