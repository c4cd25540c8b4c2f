"""closet.flatlay on the package photos with their checked keypoints: the flat lay looks like
Fashion-MNIST, shapes survive a trip onto the body and back, the torso map keeps lengths, a
garment's hem and sleeves are measured past what hides them, and drawings are read."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from closet import flatlay
from closet import garment as gm
from tests.support.renders import drawing, paint


def test_the_flat_lay_looks_like_fashion_mnist(people):
    image, parse = people["astronaut"]
    view = flatlay.canonical_view(image, parse.mask, parse.body, 28)
    g = view.gray
    assert g.shape == (28, 28) and g.dtype == np.uint8
    assert g[0, 0] == g[-1, -1] == 0  # on black
    lit = g > 30
    assert 130 < g[lit].mean() < 190  # Fashion-MNIST's garment gray (160 +- spread)
    cols, rows = np.nonzero(lit.any(axis=0))[0], np.nonzero(lit.any(axis=1))[0]
    assert abs((cols.min() + cols.max()) / 2 - 13.5) <= 1.5 and abs((rows.min() + rows.max()) / 2 - 13.5) <= 1.5
    assert cols.max() - cols.min() >= 24 or rows.max() - rows.min() >= 24  # fills the frame
    assert view.shape.reach == {-1: pytest.approx(1.0, abs=0.1), 1: pytest.approx(1.0, abs=0.1)}  # long sleeves


def top_edge(silhouette: np.ndarray, from_side: np.ndarray) -> np.ndarray:
    """A silhouette's (bool (S, S)) top edge below its highest row, in its own widths, at these
    distances from its sides (in its widths; both sides averaged)."""
    ys, xs = np.nonzero(silhouette)
    x0, x1, y0 = xs.min(), xs.max(), ys.min()
    width = x1 - x0 + 1
    at = [(np.argmax(silhouette[:, x0 + int(f * width)]) + np.argmax(silhouette[:, x1 - int(f * width)])) / 2 - y0
          for f in from_side]
    return np.asarray(at) / width


def test_the_flat_lays_shoulders_slope_as_fashion_mnists():
    """Fashion-MNIST lays its tops flat with the shoulders sloping from the collar down to the
    sleeves. The flat lay was a square-shouldered block (its sides' top 0.05 of its width below the
    collar, against Fashion-MNIST's 0.3), which the translator drew as no category in particular."""
    from closet_dev.train.data import FMNIST_CLASSES, FMNIST_DIR, load_fmnist

    if not (FMNIST_DIR / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    images, labels = load_fmnist("test")
    from_side = np.array([0.05, 0.1, 0.15, 0.2])
    per_class = []
    for name in ("pullover", "coat", "shirt", "tshirt", "dress"):
        garments = images[labels == FMNIST_CLASSES.index(name)][:500] > 20
        per_class.append(np.median([top_edge(g, from_side) for g in garments if g.sum() >= 50], axis=0))
    fashion_mnist = np.median(per_class, axis=0)
    shape = flatlay.Shape({-1: 1.0, 1: 1.0}, flatlay.HIP_HEM)
    ours = top_edge(flatlay.coverage(shape, shape.frame, 112) > 0.5, from_side)
    assert fashion_mnist[0] > 0.2  # the data's own slope, as measured when SHOULDER_DROP was set
    np.testing.assert_allclose(ours, fashion_mnist, atol=0.05)  # a Fashion-MNIST pixel is 1/21 of a top's width


def test_a_drawing_with_sloped_shoulders_reads_its_sleeves():
    """`read` looks for sleeves below the sloping shoulder: from the old start a long sleeve's top,
    cut by the slope, read as no sleeve."""
    for reach in flatlay.SLEEVE_LENGTHS:
        shape = flatlay.Shape({-1: reach, 1: reach}, flatlay.HIP_HEM)
        got = flatlay.read(drawing(shape, shape.frame), shape.frame)
        assert got.reach == {-1: reach, 1: reach}


@pytest.mark.parametrize("reach,hem", [(1.0, 1.05), (0.35, 1.05), (0.0, 1.05), (1.0, 1.45)])
def test_a_shape_worn_on_the_body_measures_back(people, reach, hem):
    _, parse = people["camera"]  # the cameraman is in the photo down to his knees
    shape = flatlay.Shape({-1: reach, 1: reach}, hem)
    got = flatlay.measure(paint(parse, shape), parse.body)
    assert max(got.reach.values()) == pytest.approx(reach, abs=0.1)
    assert got.hem == pytest.approx(hem, abs=0.1)


def test_a_categorys_sleeves_stay_in_its_range():
    """A drawing's sleeves are read in the translator's frame, which its garment need not fill: a
    coat or a pullover drawn short-sleeved keeps long sleeves (zidane.jpg's suits were bared to
    the shoulder for `coat`), a dress none, a tshirt at most short; a shirt may be either."""
    for drawn, category, want in [(0.0, "coat", 1.0), (0.35, "pullover", 1.0), (1.0, "dress", 0.0),
                                  (1.0, "tshirt", 0.35), (0.35, "shirt", 0.35), (1.0, "shirt", 1.0),
                                  (0.0, None, 0.0)]:
        shape = flatlay.Shape({-1: drawn, 1: drawn}, 1.05)
        got = flatlay.read(drawing(shape, shape.frame), shape.frame, category)
        assert got.reach == {-1: want, 1: want}, (drawn, category)


@pytest.mark.parametrize("name", ["astronaut", "camera", "grace_hopper"])
def test_the_torso_map_keeps_lengths_down_the_body(people, name):
    """Hips narrower than shoulders are a build, not perspective: equal steps down the flat lay are
    equal steps down the body, and below the hips too (a dress's hem at 1.75 is 0.75 torso lengths
    below the hips; a homography of the torso quad squeezed it toward a vanishing point)."""
    _, parse = people[name]
    bm = flatlay.BodyMap(parse.body)
    ys = np.array([0.0, 0.5, 1.0, 1.5, 1.75, 2.0])
    centre = bm.torso_to_image(np.stack([np.zeros_like(ys), ys], 1))
    steps = np.linalg.norm(np.diff(centre, axis=0), axis=1) / np.diff(ys)
    np.testing.assert_allclose(steps, steps[0], rtol=0.03)
    rng = np.random.default_rng(0)
    b = np.stack([rng.uniform(-0.6, 0.6, 500), rng.uniform(-0.3, 2.2, 500)], 1)
    np.testing.assert_allclose(bm.image_to_torso(bm.torso_to_image(b)), b, atol=1e-9)
    quad = bm.torso_to_image(flatlay.CANON_QUAD.astype(np.float64))
    np.testing.assert_allclose(quad, parse.body.quad, atol=1e-3)  # the four joints stay where they are


def test_an_open_neckline_is_not_the_hem(people):
    """A jacket open over a shirt and tie (zidane.jpg's Zidane) leaves the top of the torso's
    middle uncovered: the hem is sought below the neckline, not where the opening starts."""
    _, parse = people["astronaut"]
    whole = flatlay.measure(parse.mask, parse.body)
    bm = flatlay.BodyMap(parse.body)
    v = bm.torso_to_image(np.array([[-0.25, 0.0], [0.25, 0.0], [0.0, 0.4]]))
    opened = parse.mask.copy()
    cv2.fillPoly(opened.view(np.uint8), [np.round(v).astype(np.int32)], 0)
    assert (parse.mask & ~opened).sum() > 500
    assert flatlay.measure(opened, parse.body).hem == whole.hem > 1.0


def test_a_camisoles_neckline_is_not_the_hem(people):
    """A camisole's top edge lies below NECKLINE: the torso's middle is bare down to 0.7 torso
    lengths. Read from NECKLINE, the run of covered rows ended before it began: a hem of 0.2, and
    every longer target filled her chest (and the hair over it) with mirrored cloth."""
    _, parse = people["astronaut"]
    whole = flatlay.measure(parse.mask, parse.body)
    bm = flatlay.BodyMap(parse.body)
    v = bm.torso_to_image(np.array([[-0.4, -0.2], [0.4, -0.2], [0.4, 0.7], [-0.4, 0.7]]))
    camisole = parse.mask.copy()
    cv2.fillPoly(camisole.view(np.uint8), [np.round(v).astype(np.int32)], 0)
    assert (parse.mask & ~camisole).sum() > 5000
    assert flatlay.measure(camisole, parse.body).hem == whole.hem > 1.0


def test_skin_across_the_torso_hides_the_hem_not_the_sleeves(people):
    """A seated woman's hands of cards before her black top (skin-coloured in a warm-lit photo)
    bared a band of its rows: the run of covered rows ended there, a hem of 0.48, and `pullover`
    covered the cards and the ashtray before her with mirrored cloth. Bare skin on the torso hides
    the garment, as an arm in front does; on the arms it is what a short sleeve bares. The
    astronaut's suit with a band across it from 0.55 to 0.75 torso lengths, and her right sleeve
    cut at the elbow, the band and the forearm given as skin."""
    _, parse = people["astronaut"]
    whole = flatlay.measure(parse.mask, parse.body)
    bm = flatlay.BodyMap(parse.body)
    band = np.zeros_like(parse.mask, np.uint8)
    cv2.fillPoly(band, [np.round(bm.torso_to_image(np.array([[-0.3, 0.55], [0.3, 0.55], [0.3, 0.75],
                                                           [-0.3, 0.75]]))).astype(np.int32)], 1)
    arm = parse.body.right_arm
    forearm = gm.capsule(parse.mask.shape, arm.elbow + 0.15 * (arm.wrist - arm.elbow), arm.wrist, bm.radius)
    skin = band.astype(bool) | (forearm & parse.mask)
    bared = parse.mask & ~skin
    assert flatlay.measure(bared, parse.body).hem < 0.6  # the band ends the run
    shape = flatlay.measure(bared, parse.body, skin=skin)
    assert shape.hem == whole.hem and shape.reach == flatlay.measure(bared, parse.body).reach
    # with someone in front too (the composite passes both): the skin still hides the band
    aside = np.zeros_like(skin)
    aside[:5] = True  # someone in front at the photo's top, away from the torso
    assert flatlay.measure(bared, parse.body, hidden=aside, skin=skin) == shape


def test_a_sleeve_seen_past_the_others_end_is_not_cut_short_by_it(people):
    """A flat lay is symmetric, and a sleeve whose end the photo shows beats one that runs off it;
    but not when the one running off is seen to go past that end. A woman's long hair over her
    shoulder (brown, read as skin) ended one sleeve of her blouse at the shoulder, while the other
    ran to her elbow and off the photo: measured sleeveless, `dress` left both sleeves on. The
    cameraman's coat, his left sleeve's top cut away, his right arm hidden below the elbow."""
    _, parse = people["camera"]
    bm = flatlay.BodyMap(parse.body)
    radius = 1.5 * bm.radius
    hair = gm.capsule(parse.mask.shape, *bm.sleeve_to_image(1, np.array([0.0, 0.2]), np.zeros(2)), radius)
    hidden = gm.capsule(parse.mask.shape, *bm.sleeve_to_image(-1, np.array([0.55, 1.0]), np.zeros(2)), radius)
    assert flatlay.measure(parse.mask & ~hair, parse.body).reach == {-1: 1.0, 1: 1.0}
    assert flatlay.measure(parse.mask & ~hair & ~hidden, parse.body, hidden=hidden).reach == {-1: 1.0, 1: 1.0}
    # his right arm hidden from the shoulder on: nothing is seen past the left sleeve's end
    hidden = gm.capsule(parse.mask.shape, *bm.sleeve_to_image(-1, np.array([0.0, 1.0]), np.zeros(2)), radius)
    assert flatlay.measure(parse.mask & ~hair & ~hidden, parse.body, hidden=hidden).reach == {-1: 0.0, 1: 0.0}


def test_a_row_an_arm_mostly_hides_is_not_the_hem(people):
    """A forearm across the chest (zidane.jpg's grey-haired man, pointing) hides most of a few torso
    rows; the one or two samples beside the hand lie at the garment's edge. Read as uncovered, they
    ended the hem there (0.6 torso lengths on his jacket at half size, and `coat` then filled his
    open front with mirrored jacket); a row mostly hidden says nothing."""
    import dataclasses

    from closet.body import Arm

    _, parse = people["camera"]  # in the photo to below his hips
    bm = flatlay.BodyMap(parse.body)
    shoulder, elbow, wrist = bm.torso_to_image(np.array([[-0.27, 0.0], [-0.3, 0.55], [0.1, 0.55]]))
    across = dataclasses.replace(parse.body, right_arm=Arm(shoulder=shoulder, elbow=elbow, wrist=wrist, seen=True))
    shape = flatlay.Shape({-1: 1.0, 1: 1.0}, 1.05)
    worn = paint(dataclasses.replace(parse, body=across), shape)
    assert flatlay.measure(worn, across).hem == pytest.approx(1.05, abs=0.03)
    # the garment's edge beside the hand, just below the forearm, is not garment
    edge = flatlay.BodyMap(across).torso_to_image(np.array([[0.22, 0.55]]))[0]
    cut = worn & ~gm.capsule(worn.shape, edge, edge, 0.2 * parse.body.scale)
    hidden = flatlay.BodyMap(across).flat_of(flatlay.BodyMap(across).torso_to_image(
        np.stack([np.linspace(-0.22, 0.22, 9), np.full(9, 0.55)], 1)))[1] != 0
    assert hidden.sum() >= 7  # the forearm hides most of that row
    assert flatlay.measure(cut, across).hem == pytest.approx(1.05, abs=0.03)


@pytest.mark.parametrize("reach,hem", [(1.0, 1.05), (0.35, 1.1), (0.0, 1.75), (1.0, 1.45)])
def test_a_drawing_reads_back_as_the_shape_drawn(reach, hem):
    shape = flatlay.Shape({-1: reach, 1: reach}, hem)
    got = flatlay.read(drawing(shape, shape.frame), shape.frame)
    assert got.reach == {-1: reach, 1: reach}
    assert got.hem == pytest.approx(hem, abs=0.06)
    # a Fashion-MNIST category's drawing takes that category's length, whatever the drawing says:
    # the old garment's when it is in the category's range, the range's nearer end when not
    low, high = flatlay.CATEGORY_HEM["dress"]
    assert flatlay.read(drawing(shape, shape.frame), shape.frame, "dress").hem == low
    for old_hem, want in [(1.05, low), (1.9, 1.9), (2.5, high)]:
        old = flatlay.Shape({-1: 1.0, 1: 1.0}, old_hem)
        assert flatlay.read(drawing(shape, shape.frame), shape.frame, "dress", old).hem == pytest.approx(want)


@pytest.mark.parametrize("name", ["astronaut", "camera", "grace_hopper"])
def test_a_sleeve_is_measured_only_near_its_arm_and_the_map_is_the_same(people, name):
    """flat_of skips the points farther than a sleeve radius from an arm's bones (most of a box):
    the map is the one measured at every point, the arms found where they are."""
    image, parse = people[name]
    bm = flatlay.BodyMap(parse.body)
    gy, gx = np.mgrid[0:image.shape[0]:3, 0:image.shape[1]:3]
    p = np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float64) + 0.5
    flat, part = bm.flat_of(p)
    want, want_part, best = bm.image_to_torso(p), np.zeros(len(p), np.int8), np.full(len(p), np.inf)
    for side in (-1, 1):  # every point measured against the arm, as before the skip
        if not bm.placed(side):
            continue
        t, u = bm.image_to_sleeve(side, p)
        mine = (np.abs(u) <= 1.0) & (t >= flatlay.SLEEVE_FROM / 2) & (np.abs(u) < best)
        want[mine] = np.stack([side * (flatlay.SLEEVE_X + u[mine] * flatlay.SLEEVE_W), t[mine] * flatlay.SLEEVE_LEN], 1)
        want_part[mine], best[mine] = side, np.abs(u[mine])
    assert (want_part != 0).sum() > 1000  # the arms are there to find
    np.testing.assert_array_equal(part, want_part)
    np.testing.assert_array_equal(flat, want)


def test_the_flat_grid_of_a_big_box_matches_every_pixel_computed(people):
    _, parse = people["camera"]
    bm = flatlay.BodyMap(parse.body)
    rows, cols = slice(40, 480), slice(60, 470)
    exact, exact_part = bm.flat_grid(rows, cols)  # 440 x 410: under GRID_PIXELS, every pixel
    gy, gx = np.mgrid[rows, cols]
    ref, ref_part = bm.flat_of(np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float64) + 0.5)
    np.testing.assert_array_equal(exact.reshape(-1, 2), ref)
    np.testing.assert_array_equal(exact_part.ravel(), ref_part)
    old = flatlay.GRID_PIXELS
    try:
        flatlay.GRID_PIXELS = 440 * 410 // 16  # a grid 4x coarser each way
        # A new map: `bm` keeps its exact grid and would hand back a slice of it (the next test).
        coarse, coarse_part = flatlay.BodyMap(parse.body).flat_grid(rows, cols)
    finally:
        flatlay.GRID_PIXELS = old
    assert (coarse_part == exact_part).mean() > 0.98  # parts differ only along their borders
    err = np.abs(coarse - exact).max(-1)  # torso lengths; a pixel of the 32 px drawing is ~0.06
    for part in (-1, 0, 1):  # two grid cells away from a part's border the coordinates interpolate
        away = cv2.erode((exact_part == part).astype(np.uint8), np.ones((17, 17), np.uint8)) > 0
        assert away.sum() > 1000
        # (a sleeve's coordinates jump where the nearer bone changes, at the elbow: measured 0.3 there)
        assert (err[away].max() if part == 0 else np.percentile(err[away], 95)) < 0.02, part
    assert (err > 0.06).mean() < 0.03  # the seams: measured 1.6% of the box


def test_a_box_inside_an_exact_grid_is_a_slice_of_it(people, monkeypatch):
    _, parse = people["camera"]
    bm = flatlay.BodyMap(parse.body)
    bm.flat_grid(slice(40, 480), slice(60, 470))  # exact: under GRID_PIXELS
    inner = (slice(100, 300), slice(90, 400))
    computed = []
    flat_of = bm.flat_of
    monkeypatch.setattr(bm, "flat_of", lambda p: computed.append(len(p)) or flat_of(p))
    flat, part = bm.flat_grid(*inner)
    assert computed == []  # a slice of the grid already made
    fresh, fresh_part = flatlay.BodyMap(parse.body).flat_grid(*inner)
    np.testing.assert_array_equal(flat, fresh)
    np.testing.assert_array_equal(part, fresh_part)
    outside, _ = bm.flat_grid(slice(0, 200), slice(60, 470))  # reaches above the grid: computed
    assert computed == [200 * 410]
    np.testing.assert_array_equal(outside, flatlay.BodyMap(parse.body).flat_grid(slice(0, 200), slice(60, 470))[0])
