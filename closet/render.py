"""The shape render: a garment in a Fashion-MNIST-like frame and back onto the body.

Fashion-MNIST shows garments flat, centred, gray on black, each scaled so its longest side
fills the frame, sleeves hanging beside the body. A person's garment is brought into that
frame, and a translated garment back onto the person, by a part-based warp on the pose
keypoints (closet.body):

  canonical body layout "B" (units: torso length, origin mid-shoulder, x toward the person's
  left, y down): shoulder and hip joints at (+-0.27, 0) and (+-0.27, 1); each sleeve hangs
  beside the torso, shoulder -> elbow (+-0.37, 0.5) -> wrist (+-0.39, 0.97).
  parts: the sleeves are the bands 0.29 < |x| <= 0.75 (to y 1.4), the torso all else maps by the
  homography of its four joints; each upper arm and forearm by a rotation-and-scale along its
  bone (shoulder -> elbow, elbow -> wrist), across the bone scaled from the canonical sleeve to
  this body's sleeve width. Forearms are drawn over upper arms over the torso.
  frame: a garment of length L (from y = TOP, the collar) fills an S x S image top to bottom,
  x centred: pixel (col, row) <-> B (x, y) = ((col + 0.5 - S/2) L/S, TOP + (row + 0.5) L/S).

`canonical_view` is the ONE function that brings a garment into that frame: it makes the
translator's input, and `closet_dev.eval_swap` judges the output garment with it. Its length
L is the garment's own extent, at least hip length (as Fashion-MNIST fits each garment to its
frame). A hidden arm (closet.body.Arm.seen False) is drawn as the mirror image of the other
sleeve, and garment that lies past the photo's edge is completed with the garment's mean gray,
so the translator sees a whole garment.

`render_swap` maps the translator's output back: its silhouette is read in a frame as wide as
the source's and as long as the target category's typical garment (`CATEGORY_LENGTH`: a dress
reaches the knees, a coat the thighs), so the sleeves stay on the arms and the hem follows
the category. Then
  - new region inside the old garment: the photo's own pixels, lightness shaded by the
    generator's change (output minus input, low-passed);
  - new region beyond the old garment: texture from the old garment, mirrored back and forth
    across the old garment's edge (a band of `TEXTURE_BAND` body widths);
  - old garment no longer covered: skin in the face-calibrated colour where the body is (arm
    capsules, torso), elsewhere the background by OpenCV's Telea inpainting.
Every pixel outside the dilated union of the old garment mask and `result_mask` is
byte-identical to the input. All work happens inside the garment's bounding box, so the
cost follows the garment's size, not the photo's.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from closet.body import Body
from closet.garment import GarmentParse, arm_region, torso_region

# -- the canonical layout ------------------------------------------------------
TOP = -0.10  # the frame's top row in B: the collar, above the shoulder joints
HIP_LENGTH = 1.0 - TOP  # a hip-length garment's frame length
TORSO_HALF = 0.29  # TORSO_HALF < |x| <= ARM_OUTER, TOP < y <= ARM_BOTTOM is sleeve; the rest torso
ARM_OUTER = 0.75
ARM_BOTTOM = 1.4
ELBOW_Y = 0.5
CANON_QUAD = np.float32([[-0.27, 0.0], [0.27, 0.0], [0.27, 1.0], [-0.27, 1.0]])  # R/L shoulder, L/R hip
CANON_ARM = {  # side sign (x) -> shoulder, elbow, wrist
    -1: np.array([[-0.27, 0.0], [-0.37, ELBOW_Y], [-0.39, 0.97]]),
    +1: np.array([[0.27, 0.0], [0.37, ELBOW_Y], [0.39, 0.97]]),
}
CANON_SLEEVE_RADIUS = 0.075
SLEEVE_RADIUS = 0.17  # a sleeve's half-width on the body, per body width (Body.scale)
# Part codes; drawing order is the reverse (forearms in front).
TORSO, UPPER_R, FORE_R, UPPER_L, FORE_L = 0, 1, 2, 3, 4
PRIORITY = (FORE_L, FORE_R, UPPER_L, UPPER_R, TORSO)
_MIRROR = {UPPER_R: UPPER_L, UPPER_L: UPPER_R, FORE_R: FORE_L, FORE_L: FORE_R}

# Typical garment length from the collar, in torso lengths (shoulder joints to hip joints):
# Fashion-MNIST fits every garment to its frame, so the frame's length is what tells a dress
# from a top of the same drawing. Unknown domains keep the source garment's length.
CATEGORY_LENGTH = {"tshirt": 1.12, "pullover": 1.12, "shirt": 1.15, "coat": 1.45, "dress": 1.75}
# Fashion-MNIST garment gray: mean and spread inside the garment (train set: 157-174, 56-64).
FMNIST_MEAN, FMNIST_STD, FMNIST_FLOOR = 160.0, 45.0, 40.0
SUPERSAMPLE = 4  # canonical views are sampled at 4x and area-averaged down
GEN_THRESHOLD_MIN = 16  # generator output gray above this and above
GEN_THRESHOLD_FRACTION = 0.3  # this fraction of its 98th percentile is garment
SHADE = 0.35  # Lab L units per gray level of the generator's change (0-255 scale), x 100/255
SHADE_MAX = 25.0
TEXTURE_BAND = 0.12  # mirrored texture band depth, per body width
SKIN_SHADING = 0.25  # how much of the old garment's (blurred) lightness shows on filled skin
INPAINT_RADIUS = 5
# The torso's core in B, kept as garment: |x| <= CORE_HALF, CORE_TOP <= y <= CORE_BOTTOM.
CORE_HALF, CORE_TOP, CORE_BOTTOM = TORSO_HALF, 0.12, 1.0
# The photo keeps its own lightness detail finer than this many drawing pixels (Gaussian sigma);
# everything coarser is the generator's drawing.
DETAIL_SIGMA = 0.5
# The drawing's lightness spread on the garment, at least (CIE L units): a flat-coloured garment
# still shows the category's folds, seams and collar.
MIN_SHADE_STD = 10.0
# Old garment uncovered above this B height (shoulders, neck) or on the arms becomes skin;
# lower down, background.
SKIN_BELOW_SHOULDERS = 0.3


@dataclass
class Parts:
    """Per-part 3x3 matrices from B to image pixels, and which parts are drawn (seen)."""

    mats: dict[int, np.ndarray]
    drawn: dict[int, bool]


@dataclass
class CanonicalView:
    """A garment in the canonical frame: gray uint8 (S, S) on black, its coverage (float32 in
    [0, 1]), and the frame length L (torso lengths from TOP)."""

    gray: np.ndarray
    coverage: np.ndarray
    length: float


@dataclass
class RenderResult:
    image: np.ndarray  # uint8 (H, W, 3)
    result_mask: np.ndarray  # bool (H, W): the garment as it is in the output
    target_length: float  # the frame the generator's drawing was read in: length and width
    frame_width: float


# -- geometry ------------------------------------------------------------------
def part_of(b: np.ndarray) -> np.ndarray:
    """Part code of B points (N, 2): sleeve beside the torso, torso elsewhere."""
    x, y = b[:, 0], b[:, 1]
    code = np.full(len(b), TORSO, np.int8)
    arm = (np.abs(x) > TORSO_HALF) & (np.abs(x) <= ARM_OUTER) & (y > TOP) & (y <= ARM_BOTTOM)
    upper = y < ELBOW_Y
    code[arm & (x < 0) & upper] = UPPER_R
    code[arm & (x < 0) & ~upper] = FORE_R
    code[arm & (x > 0) & upper] = UPPER_L
    code[arm & (x > 0) & ~upper] = FORE_L
    return code


def _bone_matrix(c0, c1, p0, p1, across_scale: float) -> np.ndarray:
    """3x3 affine: canonical bone c0->c1 onto image bone p0->p1, rotation-consistent; across the
    bone scaled by `across_scale`."""
    c0, c1, p0, p1 = (np.asarray(v, np.float64) for v in (c0, c1, p0, p1))
    uc, ui = c1 - c0, p1 - p0
    lc, li = np.linalg.norm(uc), max(np.linalg.norm(ui), 1e-6)
    uc, ui = uc / lc, ui / li
    nc, ni = np.array([-uc[1], uc[0]]), np.array([-ui[1], ui[0]])
    # columns: image vectors of the canonical unit vectors along (uc) and across (nc) the bone
    lin = np.stack([ui * (li / lc), ni * across_scale], axis=1) @ np.stack([uc, nc], axis=0)
    m = np.eye(3)
    m[:2, :2] = lin
    m[:2, 2] = p0 - lin @ c0
    return m


def body_parts(body: Body) -> Parts:
    """The part matrices of this body (B -> image)."""
    mats = {TORSO: cv2.getPerspectiveTransform(CANON_QUAD, body.quad.astype(np.float32)).astype(np.float64)}
    drawn = {TORSO: True}
    across = SLEEVE_RADIUS * body.scale / CANON_SLEEVE_RADIUS
    for side, arm, upper, fore in ((-1, body.right_arm, UPPER_R, FORE_R), (+1, body.left_arm, UPPER_L, FORE_L)):
        c = CANON_ARM[side]
        mats[upper] = _bone_matrix(c[0], c[1], arm.shoulder, arm.elbow, across)
        mats[fore] = _bone_matrix(c[1], c[2], arm.elbow, arm.wrist, across)
        drawn[upper] = drawn[fore] = arm.seen
    return Parts(mats, drawn)


def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    h = pts @ m[:2, :2].T + m[:2, 2]
    w = pts @ m[2, :2] + m[2, 2]
    return h / np.where(np.abs(w) < 1e-9, 1e-9, w)[:, None]


def b_to_image(parts: Parts, b: np.ndarray, mirror_hidden: bool) -> tuple[np.ndarray, np.ndarray]:
    """Image positions of B points (N, 2), and whether each has one (its part drawn, or mirrored
    from the other side when `mirror_hidden`)."""
    code = part_of(b)
    out = np.full_like(b, np.nan)
    ok = np.zeros(len(b), bool)
    for k in PRIORITY:
        sel = code == k
        if not sel.any():
            continue
        if parts.drawn[k]:
            out[sel] = _apply(parts.mats[k], b[sel])
            ok[sel] = True
        elif mirror_hidden and k in _MIRROR and parts.drawn[_MIRROR[k]]:
            flipped = b[sel] * np.array([-1.0, 1.0])
            out[sel] = _apply(parts.mats[_MIRROR[k]], flipped)
            ok[sel] = True
    return out, ok


def image_to_b(parts: Parts, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """B positions of image points (N, 2): the front-most drawn part whose inverse lands in its
    own region; `ok` is False where no part claims the point."""
    out = np.full_like(pts, np.nan, dtype=np.float64)
    ok = np.zeros(len(pts), bool)
    for k in PRIORITY:
        if not parts.drawn[k]:
            continue
        todo = ~ok
        if not todo.any():
            break
        b = _apply(np.linalg.inv(parts.mats[k]), pts[todo])
        mine = part_of(b) == k
        idx = np.flatnonzero(todo)[mine]
        out[idx] = b[mine]
        ok[idx] = True
    return out, ok


def frame_grid(size: int, length: float, width: float | None = None) -> np.ndarray:
    """B coordinates (size*size, 2) of the pixel centres of a size x size frame of length L
    (and width W, default L)."""
    width = length if width is None else width
    c = np.arange(size) + 0.5
    xs = c * width / size - width / 2
    ys = TOP + c * length / size
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def b_to_frame(b: np.ndarray, size: int, length: float, width: float | None = None) -> np.ndarray:
    """(col, row) continuous pixel coordinates (pixel centres at +0.5) of B points."""
    width = length if width is None else width
    return np.stack([b[:, 0] * size / width + size / 2, (b[:, 1] - TOP) * size / length], axis=1)


def garment_length(parts: Parts, mask: np.ndarray) -> float:
    """The garment's frame length: its extent below TOP (99.5th percentile) or twice its half
    width, whichever is larger, and at least hip length."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return HIP_LENGTH
    step = max(1, ys.size // 20000)
    b, ok = image_to_b(parts, np.stack([xs[::step], ys[::step]], axis=1).astype(np.float64) + 0.5)
    if not ok.any():
        return HIP_LENGTH
    b = b[ok]
    extent = max(float(np.percentile(b[:, 1], 99.5)) - TOP, 2 * float(np.percentile(np.abs(b[:, 0]), 99.5)))
    return max(extent, HIP_LENGTH)


# -- the one canonical function ---------------------------------------------------
def _gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb


def canonical_view(image: np.ndarray, mask: np.ndarray, body: Body, size: int,
                   length: float | None = None, width: float | None = None) -> CanonicalView:
    """The garment under `mask` as Fashion-MNIST would show it: gray, on black, centred, S x S.

    Args:
        image: uint8 (H, W, 3) photo (or the swap's output).
        mask: bool (H, W): the garment (the input's garment mask, or the output's result_mask).
        body: the person (closet.body.body_from_keypoints).
        size: S, the translator's img_size or the judge's input size.
        length: frame length in torso lengths; None measures the garment (garment_length).
        width: frame width; None: the length (a square frame, as Fashion-MNIST's). Only the
            round trip of a render (RenderResult.frame_width) sets it.
    Returns:
        CanonicalView: gray uint8 (S, S) whose garment pixels have Fashion-MNIST's mean/spread
        of gray (FMNIST_MEAN / FMNIST_STD), background 0; the coverage; the length used.
    """
    parts = body_parts(body)
    length = garment_length(parts, mask) if length is None else float(length)
    big = size * SUPERSAMPLE
    b = frame_grid(big, length, width)
    xy, ok = b_to_image(parts, b, mirror_hidden=True)
    h, w = mask.shape
    xy = np.where(ok[:, None], xy, -1e4)
    map_x = (xy[:, 0] - 0.5).reshape(big, big).astype(np.float32)
    map_y = (xy[:, 1] - 0.5).reshape(big, big).astype(np.float32)
    gray = cv2.remap(_gray(image).astype(np.float32), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=-1)
    cover = cv2.remap(mask.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=-1)
    # Past the photo's edge: the garment goes on where the body does (torso to the hips, seen sleeves).
    off = (cover < 0) & ok.reshape(big, big)
    body_default = ((b[:, 1] <= 1.0) & (b[:, 1] >= 0.0) & (np.abs(b[:, 0]) <= CANON_QUAD[1, 0])).reshape(big, big)
    fill = off & body_default
    cover = np.where(cover < 0, 0.0, cover)
    inside = cover > 0.5
    vals = gray[inside]
    mean = float(vals.mean()) if vals.size else 128.0
    std = float(vals.std()) if vals.size else 1.0
    norm = (gray - mean) / max(std, 4.0) * FMNIST_STD + FMNIST_MEAN
    norm = np.where(fill, FMNIST_MEAN, norm)
    cover = np.where(fill, 1.0, cover).astype(np.float32)
    norm = np.clip(norm, FMNIST_FLOOR, 255.0) * cover
    small = cv2.resize(norm.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    cov_small = cv2.resize(cover, (size, size), interpolation=cv2.INTER_AREA)
    return CanonicalView(np.clip(small + 0.5, 0, 255).astype(np.uint8), cov_small, length)


# -- the render back ---------------------------------------------------------------
def silhouette(generated: np.ndarray) -> np.ndarray:
    """float32 (S*k, S*k) in [0, 1]: the generator's garment (gray above GEN_THRESHOLD), the largest
    component with holes filled; garment = gray above max(GEN_THRESHOLD_MIN, GEN_THRESHOLD_FRACTION x its 98th percentile), upsampled SUPERSAMPLE x for smooth edges."""
    g = _gray(np.asarray(generated)).astype(np.float32)
    s = g.shape[0] * SUPERSAMPLE
    up = cv2.resize(g, (s, s), interpolation=cv2.INTER_CUBIC)
    # The demo generator's garments are dim (mean gray 70-100): the threshold follows its brightest.
    m = (up > max(GEN_THRESHOLD_MIN, GEN_THRESHOLD_FRACTION * float(np.percentile(up, 98)))).astype(np.uint8)
    n, cc, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    if n > 1:
        m = (cc == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)
    # Holes: background components that do not touch the frame's border.
    n, cc = cv2.connectedComponents((1 - m).astype(np.uint8), connectivity=4)
    border = np.unique(np.concatenate([cc[0], cc[-1], cc[:, 0], cc[:, -1]]))
    filled = (m > 0) | ~np.isin(cc, border)
    return cv2.GaussianBlur(filled.astype(np.float32), (0, 0), SUPERSAMPLE / 2)


def _bbox(mask: np.ndarray, pad: int, shape) -> tuple[slice, slice]:
    ys, xs = np.nonzero(mask)
    h, w = shape[:2]
    return (slice(max(0, ys.min() - pad), min(h, ys.max() + 1 + pad)),
            slice(max(0, xs.min() - pad), min(w, xs.max() + 1 + pad)))


def _sample(img: np.ndarray, cr: np.ndarray, scale: float) -> np.ndarray:
    """Bilinear samples of a (s, s) float image at frame (col, row) coordinates times `scale`."""
    pts = (cr * scale - 0.5).astype(np.float32)
    n = len(pts)
    cols = 1024  # cv2.remap takes maps under 32767 on a side
    rows = -(-n // cols)
    pad = np.full((rows * cols - n, 2), -1e4, np.float32)
    pts = np.concatenate([pts, pad]).reshape(rows, cols, 2)
    return cv2.remap(img.astype(np.float32), pts[..., 0], pts[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0).ravel()[:n]


def _new_region_box(parts: Parts, sil: np.ndarray, length: float, width: float, old: np.ndarray, pad: int, shape):
    """Bounding box (rows, cols) of the old garment and of the silhouette mapped onto the body."""
    s = sil.shape[0]
    ys, xs = np.nonzero(sil > 0.5)
    step = max(1, ys.size // 4000)
    cr = np.stack([xs[::step], ys[::step]], axis=1).astype(np.float64) + 0.5
    b = np.stack([(cr[:, 0] - s / 2) * width / s, TOP + cr[:, 1] * length / s], axis=1)
    xy, ok = b_to_image(parts, b, mirror_hidden=False)
    xy = xy[ok]
    h, w = shape[:2]
    m = old.copy()
    if len(xy):
        x0, y0 = np.clip(np.floor(xy.min(0)).astype(int), 0, [w - 1, h - 1])
        x1, y1 = np.clip(np.ceil(xy.max(0)).astype(int), 0, [w - 1, h - 1])
        m[y0, x0] = m[y1, x1] = True
    return _bbox(m, pad, shape)


def mirrored_texture(image: np.ndarray, old: np.ndarray, where: np.ndarray, band: float) -> np.ndarray:
    """Texture for the pixels `where` (outside `old`): each takes the old-garment pixel found by
    going to the nearest old pixel and on into the garment by a depth that runs 0 -> band -> 0
    with the distance (a mirror image of the garment's edge band, repeated)."""
    from scipy import ndimage

    out = image.copy()
    if not where.any() or not old.any():
        return out
    dist, (iy, ix) = ndimage.distance_transform_edt(~old, return_indices=True)
    ys, xs = np.nonzero(where)
    gy, gx = iy[ys, xs].astype(np.float64), ix[ys, xs].astype(np.float64)
    d = np.maximum(dist[ys, xs], 1e-6)
    ny, nx = (gy - ys) / d, (gx - xs) / d
    period = max(2.0 * band, 2.0)
    depth = band - np.abs(np.mod(d, period) - band)
    sy = np.clip(np.round(gy + ny * depth), 0, old.shape[0] - 1).astype(int)
    sx = np.clip(np.round(gx + nx * depth), 0, old.shape[1] - 1).astype(int)
    inside = old[sy, sx]
    sy = np.where(inside, sy, gy.astype(int))
    sx = np.where(inside, sx, gx.astype(int))
    out[ys, xs] = image[sy, sx]
    return out


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def _rgb8(lab: np.ndarray) -> np.ndarray:
    rgb = cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_LAB2RGB)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def dilation_radius(shape: tuple[int, ...]) -> int:
    """The byte-identity margin in pixels: 1% of the longer side, at least 2 (as closet.stages.composite)."""
    return max(2, int(round(max(shape[:2]) * 0.01)))


def _lowpass(values: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """Normalised Gaussian blur of `values` over the pixels where `weight` > 0 (a blur that does
    not mix in what lies outside the garment)."""
    w = weight.astype(np.float32)
    num = cv2.GaussianBlur(values.astype(np.float32) * w, (0, 0), sigma)
    den = cv2.GaussianBlur(w, (0, 0), sigma)
    return num / np.maximum(den, 1e-3)


def render_swap(image: np.ndarray, parse: GarmentParse, generated: np.ndarray, length: float,
                preserve_color: bool = True) -> RenderResult:
    """The photo with its garment redrawn as the generator drew it, on the same body.

    The generator's drawing is read in the canonical frame of side `length` (the frame its input
    was made in), mapped onto the body part by part, and rendered so that its canonical view is
    the drawing again: the garment's large-scale lightness (coarser than one drawing pixel) is
    the generator's, rescaled to the photo garment's own lightness mean and spread; everything
    finer (pattern, folds, print) and the chroma are the photo's own.

    Args:
        image: uint8 (H, W, 3), the photo.
        parse: the person's garment (closet.garment.garment_mask).
        generated: the translator's output, gray uint8 (S, S) (or (S, S, 3)).
        length: the frame side in torso lengths the generator's input was made in.
        preserve_color: True keeps the photo garment's colours and texture; False paints the
            generator's own gray into the garment.
    Returns:
        RenderResult: the output image and `result_mask` (bool, the garment as it is in the
        output). Pixels outside dilate(parse.mask | result_mask) are byte-identical to `image`.
    """
    body, old = parse.body, parse.mask
    parts = body_parts(body)
    gen = _gray(np.asarray(generated)).astype(np.float32)
    size = gen.shape[0]
    sil = silhouette(gen)
    r = dilation_radius(image.shape)
    rows, cols = _new_region_box(parts, sil, length, length, old, pad=2 * r + 2, shape=image.shape)
    h, w = rows.stop - rows.start, cols.stop - cols.start
    gy, gx = np.mgrid[rows, cols]
    pts = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float64) + 0.5
    b, ok = image_to_b(parts, pts)
    b = np.where(ok[:, None], b, -1e3)
    cr = b_to_frame(b, size, length)
    cover = (_sample(sil, cr, sil.shape[0] / size) * ok).reshape(h, w)
    # A hidden arm is behind something (the astronaut's helmet): nothing is drawn past the torso there.
    for side, arm in ((-1, body.right_arm), (+1, body.left_arm)):
        if not arm.seen:
            cover[(ok & (b[:, 0] * side > TORSO_HALF)).reshape(h, w)] = 0.0
    # Every category covers the chest and belly: the old garment stays there whatever the
    # drawing's neck opening; the shape changes at the sleeves, the hem and the sides.
    core = (ok & (part_of(b) == TORSO) & (np.abs(b[:, 0]) <= CORE_HALF) & (b[:, 1] >= CORE_TOP)
            & (b[:, 1] <= CORE_BOTTOM)).reshape(h, w)
    cover = np.where(core & old[rows, cols], np.maximum(cover, 1.0), cover)
    cover[parse.head[rows, cols]] = 0.0  # a collar never covers the face or hair
    drawing = _sample(cv2.GaussianBlur(gen, (0, 0), 0.7), cr, 1.0).reshape(h, w)

    crop = image[rows, cols]
    old_c = old[rows, cols]
    new_c = cover > 0.5
    ext = new_c & ~old_c
    # One drawing pixel, in image pixels: the scale below which the photo keeps its own detail.
    cell = max(1.0, length / size * body.length)
    lab = _lab(crop)
    texture = mirrored_texture(crop, old_c, ext, TEXTURE_BAND * body.scale) if ext.any() else crop
    glab = _lab(texture)
    known = old_c | ext
    low = _lowpass(glab[..., 0], known, DETAIL_SIGMA * cell)
    detail = glab[..., 0] - low
    inside = new_c if new_c.any() else known
    g, ref = drawing[inside], low[old_c] if old_c.any() else low[inside]
    # The drawing's lightness, matched to the photo garment's mean and spread (its own units are
    # Fashion-MNIST gray, which says nothing about how light this cloth is).
    scale = max(float(ref.std()), MIN_SHADE_STD) / max(float(g.std()), 2.0) if g.size else 1.0
    shade = (drawing - (float(g.mean()) if g.size else 0.0)) * scale + (float(ref.mean()) if ref.size else 50.0)
    if preserve_color:
        glab[..., 0] = np.clip(shade + detail, 0.0, 100.0)
    else:
        glab = np.zeros_like(glab)
        glab[..., 0] = np.clip(drawing, 0, 255) * (100.0 / 255.0)
    garment_layer = _rgb8(glab)

    # the layer under it: what the old garment hid
    uncovered = old_c & ~new_c
    upper = (ok & (b[:, 1] <= SKIN_BELOW_SHOULDERS)).reshape(h, w)
    body_zone = ((torso_region(image.shape, body)[rows, cols] & upper) | arm_region(image.shape, body)[rows, cols])
    skin_zone = uncovered & body_zone
    under = crop.copy()
    if skin_zone.any():
        slab = np.empty_like(lab)
        slab[..., 0] = parse.skin.lab[0]
        slab[..., 1] = parse.skin.lab[1]
        slab[..., 2] = parse.skin.lab[2]
        blurred = cv2.GaussianBlur(lab[..., 0], (0, 0), max(1.0, 0.04 * body.scale))
        base = float(np.median(lab[..., 0][old_c])) if old_c.any() else parse.skin.lab[0]
        slab[..., 0] = np.clip(slab[..., 0] + SKIN_SHADING * (blurred - base), 0, 100)
        under[skin_zone] = _rgb8(slab)[skin_zone]
    bg_zone = uncovered & ~body_zone
    if bg_zone.any():
        # Inpaint from the background only: the old and new garment and the skin are not sources.
        hole = (old_c | new_c).astype(np.uint8)
        painted = cv2.inpaint(crop, hole, INPAINT_RADIUS, cv2.INPAINT_TELEA)
        under[bg_zone] = painted[bg_zone]

    alpha = np.clip(cover, 0.0, 1.0)[..., None]
    mixed = under.astype(np.float32) * (1 - alpha) + garment_layer.astype(np.float32) * alpha
    mixed = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
    # byte identity outside the dilated union of the old garment and the result
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    allowed = cv2.dilate((old_c | new_c).astype(np.uint8), kernel) > 0
    out = image.copy()
    out[rows, cols] = np.where(allowed[..., None], mixed, crop)
    result = np.zeros(image.shape[:2], bool)
    result[rows, cols] = new_c
    return RenderResult(out, result, length, length)
