"""closet.sharpness: a photo's edge blur read along a mask's outline."""

import cv2
import numpy as np
import pytest

from closet import sharpness


def _disc(sigma: float, size: int = 300) -> tuple[np.ndarray, np.ndarray]:
    image = np.full((size, size), 60, np.uint8)
    cv2.circle(image, (size // 2, size // 2), size // 4, 200, -1)
    mask = np.zeros((size, size), np.uint8)
    cv2.circle(mask, (size // 2, size // 2), size // 4, 1, -1)
    return (cv2.GaussianBlur(image, (0, 0), sigma) if sigma else image), mask.astype(bool)


@pytest.mark.parametrize("sigma", [1.0, 2.0, 3.0])
def test_a_blurred_edge_reads_its_blur(sigma):
    assert sharpness.edge_sigma(*_disc(sigma)) == pytest.approx(sigma, rel=0.15)


def test_a_sharp_edge_reads_under_a_pixel():
    assert sharpness.edge_sigma(*_disc(0)) < 0.6


def test_no_strong_edge_on_the_outline_reads_sharp():
    image, mask = _disc(3.0)
    assert sharpness.edge_sigma(np.full_like(image, 90), mask) == sharpness.SHARP  # nothing to read
    weak = (image.astype(np.float32) * 0.1).astype(np.uint8)  # a step of 14 levels: texture, not an edge
    assert sharpness.edge_sigma(weak, mask) == sharpness.SHARP
    assert sharpness.edge_sigma(image, np.zeros_like(mask)) == sharpness.SHARP
