"""The upper-garment mask of one person from pose keypoints (the `pose-garment` parser's geometry).

Given an RGB photo, a person mask (U^2-Net's, or the pose model's own segmentation) and one
person's 33 BlazePose keypoints (closet.body):
  1. region: the torso polygon (shoulders widened to the deltoids and raised to the collar,
     hips lowered to the hem; hips below the frame extrapolated from the shoulder span) plus a
     capsule along each seen arm, shoulder -> elbow -> wrist, as wide as a sleeve for this body;
     an arm whose elbow is hidden (low visibility, or outside the image) gets no capsule;
  2. cut to the person mask (the quad between the shoulder and hip joints always counts: a
     salient-object mask can leave holes in dark cloth), and, when the pose model gave one, to the
     person's own silhouette taken OWN_EDGE wider (a salient-object mask holds a table in front);
     where that mask lost most of the silhouette (dark clothes before a dark wall), what GrabCut
     takes back of it by colour (`regained`);
  3. minus the head: an ellipse over the face landmarks 0-10, grown upward and sideways for the
     hair;
  4. minus skin: pixels whose CIE a*b* lie near the person's own face (sampled between nose and
     mouth) and whose lightness is not far from it; this drops bare forearms, hands and necks and
     keeps long sleeves;
  5. clean-up: a small opening, and specks under 1% of the mask dropped.

Grayscale photos (no pixel with visible chroma), and skin-coloured garments (most of the
torso between the shoulder and hip joints looks like the face): skin cannot be told from cloth
by colour, so step 4 is skipped and `Skin.known` is False. The mask is then geometry and
person mask only: a bare forearm inside a capsule counts as garment, while hands (beyond the
wrist) and the face still drop out. The renderer then fills skin with the face's own gray.

A person whose torso is not visible (shoulders unseen or outside the image, or nothing left of
the region) raises closet.errors.NoGarment, with a detail naming what is missing.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from closet import lighting, workscale
from closet.body import (
    L_EYE,
    MOUTH_L,
    MOUTH_R,
    NOSE,
    R_EYE,
    VISIBLE,
    Body,
    as_xyv,
    body_from_keypoints,
    face_of,
    face_size,
)
from closet.color import near_median, to_lab
from closet.errors import NoGarment

PARSER_NAME = "pose-garment"
# Torso polygon, in units of the body's width (Body.scale): shoulders pushed out over the
# deltoids, the collar raised toward the chin, the hem below the hip joints.
SHOULDER_OUT = 0.14
COLLAR_UP = 0.22
COLLAR_HALF = 0.22
HEM_DOWN = 0.12
HIP_OUT = 0.12
# Sleeve capsule radius per body width: upper arm, forearm (a sleeve, not the bare arm).
UPPER_ARM_RADIUS = 0.22
FOREARM_RADIUS = 0.17
# A hand runs on from the wrist this share of the forearm's length (about 19 cm to 26 cm), this many
# body widths around its middle.
HAND_PER_FOREARM, HAND_RADIUS = 0.75, 0.15
# ...and toward each of its knuckles, to twice the knuckle's distance from the wrist (the fingers are
# about as long as the palm): a hand need not point along its forearm. Obama's arms folded
# (face_recognition's obama.jpg): his right hand lies on his left sleeve, fingers up, and `coat`
# grew that sleeve over it as navy fingers.
FINGERS_PER_PALM = 2.0
# Head ellipse in face widths: half-width, height above the eyes (hair), below them (chin).
HEAD_HALF_WIDTH = 0.72
HEAD_UP = 1.0
HEAD_DOWN = 0.95
# Skin: a*b* distance from the face's median (at least SKIN_AB, or 2.5 of the face's own spread,
# but under SKIN_NEUTRAL of the face's chroma, so that no gray, black or white is ever skin) and
# lightness within the face's -SKIN_DARKER / +SKIN_LIGHTER.
SKIN_AB = 8.0
SKIN_SPREAD = 2.5
# A face's spread widens the radius up to SKIN_MAX_AB. On the evaluation photos and the portraits
# faces spread 3.2-8.3 (radii 8-16); at a warm-lit card table 9.1-11.6, and a radius of 23 took 58%
# of a man's gray shirt in that light (its pixels 14-27 a*b* from his face) for skin, in JPEG blocks.
SKIN_MAX_AB = 18.0
SKIN_NEUTRAL = 0.75
SKIN_DARKER = 40.0
SKIN_LIGHTER = 25.0
# A bared arm's colour: the lit side of the face from the eyes to below the mouth (this ellipse's
# half-axes, in face widths). The skin sample above sits between the nose and the mouth, which can
# be the nose's shadow or an open mouth: zidane.jpg's grey-haired man read L 23.5 there, 55.7 here.
LIT_FACE_AXES = (0.38, 0.45)
# A face whose lit colour has a chroma of at least SKIN_MIN_CHROMA and a hue (CIE a*b*, degrees)
# outside SKIN_HUE is no skin: BlazePose "sees" the face of someone turned away (the blue hood of a
# man seen from behind read Lab (36, 17, -11), and `dress` bared mauve arms), a mask or a visor.
# The 40 faces on the colour photos we have read 25-82 degrees, under warm, cold and club light. Such
# a person's skin is taken for DEFAULT_SKIN, the median of those faces' lit colours, with
# DEFAULT_SKIN_SPREAD.
SKIN_HUE = (10.0, 100.0)
SKIN_MIN_CHROMA = 4.0
# The lit side is read on the face's skin-hued pixels when they are at least this share of them.
FACE_SKIN_SHARE = 0.5
DEFAULT_SKIN = (64.0, 14.0, 23.0)
DEFAULT_SKIN_SPREAD = 5.0
# Below the hips: how far a garment may go (torso lengths below the hip joints), how wide (per
# body width, beyond each hip joint), and how close in colour to the garment's median (its
# per-channel median deviation times SKIRT_SPREAD, at least SKIRT_MIN_DIFF Lab units).
SKIRT_DOWN = 1.2
HIP_PER_WIDTH = 0.35
SKIRT_SPREAD = 3.0
SKIRT_MIN_DIFF = np.array([12.0, 6.0, 6.0])
# Colour, read pixel by pixel, leaves specks: a dark suit's shadowed side falls near black, where
# its blue is noise (Obama standing, obama3.jpg: the jacket's lower side was full of holes, and a
# longer coat drew the background into them). Gaps narrower than SKIRT_CLOSE body widths
# between garment pixels are garment.
SKIRT_CLOSE = 0.03
# More skin-coloured pixels than this share of the belly (the torso's lower half, between the
# shoulder and hip joints) means the garment itself is skin-coloured. bus.jpg's man in a beige fur
# coat reads 0.86-0.88 there at every size it is found; on a warm-lit card-table photo two men in a
# gray and a red shirt 0.65 and 0.98, three women in low-cut tops 0.33-0.40 (their whole torsos
# read up to 0.9: the chest above a V neck is bare).
SKIN_COLOURED_GARMENT = 0.5
# A garment near the skin's colour but off it (beige, camel) reads as skin in patches, wherever its
# light brings it within the face's spread, and every target shaded the cloth around those holes in
# brown blotches (a held-out man's beige sweater, 12.6 a*b* from his face, at the edge of the skin
# radius: 0.2 of his belly read as skin, under SKIN_COLOURED_GARMENT). On the torso, a pixel read as
# skin whose a*b* lies nearer the torso cloth's median than the face's is cloth (`nearer_cloth`;
# this factor scales the distance to the face, 0: off). Only within the torso region, and not on
# the hands or the neck there: a hand on a cream cardigan, its highlights nearer the cardigan than
# the face, stays a hand.
NEARER_CLOTH = 1.0
# A band of bare skin across the torso's middle under the garment (a crop top's bared midriff, or
# bare thighs across it, knees up; not a camisole's bare chest, with no garment above it) ends the
# upper garment: what lies below it (a skirt, trousers, shins) hides this one as a person in front
# does (`GarmentParse.in_front`). A woman's navy skirt below her crop top was read as her top,
# and `pullover` painted it below its new hem as dark trousers. A band: MIDRIFF_DEPTH torso lengths,
# from MIDRIFF_FROM down, whose every row holds MIDRIFF_SKIN or more skin across the torso's middle
# (MIDRIFF_HALF_WIDTH torso widths each side of its middle line, the arms and hands left out:
# forearms folded over a shirt, hands clasped over a belly).
MIDRIFF_FROM = 0.4
MIDRIFF_GARMENT_FROM = 0.1  # the garment above it is looked for from here down
MIDRIFF_DEPTH = 0.04
MIDRIFF_HALF_WIDTH = 0.3
MIDRIFF_SKIN = 0.7
# Skin is a piece with a core: skin-coloured pixels in a sleeve, enclosed by the garment, whose
# piece holds no disc of SKIN_CORE body widths' radius are the cloth's own shadows. An olive-striped
# rugby shirt on a brown-skinned man read as skin in a strip along each sleeve's shadowed side, and
# the arms a dress bared kept those strips as dark brown specks. Fingers are skin: they hang from a
# palm.
SKIN_CORE = 0.03
# ...and a piece enclosed by skin, of a skin's hue, no larger than SKIN_ISLAND of the torso's quad (the
# area between the shoulder and hip joints), is skin in another light: the middle of a woman's chest
# between her bra's cups, in a club's pink light, lay just past her face's skin radius (a median 7.7
# a*b* off, the radius 6.3), a garment island, and every target painted it as a pale gray patch.
# (Not a bigger piece: a beige tube top between a bare chest and a bare midriff is enclosed by skin
# too.)
SKIN_ISLAND = 0.1
# An arm's skin where the face does not predict it (`arm_skin`): within this of the face's lit a*b*,
# and this far (CIE76) from the torso's cloth. Bared skin takes the colour of the arm's own skin the
# photo shows, when it shows this many body widths squared of it (`arm_lit`; a forearm's patch).
ARM_SKIN_AB = 20.0
ARM_SKIN_OFF_CLOTH = 25.0
ARM_SKIN_SAMPLE = 0.05
# A leg is no upper garment: where pose sees a knee, the capsule from the hip joint to the knee and on
# to the ankle, LEG_RADIUS body widths round, holds skin of any skin's hue ARM_SKIN_OFF_CLOTH or more
# from the torso's cloth, in the face's lightness range (`leg_skin`). Three women sitting on a sofa
# in a window's light, in a short dress and camisoles: faces a*b* (5-7, 2-9), the skin-hued pixels
# of their bare thighs and knees, in the torso's region, a median (12-19, 9-18); every target
# painted them in copper blocks.
LEG_RADIUS = 0.2
# A neck in the shade under the chin is skin the face does not predict either (a man before a blue
# screen: his lit face a*b* (23, 22), his neck (14, 17), 12 off the face's median, past its radius
# of 11, and `coat` painted it in his sweater's knit). The capsule from the mouth to the collar,
# NECK_RADIUS face widths round, takes the arm rule (`arm_skin`), but off the cloth by a*b* alone
# (NECK_OFF_CLOTH_AB): shade darkens skin toward a dark cloth's lightness, not toward its hue (that
# neck's shade lay 20 CIE76 from his dark gray knit, 19 in a*b*).
NECK_RADIUS = 0.45
NECK_OFF_CLOTH_AB = 12.0
# A photo is grayscale when 99% of its pixels have a chroma under this (CIE ab units).
GRAY_CHROMA = 3.0
MIN_GARMENT_PIXELS = 64
# Less garment than this share of the torso the photo shows (between the shoulder and hip joints,
# on the person, not the head) is no upper garment: bare shoulders and a bare chest with hair over
# them (a portrait cut above a camisole read 0.01, the hair's shadow and a card's edge). Garments
# read 0.77-1.0 on the evaluation and card-table photos, low-cut tops and a camisole 0.24-0.57.
MIN_TORSO_COVERED = 0.1
# The person's own silhouette (the pose model's) is taken this many body widths wider.
OWN_EDGE = 0.1
# A person mask that holds less than this share of a person's silhouette over their torso and arms
# has lost their clothes (`regained`): a dark suit against a dark wall read 0.07, a dark dress in a
# dark painting 0.34. The portraits and party photos read 0.61-1.0; the evaluation photos 0.88-1.0
# but for the blurred cameraman (0.40) and zidane.jpg's second man (0.41), whose dark jacket's lower
# half the mask lost too.
LOST_SHARE = 0.5
# GrabCut's passes, and how far round the silhouette (body widths) it reads the background.
GRABCUT_ITERATIONS = 4
GRABCUT_SEED = 0  # OpenCV's random state, set before each GrabCut
GRABCUT_MARGIN = 0.3
GRABCUT_SIDE = 160


@dataclass(frozen=True)
class Skin:
    """The skin colour of one person, sampled on the face: CIE Lab (L 0-100), and its a*b* spread;
    `lit`, the face's lit skin (Lab), is what bared skin is painted in.

    `known` is False on a grayscale photo: `lab` is then the face's gray, and no pixel is
    told apart as skin by colour. `grain` is the photo's fine texture on the face (the spread of
    its gray about a 1 px blur, in gray levels, at the photo's own size): bared skin painted
    without it reads as pasted on. `light`, the light the face shows (closet.lighting), shades it.
    """

    lab: tuple[float, float, float]
    spread: float
    known: bool
    lit: tuple[float, float, float]
    grain: float = 0.0
    light: lighting.Light = lighting.FRONT


@dataclass
class GarmentParse:
    """One person's garment mask and what it was made of (all bool (H, W) masks)."""

    mask: np.ndarray
    body: Body
    skin: Skin
    torso: np.ndarray
    arms: np.ndarray
    head: np.ndarray
    skin_pixels: np.ndarray
    # The same parse on the reduced copy it was made on (closet.workscale); None: made at full size.
    work: GarmentParse | None = None
    # This person's own silhouette (the pose model's segmentation; None without one): where the
    # photo shows them, unlike the person mask, which holds whatever is salient (a table in front).
    silhouette: np.ndarray | None = None
    # Where other people are seen in front of this one (None: nobody): the silhouettes of those in
    # front, and of those beside or behind where this person's own silhouette is not; and what lies
    # below a bared midriff (MIDRIFF_SKIN). None of this person's garment is there, it hides their
    # garment as the photo's edge does, and none is drawn there.
    in_front: np.ndarray | None = None
    # What of this person the person mask lost and their silhouette holds (`regained`; None: nothing).
    # The render takes it as the person mask's.
    regained: np.ndarray | None = None

    def reduced_photo(self, image: np.ndarray, f: float) -> np.ndarray:
        """`image` (the photo this parse is of) reduced by `f` (closet.workscale)."""
        return workscale.reduce_image(image, f)

    def scaled(self, f: float) -> GarmentParse:
        """This parse on the photo reduced by `f` (closet.workscale): the one it was made on, when it was."""
        if self.work is not None and self.work.mask.shape == workscale.reduced_size(self.mask.shape, f)[::-1]:
            return self.work

        def small(m: np.ndarray) -> np.ndarray:
            return workscale.reduce_mask(m, f)

        return GarmentParse(mask=small(self.mask), body=self.body.scaled(f), skin=self.skin, torso=small(self.torso),
                            arms=small(self.arms), head=small(self.head), skin_pixels=small(self.skin_pixels),
                            silhouette=None if self.silhouette is None else small(self.silhouette),
                            in_front=None if self.in_front is None else small(self.in_front))


