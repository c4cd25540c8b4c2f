"""The photos of people the pose checks use: only ones that ship inside installed packages.

scikit-image's `astronaut()` (Eileen Collins, NASA, public domain) and `camera()` (a man with
a camera, grayscale), and matplotlib's `grace_hopper.jpg`; plus two compositions of them:
Grace Hopper and the astronaut side by side, and the astronaut mirrored. Everything is uint8
RGB (H, W, 3).
"""

from __future__ import annotations

import cv2
import matplotlib.cbook
import numpy as np
import skimage.data
from PIL import Image


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


def astronaut_mirrored() -> np.ndarray:
    return np.ascontiguousarray(astronaut()[:, ::-1])


def photos() -> dict[str, np.ndarray]:
    """name -> photo, for the checks, the pictures in docs/pose and the benchmark."""
    return {
        "astronaut": astronaut(),
        "camera": camera(),
        "grace_hopper": grace_hopper(),
        "two_people": two_people(),
        "astronaut_mirrored": astronaut_mirrored(),
    }
