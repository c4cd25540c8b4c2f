"""The shape render: a garment re-cut to a new Shape on the same body, in the photo's own cloth.

The garment's shape, the body's coordinates "B" and the map between the body and the flat lay the
translator draws on are closet.flatlay's. `render_swap(...)` returns the photo with the garment
re-cut to the drawing's Shape (`flatlay.read`) on the same body. The cloth keeps the photo's pixels,
shaded by the generator's change (its output minus its input, coarser than half a drawing pixel);
added cloth takes its texture from the old garment; bared arms take the face's skin colour; legs a
raised hem uncovers are trousers (given the person mask: closet.legs, those the photo shows below the
old garment carried up, else dark); the rest (a narrower body, what lies off the person) is
inpainted from around it (OpenCV's Telea). Pixels outside the dilated union of the old and the new
garment stay byte-identical, and all work stays inside the garments' bounding box.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from closet import workscale
from closet.body import on_photo
from closet.color import near_median, to_lab, to_rgb8
from closet.flatlay import (
    CLOTH_GRAY,
    FMNIST_STD,
    GRID_PIXELS,
    SLEEVE_FROM,
    SLEEVE_LEN,
    SLEEVE_LENGTHS,
    SLEEVE_W,
    SLEEVE_X,
    TOP,
    TORSO_W,
    BodyMap,
    CanonicalView,
    Shape,
    read,
    remap,
    sample_mask,
    sleeve_run,
    to_frame,
    to_gray,
    with_unknown,
)
from closet.garment import (
    ARM_SKIN_SAMPLE,
    GarmentParse,
    Skin,
    arm_lit,
    beside_shoulders,
    bounding_box,
    capsule,
    hand_region,
    leg_skin,
    measure_grain,
    own_arm_skin,
    own_reach,
    skin_mask,
)
from closet.legs import TROUSERS_ABOVE_FEET, TROUSERS_REACH, beneath, carried_legs, feet, seen_trousers, trousers
from closet.lighting import Light
from closet.sharpness import edge_sigma
from closet.stages.composite import dilate, dilation_radius

# -- the body (B units: closet.flatlay) ---------------------------------------------------------
# A sleeve grown longer takes its cloth from its own last SLEEVE_SOURCE (t along the arm, 0 shoulder,
# 1 wrist), within SLEEVE_SOURCE_U of its radius across (closer to its edge the cloth meets the arm).
SLEEVE_SOURCE, SLEEVE_SOURCE_U = 0.25, 0.9
# ...or, with less cloth of its own, from a strip of the torso: B rows (top, bottom), TORSO_SOURCE_WIDTH
# wide, centred within TORSO_SOURCE_X of the middle where it is most like plain cloth (`_strip_flaws`).
TORSO_SOURCE_ROWS, TORSO_SOURCE_WIDTH, TORSO_SOURCE_X = (0.15, 0.65), 0.1, 0.3
# ...over the strip's rows of cloth (a row is when CLOTH_ROW of it is), if they run TORSO_SOURCE_MIN_ROWS
CLOTH_ROW, TORSO_SOURCE_MIN_ROWS = 0.8, 0.15
STRIP_SPREAD, STRIP_SAMPLES = 40.0, 2000
ARM_SKIN_REACH = 1.6  # a sleeve grown over a bared arm covers its skin this many sleeve radii from the bones
# A bared arm: a cylinder lit as the face is lit (closet.lighting), its half-width (per body width,
# thinner than its sleeve) along the arm (t: 0 shoulder, 0.5 elbow, 1 wrist) an arm's: the deltoid,
# narrowing to the elbow, the forearm's muscles below it, the wrist. A straight taper was a tube.
BARE_ARM_PROFILE = ((0.0, 0.2, 0.5, 0.65, 1.0), (0.15, 0.14, 0.115, 0.125, 0.09))
SEGMENT_SIDE = 320  # closet.stages.segment.INPUT_SIZE, the person mask's own resolution (that module imports torch)
# Bared skin next to cloth is up to CLOTH_SHADOW darker, fading over CLOTH_SHADOW_REACH body widths.
CLOTH_SHADOW, CLOTH_SHADOW_REACH = 0.3, 0.05
# ...and the cloth next to bared skin up to ARM_SHADOW darker, fading over ARM_SHADOW_REACH body widths.
ARM_SHADOW, ARM_SHADOW_REACH = 0.3, 0.025
# The old garment's cloth past its mask (`cloth_edge`): a pixel over this share cloth, blended with the
# world beside it, where the two differ by this many CIE76 units, and within this many of such a
# blend; beside a piece of the garment that goes of this many `rim_reach` squares or more; where the
# photo's edges are blurred less than this (px, closet.sharpness.edge_sigma: 0.6-0.9 on sharp photos).
CLOTH_EDGE_SHARE, CLOTH_EDGE_CONTRAST, CLOTH_EDGE_OFF, CLOTH_EDGE_GONE = 0.25, 10.0, 10.0, 4.0
CLOTH_EDGE_BLUR = 1.5
SKIN_EDGE = 2.0  # bared skin reaches full cover this many pixels (or the photo's edge blur's) in from the photo around both garments
BARED_SHARE = 0.5  # an arm is bared beyond its sleeve where at least this share of it is skin
ARM_SHOWN_MIN = 1.0  # an unseen arm is bared where the photo shows this many of its radii beyond the cut (`glimpsed`)
HANGING = 45.0  # degrees: a bone this near the body's axis hangs at its side; cloth out past it is not the body's
ARMHOLE = 0.10  # a sleeveless garment's armhole: its armpit this far down the arm, its top at the shoulder
# -- hems -------------------------------------------------------------------------------------
HEM_HALF = 0.36  # added cloth below the old hem: half-width, flaring by HEM_FLARE at a long hem...
HEM_FLARE = 0.08
HEM_WIDER = 0.2  # ...or the old garment's own width at its hem, up to this much more each side
HEM_OVERLAP = 0.1  # a longer hem's cloth starts this far above the old hem (an uneven hem has gaps)
ANCHOR_SHARE = 0.05  # added cloth grows from the old garment's pieces of this share of it or more
# A longer hem covers the person's own lower body where the photo shows it, and hangs LEG_EASE past
# it each side, read per flat-lay row LEG_ROW tall (and the rows beside it): `over_the_legs`.
LEG_EASE = 0.1
# A coat's ease (`eased_ring`) needs a person mask that holds at least this share of the old garment.
EASE_ON_PERSON = 0.5
# ...less the silhouette's last SILHOUETTE_SPILL torso lengths down each column: `legs_shown`.
SILHOUETTE_SPILL = 0.1
LEG_ROW = 0.025
# -- looks ------------------------------------------------------------------------------------
MIN_SHADE_STD = 12.0  # the cloth's lightness spread the generator's change is scaled to, at least (CIE L)...
SHADE_PER_MEAN = 0.35  # ...unless that is more than this share of a dark cloth's lightness
MAX_CHANGE = 1.0  # the generator's change shades the cloth by at most this many cloth spreads
LIGHTEST = 99.0  # ...and lights it no lighter than this percentile of the old garment's lightness
GRAIN_SEED, GRAIN_TILE = 20261204, 256  # photo_grain's noise: a fixed tile, so that a swap is deterministic
# Painted skin's grain, at most (gray levels). A small face's fine texture is mostly its features and
# the phone's sharpening (bus.jpg's faces read 14-15), and white noise that strong reads as sandpaper.
GRAIN_MAX = 7.0
# ...and less on a face narrower than this (px): its fine texture is then its features (eyes, beard,
# the nose's shading), not its skin, and grows as the face shrinks (bus.jpg's faces read 14-15 at
# 37-45 px, 24 at half size, where even GRAIN_MAX of white noise on an arm 20 px wide was sandpaper).
GRAIN_FULL_FACE = 48.0
# The photo's own noise, which every painted pixel takes (and bared skin at least): the fine texture
# (Skin.grain's measure) of its smoothest tiles, the lower quartile of NOISE_TILES x NOISE_TILES
# tiles of NOISE_TILE px spread over it. The package photos, bus.jpg, zidane.jpg and a card-table
# photo read 0.45-2.7 gray levels; the astronaut with sensor-like noise of 18 levels per channel, 9.7.
NOISE_TILES, NOISE_TILE = 4, 64
COVER_SHADING, COVER_SHADE_SIGMA = 1.0, 0.15  # cloth over bared skin takes its light: gain, blur (sleeve radii)
SKIN_SHADING = 0.25  # how much of the old garment's (blurred) lightness, within its spread, shows on bared skin
INPAINT_RADIUS = 3  # pixels of the reduced copy
MIRROR_INSET = 2  # added cloth mirrors the old cloth from this many pixels inside its edge
# ...from its own colours (`main_cloth`), when they are at least MAIN_CLOTH_SHARE of it (a striped
# or two-coloured garment keeps both colours).
MAIN_CLOTH_SPREAD, MAIN_CLOTH_MIN_DIFF, MAIN_CLOTH_SHARE = 3.0, np.array([20.0, 8.0, 8.0]), 0.75
CLOTH_OF_SHARE = 0.5  # ...and never from skin, unless skin-coloured pixels are over half of it (`cloth_of`)
MEDIAN_SAMPLES = 20_000  # pixels its median reads at most (fewer than garment.COLOUR_SAMPLES: it runs on every render)
# Telea's fill of a garment-sized hole is smooth, so it runs at half resolution or less (at most
# INPAINT_PIXELS): 145 -> 10 ms on the astronaut, 800 -> 200 ms at 12 MP, and the outputs look the
# same (docs/speed.md#composite).
INPAINT_REDUCTION = 2.0
INPAINT_PIXELS = 250_000
BLUR_DIRECT = 8.0  # a Gaussian blur wider than this (sigma, px) runs on a reduced copy


@dataclass
class RenderResult:
    image: np.ndarray  # uint8 (H, W, 3)
    result_mask: np.ndarray  # bool (H, W): the garment as it is in the output
    shape: Shape  # the shape the garment was re-cut to
    # What the old garment uncovered, painted (skin, trousers, the inpainted fill): (rows, cols, its
    # cover of that box: float32 0..1, or uint8 0..255 once lifted from a reduced copy; float32 share of
    # it that is bared skin, or None: no skin); None: nothing uncovered.
    painted: tuple[slice, slice, np.ndarray, np.ndarray | None] | None = None
    # The old garment's edge filled as the background beside it (`edge_rim`, `cloth_edge`): (rows, cols,
    # bool box), or None. These pixels lie outside both masks, within `rim_reach` of them.
    rim: tuple[slice, slice, np.ndarray] | None = None
    # Old cloth painted over as added cloth (its soft edge beside cloth added beyond it): (rows, cols,
    # bool box), or None. Lifted from a reduced copy, it takes the photo's detail at its source, as
    # added cloth does (workscale.carry_detail), not its own.
    repainted: tuple[slice, slice, np.ndarray] | None = None
    # Where each pixel of added cloth took its cloth from: (rows, cols, int32 (h, w, 2) rows and
    # columns of the photo, -1 where none), or None: no cloth added.
    sources: tuple[slice, slice, np.ndarray] | None = None
    # The sides (-1 right, 1 left) whose sleeve stayed as it was: too little of the arm shows (`kept_sleeves`).
    kept: frozenset[int] = frozenset()


# -- the render back ----------------------------------------------------------------------------
def worn_reach(parse: GarmentParse, bm: BodyMap, side: int, flat_lay: float) -> float:
    """Arm `side`'s own sleeve on the body. The flat lay gives both sleeves the longer one's reach
    (`measure`), so a tshirt's bared forearm beside an arm lying on the torso's cloth read as a
    long sleeve, and a pullover never grew back over it. Where this arm is seen, its sleeve ends
    short of `flat_lay` on the photo (none, short or long: a long sleeve's cuff measures short of
    the wrist) and at least BARED_SHARE of the arm beyond that end is the person's skin, it is that
    end; else (an arm folded or hidden, pose on another person's arm, a grayscale photo whose skin
    colour is unknown) `flat_lay`."""
    if not bm.arms[side].seen:
        return flat_lay
    reach, shown, pts, ts = sleeve_run(with_unknown(parse.mask, parse.in_front), bm, side)
    own = min(SLEEVE_LENGTHS, key=lambda level: abs(level - reach))
    if not shown or own >= flat_lay:
        return flat_lay
    skin = sample_mask(parse.skin_pixels, pts).reshape(len(ts), -1)[ts > reach]
    known = skin >= 0
    return own if known.any() and float(skin[known].mean()) >= BARED_SHARE else flat_lay


def glimpsed(bm: BodyMap, side: int, cut: float, shape: tuple[int, int]) -> bool:
    """Whether arm `side` is one pose did not see, of which the photo shows under ARM_SHOWN_MIN of
    its bared radius (BARE_ARM_PROFILE's at the shoulder) beyond a sleeve cut at `cut` (t along the
    arm): a portrait's shoulder at the frame's edge. Its bared skin, a guess cut by the frame and
    the torso, was a rectangle of skin in the photo's corner."""
    if bm.arms[side].seen or cut >= 1.0:
        return False
    t = np.linspace(max(cut, ARMHOLE), 1.0, 64)
    p = bm.sleeve_to_image(side, t, np.zeros(len(t)))
    inside = on_photo(p, shape)
    steps = np.linalg.norm(np.diff(p, axis=0), axis=1)
    shown = float(steps[inside[1:] & inside[:-1]].sum())
    return shown < ARM_SHOWN_MIN * BARE_ARM_PROFILE[1][0] * bm.body.scale