class _Enlarged:
    """A mask of a LiftedParse's `work` parse, enlarged to the photo when first read, then kept."""

    def __set_name__(self, owner, name: str):
        self.name = name

    def __get__(self, parse, owner=None):
        if parse is None:
            return self
        small = getattr(parse.work, self.name)
        mask = None if small is None else workscale.enlarge_mask(small, parse._shape)
        vars(parse)[self.name] = mask  # a non-data descriptor: the instance's value wins from now on
        return mask


class LiftedParse(GarmentParse):
    """A GarmentParse made on a reduced copy (closet.workscale): the garment mask enlarged to the
    photo at once, the masks it was made of only when read. A request reads none of them at full
    size (the render works on `work`), and each is 9 ms at 12 MP."""

    def __init__(self, work: GarmentParse, body: Body, photo: np.ndarray, reduced: np.ndarray):
        """`work` parsed `reduced`, a reduced copy of `photo`; `body` is in the photo's pixels."""
        # The skin's colour as the reduced copy read it; its grain at the photo's own size, where it is painted.
        self.work, self.body = work, body
        self.skin = dataclasses.replace(work.skin, grain=measure_grain(photo, lit_face(photo.shape, body)))
        self._shape, self._photo, self._reduced = photo.shape, photo, reduced
        self.mask = workscale.enlarge_mask(work.mask, photo.shape)

    def reduced_photo(self, image: np.ndarray, f: float) -> np.ndarray:
        if image is self._photo and self._reduced.shape[:2] == workscale.reduced_size(image.shape, f)[::-1]:
            return self._reduced  # the copy this parse was made on (28 ms at 12 MP)
        return super().reduced_photo(image, f)

    torso = _Enlarged()
    arms = _Enlarged()
    head = _Enlarged()
    skin_pixels = _Enlarged()
    silhouette = _Enlarged()
    in_front = _Enlarged()
    regained = _Enlarged()


