"""closet.render on the package photos with their checked keypoints: the swap keeps every pixel
outside the garments, bares arms for short sleeves, lengthens a hem, keeps colour (the flat lay
itself: test_flatlay.py)."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from closet import color, flatlay, legs, lighting, render
from closet import garment as gm
from closet.ensemble import cut_json
from tests.support.renders import drawing, paint, untouched


def test_a_person_in_front_hides_the_hem_and_nothing_is_drawn_over_them(people):
    """A seated woman's head and shoulders in front of the shirt of the man standing behind her (a
    card-table photo): his garment, cut around her, measured as a crop top where she began, and
    every target drew his shirt over her face. People in front (GarmentParse.in_front) hide the
    garment as the photo's edge does, and the new garment is never drawn over them. The
    cameraman's coat, a band across it from 0.5 to 0.8 torso lengths held by someone in front."""
    import dataclasses

    _, parse = people["camera"]
    h, w = parse.mask.shape
    ys, xs = np.mgrid[0:h, 0:w]
    down = flatlay.BodyMap(parse.body).image_to_torso(np.stack([xs.ravel(), ys.ravel()], 1) + 0.5)[:, 1].reshape(h, w)
    front = (down > 0.5) & (down < 0.8)
    behind = dataclasses.replace(parse, mask=parse.mask & ~front, in_front=front)
    assert flatlay.measure(behind.mask, parse.body).hem < 0.55  # read as a crop top
    shape = flatlay.measure(behind.mask, parse.body, hidden=front)
    assert shape.hem >= flatlay.HIP_HEM
    dress = render.new_garment(behind, shape, flatlay.Shape(shape.reach, 1.75))
    assert dress.sum() > parse.mask.sum() // 2 and not (dress & front).any()
    view = flatlay.canonical_view(parse.mask.astype(np.uint8)[..., None].repeat(3, -1) * 200, behind.mask,
                                 parse.body, 32, hidden=front)
    assert view.shape == shape


def _tshirt_grown_long(people, photo_people, arm_shift: float = 0.0, sleeve: float = 0.35):
    """The astronaut cut to a tshirt (`sleeve` 0: sleeveless), parsed again with her left elbow seen (pose found it lying on
    her suit in the tshirt photo) and her right elbow and wrist `arm_shift` body widths to her
    side (pose's bones off the middle of the arm it sees), then re-cut to long sleeves. Returns
    the tshirt, the pixels it bared, the second parse and the pullover."""
    image, parse = people["astronaut"]
    person = photo_people["astronaut"][1]
    view = flatlay.canonical_view(image, parse.mask, parse.body, 32)
    tshirt = render.render_swap(image, parse, drawing(flatlay.Shape({-1: sleeve, 1: sleeve}, view.shape.hem), view.frame),
                                view, person=person)
    bared = parse.mask & ~tshirt.result_mask
    kp = photo_people["astronaut"][0].people[0].copy()
    kp[13, -1] = 0.99  # her left elbow, behind the helmet in the photo, seen
    kp[[14, 16], :2] -= arm_shift * parse.body.scale * parse.body.across  # her right arm, to her right
    again = gm.garment_mask(tshirt.image, person, kp)
    given = flatlay.canonical_view(tshirt.image, again.mask, again.body, 32)
    out = render.render_swap(tshirt.image, again, drawing(flatlay.Shape({-1: 1.0, 1: 1.0}, given.shape.hem), given.frame),
                             given, "pullover", person=person)
    return tshirt, bared, again, out


def test_a_bared_forearm_grows_its_sleeve_back(people, photo_people):
    """A tshirt made a pullover. Her left arm read as a long sleeve, the flat lay gives both sleeves
    the longer reach, and the bared forearm stayed bare (4% of it covered). Each arm now grows from
    its own sleeve's end where the photo shows skin beyond it, along its bones: the cloth grown on
    the straight line from the shoulder to the wrist missed her bent elbow (40%)."""
    image, parse = people["astronaut"]
    tshirt, bared, again, out = _tshirt_grown_long(people, photo_people)
    assert bared.sum() > 5000
    assert again.body.left_arm.seen and (again.skin_pixels & bared).sum() > 0.8 * bared.sum()
    assert flatlay.measure(again.mask, again.body).reach == {-1: 1.0, 1: 1.0}  # the flat lay: her left sleeve's reach
    assert (out.result_mask & bared).sum() > 0.9 * bared.sum()
    # and the cloth grown there is the suit's, not skin
    grown = color.to_lab(out.image[out.result_mask & bared][None])[0]
    suit = color.to_lab(image[parse.mask & tshirt.result_mask][None])[0]
    assert np.hypot(*(np.median(grown, 0)[1:] - np.median(suit, 0)[1:])) < 8


