"""The photos of people the pose checks use: only ones that ship inside installed packages.

scikit-image's `astronaut()` (Eileen Collins, NASA, public domain) and `camera()` (a man with
a camera, grayscale), and matplotlib's `grace_hopper.jpg`; plus compositions of them: Grace
Hopper and the astronaut side by side (both orders), and the astronaut mirrored. Everything is
uint8 RGB (H, W, 3).

Two more photos of several people come from a wheel, not an installed package: Ultralytics'
`bus.jpg` and `zidane.jpg`, which `make photos` extracts from the pinned ultralytics wheel into
.cache/photos/ (checked by sha256). Ultralytics is AGPL-3.0: they serve tests and evaluation
only, and neither they nor pictures drawn from them are committed. `make photos` also extracts
six official portraits of Joe Biden and Barack Obama (works of the US government: public domain)
from the pinned face_recognition source archive into .cache/photos/portraits/. `fetched()` raises
`NotFetched` (a FileNotFoundError saying what to run) when a photo is not there.
"""

from __future__ import annotations

import cv2
import matplotlib.cbook
import numpy as np
import skimage.data
from PIL import Image

from closet.config import REPO_ROOT

FETCHED_DIR = REPO_ROOT / ".cache" / "photos"  # written by `make photos` (mk/photos.mk)


def astronaut() -> np.ndarray:
    return skimage.data.astronaut()  # 512x512


def camera() -> np.ndarray:
    return np.repeat(skimage.data.camera()[:, :, None], 3, axis=2)  # 512x512, gray as RGB


def grace_hopper() -> np.ndarray:
    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")) as im:
        return np.asarray(im.convert("RGB"))  # 600 high, 512 wide


def side_by_side(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Two photos at the left one's height, next to each other."""
    h = left.shape[0]
    w = round(right.shape[1] * h / right.shape[0])
    return np.concatenate([left, cv2.resize(right, (w, h), interpolation=cv2.INTER_AREA)], axis=1)


def two_people() -> np.ndarray:
    """Grace Hopper (left, x < 512) and the astronaut (right, scaled to 600 high) side by side: 600 x 1112.

    The detector scores them 0.65 and 0.54 here. The other order (astronaut left, at 512
    high) scores the astronaut 0.47, under MediaPipe's 0.5: one person found, not two.
    """
    return side_by_side(grace_hopper(), astronaut())


def two_people_swapped() -> np.ndarray:
    """The astronaut (left, 512 high) and Grace Hopper (right) side by side: 512 x 949.

    On the whole image the detector scores the astronaut 0.47, under MediaPipe's 0.5; a tile
    finds her (closet.pose's multi-scale detection).
    """
    return side_by_side(astronaut(), grace_hopper())


def astronaut_mirrored() -> np.ndarray:
    return np.ascontiguousarray(astronaut()[:, ::-1])


def photos() -> dict[str, np.ndarray]:
    """name -> photo, for the checks, the pictures in docs/pose and the benchmark."""
    return {
        "astronaut": astronaut(),
        "camera": camera(),
        "grace_hopper": grace_hopper(),
        "two_people": two_people(),
        "two_people_swapped": two_people_swapped(),
        "astronaut_mirrored": astronaut_mirrored(),
    }


# --- photos fetched by `make photos` (bus and zidane: AGPL-3.0, never committed) ------------


class NotFetched(FileNotFoundError):
    """A photo that `make photos` writes is not there."""


def fetched(name: str) -> np.ndarray:
    """.cache/photos/<name>.jpg (`name` may hold a folder) as uint8 RGB; NotFetched when `make
    photos` has not run."""
    path = FETCHED_DIR / f"{name}.jpg"
    if not path.is_file():
        raise NotFetched(f"{path.relative_to(REPO_ROOT)} missing: run `make photos`")
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def bus() -> np.ndarray:
    """Ultralytics' bus.jpg, 810 wide, 1080 high: two men standing full-length in front of a
    bus (left: light coat, right: black coat), and people cut by the left and right edges."""
    return fetched("bus")


def zidane() -> np.ndarray:
    """Ultralytics' zidane.jpg, 1280 wide, 720 high: two men in suits, upper bodies (left:
    shouting, in profile; right: grey hair, facing the camera)."""
    return fetched("zidane")


def portrait_cut_at_side() -> np.ndarray:
    """face_recognition's obama_partial_face2.jpg, 551 wide, 1137 high: one man in a dark suit, arms
    folded, cut by the photo's right edge through his face."""
    return fetched("portraits/obama_partial_face2")


def fetched_photos() -> dict[str, np.ndarray]:
    """name -> photo for the photos of several people; NotFetched when one is missing."""
    return {"bus": bus(), "zidane": zidane()}