def kept_sleeves(bm: BodyMap, reach: dict[int, float], shape: tuple[int, int]) -> set[int]:
    """The sides whose sleeve stays as it is under a cut to `reach` (t along the arm, per side): too
    little of the arm shows to draw it bared (`glimpsed`); and of two arms pose did not see, both
    when one is. A portrait's sleeveless cut bared one arm at the frame's edge as a strip of skin
    beside the other's sleeve (Sean Connery in a tuxedo, Obama at a podium)."""
    kept = {side for side in (-1, 1) if glimpsed(bm, side, reach[side], shape)}
    unseen = {side for side in (-1, 1) if not bm.arms[side].seen}
    return kept | unseen if kept and len(unseen) == 2 else kept


def _reduced(shape: tuple[int, int], factor: float) -> tuple[int, int]:
    """cv2 (width, height) of an (h, w) image reduced by `factor`."""
    return max(1, round(shape[1] / factor)), max(1, round(shape[0] / factor))


def blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur (float32). A wide one runs on a copy reduced so that its sigma is BLUR_DIRECT/2
    px, then resized back: the same smooth field, at a cost that does not grow with sigma."""
    img = img.astype(np.float32)
    if sigma <= BLUR_DIRECT:
        return cv2.GaussianBlur(img, (0, 0), sigma)
    factor = sigma / (BLUR_DIRECT / 2)
    small = cv2.resize(img, _reduced(img.shape[:2], factor), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), BLUR_DIRECT / 2)
    return cv2.resize(small, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_LINEAR)


def inpaint(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """OpenCV's Telea inpainting of `mask` in uint8 RGB `image`, on a copy reduced by INPAINT_REDUCTION
    or more (to INPAINT_PIXELS; a masked pixel masks its whole cell), resized back: the fill is smooth."""
    h, w = mask.shape
    size = _reduced((h, w), max(INPAINT_REDUCTION, math.sqrt(h * w / INPAINT_PIXELS)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    hole = (cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0).astype(np.uint8)
    painted = cv2.inpaint(small, hole, INPAINT_RADIUS, cv2.INPAINT_TELEA)
    return cv2.resize(painted, (w, h), interpolation=cv2.INTER_LINEAR)


def _lowpass(values: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """Normalised Gaussian blur of `values` over the pixels where `weight` > 0 (no mixing in of
    what lies outside the garment)."""
    w = weight.astype(np.float32)
    num = blur(values.astype(np.float32) * w, sigma)
    den = blur(w, sigma)
    return num / np.maximum(den, 1e-3)


def mirrored_texture(image: np.ndarray, old: np.ndarray, where: np.ndarray, band: float | None = None,
                     sources: np.ndarray | None = None) -> np.ndarray:
    """Texture for the pixels `where` (outside `old`): each takes the `old` pixel found by going to
    the nearest one and on into it by a depth that runs 0 -> band -> 0 with the distance (a mirror
    image of the edge band, repeated). `band` None: as deep as the farthest pixel of `where`, one
    mirror image of the old cloth (a narrow band repeated made a dress's hem 0.75 torso lengths
    below a fur coat's, bus.jpg, five stripes of its fringe). `sources` (int32 (H, W, 2), or None):
    each written pixel's source row and column, written there too."""
    out = image.copy()
    if not where.any() or not old.any():
        return out
    # The cloth's own pixels, not its edge: an edge pixel blends the cloth with what lies beside it
    # (a black top's edge beside a bare arm is brown), and where the mirror runs out of cloth the
    # edge pixel is what repeats (a sleeve grown over the arm was streaked brown).
    inner = cv2.erode(old.astype(np.uint8), np.ones((2 * MIRROR_INSET + 1,) * 2, np.uint8)).astype(bool)
    if inner.sum() >= max(16, old.sum() // 4):
        old = inner
    ys, xs = np.nonzero(where)
    gy, gx = (v.astype(np.float64) for v in nearest_pixels(old, ys, xs))
    d = np.maximum(np.hypot(gy - ys, gx - xs), 1e-6)
    ny, nx = (gy - ys) / d, (gx - xs) / d
    band = float(d.max()) if band is None else band
    period = max(2.0 * band, 2.0)
    depth = band - np.abs(np.mod(d, period) - band)
    sy = np.clip(np.round(gy + ny * depth), 0, old.shape[0] - 1).astype(int)
    sx = np.clip(np.round(gx + nx * depth), 0, old.shape[1] - 1).astype(int)
    inside = old[sy, sx]
    sy, sx = np.where(inside, sy, gy.astype(int)), np.where(inside, sx, gx.astype(int))
    out[ys, xs] = image[sy, sx]
    if sources is not None:
        sources[ys, xs] = np.stack([sy, sx], 1)
    return out


def _triangle(d: np.ndarray, period: float) -> np.ndarray:
    """d >= 0 folded into [0, period] back and forth, as often as it takes (a triangle wave)."""
    back = np.mod(d, 2 * period)
    return np.where(back <= period, back, 2 * period - back)


def sleeve_texture(texture: np.ndarray, image: np.ndarray, source: np.ndarray, where: np.ndarray, bm: BodyMap,
                   part: np.ndarray, ends: dict[int, float], origin: tuple[int, int],
                   hem: np.ndarray | None = None, sources: np.ndarray | None = None) -> np.ndarray:
    """`texture` with the pixels `where` on a grown sleeve taken from cloth along the arm: those on a
    sleeve band (`part` -1/1), and those on the torso's part within ARM_SKIN_REACH sleeve radii of an
    arm's bones (the arm's skin beside the band, which the sleeve covers too), but not on `hem` (a
    longer hem's cloth, which continues the torso's).
    Past the sleeve's own end on the body (`ends`, t along the arm): the sleeve's cloth as far back
    (a mirror image along the arm, repeated over its last SLEEVE_SOURCE t), at the same place across
    it, so that its folds run along the arm and its lit side stays lit. A sleeve with less cloth of
    its own (a sleeveless top made a pullover) takes a strip of the torso instead, turned along the
    arm: the one most like plain cloth, over its rows of cloth (TORSO_SOURCE_*, `_strip_flaws`,
    `_cloth_rows`). Mirrored across a ragged edge from the nearest cloth, a grown sleeve was a
    staircase of copies. A pixel whose source is not 2 px inside `source` takes the nearest one's
    of its sleeve that is: kept as `texture`, a camisole's sleeve was a patchwork of blocks.
    `sources` (int32 (H, W, 2), or None): each written pixel's source row and column, written there too."""
    out = texture.copy()
    y0, x0 = origin
    # The cloth's own pixels, not the blend at a badge's or a strap's edge.
    clean = cv2.erode(source.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    ys_all, xs_all = np.nonzero(where)
    pts_all = np.stack([xs_all + x0 + 0.5, ys_all + y0 + 0.5], 1)
    side_of = part[ys_all, xs_all].astype(np.int8)
    beside = (side_of == 0) if hem is None else (side_of == 0) & ~hem[ys_all, xs_all]
    idx = np.flatnonzero(beside)  # the arm's skin beside the band: the nearer arm's, within ARM_SKIN_REACH
    best = np.full(len(idx), np.inf)
    for side in (-1, 1):
        if len(idx) and bm.placed(side):
            t, u = bm.image_to_sleeve(side, pts_all[idx])
            mine = (np.abs(u) <= ARM_SKIN_REACH) & (t >= SLEEVE_FROM / 2) & (np.abs(u) < best)
            side_of[idx[mine]] = side
            best = np.where(mine, np.abs(u), best)
    for side in (-1, 1):
        on = side_of == side
        if not on.any() or not bm.placed(side):
            continue
        ys, xs = ys_all[on], xs_all[on]
        t, u = bm.image_to_sleeve(side, pts_all[on])
        # Beyond the band's edge, back across it: clipped there, every pixel of a sleeve grown over an
        # arm wider than its band took the same cloth down the arm, in streaks.
        across = _triangle(u + SLEEVE_SOURCE_U, 2 * SLEEVE_SOURCE_U) - SLEEVE_SOURCE_U
        end = ends.get(side, 0.0)
        if end >= SLEEVE_FROM + SLEEVE_SOURCE / 2:
            past = t > end
            back = _triangle(np.maximum(t - end, 0.0), min(SLEEVE_SOURCE, end - SLEEVE_FROM))
            p = bm.sleeve_to_image(side, end - back, across) - (x0, y0)
        else:
            past = np.ones(len(t), bool)
            share = (across + SLEEVE_SOURCE_U) / (2 * SLEEVE_SOURCE_U)
            # Anywhere across the torso, its outer side outward: the arm itself may hang in front of
            # the torso's side beside it, and a badge or a strap lies on the chest.
            some = slice(None, None, max(1, len(t) // STRIP_SAMPLES))  # judged on a sample of the sleeve
            mid = min(np.linspace(-TORSO_SOURCE_X, TORSO_SOURCE_X, 13), key=lambda m: _strip_flaws(
                image, clean, _sleeve_strip(bm, clean, side, m, t[some], share[some], origin)))
            p = _sleeve_strip(bm, clean, side, mid, t, share, origin)
        sy, sx, ok = _cloth_at(clean, p)
        grown = past & ok
        out[ys[grown], xs[grown]] = image[sy[grown], sx[grown]]
        if sources is not None:
            sources[ys[grown], xs[grown]] = np.stack([sy[grown], sx[grown]], 1)
        fill = past & ~ok
        if fill.any() and grown.any():  # the nearest pixel of this sleeve whose source is cloth
            by, bx = ys.min(), xs.min()
            seeds = np.zeros((ys.max() + 1 - by, xs.max() + 1 - bx), bool)
            seeds[ys[grown] - by, xs[grown] - bx] = True
            ny, nx = nearest_pixels(seeds, ys[fill] - by, xs[fill] - bx)
            out[ys[fill], xs[fill]] = out[ny + by, nx + bx]
            if sources is not None:
                sources[ys[fill], xs[fill]] = sources[ny + by, nx + bx]
    return out


def nearest_pixels(seeds: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the `seeds` pixel (bool, not all False) nearest to each pixel (ys, xs).
    OpenCV labels each seed pixel and gives every other pixel its nearest one's label (5x5 chamfer
    metric: the true nearest or one a pixel or two from it). Not scipy's exact transform: importing
    scipy.ndimage costs a worker 0.3-0.4 s of CPU, and OpenCV takes a third of scipy's time."""
    _, label = cv2.distanceTransformWithLabels((~seeds).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5,
                                               labelType=cv2.DIST_LABEL_PIXEL)
    sy, sx = np.nonzero(seeds)
    seed = np.zeros((int(label.max()) + 1, 2), np.int64)  # label -> its seed pixel
    seed[label[sy, sx]] = np.stack([sy, sx], axis=1)
    near = seed[label[ys, xs]]
    return near[:, 0], near[:, 1]


def _sleeve_strip(bm: BodyMap, clean: np.ndarray, side: int, mid: float, t: np.ndarray, share: np.ndarray,
                  origin: tuple[int, int]) -> np.ndarray:
    """Box points (`origin` the box's (y0, x0)) a grown sleeve's points (t along, `share` across) take
    their cloth from: the torso strip at `mid` (`_torso_strip`), along its rows of cloth (`_cloth_rows`)
    and back (a mirror image, repeated)."""
    top, bottom = _cloth_rows(bm, clean, side, mid, origin)
    return _torso_strip(bm, side, mid, share, top + _triangle(t * SLEEVE_LEN, bottom - top)) - origin[::-1]


def _cloth_rows(bm: BodyMap, clean: np.ndarray, side: int, mid: float, origin: tuple[int, int]) -> tuple[float, float]:
    """The B rows (top, bottom) of a torso strip at `mid` (`_torso_strip`) that are cloth in `clean` (a
    box at `origin`, its (y0, x0)): the longest run within TORSO_SOURCE_ROWS of rows whose samples
    across are CLOTH_ROW `clean` or more, if it is at least TORSO_SOURCE_MIN_ROWS long; else those
    of TORSO_SOURCE_ROWS that lie on the box (or all of them). A camisole's strip began on the skin
    above its neckline; a close-up's, its shoulders near the photo's bottom, ran off the photo."""
    top, bottom = TORSO_SOURCE_ROWS
    rows = np.linspace(top, bottom, 21)
    across = np.linspace(0.0, 1.0, 5)
    share, down = np.meshgrid(across, rows)
    p = _torso_strip(bm, side, mid, share.ravel(), down.ravel()) - origin[::-1]
    cloth = _cloth_at(clean, p)[2].reshape(len(rows), len(across)).mean(axis=1) >= CLOTH_ROW
    span = _longest_run(rows, cloth)
    if span is not None and span[1] - span[0] >= TORSO_SOURCE_MIN_ROWS:
        return span
    # Too few rows of cloth to fold along a sleeve (a short run repeated was a zigzag): the rows the
    # photo shows, their pixels that are not cloth filled from those that are (`sleeve_texture`).
    shown = _longest_run(rows, on_photo(p, clean.shape).reshape(len(rows), len(across)).all(axis=1))
    return (top, bottom) if shown is None or shown[1] <= shown[0] else shown


def _longest_run(rows: np.ndarray, flags: np.ndarray) -> tuple[float, float] | None:
    """The first and last of `rows` in the longest run of True `flags`, or None: none is."""
    best, run_start, span = 0, None, None
    for k, c in enumerate(np.append(flags, False)):
        if c and run_start is None:
            run_start = k
        elif not c and run_start is not None:
            if k - run_start > best:
                best, span = k - run_start, (float(rows[run_start]), float(rows[k - 1]))
            run_start = None
    return span


def _torso_strip(bm: BodyMap, side: int, mid: float, share: np.ndarray, down: np.ndarray) -> np.ndarray:
    """Image points of a strip of the torso TORSO_SOURCE_WIDTH wide centred at B x = `mid`: `share`
    0..1 across it from its inner to its outer side (arm `side`'s way in the middle), `down` B y."""
    x = mid + (side if mid == 0 else np.sign(mid)) * (share - 0.5) * TORSO_SOURCE_WIDTH
    return bm.torso_to_image(np.stack([x, down], 1))


def _strip_flaws(image: np.ndarray, clean: np.ndarray, p: np.ndarray) -> float:
    """How unlike plain cloth a strip of the torso sampled at image points `p` is: the share of it
    that is not `clean` cloth, plus its colours' spread (a badge ran down a whole sleeve as purple
    stripes, a side seam's shadow as a dark line): the median absolute deviation of its RGB, per
    STRIP_SPREAD levels."""
    sy, sx, inside = _cloth_at(clean, p)
    if inside.sum() < 16:
        return np.inf
    px = image[sy[inside], sx[inside]].astype(np.float32)
    return float(1.0 - inside.mean()) + float(np.median(np.abs(px - np.median(px, axis=0)), axis=0).mean()) / STRIP_SPREAD


def _cloth_at(clean: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols) of the pixels image points (N, 2) fall in, clipped to the box `clean` (bool), and
    whether each is `clean` cloth: a point off the box is not (clipped, a torso strip running off the
    photo read its last row as cloth, and a sleeve grown from it was that row in streaks)."""
    h, w = clean.shape
    y, x = np.clip(np.floor(p[:, 1]).astype(int), 0, h - 1), np.clip(np.floor(p[:, 0]).astype(int), 0, w - 1)
    return y, x, on_photo(p, clean.shape) & clean[y, x]


def _sampled(px: np.ndarray) -> np.ndarray:
    """`px` evenly strided to at most about MEDIAN_SAMPLES of them, for a median or a percentile."""
    return px[:: max(1, len(px) // MEDIAN_SAMPLES)]


def main_cloth(lab: np.ndarray, garment: np.ndarray, min_share: float = MAIN_CLOTH_SHARE) -> np.ndarray:
    """bool like `garment`: its pixels of the cloth's own colours, within MAIN_CLOTH_SPREAD of their
    per-channel median deviation (at least MAIN_CLOTH_MIN_DIFF Lab units) of its median; all of it
    when that would leave less than `min_share`. Added cloth is mirrored from these: a lanyard
    mirrored into a dress's hem came out as white stripes below a black suit."""
    px = lab[garment]
    if len(px) < 16:
        return garment
    near = near_median(px, _sampled(px), MAIN_CLOTH_SPREAD, MAIN_CLOTH_MIN_DIFF)
    if near.mean() < min_share:
        return garment
    out = np.zeros_like(garment)
    out[garment] = near
    return out


def cloth_of(garment: np.ndarray, lab: np.ndarray, skin: Skin, min_share: float = CLOTH_OF_SHARE) -> np.ndarray:
    """bool like `garment` (not empty): its pixels that are not skin by the leg rule (`leg_skin`: a
    skin's hue in the face's light, off the garment's median colour), which added cloth is grown
    from; all of it when that would leave less than `min_share`. Arm and chest a parse took into a
    black camisole, mirrored into a coat's sleeves and hem, were tan blotches on black."""
    cloth = garment & ~leg_skin(lab, skin, np.median(_sampled(lab[garment]), 0))
    return cloth if cloth.sum() >= min_share * garment.sum() else garment


def cloth_spread(lightness: np.ndarray) -> float:
    """The lightness spread (CIE L) of a garment's pixels, robust to a minority of other colour in
    its mask (a white shirt front under a navy jacket): 1.4826 median absolute deviations, at least
    MIN_SHADE_STD, but on a dark cloth no more than SHADE_PER_MEAN of its median lightness (12 L
    units of light over navy at L 12 read as pale stains, not folds)."""
    if not lightness.size:
        return MIN_SHADE_STD
    med = float(np.median(lightness))
    return max(1.4826 * float(np.median(np.abs(lightness - med))), min(MIN_SHADE_STD, SHADE_PER_MEAN * med))


@functools.lru_cache(maxsize=1)
def _grain_tile() -> np.ndarray:
    """float32 (GRAIN_TILE, GRAIN_TILE): fixed noise of unit spread about a 1 px blur."""
    pad = 8
    noise = np.random.default_rng(GRAIN_SEED).standard_normal((GRAIN_TILE + 2 * pad,) * 2).astype(np.float32)
    fine = (noise - cv2.GaussianBlur(noise, (0, 0), 1.0))[pad:-pad, pad:-pad]
    return fine / float(fine.std())


def grain_level(face_grain: float, face_size: float, noise: float = 0.0) -> float:
    """The grain painted skin takes (gray levels): the face's own fine texture (Skin.grain), at most
    GRAIN_MAX or the photo's own `noise` (`photo_noise`: a noisy photo's face is noise, not
    features), whichever is more, and less on a face narrower than GRAIN_FULL_FACE px, in proportion."""
    return min(face_grain, max(noise, GRAIN_MAX) * small_face(face_size))


def small_face(face_size: float) -> float:
    """How much grain a person's painted pixels take, for the size of their face: 1 from GRAIN_FULL_FACE
    px, in proportion below. A small person's pixels are few and thin, and a photo's fine texture at
    that scale is mostly its detail: on bus.jpg at 0.42 (faces 15-18 px, the photo's noise read 5.4)
    the full noise made a bared forearm and the trousers under a fur coat sandpaper."""
    return min(1.0, face_size / GRAIN_FULL_FACE)


def photo_noise(image: np.ndarray) -> float:
    """The photo's own noise (gray levels, measured as Skin.grain is): the lower quartile of the fine
    texture of NOISE_TILES x NOISE_TILES tiles spread over it, so that edges, print and hair do not
    count. Painted pixels take it: a smooth fill in a grainy photo reads as a sticker."""
    h, w = image.shape[:2]
    side = min(NOISE_TILE, h, w)
    tile = (slice(None), slice(None), np.ones((side, side), bool))
    levels = [measure_grain(image[y:y + side, x:x + side], tile)
              for y in np.linspace(0, h - side, NOISE_TILES).astype(int)
              for x in np.linspace(0, w - side, NOISE_TILES).astype(int)]
    return float(np.percentile(levels, 25))


def photo_grain(ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """float32 (N,): fine noise of unit spread at pixels (ys, xs), the same at the same pixel (a
    swap's bytes depend only on its request). Scaled by Skin.grain, it gives painted skin the
    photo's own texture. A fixed tile, repeated: nothing is drawn per request."""
    return _grain_tile()[ys % GRAIN_TILE, xs % GRAIN_TILE]


def edge_rim(shape: tuple[int, ...]) -> int:
    """How far (px) a garment's edge runs past its mask in an image of `shape`: 3 px of anti-aliasing,
    or a pixel of the person mask's own resolution (U^2-Net's SEGMENT_SIDE px, enlarged to the photo),
    whichever is more; never more than the served dilation (closet.stages.composite.dilation_radius)."""
    return min(max(3, math.ceil(max(shape[:2]) / SEGMENT_SIDE)), dilation_radius(shape))


def rim_reach(shape: tuple[int, ...]) -> int:
    """How far (px) past the old garment's mask the render may paint its edge over (`cloth_edge`):
    twice `edge_rim`, never more than the served dilation."""
    return min(2 * edge_rim(shape), dilation_radius(shape))


def sleeve_cloth(flat: np.ndarray, part: np.ndarray) -> np.ndarray:
    """bool: where on a BodyMap.flat_grid (`flat`, `part`) a sleeve's cloth may lie: the sleeves'
    part, and off the torso block above the hips (a loose sleeve hanging beside the body)."""
    return (part != 0) | ((np.abs(flat[..., 0]) > TORSO_W) & (flat[..., 1] < 1.0))


def cloth_edge(lab: np.ndarray, old: np.ndarray, gone: np.ndarray, person: np.ndarray, skin: np.ndarray,
               shape: tuple[int, ...]) -> np.ndarray:
    """bool like `old`: the old garment's own cloth past its mask where it goes (`gone`: its pixels that
    become background or bared arm), out to what lies around the people: pixels of the `person` mask
    (not `skin`) within twice `rim_reach` of `gone` and within `rim_reach` of the world, whose colour
    (`lab`) is over CLOTH_EDGE_SHARE the old garment's nearest pixel's, blended with the world's
    nearest (when the two differ by CLOTH_EDGE_CONTRAST at least: else no line shows), and under
    CLOTH_EDGE_OFF off such a blend. A loose blouse's sleeve, wider than the parse's arm capsule,
    stayed as a navy strip 2-3 px wide beside her bared arm, past what `edge_rim` reaches. The render
    paints it within `rim_reach` of the garment; beyond, it is kept from the fill's sources (Obama's
    jacket ran 9 px past its mask, and the flag inpainted beside it was smeared navy)."""
    world = _outside(person)
    reach = rim_reach(shape)
    # A cut garment's, not a speck's: a few pixels of hair the parse took in, gone, drew the band
    # into the strands around them.
    _, label, stats, _ = cv2.connectedComponentsWithStats(gone.astype(np.uint8), connectivity=8)
    big = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] >= CLOTH_EDGE_GONE * reach * reach)
    gone = np.isin(label, big[big > 0])
    band = dilate(gone, 2 * reach) & dilate(world, reach) & person & ~old & ~skin
    if not band.any() or not old.any():
        return np.zeros_like(band)
    ys, xs = np.nonzero(band)  # near the world, so there is one
    oy, ox = nearest_pixels(old, ys, xs)
    wy, wx = nearest_pixels(world, ys, xs)
    # Each side's colour about its nearest pixel, not that pixel's own: a black jacket's grain put
    # single pixels off the line below, and they stayed as dark specks in the fill.
    cloth_lab = np.stack([_lowpass(lab[..., c], old, reach) for c in range(3)], -1)[oy, ox]
    world_lab = np.stack([_lowpass(lab[..., c], world, reach) for c in range(3)], -1)[wy, wx]
    # Each pixel as a blend of the two: its share of cloth, along the line from the world's colour
    # to the cloth's (a blended edge pixel a third cloth was still a dark line), and how far off
    # that line it lies: something else, not a blend (brown hair beside a black top and a lilac wall).
    span, rel = cloth_lab - world_lab, lab[ys, xs] - world_lab
    share = np.einsum("ij,ij->i", rel, span) / np.maximum(np.einsum("ij,ij->i", span, span), 1e-6)
    off = np.linalg.norm(rel - share[:, None] * span, axis=1)
    cloth = (share > CLOTH_EDGE_SHARE) & (off < CLOTH_EDGE_OFF) & (np.linalg.norm(span, axis=1) >= CLOTH_EDGE_CONTRAST)
    out = np.zeros_like(band)
    out[ys[cloth], xs[cloth]] = True
    return out


def bare_arm(bm: BodyMap, pts: np.ndarray, light: Light | None = None,
             soft: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """For image points (N, 2): how much of each a bared arm covers (0..1, with an edge `soft`
    pixels wide), and the radiance there under `light` (closet.lighting), relative to the arm's
    brightest line across (1 there; a side turned from the light keeps the ambient share). None:
    the cover only (radiance 1)."""
    cover, radiance = np.zeros(len(pts)), np.ones(len(pts))
    behind = None
    for side in (-1, 1):
        if not bm.placed(side):
            continue
        t, u, *across = bm.image_to_sleeve(side, pts, across=light is not None)
        radius = np.interp(t, *BARE_ARM_PROFILE) * bm.body.scale  # px
        off = np.abs(u) * bm.radius  # px from the bone
        c = np.clip((radius - off) / soft + 0.5, 0.0, 1.0)
        if not bm.arms[side].seen:
            # An arm pose does not see, running off the photo, hangs at the body's side, partly
            # behind the chest: the torso block hides it (Grace Hopper's bared arms covered half
            # her name tag, which the photo shows on her chest).
            if behind is None:
                tb = bm.image_to_torso(pts)
                behind = (np.abs(tb[:, 0]) <= TORSO_W) & (tb[:, 1] >= 0.0)
            c[behind] = 0.0
        if light is not None:
            on = (c > cover) & (c > 0)
            w = np.clip(off[on] / radius[on], 0.0, 1.0)
            a = across[0][on]
            normal = np.concatenate([w[:, None] * a, np.sqrt(1.0 - w ** 2)[:, None]], axis=1)  # a cylinder's
            # The brightest normal across the arm faces the light's part in the plane across it.
            to_light = np.asarray(light.direction)
            brightest = light.radiance_at(np.hypot(a @ to_light[:2], to_light[2]))
            radiance[on] = light.radiance(normal) / brightest
        cover = np.maximum(cover, c)
    return cover, radiance


def eased_ring(new: np.ndarray, old: np.ndarray, person: np.ndarray, part: np.ndarray, flat: np.ndarray,
               px: int, ease: float, hands_and_head: np.ndarray, across: np.ndarray, rim: int) -> np.ndarray:
    """bool like `new` (a box of the render): the ring a garment with ease (a coat, flatlay.CATEGORY_EASE)
    adds beside its torso, `px` pixels wide along the body's `across` direction (grown every way, the
    coat's shoulders rose toward the ears, a shrug). From the cloth that stays (`new` & `old`), over
    what lies around the people (`_outside` the `person` mask) and the old garment's soft edge against
    it (outside its mask, inside the person mask: left out, a thin line of the background's colour
    inside the coat). Never over a person, the hands or the head, and beside the torso block only
    (`part`, `flat`: flat_grid's): along a sleeve, where pose had put the blurred cameraman's arm in
    the sky, the ring drew that mistake in dark strokes."""
    world = _outside(person)
    soft = dilate(old, rim) & dilate(world, rim)
    kernel = np.zeros((2 * px + 1, 2 * px + 1), np.uint8)
    d = np.asarray(across, np.float64) * px
    cv2.line(kernel, (int(round(px - d[0])), int(round(px - d[1]))), (int(round(px + d[0])), int(round(px + d[1]))), 1)
    grown = cv2.dilate((new & old & ~world).astype(np.uint8), kernel) > 0
    beside_torso = (part == 0) & (np.abs(flat[..., 0]) <= TORSO_W + ease)
    return grown & (world | soft) & ~new & ~hands_and_head & beside_torso


def _outside(person: np.ndarray) -> np.ndarray:
    """bool like `person`: what lies around the people, not in a hole of the person mask (the
    segmentation of a blurred photo left the astronaut's white straps out, and a coat's ease
    grew into them as blotches of mirrored cloth): the parts of its complement that reach the
    box's edge."""
    _, label = cv2.connectedComponents((~person).astype(np.uint8), connectivity=4)
    edge = np.unique(np.concatenate([label[0], label[-1], label[:, 0], label[:, -1]]))
    return np.isin(label, edge[edge > 0])


def _box(masks: list[np.ndarray], pad: int) -> tuple[slice, slice]:
    """The bounding box of the masks' union, `pad` pixels wider (within the image)."""
    return bounding_box(np.logical_or.reduce(masks), pad)


def drawn_cloth(g: np.ndarray) -> np.ndarray:
    """bool (S, S): the drawing's cloth: its largest blob above its black background, holes filled
    (a fold or a seam drawn dark is cloth too)."""
    m = (g > CLOTH_GRAY).astype(np.uint8)
    n, cc, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    if n <= 1:
        return m.astype(bool)
    m = (cc == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)
    n, cc = cv2.connectedComponents(1 - m, connectivity=4)
    border = np.unique(np.concatenate([cc[0], cc[-1], cc[:, 0], cc[:, -1]]))
    return (m > 0) | ~np.isin(cc, border)


def shading(drawing: np.ndarray, cr: np.ndarray) -> np.ndarray:
    """A flat-lay image's gray at frame points (N, 2) (the translator's output or input): where it
    has no cloth (its black, or past its frame, e.g. a hem lowered below it) its cloth's mean."""
    g = cv2.GaussianBlur(drawing.astype(np.float32), (0, 0), 0.7)
    cloth = drawn_cloth(g)
    mean = float(g[cloth].mean()) if cloth.any() else float(g.mean())
    v = remap(np.where(cloth, g, -1.0), cr, -1.0)
    return np.where(v < 0, mean, v)


def legs_shown(own: np.ndarray, rows: slice, cols: slice, length: float) -> np.ndarray:
    """bool: `own` (a person's silhouette, bool (H, W)) in the box `rows`, `cols`, less its last
    SILHOUETTE_SPILL torso lengths (`length` px) down each column, but at the photo's bottom edge,
    past which the body may go on. BlazePose's silhouette runs that far onto what lies in front of
    the body: a longer hem grown over it was a band of cloth across a podium's lip below Obama's
    jacket, and over a glass on a card table."""
    k = int(round(SILHOUETTE_SPILL * length))
    box = own[rows, cols]
    if k < 1:
        return box
    below = box.copy()  # within k rows of the photo's bottom edge the body may go on past it
    deeper = own[rows.start + k:min(own.shape[0], rows.stop + k), cols]  # the silhouette k rows further down
    below[:deeper.shape[0]] = deeper
    return box & below


def over_the_legs(flat: np.ndarray, own: np.ndarray, where: np.ndarray) -> np.ndarray:
    """bool like `where`: its points (a longer hem's cloth, flat-lay points `flat` (..., 2)) within
    LEG_EASE of the person's own silhouette `own` (bool) in their flat-lay row and the rows beside
    it. A dress covers the legs the photo shows and hangs a little past them; where it shows none
    (a table in front of people sitting at it, the photo's edge) the dress is hidden too. Made to
    the full hem's width there, it was a slab of mirrored cloth over the table and the glasses on it."""
    out = np.zeros(where.shape, bool)
    x, y, seen = flat[..., 0][where], flat[..., 1][where], own[where]
    if not seen.any():
        return out
    pos = y / LEG_ROW
    base = np.floor(pos.min())
    row = (np.floor(pos) - base).astype(np.int64)
    lo, hi = np.full(row.max() + 3, np.inf), np.full(row.max() + 3, -np.inf)  # a row of padding each end
    np.minimum.at(lo, row[seen] + 1, x[seen])
    np.maximum.at(hi, row[seen] + 1, x[seen])
    lo = np.minimum(np.minimum(lo[:-2], lo[1:-1]), lo[2:])  # row r's span with rows r - 1 and r + 1
    hi = np.maximum(np.maximum(hi[:-2], hi[1:-1]), hi[2:])
    # Between row centres a span's end runs straight from one row's to the next (each row's own
    # span drew the edge as stairs); beside a row that shows no legs, the nearer row's holds.
    t = np.clip(pos - base - 0.5, 0.0, len(lo) - 1.0)
    r0 = np.floor(t).astype(np.int64)
    r1 = np.minimum(r0 + 1, len(lo) - 1)
    frac = t - r0

    def between_rows(end: np.ndarray) -> np.ndarray:
        a, b = end[r0], end[r1]
        both = np.isfinite(a) & np.isfinite(b)
        step = np.zeros_like(a)
        step[both] = b[both] - a[both]
        return np.where(both, a + frac * step, np.where(frac < 0.5, a, b))

    out[where] = (x >= between_rows(lo) - LEG_EASE) & (x <= between_rows(hi) + LEG_EASE)
    return out


def _arm_skin(parse: GarmentParse, bm: BodyMap, side: int, end: float, image: np.ndarray | None = None) -> np.ndarray:
    """bool (H, W): the bare skin of arm `side` from its shoulder (SLEEVE_FROM) to t = `end`, within
    ARM_SKIN_REACH sleeve radii of its bones, not the hand or the head: what a sleeve grown to
    `end` covers, wherever the arm's outline strays from the band pose puts it in. The parse's skin,
    which it reads only in its own sleeve band, and with the photo `image` any pixel of the skin's
    colour off the garment on the person's own silhouette."""
    h, w = parse.mask.shape
    a = bm.arms[side]
    pts = np.array([a.shoulder, a.elbow, a.wrist], np.float64)
    pad = ARM_SKIN_REACH * bm.radius + 2
    x0, y0 = np.clip(np.floor(pts.min(axis=0) - pad).astype(int), 0, (w, h))
    x1, y1 = np.clip(np.ceil(pts.max(axis=0) + pad).astype(int) + 1, 0, (w, h))
    out = np.zeros((h, w), bool)
    if x1 <= x0 or y1 <= y0:
        return out
    skin = parse.skin_pixels[y0:y1, x0:x1]
    if image is not None and parse.silhouette is not None:
        # ...on this person's own silhouette only: Grace Hopper's arm, run off the photo beside the
        # astronaut (two_people), found her orange suit skin-coloured, and grew a black sleeve on it.
        skin = skin | (skin_mask(image[y0:y1, x0:x1], parse.skin) & ~parse.mask[y0:y1, x0:x1]
                       & parse.silhouette[y0:y1, x0:x1])
    box = skin & ~parse.head[y0:y1, x0:x1] & ~hand_region((y1 - y0, x1 - x0), bm.body, (x0, y0))
    ys, xs = np.nonzero(box)
    t, u = bm.image_to_sleeve(side, np.stack([xs + x0 + 0.5, ys + y0 + 0.5], 1))
    near = (np.abs(u) <= ARM_SKIN_REACH) & (t >= SLEEVE_FROM) & (t <= end)
    out[ys[near] + y0, xs[near] + x0] = True
    return out


def new_garment(parse: GarmentParse, old: Shape, new: Shape, bm: BodyMap | None = None, pad: int = 2,
                image: np.ndarray | None = None, person: np.ndarray | None = None) -> np.ndarray:
    """bool (H, W): the old garment re-cut to the new shape on the same body: sleeves cut or
    continued along the arms, the hem raised or lowered (flaring a little when it goes long).
    The work is done in the box `pad` px around everything it can cover (`bm`'s flat_grid there is
    kept, so a caller working in a box inside it with the same `bm` computes no grid again).
    `image`, the photo, lets a grown sleeve find the arm's skin beyond the parse's (`_arm_skin`);
    `person`, the person mask, tells the world around a sleeve's puff from a neighbour's body."""
    body, mask = parse.body, parse.mask
    bm = bm or BodyMap(body)
    h, w = mask.shape
    # Everything the new garment can cover: the old garment, longer sleeves, a longer hem.
    reach_px = []
    arm_skin = np.zeros((h, w), bool)
    # A sleeve grows from its own end on the body (it is cut by the flat lay's, `old.reach`).
    worn = {side: worn_reach(parse, bm, side, old.reach[side]) if bm.placed(side) and new.reach[side] > 0
            else old.reach[side] for side in (-1, 1)}
    for side in (-1, 1):
        if bm.placed(side) and new.reach[side] > worn[side]:
            # along the bones, shoulder -> elbow -> the new end: a bent arm's elbow lies off the
            # straight line from the shoulder to the wrist, and cloth grown along it missed the elbow
            t = np.array([0.0, min(new.reach[side], 0.5), new.reach[side]])
            p = bm.sleeve_to_image(side, t, np.zeros(3))
            reach_px += [capsule(mask.shape, p[0], p[1], bm.radius), capsule(mask.shape, p[1], p[2], bm.radius)]
            arm_skin |= _arm_skin(parse, bm, side, new.reach[side], image)
    half = HEM_HALF + HEM_WIDER + HEM_FLARE
    hem_corners = bm.torso_to_image(np.array([[-half, old.hem - HEM_OVERLAP], [half, old.hem - HEM_OVERLAP], [half, new.hem], [-half, new.hem]]))
    longer = np.zeros((h, w), np.uint8)
    if new.hem > old.hem:
        cv2.fillPoly(longer, [np.round(hem_corners).astype(np.int32)], 1)
        # Below the old garment, not in the holes it holds above its lower edge, and not over a
        # hand: what lies there is on it or in front of it (two_people's astronaut: her glove and
        # the buckle in her lap were covered by mirrored cloth, with fragments of them left).
        longer &= (beneath(mask) & ~hand_region((h, w), body)).astype(np.uint8)
    region = mask | longer.astype(bool) | arm_skin | np.logical_or.reduce(reach_px or [np.zeros((h, w), bool)])
    # All the work in the region's box, 2 px wider so that the opening sees the zeros around it;
    # `pad` px wider where its grid stays exact (GRID_PIXELS), so that the caller's box reuses it.
    rows, cols = _box([region], 2)
    wide = _box([region], pad)
    if (wide[0].stop - wide[0].start) * (wide[1].stop - wide[1].start) <= GRID_PIXELS:
        rows, cols = wide
    flat_box, part_box = bm.flat_grid(rows, cols)
    region_b, mask_b = region[rows, cols], mask[rows, cols]
    skin_b = arm_skin[rows, cols]
    ys, xs = np.nonzero(region_b)
    flat, part, was = flat_box[ys, xs], part_box[ys, xs], mask_b[ys, xs]
    keep = np.zeros(len(ys), bool)
    torso = part == 0
    # The torso takes added cloth only below the old hem (a grown sleeve's band around the shoulder
    # joint put jacket over the flag above Grace Hopper's shoulder). It continues the garment's own
    # sides (a dress below a coat wider than HEM_HALF stepped in at the coat's hem: bus.jpg's fur
    # coat), flaring as it goes.
    right, left = -HEM_HALF, HEM_HALF
    sides = torso & was & (flat[:, 1] > old.hem - 0.15) & (flat[:, 1] <= old.hem)
    if sides.sum() >= 20:
        lo, hi = np.percentile(flat[sides, 0], [2, 98])
        right, left = max(min(lo, right), -HEM_HALF - HEM_WIDER), min(max(hi, left), HEM_HALF + HEM_WIDER)
    flare = HEM_FLARE * np.clip((flat[:, 1] - old.hem) / max(new.hem - old.hem, 1e-3), 0, 1)
    below = (flat[:, 1] > old.hem - HEM_OVERLAP) & (flat[:, 0] >= right - flare) & (flat[:, 0] <= left + flare)
    keep |= torso & (flat[:, 1] <= new.hem) & (was | below)
    if new.hem >= old.hem:  # nothing to cut: a garment measured to HEM_MAX may run further still
        keep |= torso & was
    kept = kept_sleeves(bm, new.reach, (h, w))
    for side in (-1, 1):
        mine = part == side
        if side in kept:
            keep |= mine & was
            continue
        t = flat[:, 1] / SLEEVE_LEN
        if new.reach[side] <= 0:  # an armhole: the bodice runs from the shoulder's top down to the armpit
            u = (np.abs(flat[:, 0]) - SLEEVE_X) / SLEEVE_W  # -1 inner .. 1 outer
            t = t - ARMHOLE * (1.0 - np.clip(u, -1.0, 1.0)) / 2.0
        keep |= mine & (t <= new.reach[side]) & (was | (t > worn[side]))
        if new.reach[side] >= old.reach[side]:  # nothing to cut: a cuff past the measured reach stays
            keep |= mine & was
    keep |= skin_b[ys, xs]
    # A sleeve is wider than the bared arm drawn in it. Its cloth beside the arm is the new
    # garment's where the body is behind it: on the torso block (an arm bent across the body, a
    # body bent toward the camera), or nearer to the cloth that stays than to the world around the
    # old garment (the suit's side beyond an arm that hangs over it). Elsewhere it is background.
    # So is a sleeve's puff that reads as torso (`sleeve_puff`).
    puff = np.zeros(len(ys), bool)
    for side in (-1, 1):
        if bm.placed(side) and side not in kept and new.reach[side] < worn[side]:
            off = np.flatnonzero(torso & was & keep & (flat[:, 0] * side > TORSO_W))
            pts = np.stack([xs[off] + cols.start + 0.5, ys[off] + rows.start + 0.5], 1)
            puff[off[sleeve_puff(bm, side, pts, new.reach[side])]] = True
    keep &= ~puff
    cut = np.flatnonzero(((part != 0) | puff) & was & ~keep)
    if cut.size:
        pts = np.stack([xs[cut] + cols.start + 0.5, ys[cut] + rows.start + 0.5], 1)
        tb = bm.image_to_torso(pts)
        on_torso = (np.abs(tb[:, 0]) <= TORSO_W) & (tb[:, 1] >= TOP) & (tb[:, 1] <= new.hem)
        stays = np.ones(region_b.shape, np.uint8)
        stays[ys[keep], xs[keep]] = 0
        to_cloth = cv2.distanceTransform(stays, cv2.DIST_L2, 3)[ys[cut], xs[cut]]
        to_world = cv2.distanceTransform(mask_b.astype(np.uint8), cv2.DIST_L2, 3)[ys[cut], xs[cut]]
        if person is not None and puff.any():
            # ...and a puff's world is what is around the people: where a parse took in the
            # neighbour an arm leans on (her black top, in a row of women), that stays as it was.
            around = cv2.distanceTransform((mask_b | person[rows, cols]).astype(np.uint8), cv2.DIST_L2, 3)
            to_world = np.where(puff[cut], around[ys[cut], xs[cut]], to_world)
        keep[cut] = (on_torso | (to_cloth < to_world)) & (bare_arm(bm, pts)[0] <= 0)
    box = np.zeros(region_b.shape, np.uint8)
    box[ys[keep], xs[keep]] = 1
    box[parse.head[rows, cols]] = 0
    # Added cloth stops at the wrists: no hand is dressed (pose put the grey-haired man's arm of
    # zidane.jpg along the other man's pointing hand, and `coat` grew dark cloth onto his finger).
    box[hand_region(box.shape, body, (cols.start, rows.start), past_wrist=True) & ~mask_b] = 0
    if parse.in_front is not None:
        box[parse.in_front[rows, cols]] = 0
    box = cv2.morphologyEx(box, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    # Added cloth continues the old garment: a piece that does not touch it (a sleeve lengthened
    # along a wrist that pose placed past the hand) is not the garment's, nor one that touches only
    # a scrap of it (a standing man's hips hidden behind a seated woman: the card table below her,
    # in his torso, was read as a scrap of his shirt, and `coat` hung black blots from it there).
    _, pieces = cv2.connectedComponents(box, connectivity=8)
    worn = np.unique(pieces[garment_body(mask_b) & (box > 0)])
    out = np.zeros((h, w), bool)
    out[rows, cols] = np.isin(pieces, worn[worn > 0]) | (mask_b & (box > 0))
    return out


def sleeve_puff(bm: BodyMap, side: int, p: np.ndarray, reach: float) -> np.ndarray:
    """bool (N,): which image points (N, 2), of a garment off the torso block, are its sleeve's
    cloth out past the upper arm `side`, where it hangs and a sleeve reaching `reach` bares it. A
    puffed sleeve is wider than the arm, and the body's map reads its outer half as torso: the
    astronaut's suit stayed as an orange strip out past her bared arm. Not past a forearm: a hand
    rests in front of the hips, and the cloth out past it there is the body's (Zidane's jacket beside
    his bent arm), as is what lies below an arm across the body."""
    arm, body = bm.arms[side], bm.body
    if not hangs_down(arm.shoulder, arm.elbow, body.axis):
        return np.zeros(len(p), bool)
    along, out = beside_bone(p, arm.shoulder, arm.elbow, side * body.across)
    return (along <= 1) & (out > bm.radius) & (0.5 * along > max(reach, ARMHOLE))


def hangs_down(p0: np.ndarray, p1: np.ndarray, axis: np.ndarray) -> bool:
    """Whether the bone p0 -> p1 runs within HANGING degrees of the body's axis (either way)."""
    d = np.asarray(p1, np.float64) - p0
    return bool(abs(float(d @ axis)) >= math.cos(math.radians(HANGING)) * max(float(np.hypot(*d)), 1e-9))


def beside_bone(p: np.ndarray, p0: np.ndarray, p1: np.ndarray, outward: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For image points (N, 2) and the bone p0 -> p1: how far along it each one's foot lies (0 at
    p0, 1 at p1), and how far (px) it lies from the bone's line toward `outward`."""
    d = np.asarray(p1, np.float64) - p0
    length = max(float(np.hypot(*d)), 1e-9)
    normal = np.array([-d[1], d[0]]) / length
    if normal @ outward < 0:
        normal = -normal
    rel = p - p0
    return rel @ d / length ** 2, rel @ normal


def garment_body(mask: np.ndarray) -> np.ndarray:
    """bool like `mask`: its pieces (8-connected) of ANCHOR_SHARE of its pixels or more, which added
    cloth may grow from; all of it when none is that large."""
    n, label, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    big = np.zeros(n, bool)
    big[1:] = stats[1:, cv2.CC_STAT_AREA] >= ANCHOR_SHARE * stats[1:, cv2.CC_STAT_AREA].sum()
    return big[label] if big.any() else mask.astype(bool)


def render_swap(image: np.ndarray, parse: GarmentParse, drawing: np.ndarray, view: CanonicalView,
                category: str | None = None, preserve_color: bool = True,
                person: np.ndarray | None = None) -> RenderResult:
    """The photo with its garment re-cut to the shape of the translator's drawing.

    Args:
        image: uint8 (H, W, 3), the photo.
        parse: the person's garment (closet.garment.garment_mask).
        drawing: the translator's output for `view`, gray uint8 (S, S) (or (S, S, 3)).
        view: the canonical view the translator was given (its shape and frame).
        category: the target domain (its typical hem, when it is a Fashion-MNIST category).
        preserve_color: True keeps the photo garment's colours and texture; False paints the
            drawing's own gray into the garment.
        person: bool (H, W), the person mask: where a garment made shorter uncovers the body below
            its new hem, the legs are drawn as trousers (`trousers`: those the photo shows below
            the old garment, else dark ones) instead of inpainted from the background around
            them; and cloth a garment gains stays on the person (a sleeve grows over an arm), but
            for a longer hem. None: inpainted, and no such limit.
    Returns:
        RenderResult: the output image, `result_mask` (bool, the garment as it is in the output)
        and the new shape. Pixels outside dilate(parse.mask | result_mask) are byte-identical.

    A body wider than closet.workscale.WORK_BODY_WIDTH is rendered on a copy reduced to that
    width and lifted back (closet.workscale.lift): the cost follows the garment, not the photo.
    """
    f = workscale.factor(parse.body.scale)
    if f >= 1:
        out = _render_swap(image, parse, drawing, view, category, preserve_color, person)
        painted = out.painted
    else:
        small_image = parse.reduced_photo(image, f)
        small = parse.scaled(f)
        small_person = None if person is None else workscale.reduce_mask(person, f)
        out = _render_swap(small_image, small, drawing, view, category, preserve_color, small_person)
        rim = _lifted_rim(out.rim, small.mask & ~out.result_mask, image.shape, parse.mask)
        small_kept = small.mask
        if out.repainted is not None:
            rows, cols, box = out.repainted
            small_kept = small.mask.copy()
            small_kept[rows, cols] &= ~box
        lifted, result = workscale.lift(image, parse.mask, small_image, out.image, small_kept, out.result_mask,
                                        keep_detail=preserve_color, also=rim)
        painted = None
        if out.painted is not None:
            rows, cols, cover, skin = out.painted
            # cover in uint8 (steps of 1/255 weigh grain well enough): half the cost of float32 on a 12 MP box
            big_rows, big_cols, cover = workscale.enlarge_region(np.round(cover * 255.0), rows, cols, small_image.shape,
                                                                 image.shape, np.uint8)
            if skin is not None:
                skin = workscale.enlarge_region(skin, rows, cols, small_image.shape, image.shape)[2]
            painted = big_rows, big_cols, cover, skin
        if out.sources is not None and preserve_color:
            _carry_detail(lifted, image, small_image, result, parse.mask, small_kept, out.sources)
        out = RenderResult(lifted, result, out.shape, rim=None if rim is None else (slice(None), slice(None), rim),
                           kept=out.kept)
    if painted is not None:
        # Painted pixels take the photo's grain at the photo's own size (enlarged from a reduced
        # copy, it would be blotches 1/f pixels wide): its noise, and bared skin the face's texture.
        rows, cols, cover, skin = painted
        ys, xs = np.nonzero((cover > 0) & parse.mask[rows, cols])  # where the old garment was: nothing else changes
        weight = cover[ys, xs].astype(np.float32) * np.float32(1 / 255 if cover.dtype == np.uint8 else 1)
        noise = photo_noise(image)
        level = np.float32(noise * small_face(parse.body.face_size))
        if skin is not None:
            level = np.maximum(level, skin[ys, xs] * grain_level(parse.skin.grain, parse.body.face_size, noise))
        grain = level * photo_grain(ys, xs) * weight
        box = out.image[rows, cols]  # a view: only the painted pixels are written
        box[ys, xs] = np.clip(box[ys, xs].astype(np.float32) + grain[:, None] + 0.5, 0, 255).astype(np.uint8)
    return RenderResult(out.image, out.result_mask, out.shape, painted, out.rim, kept=out.kept)


def _carry_detail(lifted: np.ndarray, image: np.ndarray, small_image: np.ndarray, result: np.ndarray,
                  old: np.ndarray, small_kept: np.ndarray, sources: tuple[slice, slice, np.ndarray]) -> None:
    """workscale.carry_detail over the added and repainted cloth of a lifted render (`result` but not
    the old garment's cloth kept, `small_kept` enlarged), in the box its sources reach only: a 12 MP
    box of the garment cost 90 ms where 12 pixels were added."""
    rows, cols, src = sources
    ys, xs = np.nonzero(src[..., 0] >= 0)
    if not len(ys):
        return
    y0, x0 = int(ys.min()), int(xs.min())
    box = (slice(rows.start + y0, rows.start + int(ys.max()) + 1), slice(cols.start + x0, cols.start + int(xs.max()) + 1))
    big_rows, big_cols = workscale.enlarged_box(*box, small_image.shape, image.shape)
    kept = workscale.enlarge(small_kept.astype(np.uint8) * 255, image.shape, big_rows, big_cols, np.uint8) >= 128
    added = result[big_rows, big_cols] & ~(old[big_rows, big_cols] & kept)
    workscale.carry_detail(lifted, image, small_image, (big_rows, big_cols, added), old,
                           (*box, src[y0:y0 + box[0].stop - box[0].start, x0:x0 + box[1].stop - box[1].start]))


def _lifted_rim(rim: tuple[slice, slice, np.ndarray] | None, small_gone: np.ndarray, shape: tuple[int, ...],
                old: np.ndarray) -> np.ndarray | None:
    """bool (H, W): a reduced render's rim (RenderResult.rim) at the photo's size, outside its
    garment and within `rim_reach` of it there; with the photo's pixels outside its garment where
    the reduced copy's garment went (`small_gone`, bool): the reduced mask's edge is not the photo's,
    and those pixels kept the photo's own, a black jacket's dark specks in the fill beside it."""
    whole = small_gone.copy()
    if rim is not None:
        whole[rim[0], rim[1]] |= rim[2]
    if not whole.any():
        return None
    rows, cols = bounding_box(whole)
    big_rows, big_cols, big = workscale.enlarge_region(whole[rows, cols].astype(np.uint8) * 255, rows, cols,
                                                       small_gone.shape, shape, np.uint8)
    out = np.zeros(shape[:2], bool)
    out[big_rows, big_cols] = big > 127
    reach = rim_reach(shape)
    near_rows = slice(max(0, big_rows.start - reach), big_rows.stop + reach)
    near_cols = slice(max(0, big_cols.start - reach), big_cols.stop + reach)
    out[near_rows, near_cols] &= dilate(old[near_rows, near_cols], reach) & ~old[near_rows, near_cols]
    return out


def _render_swap(image: np.ndarray, parse: GarmentParse, drawing: np.ndarray, view: CanonicalView,
                 category: str | None, preserve_color: bool, person: np.ndarray | None) -> RenderResult:
    """render_swap at the photo's own size."""
    body, old = parse.body, parse.mask
    if person is not None and parse.regained is not None:
        person = person | parse.regained  # what the person mask lost of this person (garment.regained)
    gen = to_gray(np.asarray(drawing)).astype(np.float32)
    size = gen.shape[0]
    new_shape = read(gen, view.frame, category, view.shape)
    r = dilation_radius(image.shape)
    bm = BodyMap(body)
    new = new_garment(parse, view.shape, new_shape, bm, 2 * r + 2, image, person)
    ease = int(round(new_shape.ease * body.scale)) if person is not None else 0
    eased = None
    rows, cols = _box([old, new], 2 * r + 2 + ease)
    crop = image[rows, cols]
    old_c, new_c = old[rows, cols], new[rows, cols]
    h, w = old_c.shape
    hands = hand_region((h, w), body, (cols.start, rows.start))  # no ring over them, no rim off them
    flat, part = bm.flat_grid(rows, cols)  # a slice of new_garment's: its box holds this one
    hem = (part == 0) & (flat[..., 1] > view.shape.hem - HEM_OVERLAP)  # where a longer hem adds cloth
    hem_flare = hem
    if parse.silhouette is not None:  # over the person's own lower body, where the photo shows it
        hem_flare = hem & over_the_legs(flat, legs_shown(parse.silhouette, rows, cols, body.length), hem & new_c)
        new_c = new_c & ~(hem & ~old_c & ~hem_flare)
    if person is not None:
        # Added cloth covers the person: a sleeve grows over an arm. Only a longer hem may flare
        # past the legs. Pose put the grey-haired man's left arm (zidane.jpg) in the crowd behind
        # him, and his lengthened sleeve was a dark blob there.
        on_person = person[rows, cols]
        if parse.silhouette is not None:
            # ...this person, where their own silhouette says (`own_reach`): pose put a boy's raised
            # elbow on the red shirt of the child beside him, and his sleeve was a green blob there.
            on_person = on_person & own_reach(parse.silhouette, body)[rows, cols]
        new_c = new_c & ~(~old_c & ~on_person & ~hem_flare)
        # The ring stands off the body over the background, which the person mask tells only where
        # it holds the garment: in a close-up it held a man's head and neck, a quarter of his shirt,
        # and the ring grew from the cloth by his neck over his collar in black blots.
        if ease > 0 and (old_c & person[rows, cols]).sum() >= EASE_ON_PERSON * old_c.sum():
            eased = eased_ring(new_c, old_c, person[rows, cols], part, flat, ease, new_shape.ease,
                               hands | parse.head[rows, cols],
                               body.across, edge_rim(image.shape))
            new_c |= eased
    drawn = shading(gen, to_frame(flat.reshape(-1, 2), size, view.frame)).reshape(h, w)

    # the garment layer: the photo's cloth, added cloth mirrored from it, the generator's coarse change
    ext = new_c & ~old_c
    repainted = None
    beyond = ext & _outside(old_c)  # a grown sleeve, a longer hem, a coat's ring: not a hole it fills
    if beyond.any():
        # The old garment's soft edge beside cloth added beyond it, inside its mask, is cloth blended
        # with what lay beside it: kept, it was a thin line of the background's blue inside Grace
        # Hopper's coat, and of the arm's skin across a sleeve grown over it, where the short sleeve
        # had ended. (Not beside a hole the new garment fills: among Grace Hopper's ribbons, their
        # edges went with it in dark blots.)
        reach_px = edge_rim(image.shape)
        inner = cv2.erode(old_c.astype(np.uint8), np.ones((2 * reach_px + 1,) * 2, np.uint8)).astype(bool)
        repainted = old_c & dilate(beyond, reach_px) & ~inner
        ext |= repainted
    lab = to_lab(crop)  # the photo's Lab; the garment layer's differs only where cloth was added
    cloth = cloth_of(old_c, lab, parse.skin) if old_c.any() else old_c
    source = cloth & main_cloth(lab, cloth)
    sources = np.full((h, w, 2), -1, np.int32) if ext.any() else None
    texture = mirrored_texture(crop, source, ext, sources=sources) if ext.any() else crop
    grown = ext & (part != 0)  # a sleeve grown longer
    # A coat's ring and a grown sleeve take the cloth's own colours only, whatever their share.
    own_colours = cloth & main_cloth(lab, cloth, 0.0) if repainted is not None or grown.any() else None
    if repainted is not None:
        # The ring is a narrow band beside the torso: the astronaut's suit is 0.66 of her garment,
        # and the ring by her collar mirrored her black turtleneck and the helmet clamp's shadow in
        # dark streaks.
        ring = ext & (repainted if eased is None else eased | repainted)
        texture[ring] = mirrored_texture(crop, own_colours, ring, sources=sources)[ring]
    if grown.any():  # along the arm, from its own cloth (the astronaut's badge ran down a sleeve)
        coded = with_unknown(old, parse.in_front)
        ends = {side: sleeve_run(coded, bm, side)[0] for side in (-1, 1) if bm.placed(side)}
        texture = sleeve_texture(texture, crop, own_colours, ext, bm, part, ends, (rows.start, cols.start), hem,
                                 sources)
    glab = lab.copy()
    glab[ext] = to_lab(texture[ext])
    # Cloth grown over bare skin (a sleeve over an arm) is lit as the skin was: the skin's own
    # lightness, smoothed, about its median, scaled from the skin's spread to the cloth's (never up:
    # a smooth arm's spread is small, and its shading made the cloth's folds twice as steep).
    # Where skin is most of a pixel's neighbourhood, so that a speck the skin mask missed is lit too.
    photo_l, garment_l = lab[..., 0], lab[..., 0][old_c]
    covered = ext & parse.skin_pixels[rows, cols]
    if covered.sum() >= 16:
        sigma = COVER_SHADE_SIGMA * bm.radius
        form = _lowpass(photo_l, covered, sigma)
        lit_as_skin = ext & (cv2.GaussianBlur(covered.astype(np.float32), (0, 0), sigma) >= 0.5)
        form -= float(np.median(form[covered]))
        gain = COVER_SHADING * min(1.0, cloth_spread(garment_l) / max(cloth_spread(photo_l[covered]), 1e-3))
        glab[..., 0][lit_as_skin] = np.clip(glab[..., 0][lit_as_skin] + gain * form[lit_as_skin], 0.0, 100.0)
    cell = max(1.0, view.frame[0] / size * body.length)  # one drawing pixel, in image pixels
    known = old_c | ext
    # Sleeve and torso read different places of the drawing: soften the seam between them.
    drawn = _lowpass(drawn, known, 0.5 * cell)
    if preserve_color:
        # The photo's lightness, shaded by the generator's change: its output minus its input, in
        # Fashion-MNIST gray, which canonical_view scaled so that the cloth's spread is FMNIST_STD.
        # Less its mean over the new garment: the cloth keeps its own lightness, as it keeps its colour.
        given = to_gray(np.asarray(view.gray)).astype(np.float32)  # the translator's input
        given = shading(given, to_frame(flat.reshape(-1, 2), given.shape[0], view.frame)).reshape(h, w)
        change = drawn - _lowpass(given, known, 0.5 * cell)
        inside = new_c if new_c.any() else known
        change -= float(change[inside].mean()) if inside.any() else 0.0
        # A fold, not a new colour: where the drawing's outline misses the flat lay's, the change
        # runs to the whole gray range, and saturated cloth pushed that far loses its chroma.
        change = np.clip(change, -MAX_CHANGE * FMNIST_STD, MAX_CHANGE * FMNIST_STD)
        shaded = np.clip(glab[..., 0] + change * (cloth_spread(garment_l) / FMNIST_STD), 0.0, 100.0)
        # A fold is no lighter than the cloth's own lit side. A garment read with other things in it
        # (a neighbour's hair, a hand, blocks of shirt taken for skin) has a wide spread, and the
        # generator's light folds on it went white: a fifth of a gray shirt at a card table.
        lightest = float(np.percentile(_sampled(garment_l), LIGHTEST)) \
            if len(garment_l) else 100.0
        glab[..., 0] = np.minimum(shaded, np.maximum(lightest, glab[..., 0]))
    else:
        glab = np.zeros_like(glab)
        glab[..., 0] = np.clip(drawn, 0, 255) * (100.0 / 255.0)
    garment_layer = to_rgb8(glab)

    # the layer under it: what the old garment hid
    under = crop.copy()
    uncovered = old_c & ~new_c
    ys, xs = np.nonzero(uncovered)
    # Drawn edges as soft as the photo's own where the garment meets what is around it: on a
    # blurred photo, sharp ones looked cut out and pasted on (closet.sharpness).
    blur = edge_sigma(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY), old_c)
    steep = math.sqrt(2.0 * math.pi) * blur  # a linear edge this wide is as steep as that blur's
    ramp = max(1.0, steep)
    arm, light = bare_arm(bm, np.stack([xs + cols.start + 0.5, ys + rows.start + 0.5], 1), parse.skin.light, ramp)
    # Below the new hem, on the person: legs, which the old garment hid and the photo never showed.
    legs = uncovered & person[rows, cols] & (part == 0) & (flat[..., 1] > new_shape.hem) if person is not None \
        else np.zeros_like(uncovered)
    # Where the old garment becomes background, its own edge goes too: the mask stops short of its
    # anti-aliased or fuzzy rim, which stayed as a dark ghost of its outline (Grace Hopper's jacket
    # beside her bared arms in `dress`: median L 6.5 one pixel out, 47 in the fill beside it; see
    # test_the_old_garments_edge_goes_with_it). Not the skin beside it (a hand).
    background = np.zeros_like(uncovered)
    background[ys, xs] = arm <= 0
    reach_rim = edge_rim(image.shape)
    rim = dilate(background & ~legs, reach_rim) & ~old_c & ~new_c & ~parse.skin_pixels[rows, cols]
    # ...and where it becomes bared skin, its edge on the arm's own skin beyond it: a short sleeve's
    # hem and the shadow it cast, kept, were a dark line across the arm where the sleeve had ended.
    # Not on a hand: a hand on the shoulder, a bracelet at the cuff, are what they are.
    bared_px = np.zeros_like(uncovered)
    bared_px[ys, xs] = arm >= 0.5
    rim |= dilate(bared_px, reach_rim) & ~old_c & ~new_c & parse.skin_pixels[rows, cols] & parse.arms[rows, cols] \
        & ~hands
    # ...and a cut sleeve's edge past its mask, out to the world: off the torso block above the hips
    # (not the torso's or a hem's: past a jacket's hem the person mask held the trousers, in the
    # jacket's navy, and the fill took the floor's white). Not on a blurred photo, where that edge
    # is the blur's own ramp, which the feathered render matches: painted as the fill, it was a
    # light line under the cameraman's bared forearm. Nor on a gray one, whose lightness alone
    # took his dark coat's side beside the forearm for the sleeve's edge, and notched it.
    past = np.zeros_like(rim) if person is None or blur > CLOTH_EDGE_BLUR or not parse.skin.known else \
        cloth_edge(lab, old_c, uncovered & ~legs & sleeve_cloth(flat, part), person[rows, cols],
                   parse.skin_pixels[rows, cols] | hands, image.shape)
    rim |= past & dilate(old_c, rim_reach(image.shape))
    if (arm < 1).any() or rim.any():
        # What the old garment hid: inpainted from around it (the old and new garment are not sources).
        fill = inpaint(crop, old_c | new_c | rim | past)
        under[uncovered] = fill[uncovered]
        under[rim] = fill[rim]
    if legs.any():
        # The old hem's own edge goes with it too, where the legs come out from under it: a fur
        # coat's fringe below its mask stayed as a beige line between the new legs and the jeans.
        leg_rim = dilate(legs, reach_rim) & beneath(old_c) & old_c.any(axis=0)[None, :] & ~old_c & ~new_c \
            & person[rows, cols] & ~parse.skin_pixels[rows, cols]
        rim |= leg_rim
        legs = legs | leg_rim
        # the photo's own trousers below the old garment lie under the box: look that far down
        reach = int(round(TROUSERS_REACH * body.length))
        low = slice(rows.start, min(image.shape[0], rows.stop + reach))
        # Legs are below the hips, and not a hand: a seated astronaut's glove in her lap, under
        # her suit's edge, was read as trousers: a maroon slab.
        flat_low, part_low = bm.flat_grid(low, cols)
        below_hips = person[low, cols] & (flat_low[..., 1] > 1.0) & (part_low == 0) \
            & ~hand_region(flat_low.shape, body, (cols.start, low.start))
        box = image[low, cols], old[low, cols], below_hips, np.pad(legs, ((0, low.stop - rows.stop), (0, 0)))
        shoes = feet(person, cols, low, TROUSERS_ABOVE_FEET * body.length)
        seen = seen_trousers(*box, reach, shoes)
        carried = None if seen is None else carried_legs(*box, reach, body.length, seen, shoes)
        under[legs] = trousers(garment_l, lab[..., 0][legs], seen) if carried is None else carried
    on = arm > 0
    if on.any():
        # A bared arm keeps light off the cloth beside it: it stands on the garment, not cut out of it.
        bared = np.zeros((h, w), np.uint8)
        bared[ys[arm >= 0.5], xs[arm >= 0.5]] = 1
        reach = max(1.0, ARM_SHADOW_REACH * body.scale)
        near = cv2.distanceTransform(1 - bared, cv2.DIST_L2, 3)
        by, bx = np.nonzero(new_c & (near < 3 * reach))
        if len(by):
            dim = np.cbrt(1.0 - ARM_SHADOW * np.exp(-near[by, bx] / reach))[:, None]
            shaded_cloth = glab[by, bx] * dim
            shaded_cloth[:, 0] = (glab[by, bx, 0] + 16.0) * dim[:, 0] - 16.0
            garment_layer[by, bx] = to_rgb8(shaded_cloth[None])[0]
        skin = np.empty((int(on.sum()), 3), np.float32)  # the bared pixels only
        shown = own_arm_skin(parse.skin_pixels[rows, cols] & parse.arms[rows, cols] & ~old_c,
                             parse.torso[rows, cols], hands,
                             beside_shoulders((h, w), body, (cols.start, rows.start)))  # the arms' own skin
        lit = arm_lit(lab[shown], parse.skin.lit, ARM_SKIN_SAMPLE * body.scale ** 2)
        skin[...] = lit
        # The light on the old garment, not its print: its own lightness only (no background mixed
        # in), within its own spread (a name tag or a ribbon bar showed through as a pale disc).
        base = float(np.median(garment_l)) if old_c.any() else lit[0]
        spread = cloth_spread(garment_l)
        lighting = _lowpass(lab[..., 0], old_c, max(1.0, 0.04 * body.scale))[ys[on], xs[on]]
        shaded = skin[:, 0] + SKIN_SHADING * np.clip(lighting - base, -spread, spread)
        # The cloth around bared skin shades it: darker where it leaves the sleeve and beside the torso.
        near = cv2.distanceTransform((~new_c).astype(np.uint8), cv2.DIST_L2, 3)[ys[on], xs[on]]
        occluded = 1.0 - CLOTH_SHADOW * np.exp(-near / max(1.0, CLOTH_SHADOW_REACH * body.scale))
        # Shaded as light shades: less light scales XYZ, so L + 16 and a*b* by the same cube root.
        skin[:, 0] = np.clip(((shaded + 16.0) * np.cbrt(light[on]) - 16.0) * occluded, 0, 100)
        # Darker skin that kept the lit colour's chroma read as brown paint beside a black jacket.
        skin[:, 1:] *= ((skin[:, 0] + 16.0) / (lit[0] + 16.0))[:, None]
        # Its edge against the photo (outside both garments) is as soft as the photo's own edges: cut
        # at the old garment's mask it was a hard line, stepped where the render worked reduced
        # (Obama's bared shoulder against the dark suits behind him).
        inside = cv2.distanceTransform((old_c | new_c).astype(np.uint8), cv2.DIST_L2, 3)[ys[on], xs[on]]
        a = (arm[on] * np.clip(inside / max(SKIN_EDGE, steep), 0.0, 1.0))[:, None]
        below = under[ys[on], xs[on]].astype(np.float32)
        under[ys[on], xs[on]] = np.clip(a * to_rgb8(skin[None])[0] + (1 - a) * below + 0.5, 0, 255).astype(np.uint8)

    # Feathered inside the union only: where alpha is 0, `under` comes back exactly, and `under` is
    # the photo's own outside the old garment and its rim. So every pixel farther than `rim_reach`
    # from the old and the new garment keeps its bytes, a stricter promise than the served one
    # (outside their dilation, never narrower).
    alpha = cv2.GaussianBlur(new_c.astype(np.float32), (0, 0), max(1.0, blur))[..., None]
    alpha = np.where((new_c | old_c)[..., None], alpha, 0.0)
    mixed = np.clip(under.astype(np.float32) * (1 - alpha) + garment_layer.astype(np.float32) * alpha + 0.5, 0, 255)
    if blur > 1.0 and legs.any():
        # Legs drawn where the old hem was meet the photo's own below it: on a blurred photo, as softly
        # as its edges (the cameraman's trousers blurred by 3 px met his drawn legs in a sharp seam).
        seam = legs & (cv2.distanceTransform((old_c | new_c).astype(np.uint8), cv2.DIST_L2, 3) < ramp)
        mixed[seam] = cv2.GaussianBlur(mixed, (0, 0), blur)[seam]
    out = image.copy()
    out[rows, cols] = mixed.astype(np.uint8)
    result = np.zeros(image.shape[:2], bool)
    result[rows, cols] = new_c
    painted = None
    if uncovered.any():  # in the painted pixels' own box: a few uncovered pixels of a big garment cost a few
        y0, x0 = int(ys.min()), int(xs.min())
        cover = np.zeros((int(ys.max()) + 1 - y0, int(xs.max()) + 1 - x0), np.float32)
        cover[ys - y0, xs - x0] = 1.0 - alpha[ys, xs, 0]
        skin = None
        if on.any():
            skin = np.zeros_like(cover)
            skin[ys - y0, xs - x0] = arm
        painted = (slice(rows.start + y0, rows.start + y0 + cover.shape[0]),
                   slice(cols.start + x0, cols.start + x0 + cover.shape[1]), cover, skin)
    if sources is not None:
        sources += np.where(sources >= 0, np.int32([rows.start, cols.start]), np.int32(0))  # the photo's
    return RenderResult(out, result, new_shape, painted, (rows, cols, rim) if rim.any() else None,
                        (rows, cols, repainted) if repainted is not None and repainted.any() else None,
                        None if sources is None else (rows, cols, sources),
                        frozenset(kept_sleeves(bm, new_shape.reach, image.shape[:2])))
