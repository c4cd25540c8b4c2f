"""The legs a shortened garment uncovers (closet.legs): pure functions on arrays, no server."""

import numpy as np
import pytest

from closet import color, legs


def test_trousers_are_dark_neutral_cloth_with_the_old_garments_folds():
    """legs.trousers: the old garment's darker quartile (at most TROUSERS_L), neutral, plus
    TROUSERS_FOLDS of the lightness the old garment had at those pixels, about its median."""
    garment_l = np.linspace(40, 80, 101)  # an orange suit's lightness: darker quartile 50 -> capped at 30
    here_l = np.array([50.0, 60.0, 70.0])
    lab = color.to_lab(legs.trousers(garment_l, here_l)[None])[0]
    assert np.allclose(lab[:, 0], legs.TROUSERS_L + legs.TROUSERS_FOLDS * (here_l - 60.0), atol=1.0)
    assert np.abs(lab[:, 1:]).max() < 1.0  # neutral
    dark_garment = np.full(50, 12.0)  # a black coat keeps its own darkness
    assert color.to_lab(legs.trousers(dark_garment, np.array([12.0]))[None])[0][0, 0] == pytest.approx(12.0, abs=1.0)


def test_the_trousers_seen_are_not_the_shoes():
    """A dark jacket over dark trousers of its colour is one garment down to the ankles; below it the
    photo shows white shoes. Cut to a top, the legs were repainted in the soles' colour (L 90); the
    band the trousers are read in now stops TROUSERS_ABOVE_FEET above the feet (`legs.feet`), and
    with nothing left there the legs are dark neutral cloth. Where the photo shows trousers between
    the hem and the feet, they are read as before."""
    h, w, cols, bottom = 160, 40, slice(10, 30), 130  # the person ends at row 130 (the feet)
    person = np.zeros((h, w), bool)
    person[:bottom, cols] = True
    image = np.full((h, w, 3), 128, np.uint8)
    image[:bottom, cols] = (20, 22, 30)  # dark clothes
    image[118:bottom, cols] = (235, 235, 235)  # white shoes
    uncovered = np.zeros((h, w), bool)
    uncovered[60:100, cols] = True
    shoes = legs.feet(person, slice(0, w), slice(0, h), 20)
    assert shoes[111:bottom, cols].all() and not shoes[:110].any() and not shoes[bottom:].any()
    down_to_the_shoes = np.zeros((h, w), bool)
    down_to_the_shoes[:118, cols] = True
    seen = legs.seen_trousers(image, down_to_the_shoes, person, uncovered, 30)
    assert seen[0] > 80  # before: the soles
    assert legs.seen_trousers(image, down_to_the_shoes, person, uncovered, 30, shoes) is None
    to_the_thighs = np.zeros((h, w), bool)
    to_the_thighs[:80, cols] = True
    jeans = legs.seen_trousers(image, to_the_thighs, person, uncovered, 30, shoes)
    assert jeans is not None and jeans[0] < 15
    # a person who runs off the photo's bottom shows no feet
    assert not legs.feet(np.ones((h, w), bool), slice(0, w), slice(0, h), 20).any()


