"""closet.frame: the box a photo fills inside plain borders, found on the package photos
mounted, letterboxed and compressed, and not found where a plain backdrop is part of the photo."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from closet import frame
from closet.stages.parse import Person
from closet_dev import package_photos as pp


def mounted(image: np.ndarray, colour: int, pad: tuple[int, int, int, int]) -> np.ndarray:
    """`image` with borders of `colour`, `pad` (top, bottom, left, right) pixels deep."""
    t, b, left, r = pad
    return cv2.copyMakeBorder(image, t, b, left, r, cv2.BORDER_CONSTANT, value=(colour,) * 3)


@pytest.mark.parametrize("name", pp.PHOTOS)
def test_a_photo_without_borders_is_its_own_box(name):
    assert frame.content_box(pp.photo(name).image) is None


@pytest.mark.parametrize("pad", [(96, 96, 0, 0), (0, 0, 40, 40), (512, 256, 170, 342), (3, 0, 0, 0)])
@pytest.mark.parametrize("colour", [0, 128, 255])
def test_the_box_inside_plain_borders(pad, colour):
    image = pp.photo("astronaut").image
    t, b, left, r = pad
    box = frame.content_box(mounted(image, colour, pad))
    h, w = image.shape[:2]
    assert box == (slice(t, t + h), slice(left, left + w))


@pytest.mark.parametrize("bar, off", [(80, 1), (83, 4)])
def test_the_box_of_a_jpeg_is_found_in_its_lightness(bar, off):
    """A JPEG smears its subsampled colour a few pixels into black bars (read in colour, the box
    began 4 rows early on a photo between bars at quality 85), its lightness hardly: a pixel where
    the bars end on its 8-pixel blocks, at most half a block where they do not."""
    image = mounted(pp.photo("grace_hopper").image, 0, (bar, bar, 0, 0))
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    rows, cols = frame.content_box(cv2.imdecode(data, cv2.IMREAD_COLOR))
    assert abs(rows.start - bar) <= off and abs(rows.stop - (bar + 600)) <= off and cols == slice(0, 512)


def test_a_plain_backdrop_is_part_of_the_photo(photo_people):
    """A person cut out onto white (U^2-Net-P's mask), with white all round but below, where the
    photo cuts them (a studio backdrop): the white reaches the person's outline first at a few
    pixels of a line, not at a straight edge, and nothing is trimmed (trimmed, their arms would end
    at the box's edge as if they ran off the photo). But the cameraman's coat runs off his photo's
    left edge along half its height: that is the photo's edge, and the white beyond it is trimmed."""
    def studio(name: str) -> np.ndarray:
        scene, person = photo_people[name]
        return mounted(np.where(person[..., None], scene.image, 255).astype(np.uint8), 255, (60, 0, 60, 60))

    assert frame.content_box(studio("astronaut")) is None
    assert frame.content_box(studio("grace_hopper")) is None
    assert frame.content_box(studio("camera")) == (slice(0, 572), slice(60, 632))


def test_a_one_colour_image_has_no_box():
    assert frame.content_box(np.full((200, 300, 3), 40, np.uint8)) is None


def test_a_person_found_in_the_box_is_placed_in_the_whole_image():
    garment = np.zeros((10, 20), bool)
    garment[2:4, 5:9] = True
    keypoints = np.zeros((33, 4), np.float32)
    keypoints[:, 0], keypoints[:, 1] = 5.0, 2.0
    person = Person(garment=garment, box=[5, 2, 8, 3], keypoints=keypoints)
    box = (slice(30, 40), slice(7, 27))
    placed = frame.place_person(person, box, (50, 40, 3))
    assert placed.garment.shape == (50, 40) and placed.garment.sum() == garment.sum()
    assert placed.garment[32:34, 12:16].all()
    assert placed.box == [12, 32, 15, 33]
    assert np.allclose(placed.keypoints[:, :2], [12.0, 32.0]) and placed.geometry is None
    assert person.keypoints[0, 0] == 5.0  # the person found in the box is left as it was
