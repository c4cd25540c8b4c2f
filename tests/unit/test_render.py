"""closet.render on the package photos with their checked keypoints: the flat lay looks like
Fashion-MNIST, shapes survive a trip onto the body and back, drawings are read, and the swap keeps
every pixel outside the garments, bares arms for short sleeves, lengthens a hem, keeps colour."""

from __future__ import annotations

import numpy as np
import pytest

from closet import garment as gm
from closet import render


@pytest.fixture(scope="module")
def people(photo_people):
    """{name: (image, GarmentParse)} for the three package photos."""
    return {name: (scene.image, gm.garment_mask(scene.image, person, scene.people[0]))
            for name, (scene, person) in photo_people.items()}


def drawing(shape: render.Shape, frame, size: int = 32, gray: float = 170.0) -> np.ndarray:
    """A flat-lay drawing of `shape` in `frame`: the shape's silhouette, light gray on black."""
    b = render._frame_points(size * 4, frame)
    sil = shape.covers(b).reshape(size * 4, size * 4).astype(np.float32)
    small = sil.reshape(size, 4, size, 4).mean(axis=(1, 3))
    return np.clip(small * gray + 0.5, 0, 255).astype(np.uint8)


def paint(parse: gm.GarmentParse, shape: render.Shape) -> np.ndarray:
    """bool (H, W): `shape` worn on this body (the image pixels whose flat-lay point it covers)."""
    h, w = parse.mask.shape
    ys, xs = np.mgrid[0:h, 0:w]
    pts = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64) + 0.5
    flat, _ = render.BodyMap(parse.body).flat_of(pts)
    return shape.covers(flat).reshape(h, w)


def test_the_flat_lay_looks_like_fashion_mnist(people):
    image, parse = people["astronaut"]
    view = render.canonical_view(image, parse.mask, parse.body, 28)
    g = view.gray
    assert g.shape == (28, 28) and g.dtype == np.uint8
    assert g[0, 0] == g[-1, -1] == 0  # on black
    lit = g > 30
    assert 130 < g[lit].mean() < 190  # Fashion-MNIST's garment gray (160 +- spread)
    cols, rows = np.nonzero(lit.any(axis=0))[0], np.nonzero(lit.any(axis=1))[0]
    assert abs((cols.min() + cols.max()) / 2 - 13.5) <= 1.5 and abs((rows.min() + rows.max()) / 2 - 13.5) <= 1.5
    assert cols.max() - cols.min() >= 24 or rows.max() - rows.min() >= 24  # fills the frame
    assert view.shape.reach == {-1: pytest.approx(1.0, abs=0.1), 1: pytest.approx(1.0, abs=0.1)}  # long sleeves


@pytest.mark.parametrize("reach,hem", [(1.0, 1.05), (0.35, 1.05), (0.0, 1.05), (1.0, 1.45)])
def test_a_shape_worn_on_the_body_measures_back(people, reach, hem):
    _, parse = people["camera"]  # the cameraman is in the photo down to his knees
    shape = render.Shape({-1: reach, 1: reach}, hem)
    got = render.measure(paint(parse, shape), parse.body)
    assert max(got.reach.values()) == pytest.approx(reach, abs=0.1)
    assert got.hem == pytest.approx(hem, abs=0.1)


@pytest.mark.parametrize("reach,hem", [(1.0, 1.05), (0.35, 1.1), (0.0, 1.75), (1.0, 1.45)])
def test_a_drawing_reads_back_as_the_shape_drawn(reach, hem):
    shape = render.Shape({-1: reach, 1: reach}, hem)
    got = render.read(drawing(shape, shape.frame), shape.frame)
    assert got.reach == {-1: reach, 1: reach}
    assert got.hem == pytest.approx(hem, abs=0.06)
    # a Fashion-MNIST category's drawing keeps that category's length, whatever the drawing says
    assert render.read(drawing(shape, shape.frame), shape.frame, "dress").hem == render.CATEGORY_HEM["dress"]


@pytest.fixture(scope="module")
def swaps(people):
    """The astronaut re-cut to long sleeves, short sleeves, and a long sleeveless dress."""
    image, parse = people["astronaut"]
    view = render.canonical_view(image, parse.mask, parse.body, 32)
    shapes = {"long": render.Shape({-1: 1.0, 1: 1.0}, view.shape.hem),
              "short": render.Shape({-1: 0.35, 1: 0.35}, view.shape.hem),
              "dress": render.Shape({-1: 0.0, 1: 0.0}, 1.75)}
    return image, parse, view, {k: render.render_swap(image, parse, drawing(s, view.frame), view)
                                for k, s in shapes.items()}


def test_pixels_outside_the_dilated_garments_are_untouched(swaps):
    from closet.stages.composite import dilate, dilation_radius

    image, parse, _, outs = swaps
    for out in outs.values():
        outside = ~dilate(parse.mask | out.result_mask, dilation_radius(image.shape))
        assert outside.mean() > 0.3
        assert np.array_equal(out.image[outside], image[outside])


def test_short_sleeves_bare_the_forearm_in_skin_colour(swaps):
    image, parse, _, outs = swaps
    arm = parse.body.right_arm  # her right arm hangs in view (the left is behind the helmet)
    forearm = gm.capsule(image.shape, arm.elbow * 0.5 + arm.wrist * 0.5, arm.wrist, 0.05 * parse.body.scale)
    forearm &= parse.mask
    assert forearm.sum() > 50
    short, long = outs["short"], outs["long"]
    assert long.result_mask[forearm].mean() > 0.9 and short.result_mask[forearm].mean() < 0.1
    lab = gm.to_lab(short.image)[forearm]
    assert np.hypot(*(np.median(lab[:, 1:], axis=0) - parse.skin.lab[1:])) < 10  # the face's colour


def test_the_shapes_differ_and_the_colour_stays(swaps):
    image, parse, _, outs = swaps
    masks = [o.result_mask for o in outs.values()]
    ious = [(a & b).sum() / (a | b).sum() for i, a in enumerate(masks) for b in masks[i + 1:]]
    assert max(ious) < 0.95
    for out in outs.values():  # cloth that stays keeps its chroma (its lightness is the drawing's)
        kept = out.result_mask & parse.mask
        before, after = (gm.to_lab(im)[kept][:, 1:].mean(axis=0) for im in (image, out.image))
        assert np.hypot(*(after - before)) < 2.5


def test_raw_generator_colours_are_gray(people):
    image, parse = people["astronaut"]
    view = render.canonical_view(image, parse.mask, parse.body, 32)
    out = render.render_swap(image, parse, drawing(view.shape, view.frame), view, preserve_color=False)
    lab = gm.to_lab(out.image)[out.result_mask & ~parse.head]
    assert np.abs(lab[:, 1:]).mean() < 3  # no chroma: the drawing's own gray


def test_deterministic(people):
    image, parse = people["grace_hopper"]
    view = render.canonical_view(image, parse.mask, parse.body, 32)
    d = drawing(render.Shape({-1: 0.35, 1: 0.35}, 1.1), view.frame)
    a, b = (render.render_swap(image, parse, d, view) for _ in range(2))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.result_mask, b.result_mask)