def _coat_over_jeans(sliver: bool = False):
    """A coat (rows 20-119, columns 30-129) over two legs in striped jeans below it (columns 45-74
    and 85-114, down to row 189), the street between them; cut to row 80, the rows 80-119 of the
    coat are to be filled. `sliver`: two columns of person left of the coat's edge below it, as a
    slanted hem leaves."""
    h, w = 200, 160
    image = np.full((h, w, 3), (150, 150, 140), np.uint8)  # the street
    old = np.zeros((h, w), bool)
    old[20:120, 30:130] = True
    image[old] = (200, 190, 170)  # a beige coat
    person = old.copy()
    jeans = np.zeros((h, w), bool)
    jeans[120:190, 45:75] = jeans[120:190, 85:115] = True
    stripes = np.where((np.arange(w) // 3) % 2 == 0, 1.0, 0.6)[None, :, None]
    image[jeans] = (np.array([60, 90, 150]) * stripes * np.ones((h, 1, 1)))[jeans].astype(np.uint8)
    person |= jeans
    if sliver:
        person[120:140, 28:30] = True
    fill = np.zeros((h, w), bool)
    fill[80:120, 30:130] = True
    return image, old, person, fill, jeans, 100.0  # a torso 100 px long


def test_the_legs_below_a_coat_are_carried_up_under_it():
    """legs.carried_legs: a fur coat cut short over jeans was a flat slab of one navy. The legs the
    photo shows below the old hem are carried up under it now, in their own stripes on their lit
    colour; beside and between them the coat's outline takes the same cloth (inpainted, it was a
    smear). A two-pixel sliver of person beside the hem is not a leg."""
    image, old, person, fill, jeans, length = _coat_over_jeans()
    reach = 40
    lit = legs.seen_trousers(image, old, person, fill, reach)
    rgb = legs.carried_legs(image, old, person, fill, reach, length, lit)
    assert rgb is not None and len(rgb) == fill.sum()
    out = image.copy()
    out[fill] = rgb
    lab_out, lab_jeans = color.to_lab(out), color.to_lab(image)
    # the jeans' colour, as lit (their brighter stripes), beside the legs too
    bright = lab_jeans[jeans][lab_jeans[jeans][:, 0] > np.median(lab_jeans[jeans][:, 0])]
    assert np.abs(lab_out[fill].mean(axis=0) - bright.mean(axis=0)).max() < 2
    beside = lab_out[80:120, 30:42].reshape(-1, 3)
    assert np.hypot(*(beside[:, 1:].mean(axis=0) - bright.mean(axis=0)[1:])) < 4

    # their stripes, continued across the old hem: as many across each leg (a flat fill has none)
    def stripes(profile: np.ndarray) -> int:
        return int((np.diff(np.sign(profile - profile.mean())) != 0).sum())

    for cols in (slice(45, 75), slice(85, 115)):
        above, below = lab_out[110:120, cols, 0].mean(axis=0), lab_jeans[120:130, cols, 0].mean(axis=0)
        assert stripes(below) >= 8 and abs(stripes(above) - stripes(below)) <= 2
        assert above.std() > 0.7 * below.std()
    # a sliver of person beside the hem changes nothing
    image, old, person, fill, _, length = _coat_over_jeans(sliver=True)
    assert np.array_equal(legs.carried_legs(image, old, person, fill, reach, length, lit), rgb)


def test_a_shirt_tail_over_dark_trousers_is_not_carried_up_as_legs():
    """Below a red hoodie a white shirt's tail hangs over dark trousers. Read as one cloth, their
    lit colour was the shirt's white and the two mirrored into each other: a white block of
    scallops where the hoodie was cut short. A band that is not one cloth (its halves more than
    TROUSERS_ONE_CLOTH apart in L) gives no trousers colour: the legs are then dark neutral cloth."""
    image, old, person, fill, jeans, length = _coat_over_jeans()
    reach = 40
    assert legs.seen_trousers(image, old, person, fill, reach) is not None  # striped jeans: one cloth
    image[jeans] = (20, 20, 26)  # dark trousers...
    tail = jeans.copy()
    tail[140:] = False
    image[tail] = (235, 235, 232)  # ...under a white shirt's tail
    assert legs.seen_trousers(image, old, person, fill, reach) is None
    image[tail] = (60, 60, 70)  # a shadow, not a tail: one cloth again
    assert legs.seen_trousers(image, old, person, fill, reach) is not None


def test_no_leg_below_the_coat_carries_nothing():
    """A coat running to the photo's bottom (or down to the shoes) shows no legs to carry up."""
    image, old, person, fill, _, length = _coat_over_jeans()
    old[20:, 30:130] = True
    person = old.copy()
    lit = np.array([30.0, 0.0, -20.0])
    assert legs.carried_legs(image, old, person, fill, 40, length, lit) is None