COLOUR_SAMPLES = 100_000  # evenly strided pixels a colour statistic reads at most


def is_grayscale(rgb: np.ndarray) -> bool:
    """True when (nearly) no pixel shows colour: a gray photo stored as RGB."""
    small = rgb[:: max(1, rgb.shape[0] // 128), :: max(1, rgb.shape[1] // 128)]
    lab = to_lab(small)
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    return float(np.percentile(chroma, 99)) < GRAY_CHROMA


def _ellipse(shape: tuple[int, ...], centre, axes, angle_deg: float) -> np.ndarray:
    m = np.zeros(shape[:2], np.uint8)
    cv2.ellipse(m, (int(round(centre[0])), int(round(centre[1]))),
                (max(1, int(round(axes[0]))), max(1, int(round(axes[1])))), angle_deg, 0, 360, 1, -1)
    return m.astype(bool)


def _face_frame(body: Body) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(eye centre, unit 'down the face' vector, unit 'across' vector) from the face landmarks."""
    return _face_axes(body.face, body.axis)


def _face_axes(f: np.ndarray, fallback: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """_face_frame of face landmarks `f`; `fallback`, 'down' where the eyes and the mouth meet."""
    eyes = (f[L_EYE] + f[R_EYE]) / 2
    mouth = (f[MOUTH_L] + f[MOUTH_R]) / 2
    down = mouth - eyes
    n = float(np.linalg.norm(down))
    down = down / n if n > 1e-6 else fallback
    return eyes, down, np.array([-down[1], down[0]])


def skin_from_face(rgb: np.ndarray, body: Body) -> Skin:
    """The face's skin colour: median Lab of an ellipse between the nose and the mouth (below
    glasses, above the chin), and the a*b* spread (median absolute deviation)."""
    f = body.face
    size = body.face_size
    mouth = (f[MOUTH_L] + f[MOUTH_R]) / 2
    centre = 0.5 * f[NOSE] + 0.5 * mouth
    _, down, across = _face_frame(body)
    angle = float(np.degrees(np.arctan2(down[1], down[0]))) - 90.0
    region = _ellipse(rgb.shape, centre, (0.28 * size, 0.16 * size), angle)
    px = to_lab((rgb[region] if region.any() else rgb.reshape(-1, 3))[None])[0]
    med = np.median(px, axis=0)
    spread = float(np.median(np.hypot(px[:, 1] - med[1], px[:, 2] - med[2])))
    face = lit_face(rgb.shape, body)
    rows, cols, inside = face
    fpx = to_lab(rgb[rows, cols][inside][None])[0] if inside.any() else px
    ys, xs = np.nonzero(inside)
    known = not is_grayscale(rgb)
    # Its skin only, where most of it is of a skin's hue: a boy laughing before a white studio wall
    # read white (L 100) as his lit side, from his teeth and the wall inside the ellipse (35% of it),
    # and `dress` bared his arm as a white tube.
    on_skin = skin_hued(fpx) if known else np.ones(len(fpx), bool)
    if on_skin.sum() >= FACE_SKIN_SHARE * len(fpx) and len(xs):
        fpx, ys, xs = fpx[on_skin], ys[on_skin], xs[on_skin]
    # The lit side: a face three quarters in shadow (zidane.jpg's Zidane, under a stadium's side
    # light) has it in its brightest 13%: its brighter half read L 26 and bared arms were ochre
    # paint, its lit side reads 57.
    lit_px = lighting.lit_class(fpx[:, 0])
    lit = np.median(fpx[lit_px], axis=0)
    light = lighting.FRONT
    if len(xs):
        light = lighting.face_light(fpx[:, 0], np.stack([xs, ys], 1).astype(np.float64), across, size, lit_px)
    if known and not is_skin_colour(lit):
        med, lit, spread, light = np.array(DEFAULT_SKIN), np.array(DEFAULT_SKIN), DEFAULT_SKIN_SPREAD, lighting.FRONT
    return Skin(lab=(float(med[0]), float(med[1]), float(med[2])), spread=spread, known=known,
                lit=(float(lit[0]), float(lit[1]), float(lit[2])), grain=measure_grain(rgb, face), light=light)


def is_skin_colour(lab) -> bool:
    """Whether a Lab colour can be skin: too gray to tell (chroma under SKIN_MIN_CHROMA), or of a
    skin's hue (SKIN_HUE)."""
    a, b = float(lab[1]), float(lab[2])
    hue = math.degrees(math.atan2(b, a))
    return math.hypot(a, b) < SKIN_MIN_CHROMA or SKIN_HUE[0] <= hue <= SKIN_HUE[1]


def lit_face(shape: tuple[int, ...], body: Body) -> tuple[slice, slice, np.ndarray]:
    """The face from the eyes to below the mouth, where Skin.lit and Skin.grain are read: its box
    (rows, cols) in an image of `shape`, and the bool ellipse inside that box (a 12 MP photo's
    face is a small part of it)."""
    f = body.face
    eyes, mouth = (f[L_EYE] + f[R_EYE]) / 2, (f[MOUTH_L] + f[MOUTH_R]) / 2
    _, down, _ = _face_frame(body)
    angle = float(np.degrees(np.arctan2(down[1], down[0]))) - 90.0
    axes = (LIT_FACE_AXES[0] * body.face_size, LIT_FACE_AXES[1] * body.face_size)
    centre = 0.55 * eyes + 0.45 * mouth
    reach = int(np.ceil(max(axes))) + 2
    x0, y0 = max(0, int(centre[0]) - reach), max(0, int(centre[1]) - reach)
    x1, y1 = min(shape[1], int(centre[0]) + reach + 1), min(shape[0], int(centre[1]) + reach + 1)
    rows, cols = slice(y0, max(y0, y1)), slice(x0, max(x0, x1))
    return rows, cols, _ellipse((rows.stop - rows.start, cols.stop - cols.start), centre - (x0, y0), axes, angle)


def measure_grain(rgb: np.ndarray, region: tuple[slice, slice, np.ndarray]) -> float:
    """The photo's fine texture in `region` (rows, cols, bool mask of that box): 1.4826 median
    absolute deviations of its gray about a 1 px Gaussian blur of it (gray levels)."""
    rows, cols, mask = region
    if not mask.any():
        return 0.0
    gray = cv2.cvtColor(np.ascontiguousarray(rgb[rows, cols]), cv2.COLOR_RGB2GRAY).astype(np.float32)
    fine = (gray - cv2.GaussianBlur(gray, (0, 0), 1.0))[mask]
    return float(1.4826 * np.median(np.abs(fine - np.median(fine))))


def skin_mask(rgb: np.ndarray, skin: Skin, lab: np.ndarray | None = None, widest: bool = False) -> np.ndarray:
    """Pixels of this person's skin colour (all False when the skin colour is unknown); `widest`:
    within the face's whole spread, not only SKIN_MAX_AB."""
    if not skin.known:
        return np.zeros(rgb.shape[:2], bool)
    lab = to_lab(rgb) if lab is None else lab
    d_ab = ab_off(lab, skin.lab)
    # A dim face sampled in shadow has a wide spread; a radius as wide as its chroma would take in
    # every near-black pixel (the grey-haired man's dark suit in zidane.jpg).
    near = d_ab < min(max(SKIN_AB, SKIN_SPREAD * skin.spread), math.inf if widest else SKIN_MAX_AB,
                      SKIN_NEUTRAL * math.hypot(skin.lab[1], skin.lab[2]))
    return near & in_skin_light(lab, skin)


def in_skin_light(lab: np.ndarray, skin: Skin) -> np.ndarray:
    """bool (...): which Lab colours lie in the face's lightness range, from SKIN_DARKER under its
    sample up to SKIN_LIGHTER over its lit side. Up to the lit side: a sample in the nose's shadow
    (L 23.5 on zidane.jpg's grey-haired man, his lit side 55) left the lit half of a hand in front
    of him to be taken for cloth."""
    return (lab[..., 0] >= skin.lab[0] - SKIN_DARKER) & (lab[..., 0] <= max(skin.lab[0], skin.lit[0]) + SKIN_LIGHTER)


def head_mask(shape: tuple[int, ...], body: Body) -> np.ndarray:
    """Face and hair: an ellipse over the face landmarks, from the chin up past the crown."""
    return _head(shape, body.face, body.axis) if body.face_seen else np.zeros(shape[:2], bool)


def head_of(keypoints, shape: tuple[int, ...]) -> np.ndarray:
    """head_mask from a person's BlazePose keypoints alone: a face whose shoulders are off the photo
    (no Body) is a head all the same."""
    face, seen = face_of(keypoints)
    return _head(shape, face.astype(np.float64), np.array([0.0, 1.0])) if seen else np.zeros(shape[:2], bool)


def _head(shape: tuple[int, ...], face: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    eyes, down, _ = _face_axes(face, fallback)
    size = face_size(face)
    centre = eyes + down * size * (HEAD_DOWN - HEAD_UP) / 2
    angle = float(np.degrees(np.arctan2(down[1], down[0]))) - 90.0
    return _ellipse(shape, centre, (HEAD_HALF_WIDTH * size, (HEAD_UP + HEAD_DOWN) / 2 * size), angle)


def torso_polygon(body: Body) -> np.ndarray:
    """(6, 2) float32 polygon of the torso garment: hem corners, shoulders, collar."""
    s, a, x = body.scale, body.axis, body.across
    rs = body.right_shoulder - x * SHOULDER_OUT * s
    ls = body.left_shoulder + x * SHOULDER_OUT * s
    collar_r = body.neck - x * COLLAR_HALF * s - a * COLLAR_UP * s
    collar_l = body.neck + x * COLLAR_HALF * s - a * COLLAR_UP * s
    lh = body.left_hip + x * HIP_OUT * s + a * HEM_DOWN * s
    rh = body.right_hip - x * HIP_OUT * s + a * HEM_DOWN * s
    return np.float32([rs, collar_r, collar_l, ls, lh, rh])


def torso_region(shape: tuple[int, ...], body: Body) -> np.ndarray:
    m = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(m, [np.round(torso_polygon(body)).astype(np.int32)], 1)
    return m.astype(bool)


def bounding_box(mask: np.ndarray, pad: int = 0) -> tuple[slice, slice]:
    """(rows, cols) of a non-empty bool mask's bounding box, `pad` pixels wider (within the image).
    From row and column projections: no index array of every pixel (millions in a 12 MP photo)."""
    ys, xs = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    return (slice(max(0, ys[0] - pad), min(h, ys[-1] + 1 + pad)),
            slice(max(0, xs[0] - pad), min(w, xs[-1] + 1 + pad)))


def capsule(shape: tuple[int, ...], p0, p1, radius: float, origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """A segment p0-p1 thickened to `radius` pixels (round ends), in a box of `shape` whose top-left
    pixel is image pixel `origin` (x, y): the box of the whole image's capsule, pixel for pixel."""
    m = np.zeros(shape[:2], np.uint8)
    r = max(1, int(round(radius)))

    def pixel(p):
        return int(round(p[0])) - origin[0], int(round(p[1])) - origin[1]

    cv2.line(m, pixel(p0), pixel(p1), 1, thickness=2 * r + 1)
    for p in (p0, p1):
        cv2.circle(m, pixel(p), r, 1, -1)
    return m.astype(bool)


def arm_region(shape: tuple[int, ...], body: Body, off_photo: bool = False, unseen: bool = False,
               seen: bool = True) -> np.ndarray:
    """Sleeve capsules along every seen arm (shoulder -> elbow -> wrist; none with `seen` False),
    with `off_photo` along every arm that runs off the photo too (BlazePose's guess of its elbow and
    wrist past the frame), and with `unseen` along every arm."""
    m = np.zeros(shape[:2], bool)
    for arm in (body.left_arm, body.right_arm):
        if (seen and arm.seen) or unseen or (off_photo and arm.off_photo):
            m |= capsule(shape, arm.shoulder, arm.elbow, UPPER_ARM_RADIUS * body.scale)
            m |= capsule(shape, arm.elbow, arm.wrist, FOREARM_RADIUS * body.scale)
    return m


def regained(rgb: np.ndarray, person: np.ndarray, own: np.ndarray, where: np.ndarray, body: Body) -> np.ndarray:
    """bool like `person`: what of this person's silhouette `own` the person mask lost, by colour.
    U^2-Net's mask is of what stands out: a dark suit against a dark wall, or a plaid shirt before a
    bookcase, was left out up to the face, and the garment was the block between the shoulder and hip
    joints. The silhouette follows the pose's own errors (an arm drawn over a tripod), so it is not
    taken whole: where the person mask holds under LOST_SHARE of it in `where` (the torso and arms),
    GrabCut (OpenCV) splits the silhouette's box by the colours of what the mask kept of the person
    (foreground) and of what lies well outside the silhouette (background). Else nothing."""
    out = np.zeros_like(person)
    seen = own & where
    if not seen.any() or (person & seen).sum() >= LOST_SHARE * seen.sum():
        return out
    margin = max(2, int(round(GRABCUT_MARGIN * body.scale)))
    rows, cols = bounding_box(own, margin)
    near = own_reach(own, body)[rows, cols]
    seed = np.full(near.shape, cv2.GC_BGD, np.uint8)
    seed[near] = cv2.GC_PR_BGD
    seed[own[rows, cols]] = cv2.GC_PR_FGD
    seed[(own & person)[rows, cols]] = cv2.GC_FGD
    # On a copy at most GRABCUT_SIDE px a side: its graph cut is most of its cost (0.3 s at 512 px).
    h, w = seed.shape
    f = min(1.0, GRABCUT_SIDE / max(h, w))
    size = (max(1, round(w * f)), max(1, round(h * f)))
    small = cv2.resize(np.ascontiguousarray(rgb[rows, cols, ::-1]), size, interpolation=cv2.INTER_AREA)
    small_seed = cv2.resize(seed, size, interpolation=cv2.INTER_NEAREST)
    if not (small_seed == cv2.GC_BGD).any() or not (small_seed == cv2.GC_FGD).any():
        return out  # nothing of either side to learn its colours from (GrabCut would raise)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    # GrabCut seeds its colour models by k-means from the thread's random state: unseeded, one photo
    # regained 66 to 904 pixels from one call to the next, and the same request got other answers.
    cv2.setRNGSeed(GRABCUT_SEED)
    cv2.grabCut(small, small_seed, None, bgd, fgd, GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_MASK)
    fg = ((small_seed == cv2.GC_FGD) | (small_seed == cv2.GC_PR_FGD)).astype(np.float32)
    out[rows, cols] = (cv2.resize(fg, (w, h), interpolation=cv2.INTER_LINEAR) >= 0.5) & near
    return out & ~person


def own_reach(own: np.ndarray, body: Body) -> np.ndarray:
    """bool like `own`, this person's silhouette: where this person may be. The silhouette taken
    OWN_EDGE body widths wider (its edge is a 256-pixel crop's, enlarged), and every arm that runs
    off the photo: the silhouette, made on a crop reaching past the frame, let go of Obama's arm
    along the frame's edge (a portrait at a podium), and `dress` bared only its top, a patch in his
    jacket."""
    near = cv2.distanceTransform((~own).astype(np.uint8), cv2.DIST_L2, 3) <= OWN_EDGE * body.scale
    return near | arm_region(own.shape, body, off_photo=True, seen=False)


def leg_region(shape: tuple[int, ...], body: Body) -> np.ndarray:
    """Capsules along each leg pose sees (Body.legs: hip joint -> knee -> ankle), LEG_RADIUS body widths round."""
    m = np.zeros(shape[:2], bool)
    for hip, knee, ankle in body.legs:
        m |= capsule(shape, hip, knee, LEG_RADIUS * body.scale) | capsule(shape, knee, ankle, LEG_RADIUS * body.scale)
    return m


def neck_region(shape: tuple[int, ...], body: Body) -> np.ndarray:
    """The neck: a capsule from the mouth down to the collar's top (torso_polygon's), NECK_RADIUS face
    widths round (none where pose does not see the face). Not on to the joint between the shoulders:
    a tie's gold stripes there read as skin."""
    if not body.face_seen:
        return np.zeros(shape[:2], bool)
    mouth = (body.face[MOUTH_L] + body.face[MOUTH_R]) / 2
    return capsule(shape, mouth, body.neck - body.axis * COLLAR_UP * body.scale, NECK_RADIUS * body.face_size)


def hand_region(shape: tuple[int, ...], body: Body, origin: tuple[int, int] = (0, 0),
                past_wrist: bool = False) -> np.ndarray:
    """Both hands, seen or estimated, in a box of `shape` at image pixel `origin` (x, y): each a
    capsule on from the wrist along the forearm, and one toward each knuckle pose gives it, to
    FINGERS_PER_PALM times its distance; `past_wrist`: only their parts more than the radius beyond
    the wrist (nearer, a cuff can reach past the joint pose marks)."""
    m = np.zeros(shape[:2], bool)
    radius = HAND_RADIUS * body.scale
    if past_wrist:
        ys, xs = np.mgrid[origin[1]:origin[1] + shape[0], origin[0]:origin[0] + shape[1]] + 0.5
    for arm in (body.left_arm, body.right_arm):
        reaches = [HAND_PER_FOREARM * (arm.wrist - arm.elbow)]
        if arm.knuckles is not None:
            reaches += [FINGERS_PER_PALM * (k - arm.wrist) for k in arm.knuckles]
        for reach in reaches:
            hand = capsule(shape, arm.wrist, arm.wrist + reach, radius, origin)
            if past_wrist:
                along = ((xs - arm.wrist[0]) * reach[0] + (ys - arm.wrist[1]) * reach[1]) / max(np.hypot(*reach), 1e-6)
                hand &= along > radius
            m |= hand
    return m


def skirt(rgb: np.ndarray, person: np.ndarray, mask: np.ndarray, body: Body) -> np.ndarray:
    """The garment beyond the torso polygon (a coat's sides, a dress or a long top below the hips):
    person pixels of the garment's own colour, connected to it, from the shoulders down to
    SKIRT_DOWN torso lengths below the hip joints, up to HIP_PER_WIDTH body widths beside them."""
    if not mask.any():
        return np.zeros_like(mask)
    h, w = mask.shape
    band = np.zeros((h, w), np.uint8)
    x = body.across * (HIP_PER_WIDTH * body.scale)
    down = body.axis * SKIRT_DOWN * body.length
    corners = [body.right_shoulder - x, body.left_shoulder + x, body.left_hip + x + down, body.right_hip - x + down]
    cv2.fillPoly(band, [np.round(np.float32(corners)).astype(np.int32)], 1)
    candidates = band.astype(bool) & person & ~mask
    if not candidates.any():
        return np.zeros_like(mask)
    garment = rgb[mask]
    # A median needs no more than COLOUR_SAMPLES pixels (a 12 MP photo's garment holds millions).
    cloth = to_lab(garment[:: max(1, len(garment) // COLOUR_SAMPLES)][None])[0]
    ys, xs = np.nonzero(candidates)  # colours only where they are asked
    same = np.zeros_like(candidates)
    same[ys, xs] = near_median(to_lab(rgb[ys, xs][None])[0], cloth, SKIRT_SPREAD, SKIRT_MIN_DIFF)
    # Keep what touches the garment: a separate patch of the same colour is something else.
    box = bounding_box(same | mask)
    out = np.zeros_like(same)
    out[box] = same[box] & touching(same[box] | mask[box], mask[box])
    r = max(1, round(SKIRT_CLOSE * body.scale / 2))
    closed = cv2.morphologyEx((out | mask)[box].astype(np.uint8), cv2.MORPH_CLOSE,
                              cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    out[box] |= closed.astype(bool) & candidates[box]
    return out


def midriff_skin(rgb: np.ndarray, skin: Skin, face_skin: np.ndarray, skin_px: np.ndarray, body: Body) -> np.ndarray:
    """bool (H, W): the skin that tells a bare midriff: `face_skin` (the face's colour), and the legs'
    of `skin_px` (every rule's skin) where their colour lies near the face's lit side (`arm_skin`):
    a woman seated with her knees up has her bare thighs across her torso. Not any skin's hue on a
    leg (`leg_skin`): where pose put the hips at the chest (the astronaut cut at her side), that
    read her suit's lit folds as skin."""
    out = face_skin.copy()
    legs = skin_px & leg_region(rgb.shape, body) & ~face_skin
    if legs.any():
        box = bounding_box(legs)
        out[box] |= legs[box] & arm_skin(to_lab(rgb[box]), skin, None)
    return out


def below_bare_midriff(skin_px: np.ndarray, person: np.ndarray, arms: np.ndarray, body: Body) -> np.ndarray:
    """bool (H, W): what lies below a bare midriff (MIDRIFF_*) under the garment, off the arms; all
    False without one."""
    h, w = skin_px.shape
    # The torso's middle sampled on the body's own grid, a sample a pixel: rows down the body from
    # under the neck, columns across it.
    ts = np.arange(MIDRIFF_GARMENT_FROM * body.length, 1.2 * body.length)
    ss = np.arange(-MIDRIFF_HALF_WIDTH * body.scale, MIDRIFF_HALF_WIDTH * body.scale + 1)
    xy = body.neck + ts[:, None, None] * body.axis + ss[None, :, None] * body.across
    x, y = np.round(xy[..., 0]).astype(int), np.round(xy[..., 1]).astype(int)
    inside = (x >= 0) & (x < w) & (y >= 0) & (y < h)
    x, y = np.clip(x, 0, w - 1), np.clip(y, 0, h - 1)
    off_arms = ~(arms | hand_region((h, w), body))  # hands clasped over a belly are no midriff
    counted = inside & person[y, x] & off_arms[y, x]
    n, skin = counted.sum(axis=1), (counted & skin_px[y, x]).sum(axis=1)
    seen = n >= 0.5 * len(ss)
    depth = max(2, int(math.ceil(MIDRIFF_DEPTH * body.length)))
    if len(ts) < depth:  # a body a few pixels long has no band to tell
        return np.zeros((h, w), bool)

    def runs(rows: np.ndarray) -> np.ndarray:  # where `depth` such rows in a row start
        return np.convolve(rows, np.ones(depth), mode="valid") == depth

    bare = runs(seen & (skin >= MIDRIFF_SKIN * n)) & (ts[:len(ts) - depth + 1] >= MIDRIFF_FROM * body.length)
    clothed = runs(seen & (skin <= (1 - MIDRIFF_SKIN) * n))
    # a band under the garment: a camisole's bare chest above it is no midriff
    starts = [k for k in np.nonzero(bare)[0] if clothed[:k].any()]
    if not starts:
        return np.zeros((h, w), bool)
    ys, xs = np.mgrid[0:h, 0:w]
    down = (xs - body.neck[0]) * body.axis[0] + (ys - body.neck[1]) * body.axis[1]
    return (down > ts[starts[0]]) & ~arms


def skin_islands(rgb: np.ndarray, skin_px: np.ndarray, region: np.ndarray, largest: float,
                 cloth: np.ndarray) -> np.ndarray:
    """bool like `skin_px`: the pieces of `region` that are not skin, enclosed by skin (4-connected
    holes in `skin_px`, within the region's box), at most `largest` pixels each, whose median colour
    is of a skin's hue (`skin_hued`) and ARM_SKIN_OFF_CLOTH (CIE76) or more from the `cloth` (Lab):
    the astronaut's orange suit, skin-hued, shows between her white cords, which read as skin."""
    out = np.zeros_like(skin_px)
    if not (region & skin_px).any():
        return out
    rows, cols = bounding_box(region, 1)
    box = ~skin_px[rows, cols]
    count, labels, stats, _ = cv2.connectedComponentsWithStats(box.astype(np.uint8), connectivity=4)
    h, w = box.shape
    part = rgb[rows, cols]
    for k in range(1, count):
        x, y, bw, bh, area = stats[k]
        if area > largest or x == 0 or y == 0 or x + bw == w or y + bh == h:
            continue  # too big to be skin, or running out of the skin to what lies beyond
        at = slice(y, y + bh), slice(x, x + bw)
        piece = labels[at] == k
        colour = np.median(to_lab(part[at][piece][None])[0], axis=0)
        if skin_hued(colour) and np.linalg.norm(colour - cloth) >= ARM_SKIN_OFF_CLOTH:
            out[rows, cols][at] |= piece
    return out & region


def nearer_cloth(lab: np.ndarray, skin: Skin, where: np.ndarray, cloth) -> np.ndarray:
    """bool like `where`: its pixels (Lab `lab`) whose a*b* lies nearer the torso `cloth`'s (Lab)
    than the face's skin sample's, scaled by NEARER_CLOTH (0: none)."""
    return where & (ab_off(lab, cloth) < NEARER_CLOTH * ab_off(lab, skin.lab))


def cored(mask: np.ndarray, radius: float) -> np.ndarray:
    """bool like `mask`: its 8-connected pieces that hold a disc of `radius` (px)."""
    if not mask.any():
        return mask
    r = max(1, int(round(radius)))
    box = bounding_box(mask, r)
    core = cv2.erode(mask[box].astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    out = np.zeros_like(mask)
    out[box] = touching(mask[box], core.astype(bool))
    return out


def touching(mask: np.ndarray, anchor: np.ndarray) -> np.ndarray:
    """bool like `mask`: its 8-connected pieces that hold a pixel of `anchor`."""
    n, cc = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    keep = np.zeros(n, bool)
    keep[cc[mask & anchor]] = True
    keep[0] = False
    return keep[cc]


def attached(mask: np.ndarray, torso: np.ndarray) -> np.ndarray:
    """`mask` less its pieces that lie on the arms alone: a sleeve hangs from the garment's body, and
    a piece that touches no garment on the torso is what lies on a bare arm or what its hand holds
    (the edge of a hand of cards, a strand of hair, the shadow along a forearm), from which a longer
    sleeve was mirrored."""
    kept = touching(mask, torso)
    return kept if kept.any() else mask  # no piece on the torso: nothing to hang a sleeve from


def _clean(mask: np.ndarray) -> np.ndarray:
    """Opening with a 3x3 ellipse, then components under 1% of the mask dropped."""
    m = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    n, cc, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    if n <= 1:
        return m.astype(bool)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= max(16, 0.01 * stats[1:, cv2.CC_STAT_AREA].sum())
    return keep[cc]


def garment_mask(rgb: np.ndarray, person: np.ndarray, keypoints,
                 silhouette: Callable[[tuple[int, ...], float], np.ndarray] | None = None,
                 in_front: Callable[[tuple[int, ...], float], np.ndarray] | None = None) -> GarmentParse:
    """The upper-garment mask of the person with these keypoints.

    Args:
        rgb: uint8 (H, W, 3) photo.
        person: bool (H, W) person mask (may hold other people: the geometry picks this one).
        keypoints: (33, >=3) BlazePose landmarks of this person (closet.body).
        silhouette: this person's own segmentation, as a function of the image shape and its
            reduction (closet.pose.PosePerson.silhouette), kept in the parse; None: none is kept.
        in_front: where other people are seen in front of this one (GarmentParse.in_front; those
            in front: `people_in_front`), the same way; None: nobody.
    Returns:
        GarmentParse in the photo's pixels. A body wider than closet.workscale.WORK_BODY_WIDTH is
        parsed on a copy reduced to that width, its masks enlarged back.
    Raises:
        NoGarment: torso not visible (detail says what is missing), or nothing left after the
            cuts (detail says so).
    """
    body = body_from_keypoints(keypoints, rgb.shape)
    person = np.asarray(person).astype(bool)
    f = workscale.factor(body.scale)
    if f >= 1:
        return _garment_parse(rgb, person, body, *(None if m is None else m(rgb.shape, 1.0)
                                                   for m in (silhouette, in_front)))
    small_rgb = workscale.reduce_image(rgb, f)
    work = _garment_parse(small_rgb, workscale.reduce_mask(person, f), body.scaled(f),
                          *(None if m is None else m(small_rgb.shape, f) for m in (silhouette, in_front)))
    return LiftedParse(work, body, rgb, small_rgb)


def bodies_of(keypoints: list, shape: tuple[int, ...]) -> list[Body | None]:
    """Per person (BlazePose keypoints each), their Body in an image of `shape`, or None where no
    torso shows (NoGarment)."""
    out: list[Body | None] = []
    for kp in keypoints:
        try:
            out.append(body_from_keypoints(kp, shape))
        except NoGarment:
            out.append(None)
    return out


def people_in_front(keypoints: list, shape: tuple[int, ...]) -> list[list[int]]:
    """Per person (BlazePose keypoints each), the indices of the others in front of them: those
    whose nose is seen on their torso (torso_polygon). A face in view lies on nobody's far side:
    on a card-table photo a seated woman's head was inside the torso of the man standing behind
    her, and his swap drew his shirt over her face."""
    torsos = [None if b is None else torso_polygon(b) for b in bodies_of(keypoints, shape)]
    out: list[list[int]] = []
    for a, torso in enumerate(torsos):
        mine = []
        for b, kp in enumerate(keypoints):
            x, y, visibility = as_xyv(kp)[NOSE]
            if b != a and torso is not None and visibility >= VISIBLE and cv2.pointPolygonTest(
                    torso.reshape(-1, 1, 2), (float(x), float(y)), False) >= 0:
                mine.append(b)
        out.append(mine)
    return out


def nearer_torsos(body: Body | None, others: list[Body | None], shape: tuple[int, ...], f: float = 1.0) -> np.ndarray:
    """bool (H, W) on a copy of the photo reduced by `f` (shape (H, W, ...)): where the torso of one
    of `others` (torso_polygon) lies and `body`'s does not, or both do and the other's middle line
    is nearer (in torso widths). Those are the other's: in a group photo each person's own
    segmentation spills over their neighbours, and a woman standing behind a man's shoulder took
    his chest and her arm pose ran across it as her garment (`dress` bared it there)."""
    h, w = shape[:2]

    def region(b: Body) -> np.ndarray:
        m = np.zeros((h, w), np.uint8)
        cv2.fillPoly(m, [np.round((torso_polygon(b) + 0.5) * f - 0.5).astype(np.int32)], 1)
        return m.astype(bool)

    out = np.zeros((h, w), bool)
    mine = region(body) if body is not None else np.zeros((h, w), bool)
    for other in others:
        if other is None:
            continue
        theirs = region(other)
        out |= theirs & ~mine
        ys, xs = np.nonzero(theirs & mine)
        if len(ys):
            p = (np.stack([xs, ys], 1) + 0.5) / f - 0.5  # the photo's pixels
            nearer = off_middle(other, p) < off_middle(body, p)
            out[ys[nearer], xs[nearer]] = True
    return out


def ab_off(lab: np.ndarray, ref) -> np.ndarray:
    """float (...): each Lab colour's a*b* distance from `ref`'s (a Lab triple)."""
    return np.hypot(lab[..., 1] - ref[1], lab[..., 2] - ref[2])


def median_lab(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(3,) the median CIE Lab of `rgb`'s pixels under the non-empty bool `mask`, per channel."""
    return np.median(to_lab(rgb[mask][None])[0], axis=0)


def skin_hued(lab: np.ndarray) -> np.ndarray:
    """bool (...): which Lab colours are of a skin's hue (SKIN_HUE), with SKIN_MIN_CHROMA or more."""
    a, b = lab[..., 1], lab[..., 2]
    hue = np.degrees(np.arctan2(b, a))
    return (hue >= SKIN_HUE[0]) & (hue <= SKIN_HUE[1]) & (np.hypot(a, b) >= SKIN_MIN_CHROMA)


def arm_skin(lab: np.ndarray, skin: Skin, cloth: np.ndarray | None) -> np.ndarray:
    """bool (...): which Lab colours of an arm are its skin though the face does not predict them:
    within ARM_SKIN_AB of the face's lit a*b*, of a skin's hue, in the face's lightness range, and
    ARM_SKIN_OFF_CLOTH (CIE76) or more from the torso's `cloth` (None: no cloth to tell)."""
    if not skin.known:
        return np.zeros(lab.shape[:-1], bool)
    near = ab_off(lab, skin.lit) < ARM_SKIN_AB
    out = near & skin_hued(lab) & in_skin_light(lab, skin)
    if cloth is not None:
        out &= np.linalg.norm(lab - cloth, axis=-1) >= ARM_SKIN_OFF_CLOTH
    return out


def neck_skin(lab: np.ndarray, skin: Skin, cloth: np.ndarray) -> np.ndarray:
    """bool (...): which Lab colours of a neck are its skin: the arm rule's (`arm_skin`), off the
    torso's `cloth` by NECK_OFF_CLOTH_AB in a*b*."""
    return arm_skin(lab, skin, None) & (ab_off(lab, cloth) >= NECK_OFF_CLOTH_AB)


def leg_skin(lab: np.ndarray, skin: Skin, cloth: np.ndarray) -> np.ndarray:
    """bool (...): which Lab colours of a leg are its skin: of a skin's hue, in the face's lightness
    range, and ARM_SKIN_OFF_CLOTH (CIE76) or more from the torso's `cloth`. Not near the face's
    a*b*: legs take another light than the face as often as arms do, and more."""
    if not skin.known:
        return np.zeros(lab.shape[:-1], bool)
    return skin_hued(lab) & in_skin_light(lab, skin) & (np.linalg.norm(lab - cloth, axis=-1) >= ARM_SKIN_OFF_CLOTH)


def arm_lit(lab: np.ndarray, face_lit: tuple[float, float, float], at_least: float) -> tuple[float, float, float]:
    """The lit colour (CIE Lab) of an arm's own skin the photo shows (`lab`, (N, 3)): the median of
    its lit class (closet.lighting.lit_class), when there are `at_least` pixels of it; else the
    face's lit colour. Bared skin painted in the face's colour beside a forearm in another light
    (a window's warm light on a pale woman's arm) showed a seam where the two met."""
    if len(lab) < max(at_least, 1):
        return face_lit
    lit = np.median(lab[lighting.lit_class(lab[:, 0])], axis=0)
    return float(lit[0]), float(lit[1]), float(lit[2])


def own_arm_skin(skin: np.ndarray, torso: np.ndarray, hands: np.ndarray, beside: np.ndarray) -> np.ndarray:
    """bool like `skin` (skin pixels in an arm's capsules): the pieces (8-connected) that are the
    arm's own, those that run off the torso block (`torso`) beside the shoulders (`beside`) or onto
    a hand (`hands`). An arm folded across the chest has its capsule over the tie: its gold stripes,
    skin-hued, were the arm's own lit skin, and `dress` bared the arms in gold. A low neckline's
    chest runs off the block only between the shoulders, up to the neck: taken for the arm's, it
    painted the Mona Lisa's bared arms in her lit chest's colour, L 80 against her hands' 57."""
    return touching(skin, (~torso & beside) | hands)


def beside_shoulders(shape: tuple[int, ...], body: Body, origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """bool `shape` (a box at image pixel `origin`, x y): the pixels farther across the body from its
    middle line than the shoulders are."""
    ys, xs = np.mgrid[origin[1]:origin[1] + shape[0], origin[0]:origin[0] + shape[1]] + 0.5
    return off_middle(body, np.stack([xs, ys], -1)) > 0.5


def off_middle(body: Body, p: np.ndarray) -> np.ndarray:
    """How far image points `p` (..., 2), x y, lie across the body from its middle line, in torso
    widths (the shoulders at 0.5)."""
    return np.abs((p - body.neck) @ body.across) / body.scale


def their_bare_arms(rgb: np.ndarray, body: Body | None, skin: Skin | None, shape: tuple[int, ...],
                    f: float = 1.0) -> np.ndarray:
    """bool (H, W) on a copy of the photo reduced by `f` (shape (H, W, ...)): another person's arms
    (`body`'s capsules, seen or not) where they show that person's own `skin` (`arm_skin`). In a row
    of women one bare arm lay across her neighbour's shoulder and chest, in the neighbour's
    silhouette and torso: it was taken for the neighbour's garment, and every target painted it in
    her cloth's light, in copper and brown blocks."""
    h, w = shape[:2]
    out = np.zeros((h, w), bool)
    if body is None or skin is None or not skin.known:
        return out
    arms = arm_region((h, w), body.scaled(f) if f != 1 else body, unseen=True)
    if not arms.any():
        return out
    rows, cols = bounding_box(arms)
    part = rgb[_photo_span(rows, f, rgb.shape[0]), _photo_span(cols, f, rgb.shape[1])]
    size = (cols.stop - cols.start, rows.stop - rows.start)
    part = part if part.shape[1::-1] == size else cv2.resize(part, size, interpolation=cv2.INTER_AREA)
    out[rows, cols] = arm_skin(to_lab(part), skin, None) & arms[rows, cols]
    return out


def _add_skin(skin_px: np.ndarray, rgb: np.ndarray, where: np.ndarray, cloth: np.ndarray,
              test: Callable[[np.ndarray, Skin, np.ndarray], np.ndarray], skin: Skin) -> None:
    """Adds to `skin_px` (in place) the pixels of `where` that `test` (arm_skin, leg_skin, neck_skin)
    finds skin, against the median colour of the torso's `cloth` pixels (neither may be empty)."""
    if where.any() and cloth.any():
        box = bounding_box(where)
        skin_px[box] |= test(to_lab(rgb[box]), skin, median_lab(rgb, cloth)) & where[box]


def _photo_span(span: slice, f: float, n: int) -> slice:
    """The photo's pixels a span of its copy reduced by `f` covers."""
    return slice(max(0, int(math.floor(span.start / f))), min(n, int(math.ceil(span.stop / f))))


def _garment_parse(rgb: np.ndarray, person: np.ndarray, body: Body, own: np.ndarray | None,
                   front: np.ndarray | None) -> GarmentParse:
    """garment_mask at the photo's own size; `own`, this person's silhouette there, `front`, the
    people in front of them (either None)."""
    lost = np.zeros_like(person)
    torso = torso_region(rgb.shape, body)
    # An arm that runs off the photo (a portrait's) is sleeve where the photo shows it, within this
    # person's own silhouette: the torso alone left the jacket's sides out where they reach the
    # frame, and a sleeveless cut bared an arm around a block of them (Grace Hopper as a JPEG of
    # quality 15). Without a silhouette its guessed elbow may lie in the person beside.
    arms = arm_region(rgb.shape, body, off_photo=own is not None)
    head = head_mask(rgb.shape, body)
    skin = skin_from_face(rgb, body)
    # The quad between the shoulder and hip joints is body whatever the person mask says (a
    # salient-object mask leaves holes in dark cloth against a dark background).
    core = np.zeros(rgb.shape[:2], np.uint8)
    cv2.fillPoly(core, [np.round(body.quad).astype(np.int32)], 1)
    body_px = person | core.astype(bool)
    if own is not None:
        # The person mask is a salient-object mask: it holds a table in front, the glasses on it,
        # the people beside. This person is where their own silhouette is, or a little past it
        # (its edge is a 256-pixel crop's, enlarged): the person mask keeps its sharper edge. (Not
        # the silhouette alone: it follows the pose's own errors, an arm drawn into the sky.)
        near = own_reach(own, body)
        lost = regained(rgb, person, own, torso | arms, body)
        person, body_px = (person | lost) & near, (body_px | lost) & near
    if front is not None:  # another person in front: their face, their arm, their garment
        person, body_px = person & ~front, body_px & ~front
    region = (torso | arms) & body_px & ~head
    skin_px, could_be_skin = np.zeros_like(region), np.zeros_like(region)
    if region.any():  # colours only inside the region's box (a big photo's person is a part of it)
        box = bounding_box(region)
        lab = to_lab(rgb[box])
        skin_px[box] = skin_mask(rgb[box], skin, lab) & region[box]
        could_be_skin[box] = skin_mask(rgb[box], skin, lab, widest=True) & region[box]
        torso_px, rows, cols = (torso & region)[box], *box
        cloth = torso_px & ~skin_px[box]
        if (skin_px[box] & torso_px).any() and cloth.any():  # a beige sweater's patches of "skin"
            hands = hand_region(torso_px.shape, body, origin=(cols.start, rows.start))
            where = torso_px & ~hands & ~neck_region(rgb.shape, body)[box]
            skin_px[box] &= ~nearer_cloth(lab, skin, where, np.median(lab[cloth], axis=0))
    # A skin-coloured garment (beige, tan, pink) covers the belly with "skin": colour cannot tell
    # them apart there, so skin is dropped by geometry alone, as on a grayscale photo. The belly,
    # not the chest: a V neck or a camisole bares the chest above a garment of any colour. Asked
    # within the face's whole spread: a gray shirt in warm light lay across SKIN_MAX_AB, 0.39 of
    # his belly, in JPEG blocks (0.54 within the spread).
    rs, ls, lh, rh = body.quad
    belly = np.zeros(rgb.shape[:2], np.uint8)
    cv2.fillPoly(belly, [np.round(np.float32([(rs + rh) / 2, (ls + lh) / 2, lh, rh])).astype(np.int32)], 1)
    belly = belly.astype(bool) & body_px
    skin_coloured = belly.any() and could_be_skin[belly].mean() > SKIN_COLOURED_GARMENT
    if skin_coloured:
        skin_px = np.zeros_like(skin_px)
    face_skin = skin_px.copy()  # before the rules for skin in another light than the face's
    if not skin_coloured:
        # Legs (LEG_RADIUS) and arms in another light than the face (a window's warm light on a pale
        # woman's tanned arm) are skin the face does not predict: of a skin's hue, off the torso's cloth.
        legs = leg_region(rgb.shape, body) & body_px & ~head
        _add_skin(skin_px, rgb, legs, region & torso & ~legs & ~skin_px, leg_skin, skin)
        neck = neck_region(rgb.shape, body) & region & ~skin_px
        _add_skin(skin_px, rgb, neck, region & torso & ~neck & ~skin_px, neck_skin, skin)
        _add_skin(skin_px, rgb, arms & region, region & torso & ~skin_px, arm_skin, skin)
        # ...and the rest of an arm whose skin it found, where the light changes along it: the arm
        # rule against that skin's colour, not the face's. A forearm in warm light 25 a*b* off a face
        # in cool light was left in a camisole, and a coat's sleeve kept it, in tan patches.
        found = skin_px & arms
        if found.any():
            more = np.zeros_like(skin_px)
            found_skin = dataclasses.replace(skin, lit=tuple(float(v) for v in median_lab(rgb, found)))
            _add_skin(more, rgb, arms & region & ~found, region & torso & ~skin_px, arm_skin, found_skin)
            skin_px |= touching(more | found, found) & arms
    # A sleeve's skin-coloured slivers are its shadows (SKIN_CORE), but not those that run out of
    # the garment: a face's edge, a neighbour's orange suit, a flag's red stripe beside a sleeve.
    slivers = skin_px & arms & ~cored(skin_px & arms, SKIN_CORE * body.scale)
    if slivers.any():
        beyond = cv2.dilate((~region).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        skin_px &= ~(slivers & ~touching(slivers, beyond))
    cloth = region & torso & ~skin_px
    if skin.known and cloth.any():
        quad = float(cv2.contourArea(np.float32(body.quad)))
        skin_px |= skin_islands(rgb, skin_px, region, SKIN_ISLAND * quad, median_lab(rgb, cloth))
    below = below_bare_midriff(midriff_skin(rgb, skin, face_skin, skin_px, body), body_px & ~head, arms, body)
    if below.any():
        front = below if front is None else front | below
    mask = attached(_clean(region & ~skin_px & ~below), torso)
    mask |= skirt(rgb, person & ~head & ~skin_px & ~below, mask, body)
    shown = core.astype(bool) & body_px & ~head  # the torso the photo shows
    if mask.sum() < MIN_GARMENT_PIXELS or (shown.any() and mask[shown].mean() < MIN_TORSO_COVERED):
        missing = "torso" if not (torso & person).any() else "clothing"
        raise NoGarment("no upper garment found",
                        {"parser": PARSER_NAME, "missing": missing,
                         "hint": "the torso is not on the person mask" if missing == "torso"
                         else "the torso region holds only skin, face or hair"})
    return GarmentParse(mask=mask, body=body, skin=skin, torso=torso, arms=arms, head=head, skin_pixels=skin_px,
                        silhouette=own, in_front=front, regained=lost if lost.any() else None)
