"""closet.workscale: a big photo's garment is parsed and rendered on a reduced copy and lifted back.
The astronaut blown up 4x (a body 780 px wide, worked at 256) against the same photo at its own
size: the same garment and the same re-cut shape, every pixel outside the garments untouched, and
the kept cloth as sharp as the photo."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from closet import flatlay, render, workscale
from closet import garment as gm
from closet_dev.answers import iou
from tests.support.renders import untouched

UP = 4


def disc(shape: tuple[int, int], centre, radius) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    cv2.circle(m, centre, radius, 1, -1)
    return m.astype(bool)


def test_a_reduced_mask_enlarges_back():
    big = disc((1200, 1600), (700, 500), 300)
    f = 0.25
    small = workscale.reduce_mask(big, f)
    assert small.shape == (300, 400)
    back = workscale.enlarge_mask(small, big.shape)
    assert iou(back, big) > 0.99
    # the box-limited enlargement equals interpolating the whole image
    whole = cv2.resize(small.astype(np.uint8) * 255, (1600, 1200), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    assert np.mean(back == (whole >= 127.5)) > 0.9999
    assert not workscale.enlarge_mask(np.zeros((30, 40), bool), (120, 160)).any()


def test_enlarge_maps_pixel_centres_as_resize_does():
    rng = np.random.default_rng(0)
    small = rng.uniform(0, 255, (20, 30, 3)).astype(np.float32)
    whole = cv2.resize(small, (120, 80), interpolation=cv2.INTER_LINEAR)
    rows, cols = slice(13, 61), slice(7, 99)
    np.testing.assert_allclose(workscale.enlarge(small, (80, 120), rows, cols), whole[rows, cols], atol=0.05)


def test_lift_changes_only_the_garments_and_keeps_unchanged_cloth_byte_for_byte():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (400, 600, 3), dtype=np.uint8)  # fine detail everywhere
    old = disc((400, 600), (300, 200), 120)
    f = 0.25
    small_image, small_old = workscale.reduce_image(image, f), workscale.reduce_mask(old, f)
    small_new = small_old.copy()
    small_new[:, 75:] = False  # the right half of the garment goes
    small_out = small_image.copy()
    small_out[small_old & ~small_new] = (200, 150, 120)  # what was under it
    out, new = workscale.lift(image, old, small_image, small_out, small_old, small_new)
    assert iou(new, old & (np.arange(600) < 300)) > 0.97
    outside = ~(old | new)
    assert np.array_equal(out[outside], image[outside])
    kept = cv2.erode((old & new).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert kept.sum() > 10_000 and np.array_equal(out[kept], image[kept])  # the render left it as it was
    bared = cv2.erode((old & ~new).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert np.abs(out[bared].astype(int) - (200, 150, 120)).max() <= 1
    flat, _ = workscale.lift(image, old, small_image, small_out, small_old, small_new, keep_detail=False)
    assert flat[kept].std() < image[kept].std() / 3  # the enlarged render alone: the detail is gone


def test_a_lifted_change_saturates_at_black_and_white():
    """The render's change added to the photo's detail clips at 0 and 255: dark cloth darkened
    further stays black (a float path through cv2.convertScaleAbs mirrored it to light)."""
    rng = np.random.default_rng(2)
    image = rng.integers(60, 201, (400, 600, 3), dtype=np.uint8)  # its reduced copy: 92..170
    old = disc((400, 600), (300, 200), 120)
    f = 0.25
    small_image, small_old = workscale.reduce_image(image, f), workscale.reduce_mask(old, f)
    kept = cv2.erode(old.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    for shift in (-85, 85):  # the reduced render stays within 0..255 (92..170 shifted); the photo plus it does not
        small_out = (small_image.astype(int) + shift * small_old[..., None]).astype(np.uint8)
        out, _ = workscale.lift(image, old, small_image, small_out, small_old, small_old)
        want = np.clip(image[kept].astype(int) + shift, 0, 255)
        assert np.abs(out[kept].astype(int) - want).max() <= 2, shift


@pytest.fixture(scope="module")
def astronaut(photo_people):
    scene, person = photo_people["astronaut"]
    big = cv2.resize(scene.image, None, fx=UP, fy=UP, interpolation=cv2.INTER_CUBIC)
    big_person = cv2.resize(person.astype(np.uint8), None, fx=UP, fy=UP, interpolation=cv2.INTER_NEAREST) > 0
    keypoints = np.asarray(scene.people[0], np.float64).copy()
    keypoints[:, :2] *= UP
    small = gm.garment_mask(scene.image, person, scene.people[0])
    return scene.image, small, big, gm.garment_mask(big, big_person, keypoints)


def test_a_big_photo_is_parsed_at_the_working_width(astronaut):
    _, small, big, parse = astronaut
    assert workscale.factor(small.body.scale) == 1.0 and workscale.factor(parse.body.scale) < 0.6
    assert parse.work is not None and parse.mask.shape == big.shape[:2]
    enlarged = cv2.resize(small.mask.astype(np.uint8), None, fx=UP, fy=UP, interpolation=cv2.INTER_NEAREST) > 0
    assert iou(parse.mask, enlarged) > 0.95


def test_a_big_parse_enlarges_its_other_masks_only_when_read(astronaut):
    _, small, big, parse = astronaut
    assert "head" not in vars(parse) and "torso" not in vars(parse)  # not made with the parse
    for name in ("torso", "arms", "head", "skin_pixels"):
        full = getattr(parse, name)
        assert full.shape == big.shape[:2] and full.dtype == bool
        assert np.array_equal(full, workscale.enlarge_mask(getattr(parse.work, name), big.shape))
        reference = cv2.resize(getattr(small, name).astype(np.uint8), None, fx=UP, fy=UP,
                               interpolation=cv2.INTER_NEAREST) > 0
        if name != "skin_pixels":  # thin skin bits differ between the two scales' parses
            assert iou(full, reference) > 0.9, name
    assert parse.head is parse.head  # made once


def test_a_big_photo_renders_as_its_reduced_copy(astronaut):
    image, small, big, parse = astronaut
    shape = flatlay.Shape({-1: 0.35, 1: 0.35}, 1.05)  # short sleeves: cloth goes, skin shows
    views = [flatlay.canonical_view(im, p.mask, p.body, 32) for im, p in ((image, small), (big, parse))]
    drawing = np.clip(flatlay.coverage(shape, views[0].frame, 32) * 170 + 0.5, 0, 255).astype(np.uint8)
    ref = render.render_swap(image, small, drawing, views[0])
    out = render.render_swap(big, parse, drawing, views[1])
    assert out.shape == ref.shape
    enlarged = cv2.resize(ref.result_mask.astype(np.uint8), None, fx=UP, fy=UP, interpolation=cv2.INTER_NEAREST) > 0
    assert iou(out.result_mask, enlarged) > 0.95
    outside = untouched(big, out, parse.mask)
    assert np.array_equal(out.image[outside], big[outside])
    # Kept cloth keeps the big photo's own fine detail (a render enlarged from 256 px would blur it).
    kept = cv2.erode((parse.mask & out.result_mask).astype(np.uint8), np.ones((15, 15), np.uint8)) > 0

    def fine(im):
        return cv2.Laplacian(cv2.cvtColor(im, cv2.COLOR_RGB2GRAY).astype(np.float32), cv2.CV_32F)[kept].var()

    assert fine(out.image) > 0.8 * fine(big)


def test_a_big_photos_bared_skin_has_its_own_grain(astronaut):
    """Bared skin takes the photo's grain at the photo's own size, measured on the big photo's face
    (its reduced copy has other grain), and added after the lift: noise enlarged from the reduced
    copy would be blotches 1/f pixels wide, with nothing at the scale of one pixel."""
    image, small, big, parse = astronaut
    from closet import garment as gm

    assert parse.skin.grain == pytest.approx(gm.measure_grain(big, gm.lit_face(big.shape, parse.body)))
    view = flatlay.canonical_view(big, parse.mask, parse.body, 32)
    drawing = np.clip(flatlay.coverage(flatlay.Shape({-1: 0.35, 1: 0.35}, 1.05), view.frame, 32) * 170 + 0.5, 0, 255)
    out = render.render_swap(big, parse, drawing.astype(np.uint8), view)
    bared = cv2.erode((parse.mask & ~out.result_mask).astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
    assert bared.sum() > 2000
    assert 0.6 * parse.skin.grain < gm.measure_grain(out.image, (slice(None), slice(None), bared)) < 1.6 * parse.skin.grain


@pytest.mark.parametrize("carried", [True, False], ids=["carried", "enlarged-only"])
def test_cloth_a_big_photos_render_adds_has_the_photos_own_grain(photo_people, monkeypatch, carried):
    """Cloth the render adds (here a coat's ring beside the torso; a sleeve grown long, a longer
    hem) is mirrored from the garment on the reduced copy; enlarged alone it has none of the cloth's
    grain at the photo's own size, and beside the photo's kept cloth it is a smooth smear. It takes
    the photo's detail at its source (`workscale.carry_detail`). The astronaut blown up 4x with a
    sensor's grain (Gaussian, 4 levels): the added cloth's fine detail (Laplacian variance) is
    0.41 of the kept cloth's, 0.04 enlarged alone."""
    scene, person = photo_people["astronaut"]
    big = cv2.resize(scene.image, None, fx=UP, fy=UP, interpolation=cv2.INTER_CUBIC)
    grain = np.random.default_rng(0).normal(0.0, 4.0, big.shape[:2])[..., None]
    big = np.clip(big + grain + 0.5, 0, 255).astype(np.uint8)
    big_person = cv2.resize(person.astype(np.uint8), None, fx=UP, fy=UP, interpolation=cv2.INTER_NEAREST) > 0
    keypoints = np.asarray(scene.people[0], np.float64).copy()
    keypoints[:, :2] *= UP
    parse = gm.garment_mask(big, big_person, keypoints)
    assert workscale.factor(parse.body.scale) < 0.6
    if not carried:
        monkeypatch.setattr(workscale, "carry_detail", lambda *args: None)
    view = flatlay.canonical_view(big, parse.mask, parse.body, 32)
    coat = flatlay.Shape({-1: 1.0, 1: 1.0}, 1.3)
    drawing = np.clip(flatlay.coverage(coat, view.frame, 32) * 170 + 0.5, 0, 255).astype(np.uint8)
    out = render.render_swap(big, parse, drawing, view, category="coat", person=big_person)
    added = cv2.erode((out.result_mask & ~parse.mask).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    kept = cv2.erode((parse.mask & out.result_mask).astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
    assert added.sum() > 2000

    def fine(im, where):
        return cv2.Laplacian(cv2.cvtColor(im, cv2.COLOR_RGB2GRAY).astype(np.float32), cv2.CV_32F)[where].var()

    share = fine(out.image, added) / fine(big, kept)
    assert (share > 0.3) if carried else (share < 0.15), share