@pytest.mark.parametrize("sleeve", [0.35, 0.0], ids=["tshirt", "sleeveless"])
def test_a_sleeve_grown_long_continues_cloth_along_the_arm(people, photo_people, sleeve):
    """A tshirt's sleeve grown long takes its cloth from the sleeve's own end, mirrored along the
    arm; a sleeveless top's, from the strip of the torso most like plain cloth, turned along the
    arm (`render.sleeve_texture`). Mirrored across the ragged edge from the nearest cloth, it was a
    staircase of copies: the grown cloth's lightness gradient was 1.6 (tshirt) and 1.7
    (sleeveless) times the suit's own sleeve there in the photo (median Sobel magnitude), now 0.92
    and 0.90."""
    image, _ = people["astronaut"]
    _, bared, _, out = _tshirt_grown_long(people, photo_people, sleeve=sleeve)
    grown = cv2.erode((out.result_mask & bared).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert grown.sum() > 4000

    def gradient(rgb: np.ndarray) -> np.ndarray:
        lightness = color.to_lab(rgb)[..., 0]
        return np.hypot(cv2.Sobel(lightness, cv2.CV_32F, 1, 0), cv2.Sobel(lightness, cv2.CV_32F, 0, 1))

    assert np.median(gradient(out.image)[grown]) < 1.25 * np.median(gradient(image)[grown])


def test_a_sleeve_grown_over_an_arm_wider_than_its_band_folds_back_across_it(people, photo_people):
    """A grown sleeve's cloth lies at the same place across the arm as on the sleeve it continues,
    within SLEEVE_SOURCE_U of its radius. Pixels farther out (a sleeve grown over an arm wider than
    its band, and the arm's skin beside it) were clipped to that edge: every one took the same
    cloth down the arm, in streaks (a close-up of a man in a grey tshirt made a coat). They now fold
    back across the band: few of their sources lie at its edge. Her right arm's bones are put off
    the middle of the arm, as pose puts them at times: its outer side lies beyond the band."""
    _, bared, again, out = _tshirt_grown_long(people, photo_people, arm_shift=0.1)
    image = out.image
    h, w = again.mask.shape
    bm = flatlay.BodyMap(again.body)
    _, part = bm.flat_grid(slice(0, h), slice(0, w))
    grown = out.result_mask & bared
    coded = flatlay.with_unknown(again.mask, again.in_front)
    ends = {side: flatlay.sleeve_run(coded, bm, side)[0] for side in (-1, 1)}
    assert ends[-1] > flatlay.SLEEVE_FROM + render.SLEEVE_SOURCE / 2  # her right sleeve continues its own cloth
    sources = np.full((h, w, 2), -1, np.int32)
    render.sleeve_texture(image.copy(), image, again.mask, grown, bm, part, ends, (0, 0), sources=sources)
    ys, xs = np.nonzero(grown & (sources[..., 0] >= 0))
    t, u = bm.image_to_sleeve(-1, np.stack([xs + 0.5, ys + 0.5], 1))
    beyond = (np.abs(u) > render.SLEEVE_SOURCE_U + 0.1) & (t > ends[-1])
    assert beyond.sum() > 200
    src = sources[ys[beyond], xs[beyond]]
    _, src_u = bm.image_to_sleeve(-1, np.stack([src[:, 1] + 0.5, src[:, 0] + 0.5], 1))
    at_edge = np.abs(np.abs(src_u) - render.SLEEVE_SOURCE_U) < 0.1
    assert at_edge.mean() < 0.5, at_edge.mean()


def test_a_torso_strip_is_read_on_the_photo_only(people):
    """A sleeve grown where the garment had none of its own takes a strip of the torso, over its
    rows of cloth (`render._cloth_rows`). Grace Hopper's photo ends 0.36 torso lengths below her
    shoulders: the strip's rows past it were clipped to the photo's last row, read as cloth, and a
    sleeve grown from them was that row drawn down the arm (a close-up of a man in a tshirt, his
    hips far below the frame, made a coat). Rows off the photo are not cloth."""
    _, parse = people["grace_hopper"]
    bm = flatlay.BodyMap(parse.body)
    h = parse.mask.shape[0]
    clean = cv2.erode(parse.mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    for mid in (-0.2, 0.0, 0.2):
        top, bottom = render._cloth_rows(bm, clean, -1, mid, (0, 0))
        assert top < bottom
        corners = render._torso_strip(bm, -1, mid, np.array([0.0, 1.0]), np.array([bottom, bottom]))
        assert (corners[:, 1] < h).all(), (mid, bottom)


def test_a_camisoles_grown_sleeve_is_one_cloth_not_a_patchwork(people, photo_people):
    """A camisole made a pullover: its sleeves take a strip of the torso, turned along the arm
    (`render.sleeve_texture`), and the strip's top rows lie on the skin above its neckline. The
    pixels whose source was not cloth kept the cloth mirrored across the garment's edge, and so did
    the arm's skin beside the sleeve band: in a side-on party photo, blocks of two textures with a
    staircase between. Here the sleeveless astronaut's suit is cut below 0.4 torso lengths (her
    chest above it skin), and every grown pixel is drawn on a sentinel: 5.8% of the sleeves kept it,
    now none (a pixel whose source is not cloth takes its nearest neighbour's that is), and the
    strip runs over the rows of cloth below the neckline only (`render._cloth_rows`)."""
    _, bared, again, out = _tshirt_grown_long(people, photo_people, sleeve=0.0)
    image = out.image
    h, w = again.mask.shape
    bm = flatlay.BodyMap(again.body)
    flat, part = bm.flat_grid(slice(0, h), slice(0, w))
    camisole = again.mask & ((part != 0) | (flat[..., 1] > 0.4))
    grown = out.result_mask & ~again.mask & ~gm.hand_region(image.shape, again.body, past_wrist=True)
    on_arm = np.zeros_like(grown)
    ys, xs = np.nonzero(grown)
    for side in (-1, 1):
        t, u = bm.image_to_sleeve(side, np.stack([xs + 0.5, ys + 0.5], 1))
        on_arm[ys, xs] |= (np.abs(u) <= render.ARM_SKIN_REACH) & (t >= flatlay.SLEEVE_FROM)
    grown &= on_arm
    assert grown.sum() > 4000
    sentinel = np.zeros_like(image)
    sentinel[...] = (255, 0, 255)
    ends = {side: 0.0 for side in (-1, 1)}
    texture = render.sleeve_texture(sentinel, image, camisole, grown, bm, part, ends, (0, 0))
    kept = np.all(texture[grown] == (255, 0, 255), axis=-1)
    assert kept.mean() < 0.005, kept.mean()
    clean = cv2.erode(camisole.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    for mid in (-0.2, -0.1, 0.0):  # (her left side lies behind the helmet)
        top, bottom = render._cloth_rows(bm, clean, -1, mid, (0, 0))
        assert 0.4 - 0.025 <= top < bottom <= render.TORSO_SOURCE_ROWS[1], (mid, top, bottom)


def test_cloth_grown_over_bare_skin_is_lit_as_the_skin_was(people, photo_people, monkeypatch):
    """A sleeve grown over a bare arm was the cloth's texture drawn along the arm, as light on the
    arm's shadowed side as on its lit one: a flat tube (a man in a grey tshirt made a pullover, his
    arm raised). The astronaut bared to a tshirt and grown back to long sleeves: over the arm's
    skin, the sleeve's lightness now follows the skin's (`COVER_SHADING`); with it off, far less."""
    def lit_as_skin() -> float:
        tshirt, _, again, out = _tshirt_grown_long(people, photo_people)
        covered = out.result_mask & again.skin_pixels & ~again.mask
        assert covered.sum() > 4000
        skin = color.to_lab(tshirt.image)[..., 0][covered]
        cloth = color.to_lab(out.image)[..., 0][covered]
        return float(np.corrcoef(skin, cloth)[0, 1])

    shaded = lit_as_skin()
    monkeypatch.setattr(render, "COVER_SHADING", 0.0)
    flat = lit_as_skin()
    assert shaded > 0.6 and shaded > flat + 0.4, (shaded, flat)  # 0.77 and 0.07 when written


def test_a_sleeve_grown_over_an_arm_covers_the_skin_beside_the_bones(people, photo_people):
    """Pose's bones need not run down the middle of the arm the photo shows. With her right elbow
    and wrist put 0.1 body widths to her side, the sleeve band around them left 9% of the skin the
    tshirt bared there uncovered (555 of 6,145 pixels); the arm's skin within ARM_SKIN_REACH sleeve
    radii of the bones is now covered too (under 1%)."""
    image, parse = people["astronaut"]
    _, bared, again, out = _tshirt_grown_long(people, photo_people, arm_shift=-0.1)
    arm = parse.body.right_arm
    right_arm = gm.capsule(image.shape, arm.shoulder, arm.elbow, 0.4 * parse.body.scale) \
        | gm.capsule(image.shape, arm.elbow, arm.wrist, 0.4 * parse.body.scale)
    skin = again.skin_pixels & bared & right_arm & ~gm.hand_region(image.shape, again.body)
    assert skin.sum() > 4000
    assert (skin & ~out.result_mask).sum() < 0.02 * skin.sum()


def test_a_coats_ring_is_of_its_main_cloth(people, photo_people):
    """A coat's ring beside its torso is mirrored from its main cloth alone, whatever that cloth's
    share. The astronaut's orange suit is 0.66 of her garment (with the black turtleneck inside her
    helmet ring, her white cords and badges), under `main_cloth`'s 0.75, so the ring by her collar
    was mirrored from all of it: the turtleneck and the helmet clamp's shadow as dark streaks in the
    orange (0.054 of the ring under L 25). Now under 0.02."""
    image, parse = people["astronaut"]
    person = photo_people["astronaut"][1]
    view = flatlay.canonical_view(image, parse.mask, parse.body, 32)
    out = render.render_swap(image, parse, drawing(flatlay.Shape(view.shape.reach, view.shape.hem), view.frame),
                             view, "coat", person=person)
    ring = out.result_mask & ~parse.mask & ~person
    assert ring.sum() > 200
    lightness = color.to_lab(out.image)[..., 0][ring]
    assert (lightness < 25).mean() < 0.02


def test_a_coat_stands_off_the_body(people, photo_people):
    """A coat is worn over clothes: wider as well as longer (flatlay.CATEGORY_EASE). Grace Hopper's
    `coat` covers a ring beside her jacket's torso over the background behind her, up to the ease
    away, and never her head; `pullover` covers none of it. Inside the coat, beside that ring, no
    pixel keeps the background's light blue (the jacket's soft edge, once its mask no longer ends
    there, is repainted as cloth)."""
    from closet.stages.composite import dilate

    image, parse = people["grace_hopper"]
    person = photo_people["grace_hopper"][1]
    view = flatlay.canonical_view(image, parse.mask, parse.body, 32)
    shape = flatlay.Shape(view.shape.reach, view.shape.hem)
    outs = {target: render.render_swap(image, parse, drawing(shape, view.frame), view, target, person=person)
            for target in ("coat", "pullover")}
    assert outs["coat"].shape.ease == flatlay.CATEGORY_EASE["coat"] and outs["pullover"].shape.ease == 0
    ring = {t: o.result_mask & ~parse.mask & ~person for t, o in outs.items()}
    assert ring["pullover"].sum() == 0
    ease_px = flatlay.CATEGORY_EASE["coat"] * parse.body.scale
    assert ring["coat"].sum() > 2 * ease_px  # (112 pixels: beside her shoulder; her arms hide her sides)
    assert not (ring["coat"] & ~dilate(parse.mask | person, int(ease_px) + 2)).any()
    assert not (outs["coat"].result_mask & parse.head & ~parse.mask).any()
    lightness = color.to_lab(outs["coat"].image)[..., 0]
    jacket = float(np.median(lightness[parse.mask]))
    wider = outs["coat"].result_mask & ~outs["pullover"].result_mask
    # within the coat, off its own anti-aliased edge
    near = ~dilate(~outs["coat"].result_mask, 2) & dilate(wider, 4)
    light = near & (lightness > jacket + 25)  # the blue background is 40-60 L above the navy jacket
    assert light.sum() < 0.02 * wider.sum(), (light.sum(), wider.sum())
    # A person mask that holds her head and her jacket's top rows only (a close-up's salient object:
    # a man's head and neck, a quarter of his shirt) cannot tell the jacket's edge from the
    # background: no ring (196 pixels of one here without that rule).
    rows = np.nonzero(parse.mask.any(axis=1))[0]
    quarter = rows[0] + (rows[-1] - rows[0]) // 4
    top = person & ~parse.mask
    top[:quarter] = person[:quarter]
    assert 0 < (parse.mask & top).sum() < render.EASE_ON_PERSON * parse.mask.sum()
    cut = {t: render.render_swap(image, parse, drawing(shape, view.frame), view, t, person=top).result_mask
           for t in ("coat", "pullover")}
    assert not (cut["coat"] & ~cut["pullover"]).any()


def test_a_grown_sleeve_stops_at_the_wrist(people):
    """A sleeve grown along the arm ends at the wrist; the hand beyond it is never dressed. Pose put
    zidane.jpg's grey-haired man's arm along the other man's pointing hand, and `coat` grew dark
    cloth over the finger. Grown from none to long here, the sleeves put 277 pixels of cloth on the
    cameraman's gloves, more than a hand's radius past his wrists, and 2 on the astronaut's hand."""
    grown = 0
    for name, (image, parse) in people.items():
        bm = flatlay.BodyMap(parse.body)
        hem = flatlay.measure(parse.mask, parse.body, parse.in_front, parse.skin_pixels).hem
        new = render.new_garment(parse, flatlay.Shape({-1: 0.0, 1: 0.0}, hem), flatlay.Shape({-1: 1.0, 1: 1.0}, hem),
                                 bm, 2, image)
        added = new & ~parse.mask
        assert not (added & gm.hand_region(image.shape, parse.body, past_wrist=True)).any(), name
        grown += int(added.sum())
    assert grown > 1000  # the sleeves still grow


def test_a_grown_sleeve_adds_no_cloth_above_the_shoulders(people):
    """Side by side with the astronaut, Grace Hopper's sleeves (her arms run off the photo) measured
    short, 0.32, so `tshirt` grew them to 0.35: a band around the bones from the shoulder joint,
    which reaches above the shoulder. The torso's added cloth had no top, so the band's part over
    the torso was kept: a dark blob of jacket over the flag above her shoulder (5,998 pixels here,
    the astronaut 353). The torso takes added cloth only where a longer hem adds it."""
    grown = 0
    for name, (image, parse) in people.items():
        bm = flatlay.BodyMap(parse.body)
        hem = flatlay.measure(parse.mask, parse.body, parse.in_front, parse.skin_pixels).hem
        short = flatlay.Shape({-1: 0.32, 1: 0.32}, hem)
        for reach in (0.35, 1.0):
            new = render.new_garment(parse, short, flatlay.Shape({-1: reach, 1: reach}, hem), bm, 2, image)
            ys, xs = np.nonzero(new & ~parse.mask)
            flat, part = bm.flat_of(np.stack([xs + 0.5, ys + 0.5], 1).astype(np.float64))
            assert ((part == 0) & (flat[:, 1] < 0)).sum() == 0, (name, reach)
            grown += int((part != 0).sum()) if reach == 1.0 else 0
    assert grown > 1000  # the sleeves still grow along the arms


def test_a_garment_re_cut_to_its_own_shape_gains_no_cloth(people):
    """Grace Hopper's sleeves and hem run off the photo; measured, they are exactly the long
    sleeves and the hip hem, so a pullover made a pullover adds nothing (float steps of 1 - 2e-16
    used to read as shorter than the target's 1.0: cloth was added over her shoulders)."""
    image, parse = people["grace_hopper"]
    view = flatlay.canonical_view(image, parse.mask, parse.body, 32)
    assert view.shape.reach == {-1: 1.0, 1: 1.0} and view.shape.hem == flatlay.HIP_HEM
    out = render.render_swap(image, parse, drawing(view.shape, view.frame), view, "pullover")
    assert (out.result_mask & ~parse.mask).sum() == 0


def continued_below(parse: gm.GarmentParse, rows: int) -> gm.GarmentParse:
    """`parse` on its photo continued by `rows` more rows at the bottom (none of them garment)."""
    import dataclasses

    def pad(m: np.ndarray) -> np.ndarray:
        return np.concatenate([m, np.zeros((rows, m.shape[1]), bool)])

    return dataclasses.replace(parse, mask=pad(parse.mask), torso=pad(parse.torso), arms=pad(parse.arms),
                               head=pad(parse.head), skin_pixels=pad(parse.skin_pixels), work=None)


@pytest.fixture(scope="module")
def swaps(people):
    """The astronaut re-cut to long sleeves, short sleeves, and a long sleeveless dress."""
    image, parse = people["astronaut"]
    view = flatlay.canonical_view(image, parse.mask, parse.body, 32)
    shapes = {"long": flatlay.Shape({-1: 1.0, 1: 1.0}, view.shape.hem),
              "short": flatlay.Shape({-1: 0.35, 1: 0.35}, view.shape.hem),
              "dress": flatlay.Shape({-1: 0.0, 1: 0.0}, 1.75)}
    return image, parse, view, {k: render.render_swap(image, parse, drawing(s, view.frame), view)
                                for k, s in shapes.items()}


def test_a_longer_hem_hangs_behind_the_hands(swaps):
    """A longer hem is not drawn over a hand: the astronaut's dress covered the glove in her lap
    with mirrored cloth (and on bus.jpg, the black-coat man's hand and the phone in it)."""
    _, parse, _, outs = swaps
    added = outs["dress"].result_mask & ~parse.mask
    assert added.sum() > 50  # the hem is longer (her suit runs off the photo: 110 pixels)
    assert not (added & gm.hand_region(parse.mask.shape, parse.body)).any()  # 110 of 297 on her glove before


def test_a_longer_hem_leaves_what_the_garment_holds_above_its_edge(swaps):
    """What the old garment surrounds above its lower edge (a badge, a buckle, a ring: not its
    cloth) stays as it is when the hem goes longer: it is on the garment or in front of it."""
    image, parse, view, _ = swaps
    body = parse.body
    centre = (body.left_hip + body.right_hip) / 2 - body.axis * 0.08 * body.length  # in the hem's overlap
    hole = np.zeros(parse.mask.shape, np.uint8)
    cv2.circle(hole, tuple(int(round(v)) for v in centre), int(0.04 * body.length), 1, -1)
    hole = hole.astype(bool) & parse.mask
    assert hole.sum() > 100 and (parse.mask & (np.arange(hole.shape[0])[:, None] > np.nonzero(hole)[0].max())).any()
    holed = dataclasses.replace(parse, mask=parse.mask & ~hole)
    dress = render.render_swap(image, holed, drawing(flatlay.Shape({-1: 0.0, 1: 0.0}, 1.75), view.frame), view)
    assert not dress.result_mask[hole].any()


def test_pixels_outside_the_garments_are_untouched(swaps):
    """The shape render keeps every pixel outside the old and the new garment but the old garment's
    own edge where it became background (RenderResult.rim, within `rim_reach` of it): stricter than the
    served promise (outside their dilation, which the appearance render's blend needs)."""
    image, parse, _, outs = swaps
    for out in outs.values():
        outside = untouched(image, out, parse.mask)
        assert outside.mean() > 0.3
        assert np.array_equal(out.image[outside], image[outside])


def test_the_old_garments_edge_goes_with_it(people):
    """Grace Hopper's jacket made sleeveless: beside her bared arms it becomes the background. Its
    mask stops short of its anti-aliased edge, and that edge stayed as a dark ghost of the jacket's
    outline (median L 6.5 one pixel out, against 47 in the fill beside it). Now the fill takes it.
    (Since gaps in the garment below the hips are closed, its mask holds more of that edge: one
    pixel out reads L 25, still well under the fill's.)"""
    image, parse = people["grace_hopper"]
    view = flatlay.canonical_view(image, parse.mask, parse.body, 32)
    out = render.render_swap(image, parse, drawing(flatlay.Shape({-1: 0.0, 1: 0.0}, 1.75), view.frame), view)
    ys, xs = np.nonzero(parse.mask & ~out.result_mask)
    cover, _ = render.bare_arm(flatlay.BodyMap(parse.body), np.stack([xs + 0.5, ys + 0.5], 1))
    fill = np.zeros(parse.mask.shape, bool)
    fill[ys[cover <= 0], xs[cover <= 0]] = True
    assert fill.sum() > 1000
    ring = (cv2.dilate(fill.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0) & ~parse.mask & ~out.result_mask
    assert ring.sum() > 200
    lightness = color.to_lab(out.image)[..., 0]
    assert np.median(color.to_lab(image)[..., 0][ring]) < 0.5 * np.median(lightness[fill])  # the jacket's dark edge, as sent
    assert np.median(lightness[ring]) > 0.8 * np.median(lightness[fill])


def test_a_sleeves_edge_past_its_mask_goes_with_it(people, photo_people):
    """A loose sleeve is wider than the parse's arm capsule: its outer edge lay outside the garment
    mask, inside the person mask, and `dress` left it as a navy strip 2-3 px wide beside a woman's
    bared arm, past what the old garment's rim (`edge_rim`) reaches. Grace Hopper's jacket, its mask
    narrowed by `rim_reach` along the sleeves' sides that face the world, made sleeveless: the strip
    goes, as the fill beside it (render.cloth_edge)."""
    image, parse = people["grace_hopper"]
    person = photo_people["grace_hopper"][1]
    h, w = parse.mask.shape
    flat, part = flatlay.BodyMap(parse.body).flat_grid(slice(0, h), slice(0, w))
    sleeves = render.sleeve_cloth(flat, part)
    reach = render.rim_reach(image.shape)
    assert reach > render.edge_rim(image.shape)
    strip = parse.mask & sleeves & render.dilate(render._outside(person), reach)
    narrowed = gm.GarmentParse(mask=parse.mask & ~strip, body=parse.body, skin=parse.skin, torso=parse.torso,
                               arms=parse.arms, head=parse.head, skin_pixels=parse.skin_pixels)
    view = flatlay.canonical_view(image, narrowed.mask, narrowed.body, 32)
    out = render.render_swap(image, narrowed, drawing(flatlay.Shape({-1: 0.0, 1: 0.0}, 1.75), view.frame), view,
                             person=person)
    ys, xs = np.nonzero(narrowed.mask & ~out.result_mask)
    cover, _ = render.bare_arm(flatlay.BodyMap(parse.body), np.stack([xs + 0.5, ys + 0.5], 1))
    fill = np.zeros(parse.mask.shape, bool)
    fill[ys[cover <= 0], xs[cover <= 0]] = True
    # beside the fill, not beside the cloth that stays (the armhole's edge stays with it)
    beside = strip & render.dilate(fill, reach) & ~render.dilate(out.result_mask, reach)
    assert fill.sum() > 300
    assert beside.sum() > 200
    lightness = color.to_lab(out.image)[..., 0]
    dark = 0.5 * np.median(lightness[fill])
    assert np.mean(color.to_lab(image)[..., 0][beside] < dark) > 0.9  # the jacket, as sent
    assert np.mean(lightness[beside] < dark) < 0.1  # (half of it stayed dark: the rim reached 3 px of 6)
    # On a blurred photo that edge is the blur's ramp, left to the feathered render, and on a gray
    # one lightness alone cannot tell it from a dark coat's side: nothing changes 2 px past
    # `edge_rim` (painted as the fill, it was a light line under a bared forearm; 125 pixels
    # here). The render works reduced: its mask's edge, enlarged, lies up to 2 px off.
    gray = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    unknown = dataclasses.replace(narrowed, skin=dataclasses.replace(narrowed.skin, known=False))
    for photo, cut in ((cv2.GaussianBlur(image, (0, 0), 3.0), narrowed), (gray, unknown)):
        out = render.render_swap(photo, cut, drawing(flatlay.Shape({-1: 0.0, 1: 0.0}, 1.75), view.frame), view,
                                 person=person)
        far = ~render.dilate(cut.mask | out.result_mask, render.edge_rim(image.shape) + 2)
        assert np.array_equal(out.image[far], photo[far])


def test_a_short_sleeves_hem_goes_with_it_off_the_bared_arm(swaps):
    """A polo's short sleeve made shorter still: its hem, and the shadow it cast on the arm below,
    lie just outside the garment mask on the arm's own skin, and stayed as a dark line across the
    bared arm where the sleeve had ended (a held-out close-up, `tshirt`). Now the fill takes them,
    from the skin beyond. The astronaut cut to short sleeves, her forearms then bare skin, with a
    2-pixel dark line under each sleeve's end, made sleeveless."""
    image, parse, view, outs = swaps
    short = outs["short"]
    bare = parse.mask & ~short.result_mask  # her forearms, painted skin by the short cut
    ring = cv2.dilate(short.result_mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool) \
        & ~short.result_mask & bare & parse.arms
    assert ring.sum() > 30
    photo = short.image.copy()
    photo[ring] = (45, 35, 35)  # the hem's edge and its shadow
    cut = dataclasses.replace(parse, mask=short.result_mask, skin_pixels=parse.skin_pixels | bare, work=None)
    cut_view = flatlay.canonical_view(photo, cut.mask, cut.body, 32)
    out = render.render_swap(photo, cut, drawing(flatlay.Shape({-1: 0.0, 1: 0.0}, cut_view.shape.hem), cut_view.frame),
                             cut_view)
    rows, cols, _, skin = out.painted
    bared = np.zeros(ring.shape, bool)
    bared[rows, cols] = skin >= 0.5
    line = ring & cv2.dilate(bared.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)  # beside the bared arm
    assert line.sum() > 60
    lightness = color.to_lab(out.image)[..., 0]
    beyond = bare & ~cv2.dilate(ring.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool) & parse.arms
    assert np.median(color.to_lab(photo)[..., 0][line]) < 0.5 * np.median(lightness[beyond])  # the dark line, as sent
    assert np.median(lightness[line]) > 0.8 * np.median(lightness[beyond])


def test_a_portraits_arms_run_off_the_photo_and_their_sleeves_are_cut(people):
    """Grace Hopper's elbows are below the frame: her arms run off the photo. Made sleeveless, her
    upper arms show in the face's skin colour (no target used to change her at all)."""
    image, parse = people["grace_hopper"]
    assert all(a.off_photo and not a.seen for a in (parse.body.left_arm, parse.body.right_arm))
    view = flatlay.canonical_view(image, parse.mask, parse.body, 32)
    out = render.render_swap(image, parse, drawing(flatlay.Shape({-1: 0.0, 1: 0.0}, view.shape.hem), view.frame), view)
    bared = parse.mask & ~out.result_mask
    assert bared.sum() > 0.05 * parse.mask.sum()
    lab = color.to_lab(out.image)[bared]
    assert np.hypot(*(np.median(lab[:, 1:], axis=0) - parse.skin.lab[1:])) < 10


def test_an_arm_whose_wrist_runs_off_the_photo_is_placed(photo_people):
    """The astronaut cut at her chest: BlazePose sees her right elbow in the photo at visibility 0.29
    (0.76 uncut), because her forearm runs off the bottom. Her arms counted as neither seen nor
    running off the photo, and no target changed her sleeves at all; an arm whose wrist (or
    elbow) is off the photo, from a seen shoulder, now runs off it, as a portrait's do."""
    scene, person = photo_people["astronaut"]
    kp = scene.people[0].copy()
    kp[14, -1] = 0.29  # her right elbow, as BlazePose sees it on the cut photo
    h = int(kp[16, 1]) - 10  # cut above her right wrist, below her right elbow
    assert kp[14, 1] < h
    image, person = scene.image[:h], person[:h]
    parse = gm.garment_mask(image, person, kp)
    arm = parse.body.right_arm
    assert arm.off_photo and not arm.seen
    assert not gm.garment_mask(scene.image, photo_people["astronaut"][1], kp).body.right_arm.off_photo  # uncut
    view = flatlay.canonical_view(image, parse.mask, parse.body, 32)
    out = render.render_swap(image, parse, drawing(flatlay.Shape({-1: 0.0, 1: 0.0}, view.shape.hem), view.frame), view)
    upper_arm = gm.capsule(image.shape, arm.shoulder, arm.elbow, 0.1 * parse.body.scale)
    assert (upper_arm & parse.mask & ~out.result_mask).sum() > 0.3 * (upper_arm & parse.mask).sum()


def test_a_sleeve_end_the_photo_shows_beats_one_off_the_photo(people):
    """Grace Hopper's sleeves cut short on one arm, where the photo shows the cut; the other arm
    leaves the photo first. The flat lay is symmetric, and the seen end decides: short sleeves (it
    read long, as if the hidden sleeve went on to the wrist)."""
    image, parse = people["grace_hopper"]
    view = flatlay.canonical_view(image, parse.mask, parse.body, 32)
    assert view.shape.reach[-1] == view.shape.reach[1] == pytest.approx(1.0)  # both run off the photo
    bm = flatlay.BodyMap(parse.body)
    h = image.shape[0]
    on_photo = [bm.sleeve_to_image(side, np.array([0.4]), np.zeros(1))[0, 1] < h for side in (-1, 1)]
    assert on_photo == [True, False]  # her right arm's cut shows, her left arm leaves the photo first
    ys, xs = np.nonzero(parse.mask)
    flat, part = bm.flat_of(np.stack([xs + 0.5, ys + 0.5], 1))
    beyond = (part == -1) & (flat[:, 1] > 0.35)  # her right sleeve past a short sleeve's end
    cut = parse.mask.copy()
    cut[ys[beyond], xs[beyond]] = False
    assert cut.sum() < parse.mask.sum()
    reach = flatlay.measure(cut, parse.body).reach
    assert reach[-1] == reach[1] == pytest.approx(0.35, abs=0.05)


@pytest.mark.parametrize("shown_min", [render.ARM_SHOWN_MIN, 0.0])
def test_an_arm_the_photo_barely_shows_beyond_its_cut_keeps_its_sleeve(people, photo_people, monkeypatch, shown_min):
    """Grace Hopper cut just below her shoulders, as a head-and-shoulders portrait is: her arms run
    off the photo a little past the armhole. Bared there, each arm was a rectangle of skin in the
    photo's corner, cut by the frame and the torso; a sleeveless cut now keeps those sleeves. (With
    ARM_SHOWN_MIN 0 the rectangles come back.)"""
    monkeypatch.setattr(render, "ARM_SHOWN_MIN", shown_min)
    scene, person = photo_people["grace_hopper"]
    kp = scene.people[0]
    body = people["grace_hopper"][1].body
    h = int(max(body.left_arm.shoulder[1], body.right_arm.shoulder[1]) + 0.12 * body.scale)
    image, person = scene.image[:h], person[:h]
    parse = gm.garment_mask(image, person, kp)
    bm = flatlay.BodyMap(parse.body)
    assert all(a.off_photo and not a.seen for a in (parse.body.left_arm, parse.body.right_arm))
    assert all(render.glimpsed(bm, side, 0.0, image.shape[:2]) == (shown_min > 0) for side in (-1, 1))
    view = flatlay.canonical_view(image, parse.mask, parse.body, 32)
    out = render.render_swap(image, parse, drawing(flatlay.Shape({-1: 0.0, 1: 0.0}, view.shape.hem), view.frame), view)
    bared = parse.mask & ~out.result_mask
    if shown_min > 0:
        assert bared.sum() < 0.005 * parse.mask.sum()
        assert not render.glimpsed(flatlay.BodyMap(people["grace_hopper"][1].body), -1, 0.0, scene.image.shape[:2])
    else:
        assert bared.sum() > 0.02 * parse.mask.sum()


def test_of_two_arms_pose_does_not_see_both_keep_their_sleeves_when_one_barely_shows(photo_people):
    """A portrait's sleeveless cut bared one arm at the frame's edge as a strip of skin beside the
    other arm's sleeve, which the photo barely shows (Sean Connery in a tuxedo, Obama at a podium).
    Of two arms pose does not see, both keep their sleeves when one is glimpsed
    (`render.kept_sleeves`). Grace Hopper cut at her right shoulder: that arm barely shows, the
    other does; `dress` now bares neither. An arm pose sees is still bared beside a glimpsed one:
    the astronaut cut at her left shoulder."""
    scene, person = photo_people["grace_hopper"]
    kp = np.array(scene.people[0], dtype=np.float64)
    x0 = int(gm.body_from_keypoints(kp, scene.image.shape).right_arm.shoulder[0])
    image, person = scene.image[:, x0:], person[:, x0:]
    kp[:, 0] -= x0
    parse = gm.garment_mask(image, person, kp)
    bm = flatlay.BodyMap(parse.body)
    sleeveless = {-1: 0.0, 1: 0.0}
    assert [render.glimpsed(bm, side, 0.0, image.shape[:2]) for side in (-1, 1)] == [True, False]
    assert not (parse.body.right_arm.seen or parse.body.left_arm.seen)
    assert render.kept_sleeves(bm, sleeveless, image.shape[:2]) == {-1, 1}
    view = flatlay.canonical_view(image, parse.mask, parse.body, 32)
    out = render.render_swap(image, parse, drawing(flatlay.Shape(sleeveless, view.shape.hem), view.frame), view,
                             "dress", person=person)
    assert (parse.mask & ~out.result_mask).sum() < 0.005 * parse.mask.sum()
    assert out.kept == {-1, 1}  # and the answer says so
    assert cut_json((out.shape, out.kept))["shape"]["kept"] == ["right", "left"] and cut_json(None) == {}
    # one arm seen: it is bared, the glimpsed one kept
    scene, person = photo_people["astronaut"]
    kp = scene.people[0]
    x1 = int(gm.body_from_keypoints(kp, scene.image.shape).left_arm.shoulder[0]) + 1
    image = scene.image[:, :x1]
    parse = gm.garment_mask(image, person[:, :x1], kp)
    assert parse.body.right_arm.seen and not parse.body.left_arm.seen
    assert render.kept_sleeves(flatlay.BodyMap(parse.body), sleeveless, image.shape[:2]) == {1}


def test_short_sleeves_bare_the_forearm_in_skin_colour(swaps):
    image, parse, _, outs = swaps
    arm = parse.body.right_arm  # her right arm hangs in view (the left is behind the helmet)
    forearm = gm.capsule(image.shape, arm.elbow * 0.5 + arm.wrist * 0.5, arm.wrist, 0.05 * parse.body.scale)
    forearm &= parse.mask
    assert forearm.sum() > 50
    short, long = outs["short"], outs["long"]
    assert long.result_mask[forearm].mean() > 0.9 and short.result_mask[forearm].mean() < 0.1
    lab = color.to_lab(short.image)[forearm]
    assert np.hypot(*(np.median(lab[:, 1:], axis=0) - parse.skin.lab[1:])) < 10  # the face's colour


def test_a_skin_hued_patch_on_the_chest_is_not_the_arms_own_skin(photo_people):
    """An arm folded across the chest has its capsule over the tie: a suit's gold stripes, skin-hued
    and brighter than the hand, were the arm's own lit skin (`garment.arm_lit`), and `dress` bared
    the arms in gold. The arm's own skin is what runs off the torso block or onto a hand
    (`garment.own_arm_skin`). The astronaut with a gold band on her chest, under her arm's capsule,
    made sleeveless: her bared arm is in her face's colour, not the band's."""
    scene, person = photo_people["astronaut"]
    kp = scene.people[0]
    parse = gm.garment_mask(scene.image, person, kp)
    under_arm = parse.arms & parse.torso & parse.mask & ~gm.hand_region(scene.image.shape, parse.body)
    band = under_arm & (np.abs(np.arange(scene.image.shape[0])[:, None] - 300) < 25)
    assert band.sum() > 2000
    image = scene.image.copy()
    lit = np.float32(parse.skin.lit)
    gold = np.float32([min(lit[0] + 5, 95), lit[1] - 6, lit[2] + 16])
    shade = color.to_lab(image)[..., 0][band]
    image[band] = color.to_rgb8(np.stack([np.clip(gold[0] + 0.3 * (shade - shade.mean()), 0, 100),
                                          np.full_like(shade, gold[1]), np.full_like(shade, gold[2])], 1)[None])[0]
    banded = gm.garment_mask(image, person, kp)
    assert (banded.skin_pixels & banded.arms & ~banded.mask & band).sum() > 0.9 * band.sum()  # read as skin
    view = flatlay.canonical_view(image, banded.mask, banded.body, 32)
    out = render.render_swap(image, banded, drawing(flatlay.Shape({-1: 0.0, 1: 0.0}, view.shape.hem), view.frame),
                             view, "dress", person=person)
    bared = banded.mask & ~out.result_mask & ~band
    assert bared.sum() > 5000
    painted = np.median(color.to_lab(out.image[bared][None])[0][:, 1:], axis=0)
    assert np.hypot(*(painted - lit[1:])) < 5 < np.hypot(*(painted - gold[1:]))
    # the pieces that run off the torso or onto a hand are the arm's own; one inside the torso is not
    torso = np.zeros((40, 40), bool)
    torso[:, 10:30] = True
    hands = np.zeros_like(torso)
    hands[30:, 12:18] = True
    skin = np.zeros_like(torso)
    skin[5:10, 20:35] = True  # an upper arm's skin, off the torso's side
    skin[20:25, 14:20] = True  # a tie's stripe
    skin[28:34, 12:16] = True  # a hand
    own = gm.own_arm_skin(skin, torso, hands, np.ones_like(skin))
    assert own[5:10, 20:35].all() and own[28:34, 12:16].all() and not own[20:25].any()


def test_a_low_necklines_chest_is_not_the_arms_own_skin(people):
    """The Mona Lisa's bared arms were painted in her lit chest's colour (L 80), not her hands' (57):
    pose put her arms over her dress, their capsules held her chest above its low neckline, and that
    skin runs off the torso block, up to the neck. The arm's own skin runs off the block beside the
    shoulders (`garment.beside_shoulders`), or onto a hand."""
    torso = np.zeros((40, 40), bool)
    torso[10:, 10:30] = True  # the block, from the shoulders' line down
    beside = np.zeros_like(torso)
    beside[:, :8] = beside[:, 32:] = True
    skin = np.zeros_like(torso)
    skin[4:14, 14:26] = True  # the chest above a low neckline, running up to the neck
    skin[2:14, 27:38] = True  # a raised upper arm, off the block beside the shoulder
    own = gm.own_arm_skin(skin, torso, np.zeros_like(torso), beside)
    assert own[2:14, 27:38].all() and not own[4:14, 14:26].any()
    assert gm.own_arm_skin(skin, torso, np.zeros_like(torso), np.ones_like(torso))[4:14, 14:26].all()  # before
    # beside the shoulders: farther across the body from its middle line than the shoulders are
    _, parse = people["astronaut"]
    body = parse.body
    out = gm.beside_shoulders((512, 512), body)
    for shoulder, outward in ((body.right_shoulder, -1), (body.left_shoulder, 1)):
        inner, outer = shoulder - outward * 3 * body.across, shoulder + outward * 3 * body.across
        assert not out[int(inner[1]), int(inner[0])] and out[int(outer[1]), int(outer[0])]
    assert not out[int(body.neck[1]), int(body.neck[0])]


def test_bared_skin_takes_the_colour_of_the_arms_own_skin(photo_people):
    """Bared skin was painted in the face's lit colour. A short-sleeved woman's forearm, in warm
    light, was tan and her face pale pink: `dress` bared her upper arm as a pink tube beside the
    tan forearm. Where the photo shows the arm's own skin (`garment.arm_lit`), bared skin takes its
    colour. The astronaut, her right forearm painted warmer than her face (its a*b* 17 off the face's
    lit side), made sleeveless: her bared upper arm's colour is the forearm's, not the face's."""
    scene, person = photo_people["astronaut"]
    image = scene.image.copy()
    body = gm.body_from_keypoints(scene.people[0], image.shape)
    face = gm.skin_from_face(image, body)
    arm = body.right_arm
    forearm = gm.capsule(image.shape, arm.elbow, arm.wrist, 0.11 * body.scale) & person
    lab = color.to_lab(image)
    lightness = lab[..., 0][forearm]
    warm = np.stack([np.clip(face.lit[0] - 5 + 0.5 * (lightness - lightness.mean()), 0, 100),
                     np.full_like(lightness, face.lit[1] + 14), np.full_like(lightness, face.lit[2] + 10)], 1)
    image[forearm] = color.to_rgb8(warm[None].astype(np.float32))[0]
    parse = gm.garment_mask(image, person, scene.people[0])
    view = flatlay.canonical_view(image, parse.mask, parse.body, 32)
    out = render.render_swap(image, parse, drawing(flatlay.Shape({-1: 0.0, 1: 0.0}, view.shape.hem), view.frame),
                             view, "dress", person=person)
    upper = gm.capsule(image.shape, arm.shoulder * 0.7 + arm.elbow * 0.3, arm.elbow, 0.05 * body.scale)
    bared = upper & parse.mask & ~out.result_mask & ~forearm
    assert bared.sum() > 300
    painted = np.median(color.to_lab(out.image[bared][None])[0][:, 1:], axis=0)
    assert np.hypot(*(painted - warm[0, 1:])) < 6 < np.hypot(*(painted - np.float32(face.lit[1:])))
    # too little of the arm's own skin shown: the face's colour
    assert gm.arm_lit(np.float32([[60, 30, 30]] * 10), face.lit, 11) == face.lit
    assert gm.arm_lit(np.float32([[60, 30, 30]] * 8 + [[30, 10, 10]] * 4), face.lit, 11) == (60.0, 30.0, 30.0)


def test_a_bared_arm_is_a_tapering_rounded_cylinder(people):
    """Across the arm, at a third and at nine tenths of the way to the wrist: narrower toward the
    wrist, darker toward the sides than along the middle, and a soft edge one pixel wide. Along it,
    an arm's outline, not a cone's: narrowest at the elbow, the forearm wider below it."""
    _, parse = people["astronaut"]
    bm = flatlay.BodyMap(parse.body)
    side = -1  # her right arm hangs in view
    across = np.linspace(-1.0, 1.0, 801)  # sleeve radii
    widths = []
    for t in (0.3, 0.9):
        pts = bm.sleeve_to_image(side, np.full_like(across, t), across)
        cover, light = render.bare_arm(bm, pts, lighting.FRONT)
        step = bm.radius * (across[1] - across[0])  # px between samples
        widths.append(cover.sum() * step)
        middle, sides = light[np.abs(across) < 0.1], light[(cover > 0.5) & (cover < 1)]
        assert middle.min() > 0.99 and sides.max() < 0.85
        assert ((cover > 0) & (cover < 1)).sum() * step == pytest.approx(2.0, abs=0.3)  # two soft edges, 1 px each
    expected = [2 * np.interp(t, *render.BARE_ARM_PROFILE) * parse.body.scale for t in (0.3, 0.9)]
    np.testing.assert_allclose(widths, expected, rtol=0.05)
    assert widths[1] < 0.8 * widths[0]
    along = {}
    for t in (0.2, 0.45, 0.65):  # off the elbow joint itself, where the bend widens any section
        pts = bm.sleeve_to_image(side, np.full_like(across, t), across)
        along[t] = render.bare_arm(bm, pts)[0].sum()
    assert along[0.45] < 0.9 * along[0.2] and along[0.65] > along[0.45]


def test_a_fold_is_no_lighter_than_the_cloths_lit_side(people, monkeypatch):
    """At a card table a standing man's gray shirt, parsed with blocks of it taken for skin and a
    neighbour's hair in it, had a wide lightness spread, and the generator's light folds lit a
    fifth of it past its lightest cloth, to white. The shading now stops at the old garment's
    LIGHTEST percentile (pixels already lighter keep theirs). The cameraman's coat with such a
    spread (60 L) under a drawing of light folds: none of it lit past that, where a clamp at the
    garment's own maximum (percentile 100) let 3% of it be."""
    image, parse = people["camera"]
    view = flatlay.canonical_view(image, parse.mask, parse.body, 32)
    monkeypatch.setattr(render, "cloth_spread", lambda lightness: 60.0)
    before = color.to_lab(image)[..., 0]
    lightest = np.percentile(before[parse.mask], render.LIGHTEST)
    inner = cv2.erode(parse.mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)

    def lit_past(out: render.RenderResult) -> float:
        kept = inner & out.result_mask
        return float((color.to_lab(out.image)[..., 0][kept] > np.maximum(lightest, before[kept]) + 2).mean())

    folds = drawing(flatlay.Shape(view.shape.reach, view.shape.hem), view.frame, gray=60.0)
    bands = (np.arange(32) // 3) % 2 == 1
    folds[:, bands] = np.where(folds[:, bands] > 0, 255, 0)  # light folds down the garment
    clamped = lit_past(render.render_swap(image, parse, folds, view))
    monkeypatch.setattr(render, "LIGHTEST", 100.0)
    loose = lit_past(render.render_swap(image, parse, folds, view))
    assert clamped < 0.001 and loose > 0.01


def test_a_bared_arm_shades_the_cloth_beside_it(swaps, monkeypatch):
    """The cloth next to a bared arm is darker (ARM_SHADOW at the skin's edge, fading over
    ARM_SHADOW_REACH body widths): without it the astronaut's bared arm lay on her suit like a
    cut-out. Farther away the cloth is as it was."""
    image, parse, view, outs = swaps
    dress = outs["dress"]
    monkeypatch.setattr(render, "ARM_SHADOW", 0.0)
    unshaded = render.render_swap(image, parse, drawing(flatlay.Shape({-1: 0.0, 1: 0.0}, 1.75), view.frame), view)
    np.testing.assert_array_equal(unshaded.result_mask, dress.result_mask)
    rows, cols, _, arm = dress.painted
    skin = np.zeros(parse.mask.shape, bool)
    skin[rows, cols] = arm >= 0.5  # the bared arm
    near = cv2.distanceTransform((~skin).astype(np.uint8), cv2.DIST_L2, 3)
    reach = render.ARM_SHADOW_REACH * parse.body.scale
    beside = dress.result_mask & (near >= 2) & (near < reach)
    far = dress.result_mask & (near > 4 * reach)
    assert beside.sum() > 100
    lightness = color.to_lab(dress.image)[..., 0], color.to_lab(unshaded.image)[..., 0]
    assert np.median(lightness[1][beside] - lightness[0][beside]) > 2  # CIE L; 0 without the shade
    np.testing.assert_array_equal(dress.image[far], unshaded.image[far])


def test_a_bared_arm_is_lit_from_where_the_face_is_lit(people):
    """Under a light from the photo's right, a bared forearm is brighter on its right half than on
    its left; under a light from the front, the same on both; the face's light is what shades it:
    the astronaut with her face lit from the right only (its left five sixths dimmed to 30%) gets
    her `short` swap's bared forearm brighter on the right."""
    image, parse = people["astronaut"]
    bm = flatlay.BodyMap(parse.body)
    side = -1  # her right arm hangs in view
    across = np.linspace(-0.95, 0.95, 401)
    pts = bm.sleeve_to_image(side, np.full_like(across, 0.8), across)
    right = pts[:, 0] > np.median(pts[:, 0])
    for light, gap in ((lighting.Light((0.87, 0.0, 0.5), 0.3), 0.15), (lighting.FRONT, None)):
        cover, radiance = render.bare_arm(bm, pts, light)
        on = cover > 0.99
        halves = radiance[on & right].mean() - radiance[on & ~right].mean()
        assert halves > gap if gap else abs(halves) < 0.01, (light, halves)

    rows, cols, face = gm.lit_face(image.shape, parse.body)
    xs = np.nonzero(face)[1]
    dim = image.copy()
    box = dim[rows, cols]
    shadowed = face & (np.arange(face.shape[1])[None, :] < np.percentile(xs, 83))
    box[shadowed] = (box[shadowed] * 0.3).astype(np.uint8)
    side_lit = dataclasses.replace(parse, skin=gm.skin_from_face(dim, parse.body))
    assert side_lit.skin.light.direction[0] > 0.5
    view = flatlay.canonical_view(image, parse.mask, parse.body, 32)
    short = drawing(flatlay.Shape({-1: 0.35, 1: 0.35}, view.shape.hem), view.frame)
    lightness = {}
    for name, p in (("front", parse), ("side", side_lit)):
        out = render.render_swap(image, p, short, view)
        bared = parse.mask & ~out.result_mask
        ys, xs = np.nonzero(bared)
        cover, _ = render.bare_arm(bm, np.stack([xs + 0.5, ys + 0.5], 1))
        t, u = bm.image_to_sleeve(side, np.stack([xs + 0.5, ys + 0.5], 1))
        arm = (cover > 0.99) & (t > 0.6) & (t < 0.95)
        lab = color.to_lab(out.image[ys[arm], xs[arm]][None])[0]
        inner = u[arm] < 0  # her right arm's inner half faces the photo's right
        lightness[name] = np.median(lab[inner, 0]) - np.median(lab[~inner, 0])
    assert lightness["side"] > lightness["front"] + 8, (lightness, side_lit.skin.light)


def test_an_arm_pose_does_not_see_hangs_behind_the_chest(people):
    """Grace Hopper's arms run off the photo unseen; BlazePose puts her right elbow below it, and
    the bared arm drawn around that bone reached onto her chest: 956 of her name tag's 1,704 light
    pixels were bared. An arm pose does not see hangs at the body's side, partly behind the chest:
    the torso block hides it, and the tag, on the bodice the dress keeps, stays (17 bared)."""
    image, parse = people["grace_hopper"]
    box = (slice(484, 516), slice(79, 167))  # the tag, read off the photo
    tag = np.zeros(parse.mask.shape, bool)
    tag[box] = (image[box].mean(axis=-1) > 150) & (np.ptp(image[box], axis=-1) < 30)  # its light gray
    assert tag.sum() > 1500
    view = flatlay.canonical_view(image, parse.mask, parse.body, 32)
    out = render.render_swap(image, parse, drawing(flatlay.Shape({-1: 0.0, 1: 0.0}, 1.75), view.frame), view)
    bared = parse.mask & ~out.result_mask
    assert bared.sum() > 5000  # her arms are bared beside it
    assert (bared & tag).sum() < 0.02 * tag.sum(), (bared & tag).sum()
    changed = np.abs(out.image.astype(int) - image).max(axis=-1) > 24  # more than the bodice's shading
    assert (changed & tag).sum() < 0.02 * tag.sum(), (changed & tag).sum()


def test_a_sleeveless_cut_follows_an_armhole(people):
    """Made sleeveless, the bodice keeps the top of the arm's inner side down to the armpit
    (ARMHOLE) and bares its outer side from the shoulder: a curved armhole, not a straight cut."""
    image, parse = people["astronaut"]
    view = flatlay.canonical_view(image, parse.mask, parse.body, 32)
    bm = flatlay.BodyMap(parse.body)
    new = render.new_garment(parse, view.shape, flatlay.Shape({-1: 0.0, 1: 0.0}, view.shape.hem), bm)
    side = -1  # her right arm hangs in view
    t = np.linspace(flatlay.SLEEVE_FROM / 2 + 0.01, 0.8 * render.ARMHOLE, 6)

    def worn(u: float) -> np.ndarray:
        x, y = np.round(bm.sleeve_to_image(side, t, np.full_like(t, u)) - 0.5).astype(int).T
        assert parse.mask[y, x].all()  # the old sleeve was there
        return new[y, x]

    assert worn(-0.8).all() and not worn(0.8).any()


def test_bared_skin_takes_the_garments_light_not_its_print(swaps):
    """Bared skin carries a little of the old garment's light (its folds), but a printed patch on
    the sleeve it replaces (a name tag, a ribbon bar) does not show through as a pale disc."""
    image, parse, view, outs = swaps
    arm = parse.body.right_arm  # her right arm hangs in view
    centre = np.round(arm.elbow * 0.5 + arm.wrist * 0.5).astype(int)
    printed = image.copy()
    cv2.circle(printed, tuple(int(c) for c in centre), int(0.12 * parse.body.scale), (255, 255, 255), -1)
    dress = drawing(flatlay.Shape({-1: 0.0, 1: 0.0}, 1.75), view.frame)
    out = render.render_swap(printed, parse, dress, view)
    bared = cv2.erode((parse.mask & ~out.result_mask).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    spot = bared & gm.capsule(image.shape, centre, centre, 0.05 * parse.body.scale)
    assert spot.sum() > 50
    plain, with_print = color.to_lab(outs["dress"].image)[..., 0], color.to_lab(out.image)[..., 0]
    spread = render.cloth_spread(color.to_lab(image)[..., 0][parse.mask])
    assert np.abs(with_print[spot] - plain[spot]).max() <= render.SKIN_SHADING * spread + 1.0


def test_bared_skin_has_the_photos_grain(swaps):
    """Bared skin is not a flat paint: its gray about a 1 px blur spreads as much as the face's
    does (Skin.grain), so the arm has the photo's own texture."""
    image, parse, _, outs = swaps
    out = outs["short"]
    bared = cv2.erode((parse.mask & ~out.result_mask).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    assert bared.sum() > 200 and out.painted is not None
    got = gm.measure_grain(out.image, (slice(None), slice(None), bared))
    assert parse.skin.grain > 0.5 and 0.6 * parse.skin.grain < got < 1.6 * parse.skin.grain


def test_a_coarse_faces_grain_is_capped(swaps):
    """A face whose fine texture is mostly its features (a small, bearded, sharpened face reads
    14-15 gray levels) gives painted skin at most GRAIN_MAX of grain, not sandpaper."""
    import dataclasses

    image, parse, view, _ = swaps
    coarse = dataclasses.replace(parse, skin=dataclasses.replace(parse.skin, grain=15.0))
    out = render.render_swap(image, coarse, drawing(flatlay.Shape({-1: 0.35, 1: 0.35}, view.shape.hem), view.frame), view)
    bared = cv2.erode((parse.mask & ~out.result_mask).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    assert bared.sum() > 200
    got = gm.measure_grain(out.image, (slice(None), slice(None), bared))
    assert 0.6 * render.GRAIN_MAX < got < 1.15 * render.GRAIN_MAX


def test_painted_pixels_take_the_photos_noise(swaps):
    """In a grainy photo (the astronaut with noise of 12 levels per channel) the pixels the old
    garment uncovers, bared arm and inpainted fill, are as grainy as the photo around them: a
    smooth fill there read as a sticker. Before: 0.54 of the photo's noise; now 0.94."""
    image, parse, view, _ = swaps
    noisy = np.clip(image + np.random.default_rng(0).normal(0, 12, image.shape), 0, 255).astype(np.uint8)
    noise = render.photo_noise(noisy)
    assert noise > 3 * render.photo_noise(image)  # the measure sees the noise, not the photo's edges
    out = render.render_swap(noisy, parse, drawing(flatlay.Shape({-1: 0.0, 1: 0.0}, 1.75), view.frame), view)
    painted = cv2.erode((parse.mask & ~out.result_mask).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    assert painted.sum() > 2000 and out.painted is not None
    got = gm.measure_grain(out.image, (slice(None), slice(None), painted))
    assert 0.7 * noise < got < 1.4 * noise, (got, noise)


def test_a_small_faces_grain_is_less(photo_people):
    """A face a third of the astronaut's size (32 px) reads more fine texture than hers (its eyes
    and shading fill it), and white noise of GRAIN_MAX on an arm that small is sandpaper: its
    painted skin takes grain in proportion to the face's width below GRAIN_FULL_FACE."""
    import dataclasses

    scene, person = photo_people["astronaut"]
    f = 1 / 3
    image = cv2.resize(scene.image, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    small_person = cv2.resize(person.astype(np.uint8), image.shape[1::-1], interpolation=cv2.INTER_NEAREST) > 0
    kp = scene.people[0].copy()
    kp[:, :2] *= f
    parse = gm.garment_mask(image, small_person, kp)
    assert parse.body.face_size < 0.75 * render.GRAIN_FULL_FACE and parse.skin.grain > render.GRAIN_MAX
    view = flatlay.canonical_view(image, parse.mask, parse.body, 32)
    out = render.render_swap(image, parse, drawing(flatlay.Shape({-1: 0.0, 1: 0.0}, 1.75), view.frame), view)
    bared = cv2.erode((parse.mask & ~out.result_mask).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    assert bared.sum() > 100
    want = render.GRAIN_MAX * parse.body.face_size / render.GRAIN_FULL_FACE
    assert render.grain_level(parse.skin.grain, parse.body.face_size) == pytest.approx(want)
    got = gm.measure_grain(out.image, (slice(None), slice(None), bared))
    assert got < 0.85 * render.GRAIN_MAX and got > 0.5 * want
    # a face as wide as GRAIN_FULL_FACE, or wider, keeps the cap
    big = dataclasses.replace(parse.body, face=parse.body.face * 3)
    assert render.grain_level(15.0, big.face_size) == render.GRAIN_MAX
    # The photo's noise floor shrinks with the face too: in a small, noisy photo its fine texture at
    # that scale is mostly detail, and the full floor made a 10-px arm sandpaper.
    noisy = np.clip(image + np.random.default_rng(0).normal(0, 12, image.shape), 0, 255).astype(np.uint8)
    noise = render.photo_noise(noisy)
    assert noise > render.GRAIN_MAX
    out = render.render_swap(noisy, parse, drawing(flatlay.Shape({-1: 0.0, 1: 0.0}, 1.75), view.frame), view)
    got = gm.measure_grain(out.image, (slice(None), slice(None), bared))
    assert got < 0.85 * noise and got > 0.5 * noise * render.small_face(parse.body.face_size), (got, noise)


def test_bared_skin_is_shaded_by_the_cloth_beside_it(swaps, monkeypatch):
    """Skin that leaves a sleeve, or lies beside the torso, is darker next to the cloth (its
    shadow), fading away from it: against the same short-sleeve render without the shadow."""
    image, parse, view, outs = swaps
    shaded = outs["short"]
    monkeypatch.setattr(render, "CLOTH_SHADOW", 0.0)
    flat = render.render_swap(image, parse, drawing(flatlay.Shape({-1: 0.35, 1: 0.35}, view.shape.hem), view.frame), view)
    bared = cv2.erode((parse.mask & ~shaded.result_mask).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    near = cv2.distanceTransform((~shaded.result_mask).astype(np.uint8), cv2.DIST_L2, 3)
    reach = render.CLOTH_SHADOW_REACH * parse.body.scale
    at_cloth, away = bared & (near < 0.5 * reach), bared & (near > 1.5 * reach)
    assert at_cloth.sum() > 30 and away.sum() > 30
    with_shadow, without = color.to_lab(shaded.image)[..., 0], color.to_lab(flat.image)[..., 0]
    darker = 1.0 - with_shadow / np.maximum(without, 1.0)
    assert np.median(darker[at_cloth]) > 0.15 and np.median(darker[away]) < 0.08


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_shaded_skin_keeps_its_colour_as_light_does(people, name):
    """Less light on skin scales its XYZ, so its L* + 16 and its a*b* shrink together: the arm's
    shaded sides and the skin beside the cloth are darker skin, not a more saturated brown paint
    (Grace Hopper's navy jacket shades her bared arms most)."""
    image, parse = people[name]
    view = flatlay.canonical_view(image, parse.mask, parse.body, 32)
    out = render.render_swap(image, parse, drawing(flatlay.Shape({-1: 0.0, 1: 0.0}, 1.75), view.frame), view)
    bared = cv2.erode((parse.mask & ~out.result_mask).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    lab = color.to_lab(cv2.GaussianBlur(out.image, (0, 0), 1.5))[bared]  # the colour, not the grain
    assert len(lab) > 500
    light = lab[:, 0]
    dark, bright = lab[light < np.quantile(light, 0.25)], lab[light > np.quantile(light, 0.75)]
    assert np.median(bright[:, 0]) - np.median(dark[:, 0]) > 8  # it is shaded

    def chroma_per_light(x: np.ndarray) -> float:
        return float(np.median(np.hypot(x[:, 1], x[:, 2]) / (x[:, 0] + 16.0)))

    assert chroma_per_light(dark) == pytest.approx(chroma_per_light(bright), rel=0.15)


def test_legs_under_a_shortened_coat_are_trousers_not_background(people, photo_people):
    """The cameraman's coat runs off the photo; cut to hip length it uncovers legs the photo never
    showed. Inpainting them from around the coat painted a smear of the lawn's light gray over his
    thighs; with the person mask they are dark trousers."""
    image, parse = people["camera"]
    person = photo_people["camera"][1]
    view = flatlay.canonical_view(image, parse.mask, parse.body, 32)
    short = drawing(flatlay.Shape(view.shape.reach, 1.05), view.frame)
    lawn, trousered = (render.render_swap(image, parse, short, view, person=p) for p in (None, person))
    uncovered = parse.mask & ~trousered.result_mask & person
    ys, xs = np.nonzero(uncovered)
    flat, part = flatlay.BodyMap(parse.body).flat_of(np.stack([xs + 0.5, ys + 0.5], 1))
    below = (part == 0) & (flat[:, 1] > trousered.shape.hem)
    assert below.sum() > 2000
    lightness = [np.median(color.to_lab(o.image)[ys[below], xs[below], 0]) for o in (lawn, trousered)]
    assert lightness[0] > 40 and lightness[1] < legs.TROUSERS_L + 5, lightness
    # cloth, not a flat slab: the coat's folds over the legs carry into the trousers
    coat_l = color.to_lab(image)[ys[below], xs[below], 0]
    legs_l = color.to_lab(trousered.image)[ys[below], xs[below], 0]
    assert np.corrcoef(coat_l, legs_l)[0, 1] > 0.8
    outside = untouched(image, trousered, parse.mask)
    assert np.array_equal(trousered.image[outside], image[outside])


@pytest.mark.parametrize("shadow", [0.0, 0.6])
def test_legs_under_a_shortened_coat_are_the_trousers_the_photo_shows(people, photo_people, shadow):
    """A coat over jeans the photo shows below it (bus.jpg's man in a fur coat): cut short, the
    legs it uncovers continue those jeans, not dark neutral cloth (a gray slab over his hips). Made
    here from the cameraman, his coat's bottom edge continued by blue trousers 60 px down. With
    the top `shadow` of the rows read for them in the coat's shadow (bus.jpg's jeans: L 2 there),
    the legs a shorter garment uncovers are out of it: the jeans as lit."""

    image, parse = people["camera"]
    person = photo_people["camera"][1]
    below = 60
    jeans_rgb = (40, 70, 130)
    grown = np.concatenate([image, np.zeros((below, *image.shape[1:]), np.uint8)])
    legs_seen = np.zeros((below, image.shape[1]), bool)
    legs_seen[:, parse.mask[-1] & person[-1]] = True  # under the coat's last row
    assert legs_seen.sum() > 2000
    grown[image.shape[0]:][legs_seen] = jeans_rgb
    in_shadow = legs_seen.copy()
    in_shadow[int(round(shadow * legs.TROUSERS_REACH * parse.body.length)):] = False
    grown[image.shape[0]:][in_shadow] = np.uint8(np.array(jeans_rgb) * 0.3)
    grown_person = np.concatenate([person, legs_seen])
    tall = continued_below(parse, below)
    view = flatlay.canonical_view(grown, tall.mask, tall.body, 32)
    out = render.render_swap(grown, tall, drawing(flatlay.Shape(view.shape.reach, 1.05), view.frame), view,
                             person=grown_person)
    uncovered = tall.mask & ~out.result_mask & grown_person
    ys, xs = np.nonzero(uncovered)
    flat, part = flatlay.BodyMap(tall.body).flat_of(np.stack([xs + 0.5, ys + 0.5], 1))
    on_legs = (part == 0) & (flat[:, 1] > out.shape.hem)
    assert on_legs.sum() > 2000
    got = np.median(color.to_lab(out.image)[ys[on_legs], xs[on_legs]], axis=0)
    jeans = color.to_lab(np.uint8([[jeans_rgb]]))[0, 0]
    assert np.hypot(*(got[1:] - jeans[1:])) < 6 and abs(got[0] - jeans[0]) < 8, (got, jeans)
    # and where the photo shows no trousers (the cameraman as he is), they stay dark neutral
    plain = render.render_swap(image, parse, drawing(flatlay.Shape(view.shape.reach, 1.05), view.frame), view,
                               person=person)
    inside = ys < image.shape[0]
    dark = color.to_lab(plain.image)[ys[on_legs & inside], xs[on_legs & inside]]
    assert np.median(dark[:, 0]) < legs.TROUSERS_L + 5 and np.abs(np.median(dark[:, 1:], axis=0)).max() < 2


def _coat_over_striped_jeans(people, photo_people, fringe: int = 0):
    """The cameraman's coat continued by two legs in striped jeans below it, where it reaches the
    photo's bottom, cut to a top; `fringe` rows of a light coat fringe on the legs right under the
    coat's mask (outside it, as a fuzzy hem's edge is). Returns the render, the scene's row where
    the legs start, and the legs' columns."""
    image, parse = people["camera"]
    person = photo_people["camera"][1]
    below = 60
    grown = np.concatenate([image, np.repeat(image[-1:], below, axis=0)])  # the lawn goes on
    under = parse.mask[-1] & person[-1]
    cols = np.nonzero(under)[0]
    c0, c1 = int(cols.min()), int(cols[np.nonzero(np.diff(cols) > 1)[0][0]] if (np.diff(cols) > 1).any() else cols.max())
    legs_seen = np.zeros((below, image.shape[1]), bool)
    mid = (c0 + c1) // 2
    legs_seen[:, c0 + 2:mid - 3] = legs_seen[:, mid + 3:c1 - 2] = True
    stripes = np.where((np.arange(image.shape[1]) // 3) % 2 == 0, 1.0, 0.55)
    jeans = np.array([45.0, 75.0, 135.0])
    ys, xs = np.nonzero(legs_seen)
    grown[image.shape[0]:][ys, xs] = (jeans[None] * stripes[xs, None]).astype(np.uint8)
    grown[image.shape[0]:image.shape[0] + fringe][legs_seen[:fringe]] = (215, 200, 170)
    grown_person = np.concatenate([person, legs_seen])
    tall = continued_below(parse, below)
    view = flatlay.canonical_view(grown, tall.mask, tall.body, 32)
    out = render.render_swap(grown, tall, drawing(flatlay.Shape(view.shape.reach, 1.05), view.frame), view,
                             person=grown_person)
    h = image.shape[0]
    leg_cols = np.nonzero(legs_seen[0])[0]
    assert (tall.mask[h - 12:h][:, leg_cols] & ~out.result_mask[h - 12:h][:, leg_cols]).all()  # uncovered
    return out, h, leg_cols


def test_legs_under_a_shortened_coat_continue_the_trousers_the_photo_shows(people, photo_people):
    """The cameraman's coat continued by striped jeans below it. Cut short, it used to leave a flat
    fill of the jeans' colour; now the jeans' own stripes go on up under it (closet.legs.carried_legs)."""
    out, h, leg_cols = _coat_over_striped_jeans(people, photo_people)
    lightness = color.to_lab(out.image)[..., 0]
    above, seen = lightness[h - 12:h, leg_cols].mean(axis=0), lightness[h + 20:h + 32, leg_cols].mean(axis=0)
    assert seen.std() > 5
    assert above.std() > 0.5 * seen.std()  # a flat fill has no stripes

    def stripes(profile: np.ndarray) -> int:
        return int((np.diff(np.sign(profile - profile.mean())) != 0).sum())

    assert stripes(seen) > 10 and stripes(above) > 0.6 * stripes(seen)


def test_the_old_hems_fringe_goes_where_legs_come_out_from_under_it(people, photo_people):
    """A fur coat's fringe lies below its mask: cut to a top over the jeans it covered, it stayed as
    a light line between the new legs and the jeans (bus.jpg). Two rows of fringe under the
    cameraman's coat: they take the jeans' colour now, as the legs above them do."""
    out, h, leg_cols = _coat_over_striped_jeans(people, photo_people, fringe=2)
    lab = color.to_lab(out.image)
    fringe, legs_above = lab[h:h + 2, leg_cols].reshape(-1, 3), lab[h - 8:h, leg_cols].reshape(-1, 3)
    jeans = color.to_lab(np.uint8([[[45, 75, 135]]]))[0, 0]
    assert np.median(fringe[:, 0]) < jeans[0] + 5, np.median(fringe, axis=0)  # the fringe read L 80
    assert np.hypot(*(np.median(fringe[:, 1:], axis=0) - np.median(legs_above[:, 1:], axis=0))) < 8


def test_added_sleeve_cloth_covers_the_person(swaps, photo_people):
    """A sleeve grows over an arm, which is the person's: where the person mask does not go (pose
    put an arm in the crowd behind a man on zidane.jpg), no cloth is added. Here the astronaut,
    her sleeves cut short, grows them back, with and without her forearm in the person mask."""
    import dataclasses

    image, parse, view, outs = swaps
    short = outs["short"]
    cut = dataclasses.replace(parse, mask=short.result_mask, work=None)
    cut_view = flatlay.canonical_view(short.image, cut.mask, cut.body, 32)
    cut_view = dataclasses.replace(cut_view, shape=flatlay.Shape({-1: 0.35, 1: 0.35}, cut_view.shape.hem))
    long = drawing(flatlay.Shape({-1: 1.0, 1: 1.0}, cut_view.shape.hem), cut_view.frame)
    person = photo_people["astronaut"][1]
    grown = render.render_swap(short.image, cut, long, cut_view, person=person)
    added = grown.result_mask & ~cut.mask
    assert added.sum() > 500  # over her bared forearm
    arm = parse.body.right_arm  # her right arm hangs in view
    forearm = gm.capsule(image.shape, arm.elbow, arm.wrist, 0.2 * parse.body.scale)
    without = render.render_swap(short.image, cut, long, cut_view, person=person & ~forearm)
    strayed = without.result_mask & ~cut.mask
    assert not (strayed & forearm).any() and (added & forearm).sum() > 300


def test_added_sleeve_cloth_stays_on_the_persons_own_silhouette(swaps, photo_people):
    """The person mask holds everyone: pose put a boy's raised elbow on the red shirt of the child
    beside him (realesrgan's five children, cropped), and his grown sleeve was a green blob on the
    neighbour's shirt, in the person mask but off the boy's own silhouette. Added sleeve cloth keeps
    to the silhouette, taken a little wider (`garment.own_reach`). The astronaut, her sleeves cut
    short, grows them back: over her forearm where her silhouette holds it, not where it does not."""
    import dataclasses

    image, parse, view, outs = swaps
    short = outs["short"]
    person = photo_people["astronaut"][1]
    arm = parse.body.right_arm  # her right arm hangs in view
    forearm = gm.capsule(image.shape, arm.elbow, arm.wrist, 0.2 * parse.body.scale)
    cut = dataclasses.replace(parse, mask=short.result_mask, work=None, silhouette=person)
    cut_view = flatlay.canonical_view(short.image, cut.mask, cut.body, 32)
    cut_view = dataclasses.replace(cut_view, shape=flatlay.Shape({-1: 0.35, 1: 0.35}, cut_view.shape.hem))
    long = drawing(flatlay.Shape({-1: 1.0, 1: 1.0}, cut_view.shape.hem), cut_view.frame)
    grown = render.render_swap(short.image, cut, long, cut_view, person=person)
    assert (grown.result_mask & ~cut.mask & forearm).sum() > 300
    reach = gm.own_reach(person & ~forearm, parse.body)
    off = forearm & ~reach
    assert off.sum() > 300  # her forearm, but for the edge the silhouette is taken wider by
    elsewhere = dataclasses.replace(cut, silhouette=person & ~forearm)
    without = render.render_swap(short.image, elsewhere, long, cut_view, person=person)
    assert not (without.result_mask & ~cut.mask & off).any()


def test_a_longer_hem_may_flare_past_the_person(people, photo_people):
    """Only a longer hem adds cloth off the person: a dress is wider than the legs under it. The
    cameraman's coat, its photo continued by 60 rows of lawn below it, made a dress to 2.0."""

    image, parse = people["camera"]
    person = photo_people["camera"][1]
    below = 60
    grown = np.concatenate([image, np.repeat(image[-1:], below, axis=0)])
    tall = continued_below(parse, below)
    view = flatlay.canonical_view(grown, tall.mask, tall.body, 32)
    off_person = np.concatenate([person, np.zeros((below, person.shape[1]), bool)])
    out = render.render_swap(grown, tall, drawing(flatlay.Shape(view.shape.reach, 2.0), view.frame), view,
                             person=off_person)
    assert (out.result_mask[image.shape[0]:]).sum() > 1000  # below the photo's old edge, off the person


def test_a_longer_hem_covers_the_legs_the_photo_shows():
    """Two legs in a flat-lay grid below the hips, hidden by a table from 1.3 to 1.6 torso lengths:
    the hem covers them and the gap between them, LEG_EASE past them each side, and nothing where
    the table hides them."""
    ys, xs = np.mgrid[1.0:2.0:0.01, -0.6:0.6:0.01]
    flat = np.stack([xs, ys], -1)
    legs = (np.abs(np.abs(xs) - 0.12) < 0.08) & ((ys < 1.3) | (ys > 1.6))
    got = render.over_the_legs(flat, legs, np.ones(legs.shape, bool))
    shown = (ys < 1.3 - 2 * render.LEG_ROW) | (ys > 1.6 + 2 * render.LEG_ROW)
    assert got[shown & (np.abs(xs) <= 0.2 + render.LEG_EASE - 0.01)].all()  # the legs, between and beside them
    assert not got[np.abs(xs) > 0.2 + render.LEG_EASE + 0.01].any()
    assert not got[(ys > 1.3 + 2 * render.LEG_ROW) & (ys < 1.6 - 2 * render.LEG_ROW)].any()
    assert not render.over_the_legs(flat, np.zeros_like(legs), np.ones(legs.shape, bool)).any()


def test_a_longer_hem_is_hidden_where_the_photo_hides_the_legs(people, photo_people):
    """A table in front of people sitting at it hides their legs, and the person mask (a salient-
    object mask) holds the table too: a dress made to the hem's full width there was a slab of
    mirrored cloth over the table and the glasses on it. The person's own silhouette (the pose
    model's) says where the legs show. The cameraman, his photo continued by 200 rows in which his
    legs go on but for a band across them (a table), made a dress."""
    import dataclasses

    image, parse = people["camera"]
    person = photo_people["camera"][1]
    h, below = image.shape[0], 200
    grown = np.concatenate([image, np.repeat(image[-1:], below, axis=0)])
    tall = continued_below(parse, below)
    ys, xs = np.mgrid[0:h + below, 0:image.shape[1]]
    down = flatlay.BodyMap(tall.body).image_to_torso(np.stack([xs.ravel(), ys.ravel()], 1) + 0.5)[:, 1]
    down = down.reshape(ys.shape)  # torso lengths below the shoulders
    own = np.concatenate([person, np.repeat(person[-1:], below, axis=0)])
    own[(down > 1.45) & (down < 1.6)] = False
    view = flatlay.canonical_view(grown, tall.mask, tall.body, 32)
    dress = drawing(flatlay.Shape(view.shape.reach, 2.0), view.frame)
    blind = render.render_swap(grown, tall, dress, view, "dress").result_mask & ~tall.mask
    seen = render.render_swap(grown, dataclasses.replace(tall, silhouette=own), dress, view,
                              "dress").result_mask & ~tall.mask
    hidden = (down > 1.45 + 2 * render.LEG_ROW) & (down < 1.6 - 2 * render.LEG_ROW)  # a row reads the rows beside it
    assert blind[hidden].sum() > 500  # without the silhouette: over the table
    assert seen[hidden].sum() == 0
    assert seen[down > 1.62].sum() > 500  # and the dress shows again below it, over his legs


def test_a_longer_hem_is_not_drawn_over_the_silhouettes_spill(people, photo_people, monkeypatch):
    """BlazePose's silhouette runs a little way onto what lies in front of the body: a podium's lip
    under Obama's jacket, a glass before a seated woman's top. A dress grown over that spill was a
    band of cloth across the podium. The cameraman, his photo continued by 200 rows in which his
    silhouette goes on only 0.05 torso lengths (under SILHOUETTE_SPILL) below his coat: his dress
    reaches no deeper than one LEG_ROW into it (over_the_legs reads the rows beside each), with a
    third or less of the cloth the whole spill took."""
    import dataclasses

    image, parse = people["camera"]
    person = photo_people["camera"][1]
    h, below = image.shape[0], 200
    grown = np.concatenate([image, np.repeat(image[-1:], below, axis=0)])
    tall = continued_below(parse, below)
    own = np.concatenate([person, np.zeros((below, image.shape[1]), bool)])
    spill = int(round(0.05 * tall.body.length))
    own[h:h + spill] = person[-1]
    tall = dataclasses.replace(tall, silhouette=own)
    view = flatlay.canonical_view(grown, tall.mask, tall.body, 32)
    dress = drawing(flatlay.Shape(view.shape.reach, 2.0), view.frame)
    added = render.render_swap(grown, tall, dress, view, "dress").result_mask[h:]
    monkeypatch.setattr(render, "SILHOUETTE_SPILL", 0.0)
    spilled = render.render_swap(grown, tall, dress, view, "dress").result_mask[h:]
    edge = int(np.ceil(render.LEG_ROW * tall.body.length))  # over_the_legs reads the rows beside a row
    assert spilled[spill - 2].sum() > 50 and spilled.sum() > 3 * added.sum()
    assert not added[edge:].any()


def test_a_longer_hem_continues_the_garments_own_sides(people):
    """A dress below a coat wider than HEM_HALF (bus.jpg's fur coat) stepped in at the coat's hem.
    A jacket half a torso length wide each side, on the cameraman, lengthened to a dress: just
    below its old hem the added cloth is as wide as the jacket (0.375 before, against 0.51)."""
    import dataclasses

    _, parse = people["camera"]
    bm = flatlay.BodyMap(parse.body)
    h, w = parse.mask.shape
    ys, xs = np.mgrid[0:h, 0:w]
    flat = bm.image_to_torso(np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64) + 0.5).reshape(h, w, 2)
    wide = paint(parse, flatlay.Shape({-1: 1.0, 1: 1.0}, 1.05)) | (
        (np.abs(flat[..., 0]) <= 0.5) & (flat[..., 1] >= 0.5) & (flat[..., 1] <= 1.05))
    jacket = dataclasses.replace(parse, mask=wide)
    old = flatlay.Shape({-1: 1.0, 1: 1.0}, 1.05)
    dress = render.new_garment(jacket, old, flatlay.Shape({-1: 1.0, 1: 1.0}, 1.75), bm)
    # his front (+x; his back runs off the photo's left edge below the hem)
    at_hem = flat[..., 0][wide & (flat[..., 1] > 0.95)].max()
    assert at_hem > 0.45
    below = (flat[..., 1] > 1.1) & (flat[..., 1] < 1.2) & dress & ~wide
    assert below.sum() > 200 and flat[..., 0][below].max() > at_hem - 0.03, (flat[..., 0][below].max(), at_hem)


def test_the_shapes_differ_and_the_colour_stays(swaps):
    image, parse, _, outs = swaps
    masks = [o.result_mask for o in outs.values()]
    ious = [(a & b).sum() / (a | b).sum() for i, a in enumerate(masks) for b in masks[i + 1:]]
    assert max(ious) < 0.95
    for out in outs.values():  # cloth that stays keeps its chroma (its lightness is the drawing's)
        kept = out.result_mask & parse.mask
        before, after = (color.to_lab(im)[kept][:, 1:].mean(axis=0) for im in (image, out.image))
        assert np.hypot(*(after - before)) < 2.5


def kept_cloth(parse: gm.GarmentParse, out: render.RenderResult) -> np.ndarray:
    """The old garment's pixels that stay cloth, 2 px inside its edges."""
    return cv2.erode((parse.mask & out.result_mask).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_a_generator_that_changes_nothing_changes_no_cloth(people, name):
    """The cloth keeps the photo's pixels, shaded only by what the generator changed: given back
    its own input, every kept pixel stays (Grace Hopper's white shirt front stays white under her
    navy jacket; it used to take the drawing's gray)."""
    image, parse = people[name]
    view = flatlay.canonical_view(image, parse.mask, parse.body, 32)
    out = render.render_swap(image, parse, view.gray, view)
    kept = kept_cloth(parse, out)
    assert kept.sum() > 5000
    diff = np.abs(out.image[kept].astype(int) - image[kept].astype(int)).max(-1)
    assert np.percentile(diff, 99) <= 2


def test_the_generators_change_shades_the_cloth_where_it_is(people):
    """A generator that lightens the top half of its input lightens the top of the cloth against its
    bottom, by that change in the cloth's own lightness units (its spread is FMNIST_STD in the
    view); the cloth's mean lightness stays, as its colour does."""
    image, parse = people["astronaut"]
    view = flatlay.canonical_view(image, parse.mask, parse.body, 32)
    lighter = view.gray.astype(np.float32)
    lighter[:16] = np.where(lighter[:16] > flatlay.CLOTH_GRAY, lighter[:16] + 40, lighter[:16])
    out = render.render_swap(image, parse, np.clip(lighter, 0, 255).astype(np.uint8), view)
    gain = color.to_lab(out.image)[..., 0] - color.to_lab(image)[..., 0]
    kept = kept_cloth(parse, out)
    ys, xs = np.nonzero(kept)
    flat, _ = flatlay.BodyMap(parse.body).flat_of(np.stack([xs + 0.5, ys + 0.5], 1))
    side, top = view.frame
    row = (flat[:, 1] - top) / side * 32  # the frame row each pixel reads
    upper, lower = gain[ys, xs][row < 14], gain[ys, xs][row > 18]
    assert upper.size > 2000 and lower.size > 2000
    expected = 40 * render.cloth_spread(color.to_lab(image)[..., 0][parse.mask]) / flatlay.FMNIST_STD
    step = np.median(upper) - np.median(lower)
    assert 0.6 * expected < step < 1.4 * expected, (step, expected)
    assert abs(gain[kept].mean()) < 0.2 * expected  # lighter above, darker below, the same on the whole


def test_raw_generator_colours_are_gray(people):
    image, parse = people["astronaut"]
    view = flatlay.canonical_view(image, parse.mask, parse.body, 32)
    out = render.render_swap(image, parse, drawing(view.shape, view.frame), view, preserve_color=False)
    lab = color.to_lab(out.image)[out.result_mask & ~parse.head]
    assert np.abs(lab[:, 1:]).mean() < 3  # no chroma: the drawing's own gray


def test_deterministic(people):
    image, parse = people["grace_hopper"]
    view = flatlay.canonical_view(image, parse.mask, parse.body, 32)
    d = drawing(flatlay.Shape({-1: 0.35, 1: 0.35}, 1.1), view.frame)
    a, b = (render.render_swap(image, parse, d, view) for _ in range(2))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.result_mask, b.result_mask)


# -- big photos: smooth fields at a working resolution ---------------------------------------------
def test_a_wide_blur_on_a_reduced_copy_matches_the_direct_one():
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.uniform(0, 100, (900, 700)).astype(np.float32), (0, 0), 6)
    img[300:600, 200:500] += 40.0  # an edge for the blur to spread
    for sigma in (render.BLUR_DIRECT, 30.0, 80.0):
        direct = cv2.GaussianBlur(img, (0, 0), sigma)
        got = render.blur(img, sigma)
        assert got.shape == img.shape and got.dtype == np.float32
        inner = (slice(100, -100), slice(100, -100))  # the borders extrapolate differently
        assert np.abs(got - direct)[inner].max() < (1e-6 if sigma <= render.BLUR_DIRECT else 1.5)


@pytest.mark.parametrize("side", [1500, 400])
def test_a_hole_is_inpainted_on_a_reduced_copy(side):
    """Beyond INPAINT_PIXELS and below it (INPAINT_REDUCTION): a hole in a plain red area is filled
    with that red, nothing of what it hid leaking in."""
    u = side // 15
    red = np.array([200, 40, 40])
    img = np.zeros((side, side, 3), np.uint8)
    img[:, : side // 2] = red
    img[:, side // 2:] = (40, 40, 200)
    hole = np.zeros((side, side), bool)
    hole[5 * u:10 * u, 3 * u:6 * u] = True  # inside the red half
    img[hole] = (0, 255, 0)  # what the hole hides must not leak into the fill
    painted = render.inpaint(img, hole)
    assert painted.shape == img.shape and painted.dtype == np.uint8
    inner = (slice(5 * u + u // 2, 10 * u - u // 2), slice(3 * u + u // 2, 6 * u - u // 2))
    assert painted[inner][..., 1].max() < 100  # none of the hidden green (255)
    # measured: mean 5 and max 8 (1500 px, reduced 3x); a direct Telea at full size is 14 and 24 off
    diff = np.abs(painted[inner].astype(int) - red)
    assert diff.mean() < 8 and diff.max() < 16


def test_added_cloth_continues_the_old_garment(people):
    """Every piece of a re-cut garment touches the old one. BlazePose (served, in ONNX Runtime) puts
    the cameraman's left wrist in the sky past his camera, at (398, 199): a sleeve lengthened along
    that arm used to leave a dark disc there, apart from the coat."""
    import dataclasses

    _, parse = people["camera"]
    arm = dataclasses.replace(parse.body.left_arm, wrist=np.array([397.8, 199.5]))
    parse = dataclasses.replace(parse, body=dataclasses.replace(parse.body, left_arm=arm))
    # His sleeves as measured on the served keypoints (0.92 of the arm), so a long sleeve adds cloth
    # toward that wrist (on the wrist moved to the sky they measure to it: nothing would be added).
    old = flatlay.Shape({-1: 0.92, 1: 0.92}, flatlay.measure(parse.mask, parse.body).hem)
    got = render.new_garment(parse, old, flatlay.Shape({-1: 1.0, 1: 1.0}, old.hem))
    n, pieces = cv2.connectedComponents(got.astype(np.uint8), connectivity=8)
    touching = set(np.unique(pieces[got & parse.mask])) - {0}
    assert n > 1 and touching == set(range(1, n)), f"{n - 1 - len(touching)} of {n - 1} pieces stand apart"
    assert not got[190:210, 385:410].any()


def test_added_cloth_grows_from_the_garment_not_from_a_scrap_of_it(people, monkeypatch):
    """A standing man's hips hidden behind a seated woman (a card-table photo): the table below her,
    in his torso, was read as a scrap of his shirt, and `coat` hung black blots from it over the
    table. The cameraman's coat, hidden from 0.45 to 0.8 torso lengths by someone in front and read
    below that as a scrap under ANCHOR_SHARE of it: a longer hem adds no cloth beside the scrap,
    which stays; grown from any piece, it covered the photo below the band."""
    _, parse = people["camera"]
    h, w = parse.mask.shape
    ys, xs = np.mgrid[0:h, 0:w]
    down = flatlay.BodyMap(parse.body).image_to_torso(np.stack([xs.ravel(), ys.ravel()], 1) + 0.5)[:, 1].reshape(h, w)
    below = down >= 0.8
    cy, cx = np.argwhere(parse.mask & below & (down < 0.9)).mean(axis=0).astype(int)
    scrap = np.zeros_like(below)
    scrap[cy - 4:cy + 4, cx - 10:cx + 10] = True
    mask = parse.mask & ((down <= 0.45) | scrap)
    behind = dataclasses.replace(parse, mask=mask, in_front=(down > 0.45) & (down < 0.8))
    assert 0 < (mask & below).sum() < render.ANCHOR_SHARE * mask.sum()
    old = flatlay.measure(behind.mask, parse.body, hidden=behind.in_front)
    coat = render.new_garment(behind, old, flatlay.Shape(old.reach, 1.75))
    assert (coat & below).sum() == (mask & below).sum() and (coat & mask).sum() >= 0.98 * mask.sum()
    monkeypatch.setattr(render, "ANCHOR_SHARE", 0.0)
    assert (render.new_garment(behind, old, flatlay.Shape(old.reach, 1.75)) & below).sum() > 100 * (mask & below).sum()


def test_a_garment_made_no_shorter_keeps_its_cloth(people):
    """The cameraman's coat runs down to the photo's edge, its flaps past the hem its middle
    measures: re-cut to the same shape it keeps all its cloth; cut to hip length it loses its
    lower part."""
    _, parse = people["camera"]
    old = flatlay.measure(parse.mask, parse.body)
    same = render.new_garment(parse, old, old)
    short = render.new_garment(parse, old, flatlay.Shape(old.reach, 1.05))
    assert (same & parse.mask).sum() >= 0.98 * parse.mask.sum()
    assert (short & parse.mask).sum() <= 0.9 * parse.mask.sum()


def test_added_cloth_mirrors_the_edge_band_of_the_old_cloth():
    """Beside a straight edge, a pixel d columns out from the cloth's own edge (MIRROR_INSET inside
    the old edge: the edge pixels blend with what lies beside them) takes the old pixel `depth`
    columns in, where depth runs 0 -> band -> 0 with d: a mirror image of the edge band, repeated.
    Rows stay rows."""
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (40, 80, 3), dtype=np.uint8)
    old = np.zeros((40, 80), bool)
    old[:, :50] = True
    where = np.zeros_like(old)
    where[:, 50:70] = True
    out = render.mirrored_texture(image, old, where, band=4.0)
    assert np.array_equal(out[~where], image[~where])
    edge = 49 - render.MIRROR_INSET  # the nearest column of the cloth's own
    for col in range(50, 70):
        d = col - edge
        depth = 4 - abs(d % 8 - 4)
        assert np.array_equal(out[:, col], image[:, edge - depth]), col


def test_a_long_extension_is_one_mirror_image_not_the_edge_band_repeated():
    """A hem lengthened far past the edge band (a dress below a fur coat) takes the old cloth
    mirrored once across the hem, row d below it from row d above it: the edge band repeated
    came out as stripes."""
    image = np.repeat(np.arange(100, dtype=np.uint8)[:, None, None], 60, axis=1).repeat(3, axis=2)  # a row's value is its row
    old = np.zeros((100, 60), bool)
    old[:60] = True
    where = np.zeros_like(old)
    where[60:95, 10:50] = True
    out = render.mirrored_texture(image, old, where)
    edge = 59 - render.MIRROR_INSET
    for row in range(60, 95):
        assert (out[row, 10:50, 0] == edge - (row - edge)).all(), row  # d rows out: d rows in from the edge row
    assert np.array_equal(out[~where], image[~where])


def test_added_cloth_carries_no_blend_of_the_old_edge():
    """A black top's edge pixels beside a bare arm are brown, a blend of the two. A sleeve grown
    over the arm from a strip of the top thinner than the sleeve is long ran out of cloth and
    repeated the edge pixel: brown streaks. It mirrors the cloth's own pixels, inside the edge."""
    image = np.full((30, 90, 3), 200, np.uint8)  # the arm's skin
    image[:, 40:50] = 20  # the black top, a strip 10 pixels wide
    image[:, 49] = (120, 70, 40)  # its edge, blended with the skin
    old = np.zeros((30, 90), bool)
    old[:, 40:50] = True
    where = np.zeros_like(old)
    where[:, 50:80] = True  # 30 pixels of sleeve
    out = render.mirrored_texture(image, old, where)
    assert (out[where] == 20).all()


def test_added_cloth_continues_the_cloth_not_what_is_pinned_on_it():
    """A lanyard's white stripes hang down a black suit to the photo's edge; mirrored into a
    dress's hem below, they came out as white stripes. The hem is mirrored from the cloth's own
    colours (`main_cloth`); a garment of two colours in equal parts keeps both."""
    from closet.color import to_lab

    image = np.full((60, 60, 3), 200, np.uint8)
    image[:40, 10:50] = 25  # the suit
    image[:40, 28:32] = 245  # the lanyard, down to the suit's edge
    old = np.zeros((60, 60), bool)
    old[:40, 10:50] = True
    cloth = render.main_cloth(to_lab(image), old)
    assert not cloth[:40, 28:32].any() and cloth[:40, 10:27].all()
    where = np.zeros_like(old)
    where[40:55, 10:50] = True
    assert (render.mirrored_texture(image, old & cloth, where)[where] == 25).all()
    assert (render.mirrored_texture(image, old, where)[where] == 245).any()  # as it was
    stripes = image.copy()
    stripes[:40, 10:50][:, ::2] = 245  # two colours in equal parts: both are the cloth
    assert render.main_cloth(to_lab(stripes), old).sum() == old.sum()


def test_added_cloth_is_never_grown_from_skin_in_the_garment():
    """A parse took a woman's raised arm and patches of her chest into her black camisole (a third
    of it, group2.jpg): too much for `main_cloth` to leave out, so a coat's sleeves and hem were
    mirrored from it in tan blotches on black. Added cloth grows from the garment's pixels that are
    not skin (`cloth_of`); a garment mostly of skin colour (beige) is all cloth."""
    from closet.color import to_lab, to_rgb8

    skin = gm.Skin(lab=(61.0, 5.5, 5.8), spread=3.0, known=True, lit=(64.0, 4.8, 5.1))  # a face in cool light
    arm = to_rgb8(np.float32([[[64.0, 21.0, 24.5]]]))[0, 0]  # the arm in warm light, 25 a*b* off the face
    image = np.full((80, 60, 3), 200, np.uint8)
    image[:50, 10:50] = 20  # the camisole
    image[:50, 10:24] = arm  # the arm the parse took into it: 0.35 of it
    old = np.zeros((80, 60), bool)
    old[:50, 10:50] = True
    lab = to_lab(image)
    assert (render.main_cloth(lab, old) == old).all()  # too much skin for the cloth's own colours to leave out
    cloth = render.cloth_of(old, lab, skin)
    assert not cloth[:50, 10:24].any() and cloth[:50, 24:50].all()
    where = np.zeros_like(old)
    where[50:75, 10:50] = True  # a longer hem
    source = cloth & render.main_cloth(lab, cloth)
    assert (render.mirrored_texture(image, source, where)[where] == 20).all()
    assert (render.mirrored_texture(image, old & render.main_cloth(lab, old), where)[where] == arm).all(-1).any()  # as it was
    beige = image.copy()
    beige[:50, 24:50] = to_rgb8(np.float32([[[66.0, 12.0, 18.0]]]))[0, 0]  # a cloth of a skin's hue, and the arm
    assert (render.cloth_of(old, to_lab(beige), skin) == old).all()


def test_added_cloth_beside_a_slanted_edge_comes_from_inside_the_old_cloth():
    """Every added pixel takes an old pixel (never background) at most `band` beyond the old cloth's
    nearest pixel, give or take the nearest-pixel lookup's chamfer slack of a pixel or two and the
    MIRROR_INSET it reads from inside the edge."""
    h, w, band = 120, 120, 6.0
    yy, xx = np.mgrid[:h, :w]
    old = xx < 40 + yy // 2  # a slanted edge
    where = ~old & (xx < 70 + yy // 2)
    image = np.where(old[..., None], np.stack([yy, xx, np.full_like(xx, 200)], -1), 0).astype(np.uint8)
    out = render.mirrored_texture(image, old, where, band=band)
    assert (out[where][:, 2] == 200).all()  # old cloth, not the black outside
    src_y, src_x = out[where][:, 0].astype(int), out[where][:, 1].astype(int)
    ys, xs = np.nonzero(where)
    to_old = cv2.distanceTransform((~old).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[ys, xs]
    assert (np.hypot(src_y - ys, src_x - xs) <= to_old + band + 2.5 + 2 * render.MIRROR_INSET).all()


def test_a_sleeve_cut_over_the_torso_leaves_the_torsos_cloth_beside_the_bared_arm(swaps):
    """The astronaut's right arm hangs over the side of her torso. Made sleeveless, the sleeve cloth
    beside the bared arm that lies on the torso block (by the torso's map) is the dress's
    torso: her orange suit, not the background inpainted between the arm and the body."""
    image, parse, _, outs = swaps
    bm = flatlay.BodyMap(parse.body)
    h, w = parse.mask.shape
    ys, xs = np.nonzero(parse.mask)
    pts = np.stack([xs, ys], 1) + 0.5
    flat, part = bm.flat_of(pts)
    tb = bm.image_to_torso(pts)
    on_torso = (np.abs(tb[:, 0]) <= flatlay.TORSO_W) & (tb[:, 1] >= flatlay.TOP) & (tb[:, 1] <= 1.75)
    beside = (part != 0) & on_torso & (render.bare_arm(bm, pts)[0] <= 0)
    assert beside.sum() > 200
    out = outs["dress"]
    assert out.result_mask[ys[beside], xs[beside]].mean() > 0.95
    # the suit's own orange there, as it was (a*b* within a few units of the photo's)
    lab_in, lab_out = color.to_lab(image)[ys[beside], xs[beside]], color.to_lab(out.image)[ys[beside], xs[beside]]
    assert np.median(np.hypot(*(lab_out[:, 1:] - lab_in[:, 1:]).T)) < 3


def test_a_sleeves_puff_out_past_a_hanging_bared_arm_goes_with_the_sleeve(swaps):
    """The astronaut's suit is wider than her arm. Its sleeve's outer half, out past her hanging
    upper arm and off the torso block, reads as torso by the body's map, and the dress kept it: an
    orange strip beyond the bared arm, as if the arm lay in front of the suit. It goes with the
    sleeve (the background is inpainted there); short sleeves keep it where they cover the arm, and
    what lies beside the forearm, in front of her hips, stays the dress's."""
    image, parse, _, outs = swaps
    body, bm = parse.body, flatlay.BodyMap(parse.body)
    side = -1  # her right arm hangs in view
    arm = bm.arms[side]
    assert render.hangs_down(arm.shoulder, arm.elbow, body.axis)
    ys, xs = np.nonzero(parse.mask)
    pts = np.stack([xs, ys], 1) + 0.5
    flat, part = bm.flat_of(pts)
    along, out = render.beside_bone(pts, arm.shoulder, arm.elbow, side * body.across)
    past = (part == 0) & (flat[:, 0] * side > flatlay.TORSO_W) & (out > bm.radius) & (along <= 1)
    # beside the upper arm, not at its ends: there the cloth that stays (the shoulder, her hips) is
    # nearer than the world, and the cut sleeve's cloth is kept as the old rule keeps it
    middle = past & (along > 0.3) & (along <= 0.9)
    lower = middle & (along > 0.75)  # below a short sleeve's end (0.35 of the arm: 0.7 of the upper arm)
    assert lower.sum() > 200  # the strip, above her elbow
    suit = np.median(color.to_lab(image)[ys[past], xs[past]][:, 1:], axis=0)

    def kept(name: str, where: np.ndarray) -> float:
        return float(outs[name].result_mask[ys[where], xs[where]].mean())

    assert kept("dress", middle) < 0.05
    assert kept("short", lower) < 0.05 and kept("short", past & (along < 0.6)) > 0.95
    assert kept("long", past) > 0.99  # (the re-cut garment is opened by 3x3: a few edge pixels)
    # not orange any more: what is around her suit (the flag's stripes), far from its a*b*
    lab = color.to_lab(outs["dress"].image)[ys[lower], xs[lower]][:, 1:]
    assert np.median(np.hypot(*(lab - suit).T)) > 15
    # beside the forearm, in front of her hips: the dress's, as the suit was
    fore_along, fore_out = render.beside_bone(pts, arm.elbow, arm.wrist, side * body.across)
    lap = (part == 0) & (fore_out > 2 * bm.radius) & (fore_along > 0.3) & (fore_along < 1)
    assert lap.sum() > 300 and kept("dress", lap) > 0.9


def test_bared_skins_edge_against_the_photo_is_soft(people, monkeypatch):
    """Bared skin cut at the old garment's mask met the photo around it in one step: a hard line,
    stepped where the render worked on a reduced copy (Obama's bared shoulder against the dark suits
    behind him). Its outermost pixels now blend into what lies beneath: against the same `dress`
    with a hard edge, they are nearer the photo beyond them (the cameraman's forearm against the
    lawn: 212 such pixels, their step to the lawn 0.56 of the hard edge's)."""
    image, parse = people["camera"]
    view = flatlay.canonical_view(image, parse.mask, parse.body, 32)
    dress = drawing(flatlay.Shape({-1: 0.0, 1: 0.0}, 1.75), view.frame)
    monkeypatch.setattr(render, "edge_sigma", lambda *a: 0.0)  # SKIN_EDGE alone (closet.sharpness aside)
    soft = render.render_swap(image, parse, dress, view)
    monkeypatch.setattr(render, "SKIN_EDGE", 1e-6)
    hard = render.render_swap(image, parse, dress, view)
    rows, cols, _, skin = soft.painted
    bared = np.zeros(parse.mask.shape, bool)
    bared[rows, cols] = skin > 0.9
    union = parse.mask | soft.result_mask
    outside = ~union
    edge = bared & (cv2.dilate(outside.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
    # the photo just beyond each edge pixel: the mean of its outside neighbours
    n = cv2.blur(outside.astype(np.float32), (3, 3))
    beyond = cv2.blur(image.astype(np.float32) * outside[..., None], (3, 3)) / np.maximum(n, 1e-6)[..., None]
    step_hard = np.abs(hard.image.astype(np.float32) - beyond).sum(axis=2)[edge]
    step_soft = np.abs(soft.image.astype(np.float32) - beyond).sum(axis=2)[edge]
    strong = step_hard > 30
    assert strong.sum() > 100
    assert np.median(step_soft[strong] / step_hard[strong]) < 0.75
    # two pixels in, the skin is as before
    inner = bared & (cv2.distanceTransform(union.astype(np.uint8), cv2.DIST_L2, 3) > 2.5)
    assert np.array_equal(soft.image[inner], hard.image[inner])


def test_on_a_blurred_photo_bared_skins_edges_are_as_soft_as_its_own(people, monkeypatch):
    """A photo blurred by a Gaussian of 3 px (`make eval-variants`' "blurred") got bared arms with
    edges a pixel wide: cut out and pasted on. The render reads the photo's edge blur along the old
    garment's outline (closet.sharpness) and draws the arm's outline, its edge against the photo and
    the garment's own edge that soft. The cameraman's forearm in `dress`: the gradient across its
    outline, away from the new garment (whose own edge is the garment's), falls to about half the
    hard edge's."""
    image, parse = people["camera"]
    view = flatlay.canonical_view(image, parse.mask, parse.body, 32)
    dress = drawing(flatlay.Shape({-1: 0.0, 1: 0.0}, 1.75), view.frame)
    blurred = cv2.GaussianBlur(image, (0, 0), 3)
    soft = render.render_swap(blurred, parse, dress, view)
    monkeypatch.setattr(render, "edge_sigma", lambda *a: 0.5)  # as before: every photo taken as sharp
    hard = render.render_swap(blurred, parse, dress, view)
    rows, cols, _, skin = hard.painted
    arm = np.zeros(parse.mask.shape, np.uint8)
    arm[rows, cols] = skin > 0.5
    k = np.ones((3, 3), np.uint8)
    outline = (cv2.dilate(arm, k) > cv2.erode(arm, k)) & (parse.mask | hard.result_mask) \
        & ~cv2.dilate(hard.result_mask.astype(np.uint8), k, iterations=2).astype(bool)

    def gradient(rgb: np.ndarray) -> np.ndarray:
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
        return np.hypot(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1))[outline]

    strong = gradient(hard.image) > 40
    assert strong.sum() > 200
    assert np.median(gradient(soft.image)[strong] / gradient(hard.image)[strong]) < 0.65


def test_on_a_blurred_photo_drawn_legs_meet_its_own_softly(people, monkeypatch):
    """The cameraman's coat made a pullover on his photo blurred by 3 px: the legs drawn where the
    coat was met his own trousers below its hem in a sharp seam. They meet as softly as the photo's
    edges now: the steepest gradients around that seam fall to under 0.8 of the sharp seam's."""
    image, parse = people["camera"]
    view = flatlay.canonical_view(image, parse.mask, parse.body, 32)
    pullover = drawing(flatlay.Shape({-1: 1.0, 1: 1.0}, 1.0), view.frame)
    blurred = cv2.GaussianBlur(image, (0, 0), 3)
    person = cv2.dilate(parse.mask.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    soft = render.render_swap(blurred, parse, pullover, view, person=person)
    monkeypatch.setattr(render, "edge_sigma", lambda *a: 0.5)
    hard = render.render_swap(blurred, parse, pullover, view, person=person)
    rows, cols, cover, skin = hard.painted
    drawn = np.zeros(parse.mask.shape, bool)  # painted, not bared skin: the legs below the new hem
    drawn[rows, cols] = (cover > 0.99) & ((skin if skin is not None else np.zeros_like(cover)) == 0)
    union = (parse.mask | hard.result_mask).astype(np.uint8)
    k = np.ones((3, 3), np.uint8)
    seam = drawn & (cv2.dilate(1 - union, k, iterations=2) > 0)
    band = cv2.dilate(seam.astype(np.uint8), k, iterations=3).astype(bool)  # both sides of it

    def steepest(rgb: np.ndarray) -> float:
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
        return float(np.percentile(np.hypot(cv2.Sobel(gray, cv2.CV_32F, 1, 0),
                                            cv2.Sobel(gray, cv2.CV_32F, 0, 1))[band], 90))

    assert seam.sum() > 50
    assert steepest(soft.image) < 0.8 * steepest(hard.image)
