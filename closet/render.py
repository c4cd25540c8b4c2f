"""The shape render: a worn garment laid flat as Fashion-MNIST shows garments, and back onto the body.

A garment's shape is modelled by what tells Fashion-MNIST's categories apart: how far down each
arm its sleeve reaches (0 none, 1 the wrist) and how far down the body its hem reaches (`Shape`).

Coordinates "B" belong to one body (closet.body): torso lengths, origin between the shoulder
joints, y down the body, x toward the person's left. The torso maps to the image bilinearly by
its four joints (straight on below the hips); each arm by its own polyline shoulder -> elbow ->
wrist, a sleeve of SLEEVE_RADIUS body widths around it (`BodyMap`). Arms are in front of the torso.

The flat lay (Fashion-MNIST's centred product shot) is drawn in B units: the torso a block
|x| <= TORSO_W from the collar (TOP) to the hem, each sleeve a band centred at |x| = SLEEVE_X,
hanging straight down beside the torso (a thin gap between, as Fashion-MNIST's pullovers have),
as long as the sleeve's reach times SLEEVE_LEN, the shoulders sloping from the collar down to the
sleeves (SHOULDER_DROP); the frame is the square around that, with the garment filling it as
Fashion-MNIST's do.

* `measure(mask, body)`: the Shape of a garment mask on a body.
* `canonical_view(image, mask, body, size)`: THE one function that lays a garment flat: gray,
  on black, centred, size x size. It makes the translator's input, and the evaluation
  (closet_dev.eval_swap) judges the output garment with it.
* `read(drawing, frame, ...)`: the Shape of the translator's flat-lay drawing.
* `render_swap(...)`: the photo with the garment re-cut to the drawing's Shape on the same body.
  The cloth keeps the photo's pixels, shaded by the generator's change (its output minus its
  input, coarser than half a drawing pixel); added cloth takes its texture from the old garment;
  bared arms take the face's skin colour; legs a raised hem uncovers are trousers (given the
  person mask: closet.legs, those the photo shows below the old garment carried up, else dark); the rest
  (a narrower body, what lies off the person) is inpainted from around it (OpenCV's Telea).
  Pixels outside the dilated union of the old and the new garment stay byte-identical, and all
  work stays inside the garments' bounding box.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from closet import workscale
from closet.body import Arm, Body
from closet.color import near_median, to_lab, to_rgb8
from closet.garment import GarmentParse, bounding_box, capsule, hand_region, measure_grain, skin_mask
from closet.legs import TROUSERS_ABOVE_FEET, TROUSERS_REACH, beneath, carried_legs, feet, seen_trousers, trousers
from closet.lighting import Light
from closet.stages.composite import dilate, dilation_radius

# -- the flat lay (B units) ----------------------------------------------------------------------
TOP = -0.10  # the collar, above the shoulder joints
TORSO_W = 0.30  # the torso block's half-width
SLEEVE_X, SLEEVE_W = 0.43, 0.08  # a sleeve band's centre |x| and half-width
SLEEVE_LEN = 1.0  # a full sleeve's length along y (shoulder to wrist: hip height)
CAP = 0.10  # shoulder caps join the sleeves to the torso above this y
# The shoulders slope down from the collar: the flat lay's top edge lies this far below TOP (in lay
# widths) at this distance from its side (in lay widths). Fashion-MNIST's median top edge over its
# five upper-garment classes (train set; each class's median, then their median). At the very side
# its 0.6 is splayed cuffs; these sleeves hang straight, so 0.05's drop is kept there. The square-
# shouldered block before was drawn as the wrong category more often (docs/swap.md, "Sloped shoulders").
SHOULDER_DROP = np.array([[0.0, 0.30], [0.05, 0.30], [0.10, 0.18], [0.15, 0.09], [0.20, 0.056], [0.30, 0.036],
                          [0.35, 0.0]])
MARGIN = 1.0 / 28  # Fashion-MNIST's garments fill the frame but for about a pixel each side
CANON_QUAD = np.float32([[-0.27, 0.0], [0.27, 0.0], [0.27, 1.0], [-0.27, 1.0]])  # body.quad in B
# -- the body ---------------------------------------------------------------------------------
SLEEVE_RADIUS = 0.17  # a sleeve's half-width on the body, per body width
# A sleeve grown longer takes its cloth from its own last SLEEVE_SOURCE (t along the arm, 0 shoulder,
# 1 wrist), within SLEEVE_SOURCE_U of its radius across (closer to its edge the cloth meets the arm).
SLEEVE_SOURCE, SLEEVE_SOURCE_U = 0.25, 0.9
# ...or, with less cloth of its own, from a strip of the torso: B rows (top, bottom), TORSO_SOURCE_WIDTH
# wide, centred within TORSO_SOURCE_X of the middle where it is most like plain cloth (`_strip_flaws`).
TORSO_SOURCE_ROWS, TORSO_SOURCE_WIDTH, TORSO_SOURCE_X = (0.15, 0.65), 0.1, 0.3
STRIP_SPREAD, STRIP_SAMPLES = 40.0, 2000
ARM_SKIN_REACH = 1.6  # a sleeve grown over a bared arm covers its skin this many sleeve radii from the bones
# A bared arm: a cylinder whose half-width tapers from the shoulder to the wrist (per body width,
# thinner than its sleeve), lit as the face is lit (closet.lighting).
BARE_ARM_RADII = (0.15, 0.09)
SEGMENT_SIDE = 320  # closet.stages.segment.INPUT_SIZE, the person mask's own resolution (that module imports torch)
# Bared skin next to cloth is up to CLOTH_SHADOW darker, fading over CLOTH_SHADOW_REACH body widths.
CLOTH_SHADOW, CLOTH_SHADOW_REACH = 0.3, 0.05
SLEEVE_FROM = 0.08  # sleeves are measured from this far down the arm (0 shoulder, 1 wrist)
BARED_SHARE = 0.5  # an arm is bared beyond its sleeve where at least this share of it is skin
ARMHOLE = 0.10  # a sleeveless garment's armhole: its armpit this far down the arm, its top at the shoulder
# -- shapes -----------------------------------------------------------------------------------
NECKLINE = 0.45  # a V neck or an open collar (a shirt and tie inside a jacket) reaches this far: the hem is sought below it
HIP_HEM = 1.05  # a hip-length garment's hem (B); what a garment running off the photo is taken for
HEM_MAX = 2.0
HEM_HALF = 0.36  # added cloth below the old hem: half-width, flaring by HEM_FLARE at a long hem...
HEM_FLARE = 0.08
HEM_WIDER = 0.2  # ...or the old garment's own width at its hem, up to this much more each side
HEM_OVERLAP = 0.1  # a longer hem's cloth starts this far above the old hem (an uneven hem has gaps)
# A longer hem covers the person's own lower body where the photo shows it, and hangs LEG_EASE past
# it each side, read per flat-lay row LEG_ROW tall (and the rows beside it): `over_the_legs`.
LEG_EASE = 0.1
LEG_ROW = 0.025
# Hem range per Fashion-MNIST category (B units: torso lengths below the shoulder joints). A garment
# whose hem is already in the target's range keeps it (a long coat made a coat stays as long); one
# outside is cut or lengthened to the nearer end.
CATEGORY_HEM = {"tshirt": (1.0, 1.1), "pullover": (1.0, 1.1), "shirt": (1.1, 1.25), "coat": (1.45, HEM_MAX),
                "dress": (1.75, HEM_MAX)}
# Typical sleeve range per Fashion-MNIST category (sleeve lengths). The drawing is read in the frame
# the translator was given, but the translator draws its garment as Fashion-MNIST does, filling the
# frame: for a tall input (a long coat) the drawn garment is wider than the frame's flat lay, and
# for a wide one narrower, so its sleeves can read too long or too short. A known category keeps
# them in its range: Fashion-MNIST's coats and pullovers have long sleeves, its dresses none.
CATEGORY_REACH = {"tshirt": (0.0, 0.35), "pullover": (1.0, 1.0), "shirt": (0.35, 1.0), "coat": (1.0, 1.0),
                  "dress": (0.0, 0.0)}
CLOTH_GRAY = 8.0  # the drawing's background is black; cloth is brighter than this
READ_LEVEL = 0.45  # the drawing covers a point where it is this bright relative to its chest
SLEEVE_LENGTHS = (0.0, 0.35, 1.0)  # what a 32-pixel drawing can say: none, short, long
# -- looks ------------------------------------------------------------------------------------
FMNIST_MEAN, FMNIST_STD, FMNIST_FLOOR = 160.0, 45.0, 40.0  # Fashion-MNIST garment gray
SUPERSAMPLE = 4
MIN_SHADE_STD = 12.0  # the cloth's lightness spread the generator's change is scaled to, at least (CIE L)...
SHADE_PER_MEAN = 0.35  # ...unless that is more than this share of a dark cloth's lightness
MAX_CHANGE = 1.0  # the generator's change shades the cloth by at most this many cloth spreads
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
SKIN_SHADING = 0.25  # how much of the old garment's (blurred) lightness, within its spread, shows on bared skin
INPAINT_RADIUS = 3  # pixels of the reduced copy
MIRROR_INSET = 2  # added cloth mirrors the old cloth from this many pixels inside its edge
# ...from its own colours (`main_cloth`), when they are at least MAIN_CLOTH_SHARE of it (a striped
# or two-coloured garment keeps both colours).
MAIN_CLOTH_SPREAD, MAIN_CLOTH_MIN_DIFF, MAIN_CLOTH_SHARE = 3.0, np.array([20.0, 8.0, 8.0]), 0.75
MEDIAN_SAMPLES = 20_000  # pixels its median reads at most (fewer than garment.COLOUR_SAMPLES: it runs on every render)
# Telea's fill of a garment-sized hole is smooth, so it runs at half resolution or less (at most
# INPAINT_PIXELS): 145 -> 10 ms on the astronaut, 800 -> 200 ms at 12 MP, and the outputs look the
# same (docs/speed.md#composite).
INPAINT_REDUCTION = 2.0
INPAINT_PIXELS = 250_000
# The flat-lay coordinates of a garment box are computed on at most this many grid points, then
# resized: a 12 MP photo's box (about 5 MP) costs what a 0.25 MP one does (docs/speed.md).
GRID_PIXELS = 250_000
BLUR_DIRECT = 8.0  # a Gaussian blur wider than this (sigma, px) runs on a reduced copy


@dataclass(frozen=True)
class Shape:
    """A garment's shape: sleeve reach per side (-1 right, +1 left; 0 none .. 1 wrist) and hem (B)."""

    reach: dict[int, float]
    hem: float

    @property
    def frame(self) -> tuple[float, float]:
        """(side, top) of the square frame the flat lay fills, B units."""
        width = 2 * self.half_width
        side = max(self.hem - TOP, width) * (1 + 2 * MARGIN)
        return side, (TOP + self.hem) / 2 - side / 2  # centred, as Fashion-MNIST's garments are

    @property
    def half_width(self) -> float:
        """The flat lay's half-width (B): to the sleeves' outer edge, or the torso's without sleeves."""
        return (SLEEVE_X + SLEEVE_W) if max(self.reach.values()) > 0 else TORSO_W

    def top(self, x: np.ndarray) -> np.ndarray:
        """The flat lay's top edge (B y) above B x: the collar, sloping down to the shoulders (SHOULDER_DROP)."""
        width = 2 * self.half_width
        from_side = np.clip((self.half_width - np.abs(x)) / width, 0.0, None)
        return TOP + width * np.interp(from_side, SHOULDER_DROP[:, 0], SHOULDER_DROP[:, 1])

    def covers(self, b: np.ndarray, worn: bool = False) -> np.ndarray:
        """bool (N,): B points (N, 2) inside the flat lay; `worn`: inside the garment as the body
        wears it (the shoulders slope only when it lies flat: worn, each sleeve starts at its
        shoulder joint)."""
        x, y = b[:, 0], b[:, 1]
        inside = (np.abs(x) <= TORSO_W) & (y <= self.hem)
        for side, reach in self.reach.items():
            if reach <= 0:
                continue
            mine = x * side > 0
            cap = mine & (np.abs(x) <= SLEEVE_X + SLEEVE_W) & (y <= CAP)
            band = mine & (np.abs(np.abs(x) - SLEEVE_X) <= SLEEVE_W) & (y <= reach * SLEEVE_LEN)
            inside |= cap | band
        return inside & (y >= (TOP if worn else self.top(x)))


@dataclass
class CanonicalView:
    """A garment laid flat: gray uint8 (S, S) on black, the shape drawn, and its frame (side, top)."""

    gray: np.ndarray
    shape: Shape
    frame: tuple[float, float]


@dataclass
class RenderResult:
    image: np.ndarray  # uint8 (H, W, 3)
    result_mask: np.ndarray  # bool (H, W): the garment as it is in the output
    shape: Shape  # the shape the garment was re-cut to
    # What the old garment uncovered, painted (skin, trousers, the inpainted fill): (rows, cols, its
    # cover of that box: float32 0..1, or uint8 0..255 once lifted from a reduced copy; float32 share of
    # it that is bared skin, or None: no skin); None: nothing uncovered.
    painted: tuple[slice, slice, np.ndarray, np.ndarray | None] | None = None
    # The old garment's edge filled as the background beside it (`edge_rim`): (rows, cols, bool box),
    # or None. These pixels lie outside both masks, within `edge_rim` of them.
    rim: tuple[slice, slice, np.ndarray] | None = None


# -- one body: image <-> B -------------------------------------------------------------------------
class BodyMap:
    """Image pixels <-> B for one body: the torso by its joints (`torso_to_image`), arms by their
    polylines."""

    def __init__(self, body: Body):
        self.body = body
        # The torso quad bilinearly: A + u B + v C + u v D, u across (0 right .. 1 left), v down
        # (0 shoulders, 1 hips). Below the hips its sides run on parallel, along their mean.
        rs, ls, lh, rh = body.quad.astype(np.float64)
        self._a, self._b, self._c, self._d = rs, ls - rs, rh - rs, lh - ls - rh + rs
        self._down = self._c + self._d / 2
        self._x0, self._xw = float(CANON_QUAD[0, 0]), float(CANON_QUAD[1, 0] - CANON_QUAD[0, 0])
        self.arms: dict[int, Arm] = {-1: body.right_arm, 1: body.left_arm}
        self.radius = SLEEVE_RADIUS * body.scale
        self._grid: tuple[slice, slice, np.ndarray, np.ndarray] | None = None  # the last full-resolution flat_grid

    def torso_to_image(self, b: np.ndarray) -> np.ndarray:
        """Image points of B points (N, 2). Bilinear, not a homography: a torso narrower at the hips
        than at the shoulders is its build, not perspective, and a homography read it as a plane
        leaning away: B rows below the hips were squeezed (a dress's hem at 1.75 fell 0.47 torso
        lengths below the hips on bus.jpg's man in a fur coat, not 0.75)."""
        u = ((b[:, 0] - self._x0) / self._xw)[:, None]
        v = b[:, 1][:, None]
        above = np.minimum(v, 1.0)
        return self._a + u * self._b + above * (self._c + u * self._d) + np.maximum(v - 1.0, 0.0) * self._down

    def image_to_torso(self, p: np.ndarray) -> np.ndarray:
        """B points of image points (N, 2): `torso_to_image` inverted (a quadratic above the hip
        line, a linear solve beyond it)."""
        (ax, ay), (bx, by), (cx, cy), (dx, dy) = self._a, self._b, self._c, self._d
        qx, qy = p[:, 0] - ax, p[:, 1] - ay
        # Above the hips q = u b + v (c + u d). Crossing with (c + u d): k2 u^2 + k1 u + k0 = 0;
        # crossing with b: v = (b x q) / (b x c + u b x d).
        bxc, k2 = bx * cy - by * cx, bx * dy - by * dx
        k1 = bxc - (qx * dy - qy * dx)
        k0 = qy * cx - qx * cy
        if abs(k2) < 1e-9 * max(1.0, abs(bxc)):  # a parallelogram: linear
            u = -k0 / np.where(np.abs(k1) < 1e-12, 1e-12, k1)
        else:
            root = k1 * k1 - 4.0 * k2 * k0
            np.sqrt(np.maximum(root, 0.0, out=root), out=root)
            u = (self._root_sign * root - k1) / (2.0 * k2)
        v = (bx * qy - by * qx) / (bxc + u * k2)
        # Beyond the hip line: q - c = u (b + d) + (v - 1) down.
        hx, hy = bx + dx, by + dy
        mx, my = self._down
        det = hx * my - hy * mx
        rx, ry = qx - cx, qy - cy
        beyond = (hx * ry - hy * rx) / det
        below = beyond > 0.0
        if below.any():
            u[below] = (rx[below] * my - ry[below] * mx) / det
            v[below] = 1.0 + beyond[below]
        return np.stack([self._x0 + u * self._xw, v], axis=1)

    @functools.cached_property
    def _root_sign(self) -> float:
        """Which root of image_to_torso's quadratic is the torso's: the one its middle takes (the
        other is where the quad's sides meet)."""
        (bx, by), (cx, cy), (dx, dy) = self._b, self._c, self._d
        k2 = bx * dy - by * dx
        mx, my = 0.5 * bx + 0.5 * cx + 0.25 * dx, 0.5 * by + 0.5 * cy + 0.25 * dy
        k1 = (bx * cy - by * cx) - (mx * dy - my * dx)
        k0 = my * cx - mx * cy
        root = math.sqrt(max(k1 * k1 - 4.0 * k2 * k0, 0.0))
        return 1.0 if abs((root - k1) / (2.0 * k2) - 0.5) <= abs((-root - k1) / (2.0 * k2) - 0.5) else -1.0

    def placed(self, side: int) -> bool:
        """Whether arm `side` has a place on the photo: its elbow seen, or it runs off the photo (a
        portrait's arms, whose sleeves can still be cut where the photo shows them)."""
        a = self.arms[side]
        return a.seen or a.off_photo

    def _polyline(self, side: int) -> tuple[np.ndarray, np.ndarray]:
        a = self.arms[side]
        return np.array([a.shoulder, a.elbow]), np.array([a.elbow, a.wrist])

    def sleeve_to_image(self, side: int, t: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Image points of a sleeve: t along the arm (0 shoulder, 0.5 elbow, 1 wrist), u across (-1 inner .. 1 outer)."""
        a = self.arms[side]
        t = np.asarray(t, np.float64)
        upper = t <= 0.5
        p0 = np.where(upper[:, None], a.shoulder, a.elbow)
        p1 = np.where(upper[:, None], a.elbow, a.wrist)
        f = np.where(upper, t / 0.5, (t - 0.5) / 0.5)[:, None]
        d = p1 - p0
        n = np.stack([-d[:, 1], d[:, 0]], axis=1) / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-6)
        # outer: away from the body's middle line, toward the arm's own side
        n *= np.where((n @ (side * self.body.across)) < 0, -1.0, 1.0)[:, None]
        return p0 + d * f + n * (np.asarray(u, np.float64)[:, None] * self.radius)

    def image_to_sleeve(self, side: int, p: np.ndarray, across: bool = False):
        """(t, u) of image points on the nearer bone of arm `side` (u in sleeve radii, signed outward);
        `across`: and the unit image direction (N, 2) from that bone to each point, as a third."""
        best_t = np.zeros(len(p))
        best_u = np.full(len(p), np.inf)
        best_dir = np.zeros((len(p), 2)) if across else None
        x, y = p[:, 0], p[:, 1]  # column by column: no (N, 2) temporaries (a 12 MP box has millions of points)
        for k, (p0, p1) in enumerate(zip(*self._polyline(side))):
            dx, dy = float(p1[0] - p0[0]), float(p1[1] - p0[1])
            ll = max(dx * dx + dy * dy, 1e-9)
            nx, ny = -dy / math.sqrt(ll), dx / math.sqrt(ll)
            if side * (nx * self.body.across[0] + ny * self.body.across[1]) < 0:  # outer: toward the arm's side
                nx, ny = -nx, -ny
            rx, ry = x - p0[0], y - p0[1]
            f = np.clip((rx * dx + ry * dy) / ll, 0.0, 1.0)
            rx -= f * dx  # the offset from the foot on the bone
            ry -= f * dy
            u = np.hypot(rx, ry) / self.radius
            np.negative(u, out=u, where=rx * nx + ry * ny < 0)
            closer = np.abs(u) < np.abs(best_u)
            best_u = np.where(closer, u, best_u)
            best_t = np.where(closer, 0.5 * k + 0.5 * f, best_t)
            if best_dir is not None:  # from the bone's nearest point: around a joint, radially
                off = np.stack([rx[closer], ry[closer]], 1)
                best_dir[closer] = off / np.maximum(np.hypot(off[:, 0], off[:, 1]), 1e-9)[:, None]
        return (best_t, best_u, best_dir) if across else (best_t, best_u)

    def flat_of(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flat-lay points of image points (N, 2), and each one's part: -1/1 a sleeve, 0 the torso."""
        flat = self.image_to_torso(p)
        part = np.zeros(len(p), np.int8)
        best = np.full(len(p), np.inf)
        for side in (-1, 1):
            if not self.placed(side):
                continue
            t, u = self.image_to_sleeve(side, p)
            mine = (np.abs(u) <= 1.0) & (t >= SLEEVE_FROM / 2) & (np.abs(u) < best)
            flat[mine] = np.stack([side * (SLEEVE_X + np.clip(u[mine], -1, 1) * SLEEVE_W), t[mine] * SLEEVE_LEN], 1)
            part[mine] = side
            best = np.where(mine, np.abs(u), best)
        return flat, part

    def flat_grid(self, rows: slice, cols: slice) -> tuple[np.ndarray, np.ndarray]:
        """`flat_of` for every pixel of an image box: (h, w, 2) and (h, w). Beyond GRID_PIXELS it is
        computed on a coarser grid and resized (B coordinates are smooth, parts change along lines)."""
        if (g := self._grid) and g[0].start <= rows.start and rows.stop <= g[0].stop \
                and g[1].start <= cols.start and cols.stop <= g[1].stop:  # inside a box already done
            inner = (slice(rows.start - g[0].start, rows.stop - g[0].start),
                     slice(cols.start - g[1].start, cols.stop - g[1].start))
            return g[2][inner], g[3][inner]
        h, w = rows.stop - rows.start, cols.stop - cols.start
        step = math.sqrt(h * w / GRID_PIXELS)
        gh, gw = (h, w) if step <= 1 else (max(1, round(h / step)), max(1, round(w / step)))
        # Grid cell centres where cv2.resize puts them (pixel centres at +0.5).
        gy, gx = np.meshgrid(rows.start + (np.arange(gh) + 0.5) * h / gh, cols.start + (np.arange(gw) + 0.5) * w / gw,
                             indexing="ij")
        flat, part = self.flat_of(np.stack([gx.ravel(), gy.ravel()], axis=1))
        flat, part = flat.reshape(gh, gw, 2), part.reshape(gh, gw)
        if (gh, gw) != (h, w):
            flat = cv2.resize(flat, (w, h), interpolation=cv2.INTER_LINEAR)
            part = cv2.resize((part + 1).astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(np.int8) - 1
        else:  # exact per pixel, so any box inside it is a slice
            self._grid = (rows, cols, flat, part)
        return flat, part

    def image_of_flat(self, b: np.ndarray) -> np.ndarray:
        """Image points (N, 2) of flat-lay points: sleeve bands on the arms (a hidden arm mirrors the
        other), everything else on the torso."""
        out = self.torso_to_image(b)
        for side in (-1, 1):
            arm_side = side if self.placed(side) else -side
            if not self.placed(arm_side):
                continue
            band = (b[:, 0] * side > TORSO_W) & (b[:, 1] >= CAP / 2)
            if band.any():
                t = np.clip(b[band, 1] / SLEEVE_LEN, 0.0, 1.0)
                u = (np.abs(b[band, 0]) - SLEEVE_X) / SLEEVE_W
                out[band] = self.sleeve_to_image(arm_side, t, u)
        return out


# -- shapes ---------------------------------------------------------------------------------------
def _sample_mask(mask: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Mask values at image points: 1 garment, 0 not, -1 outside the photo."""
    h, w = mask.shape
    x, y = np.round(p[:, 0] - 0.5).astype(int), np.round(p[:, 1] - 0.5).astype(int)
    inside = (x >= 0) & (x < w) & (y >= 0) & (y < h)
    out = np.full(len(p), -1.0)
    out[inside] = mask[y[inside], x[inside]]
    return out


def _coded(mask: np.ndarray, hidden: np.ndarray | None) -> np.ndarray:
    """A bool `mask` as _sample_mask reads it, with -1 (unknown) where `hidden` hides it."""
    if hidden is None:
        return mask
    out = mask.astype(np.int8)
    out[hidden & ~mask] = -1
    return out


def _run(cover: list[float], steps: np.ndarray, unknown_until: float) -> tuple[float, bool]:
    """The end of the covered run from the first step, and whether the photo shows that end (the
    run stopped at a known step): a step is covered at >= 0.5; an unknown step (off the photo, -1)
    continues the run up to `unknown_until`."""
    end, last_known = None, True
    for c, s in zip(cover, steps):
        if c < 0:
            if s > unknown_until:
                return (float(end) if end is not None else 0.0), False
            last_known = False
        elif c < 0.5:
            return (float(end) if end is not None else 0.0), True
        else:
            last_known = True
        end = s
    return (float(end) if end is not None else 0.0), last_known


def _row_cover(v: np.ndarray) -> list[float]:
    """Per row of mask samples (1, 0, or -1 unknown): the covered share of its known samples, -1 if
    fewer than a third are known. A row an arm mostly hides says nothing: the one or two samples
    beside the arm lie at the garment's edge (zidane.jpg's grey-haired man at half size: his
    jacket's hem was read under his pointing arm, at 0.6 torso lengths, and `coat` filled his
    open front with mirrored jacket)."""
    known = v >= 0
    n = known.sum(axis=1)
    share = ((v > 0) & known).sum(axis=1) / np.maximum(n, 1)
    return [float(c) if 3 * k >= v.shape[1] else -1.0 for c, k in zip(share, n)]


def _sleeve_run(mask: np.ndarray, bm: BodyMap, side: int) -> tuple[float, bool, np.ndarray, np.ndarray]:
    """Arm `side`'s sleeve in `mask`: its reach, whether the photo shows its end (`_run`), and the
    image points it was sampled at (a row of 5 across per step) with the steps (0 shoulder, 1 wrist)."""
    ts = np.round(np.arange(SLEEVE_FROM, 1.0 + 1e-6, 0.04), 6)
    tt, uu = np.meshgrid(ts, np.linspace(-0.6, 0.6, 5), indexing="ij")
    pts = bm.sleeve_to_image(side, tt.ravel(), uu.ravel())
    reach, shown = _run(_row_cover(_sample_mask(mask, pts).reshape(len(ts), -1)), ts, 1.0)
    return reach, shown, pts, ts


def measure(mask: np.ndarray, body: Body, hidden: np.ndarray | None = None, skin: np.ndarray | None = None) -> Shape:
    """The Shape of a garment mask on a body (a sleeve off the photo is taken to go on; a hem off
    the photo to reach the hips at least; `hidden`, people in front, hide as the photo's edge does:
    a shirt behind a seated woman's head measured as a crop top). `skin`, the person's bare skin,
    hides the torso's rows too: a hand, a forearm across, or what it holds in a skin-like colour
    (a seated woman's hand of cards ended her top's hem at 0.48 torso lengths, and `pullover` then
    covered the cards and the ashtray before her in mirrored cloth); not the sleeves, which it bares."""
    bm = BodyMap(body)
    torso_mask = _coded(mask, hidden if skin is None else skin if hidden is None else skin | hidden)
    mask = _coded(mask, hidden)
    ys = np.round(np.arange(NECKLINE, HEM_MAX + 1e-6, 0.025), 6)  # exact steps: a hem at HEM_MAX is HEM_MAX
    xs = np.linspace(-0.22, 0.22, 9)
    p = bm.torso_to_image(np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2))  # row by row, y down the torso
    v = _sample_mask(torso_mask, p)
    v[bm.flat_of(p)[1] != 0] = -1.0  # an arm in front hides the torso there
    cover = _row_cover(v.reshape(len(ys), len(xs)))
    # A neckline deeper than NECKLINE (a camisole, a deep V) leaves the rows below it bare: the run
    # starts at the first covered row. (Read from NECKLINE on, a camisole measured as a crop top
    # ending at the chest, and `pullover` filled her chest and hair with a slab of mirrored cloth.)
    first = next((k for k, c in enumerate(cover) if c >= 0.5 or c < 0), len(cover))
    hem = max(_run(cover[first:], ys[first:], HIP_HEM)[0], 0.2)
    reach, seen = {}, {}
    for side in (-1, 1):
        if not bm.placed(side):
            continue
        reach[side], seen[side], _, _ = _sleeve_run(mask, bm, side)
    # A flat lay is symmetric: the arm whose sleeve shows more tells (the other may be hidden behind
    # the body in a profile), but a sleeve whose end the photo shows beats one that runs off it (a
    # portrait cut at the elbows); no arm seen: long sleeves, the commonest.
    ended = [r for side, r in reach.items() if seen[side]]
    both = max(ended or reach.values()) if reach else 1.0
    return Shape({-1: both, 1: both}, hem)


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
    reach, shown, pts, ts = _sleeve_run(_coded(parse.mask, parse.in_front), bm, side)
    own = min(SLEEVE_LENGTHS, key=lambda level: abs(level - reach))
    if not shown or own >= flat_lay:
        return flat_lay
    skin = _sample_mask(parse.skin_pixels, pts).reshape(len(ts), -1)[ts > reach]
    known = skin >= 0
    return own if known.any() and float(skin[known].mean()) >= BARED_SHARE else flat_lay


def _frame_points(size: int, frame: tuple[float, float]) -> np.ndarray:
    """B points (size*size, 2) of a frame's pixel centres."""
    side, top = frame
    c = (np.arange(size) + 0.5) * side / size
    gx, gy = np.meshgrid(c - side / 2, top + c)
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def _to_frame(b: np.ndarray, size: int, frame: tuple[float, float]) -> np.ndarray:
    """Continuous (col, row) frame pixel coordinates of B points (pixel centres at +0.5)."""
    side, top = frame
    return np.stack([(b[:, 0] + side / 2) * size / side, (b[:, 1] - top) * size / side], axis=1)


def _gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb


def _remap(img: np.ndarray, pts: np.ndarray, fill: float) -> np.ndarray:
    """Bilinear samples of a float image at (x, y) points (N, 2); `fill` outside."""
    n = len(pts)
    cols = 1024  # cv2.remap takes maps under 32767 on a side
    rows = -(-n // cols)
    p = np.concatenate([pts - 0.5, np.full((rows * cols - n, 2), -1e4)]).astype(np.float32).reshape(rows, cols, 2)
    return cv2.remap(img.astype(np.float32), p[..., 0], p[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=fill).ravel()[:n]


def coverage(shape: Shape, frame: tuple[float, float], size: int) -> np.ndarray:
    """float32 (size, size) in [0, 1]: how much of each pixel of `frame` the flat lay of `shape` covers
    (SUPERSAMPLE x SUPERSAMPLE points per pixel): its silhouette, as a view or a drawing shows it."""
    big = size * SUPERSAMPLE
    inside = shape.covers(_frame_points(big, frame)).reshape(big, big).astype(np.float32)
    return inside.reshape(size, SUPERSAMPLE, size, SUPERSAMPLE).mean(axis=(1, 3))


def canonical_view(image: np.ndarray, mask: np.ndarray, body: Body, size: int,
                   shape: Shape | None = None, hidden: np.ndarray | None = None,
                   skin: np.ndarray | None = None) -> CanonicalView:
    """The garment under `mask` laid flat as Fashion-MNIST shows garments: gray, on black, centred.

    Args:
        image: uint8 (H, W, 3) photo (or the swap's output).
        mask: bool (H, W): the garment (the input's garment mask, or the output's result_mask).
        body: the person (closet.body.body_from_keypoints).
        size: S, the translator's img_size or the judge's input size.
        shape: the flat lay's shape; default: `measure(mask, body, hidden, skin)`.
        hidden: bool (H, W), people in front of this one (GarmentParse.in_front), or None.
        skin: bool (H, W), the person's bare skin (GarmentParse.skin_pixels), or None.
    Returns:
        CanonicalView: gray uint8 (S, S); the garment's pixels have Fashion-MNIST's mean and
        spread of gray, where the garment is hidden or off the photo its mean gray, outside the
        shape black.
    """
    shape = shape or measure(mask, body, hidden, skin)
    frame = shape.frame
    big = size * SUPERSAMPLE
    b = _frame_points(big, frame)
    inside = shape.covers(b)
    src = BodyMap(body).image_of_flat(b[inside])
    # Only the box the points fall in is converted (a 12 MP photo's garment is a part of it).
    h, w = mask.shape
    x0, y0 = np.clip(np.floor(src.min(axis=0)).astype(int) - 2, 0, (w, h))
    x1, y1 = np.clip(np.ceil(src.max(axis=0)).astype(int) + 2, 0, (w, h))
    if x1 > x0 and y1 > y0:
        at = src - (x0, y0)
        gray = _remap(_gray(image[y0:y1, x0:x1]).astype(np.float32), at, -1.0)
        seen = _remap(mask[y0:y1, x0:x1].astype(np.float32), at, 0.0) > 0.5
    else:  # the flat lay lies off the photo
        gray, seen = np.full(len(src), -1.0, np.float32), np.zeros(len(src), bool)
    vals = gray[seen]
    mean = float(vals.mean()) if vals.size else 128.0
    std = float(vals.std()) if vals.size > 1 else 1.0
    norm = np.where(seen, (gray - mean) / max(std, 4.0) * FMNIST_STD + FMNIST_MEAN, FMNIST_MEAN)
    canvas = np.zeros(big * big, np.float32)
    canvas[inside] = np.clip(norm, FMNIST_FLOOR, 255.0)
    small = cv2.resize(canvas.reshape(big, big), (size, size), interpolation=cv2.INTER_AREA)
    return CanonicalView(np.clip(small + 0.5, 0, 255).astype(np.uint8), shape, frame)


def read(drawing: np.ndarray, frame: tuple[float, float], category: str | None = None,
         old: Shape | None = None) -> Shape:
    """The Shape of a flat-lay drawing (gray (S, S)) in `frame`: where it is at least READ_LEVEL as
    bright as its own chest; both sleeves take the longer-covered side's reach, snapped to
    SLEEVE_LENGTHS. Fashion-MNIST fits every garment to its frame, so a drawing says how long a
    garment is only relative to its own width: for a known `category` the hem is the `old` garment's
    brought into that category's range (CATEGORY_HEM; without `old`, the range's short end),
    otherwise the drawing's own; its sleeves are kept in that category's typical range (CATEGORY_REACH)."""
    g = cv2.GaussianBlur(_gray(np.asarray(drawing)).astype(np.float32), (0, 0), 0.7)
    size = g.shape[0]

    def at(b: np.ndarray) -> np.ndarray:
        return _remap(g, _to_frame(b, size, frame), 0.0)

    core = np.array([[x, y] for x in np.linspace(-0.2, 0.2, 5) for y in np.linspace(0.15, 0.7, 8)])
    level = max(float(np.median(at(core))), 1.0)
    thr = max(8.0, READ_LEVEL * level)
    side_len, top = frame
    ys = np.arange(0.2, min(top + side_len, HEM_MAX) + 1e-6, 0.025)
    xs = np.linspace(-0.22, 0.22, 9)
    cover = (at(np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)) >= thr).reshape(len(ys), len(xs)).mean(axis=1)
    # The drawing's folds and seams can be dark: its hem is its lowest covered row, gaps above it
    # notwithstanding.
    hem = float(ys[cover >= 0.5].max()) if (cover >= 0.5).any() else 0.2
    # A sleeve is read from below the sloping shoulder above its middle.
    start = max(SLEEVE_FROM, (float(Shape({-1: 1.0, 1: 1.0}, HIP_HEM).top(np.array(SLEEVE_X))) + SLEEVE_W / 4) / SLEEVE_LEN)
    ts = np.round(np.arange(start, 1.0 + 1e-6, 0.04), 6)
    us = np.linspace(-0.5, 0.5, 5)
    reach = {}
    tt, uu = np.meshgrid(ts, us, indexing="ij")  # a row per step along the sleeve
    for side in (-1, 1):
        band = np.stack([side * (SLEEVE_X + uu.ravel() * SLEEVE_W), tt.ravel() * SLEEVE_LEN], 1)
        cov = (at(band) >= thr).reshape(len(ts), len(us)).mean(axis=1)
        reach[side] = float(ts[cov >= 0.5].max()) if cov[0] >= 0.5 else 0.0
    # A garment's two sleeves are alike; the drawing's smudges are not.
    mean_reach = float(np.clip((reach[-1] + reach[1]) / 2, *CATEGORY_REACH.get(category, (0.0, 1.0))))
    both = min(SLEEVE_LENGTHS, key=lambda level_: abs(level_ - mean_reach))
    if category in CATEGORY_HEM:
        low, high = CATEGORY_HEM[category]
        hem = float(np.clip(old.hem, low, high)) if old is not None else low
    return Shape({-1: both, 1: both}, hem)


# -- the render back ----------------------------------------------------------------------------
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


def mirrored_texture(image: np.ndarray, old: np.ndarray, where: np.ndarray, band: float | None = None) -> np.ndarray:
    """Texture for the pixels `where` (outside `old`): each takes the `old` pixel found by going to
    the nearest one and on into it by a depth that runs 0 -> band -> 0 with the distance (a mirror
    image of the edge band, repeated). `band` None: as deep as the farthest pixel of `where`, one
    mirror image of the old cloth (a narrow band repeated made a dress's hem 0.75 torso lengths
    below a fur coat's, bus.jpg, five stripes of its fringe)."""
    out = image.copy()
    if not where.any() or not old.any():
        return out
    # The cloth's own pixels, not its edge: an edge pixel blends the cloth with what lies beside it
    # (a black top's edge beside a bare arm is brown), and where the mirror runs out of cloth the
    # edge pixel is what repeats (a sleeve grown over the arm was streaked brown).
    inner = cv2.erode(old.astype(np.uint8), np.ones((2 * MIRROR_INSET + 1,) * 2, np.uint8)).astype(bool)
    if inner.sum() >= max(16, old.sum() // 4):
        old = inner
    # OpenCV labels each `old` pixel and gives every other pixel its nearest one's label (5x5 chamfer
    # metric: the true nearest or one a pixel or two from it). Not scipy's exact transform: importing
    # scipy.ndimage costs a worker 0.3-0.4 s of CPU, and OpenCV takes a third of scipy's time.
    _, label = cv2.distanceTransformWithLabels((~old).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5,
                                               labelType=cv2.DIST_LABEL_PIXEL)
    oy, ox = np.nonzero(old)
    seed = np.zeros((int(label.max()) + 1, 2), np.int64)  # label -> its `old` pixel
    seed[label[oy, ox]] = np.stack([oy, ox], axis=1)
    ys, xs = np.nonzero(where)
    gy, gx = seed[label[ys, xs]].T.astype(np.float64)
    d = np.maximum(np.hypot(gy - ys, gx - xs), 1e-6)
    ny, nx = (gy - ys) / d, (gx - xs) / d
    band = float(d.max()) if band is None else band
    period = max(2.0 * band, 2.0)
    depth = band - np.abs(np.mod(d, period) - band)
    sy = np.clip(np.round(gy + ny * depth), 0, old.shape[0] - 1).astype(int)
    sx = np.clip(np.round(gx + nx * depth), 0, old.shape[1] - 1).astype(int)
    inside = old[sy, sx]
    out[ys, xs] = image[np.where(inside, sy, gy.astype(int)), np.where(inside, sx, gx.astype(int))]
    return out


def _triangle(d: np.ndarray, period: float) -> np.ndarray:
    """d >= 0 folded into [0, period] back and forth, as often as it takes (a triangle wave)."""
    back = np.mod(d, 2 * period)
    return np.where(back <= period, back, 2 * period - back)


def sleeve_texture(texture: np.ndarray, image: np.ndarray, source: np.ndarray, where: np.ndarray, bm: BodyMap,
                   part: np.ndarray, ends: dict[int, float], origin: tuple[int, int]) -> np.ndarray:
    """`texture` with the pixels `where` on a sleeve (`part` -1/1) taken from cloth along the arm.
    Past the sleeve's own end on the body (`ends`, t along the arm): the sleeve's cloth as far back
    (a mirror image along the arm, repeated over its last SLEEVE_SOURCE t), at the same place across
    it, so that its folds run along the arm and its lit side stays lit. A sleeve with less cloth of
    its own (a sleeveless top made a pullover) takes a strip of the torso instead, turned along the
    arm: the one most like plain cloth (TORSO_SOURCE_*, `_strip_flaws`). Mirrored across a ragged
    edge from the nearest cloth, a grown sleeve was a staircase of copies. Pixels whose source is
    not 2 px inside `source` keep `texture`'s."""
    out = texture.copy()
    y0, x0 = origin
    # The cloth's own pixels, not the blend at a badge's or a strap's edge.
    clean = cv2.erode(source.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    for side in (-1, 1):
        ys, xs = np.nonzero(where & (part == side))
        if len(ys) == 0 or not bm.placed(side):
            continue
        t, u = bm.image_to_sleeve(side, np.stack([xs + x0 + 0.5, ys + y0 + 0.5], 1))
        across = np.clip(u, -SLEEVE_SOURCE_U, SLEEVE_SOURCE_U)
        end = ends.get(side, 0.0)
        if end >= SLEEVE_FROM + SLEEVE_SOURCE / 2:
            past = t > end
            back = _triangle(np.maximum(t - end, 0.0), min(SLEEVE_SOURCE, end - SLEEVE_FROM))
            p = bm.sleeve_to_image(side, end - back, across) - (x0, y0)
        else:
            past = np.ones(len(t), bool)
            top, bottom = TORSO_SOURCE_ROWS
            down = top + _triangle(t * SLEEVE_LEN, bottom - top)
            share = (across + SLEEVE_SOURCE_U) / (2 * SLEEVE_SOURCE_U)
            # Anywhere across the torso, its outer side outward: the arm itself may hang in front of
            # the torso's side beside it, and a badge or a strap lies on the chest.
            some = slice(None, None, max(1, len(t) // STRIP_SAMPLES))  # judged on a sample of the sleeve
            mid = min(np.linspace(-TORSO_SOURCE_X, TORSO_SOURCE_X, 13), key=lambda m: _strip_flaws(
                image, clean, _torso_strip(bm, side, m, share[some], down[some]) - (x0, y0)))
            p = _torso_strip(bm, side, mid, share, down) - (x0, y0)
        sy, sx = _pixel(p, clean.shape)
        ok = clean[sy, sx] & past
        out[ys[ok], xs[ok]] = image[sy[ok], sx[ok]]
    return out


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
    sy, sx = _pixel(p, clean.shape)
    inside = clean[sy, sx]
    if inside.sum() < 16:
        return np.inf
    px = image[sy[inside], sx[inside]].astype(np.float32)
    return float(1.0 - inside.mean()) + float(np.median(np.abs(px - np.median(px, axis=0)), axis=0).mean()) / STRIP_SPREAD


def _pixel(p: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the pixels image points (N, 2) fall in, clipped to an image of `shape`."""
    return (np.clip(np.floor(p[:, 1]).astype(int), 0, shape[0] - 1),
            np.clip(np.floor(p[:, 0]).astype(int), 0, shape[1] - 1))


def main_cloth(lab: np.ndarray, garment: np.ndarray, min_share: float = MAIN_CLOTH_SHARE) -> np.ndarray:
    """bool like `garment`: its pixels of the cloth's own colours, within MAIN_CLOTH_SPREAD of their
    per-channel median deviation (at least MAIN_CLOTH_MIN_DIFF Lab units) of its median; all of it
    when that would leave less than `min_share`. Added cloth is mirrored from these: a lanyard
    mirrored into a dress's hem came out as white stripes below a black suit."""
    px = lab[garment]
    if len(px) < 16:
        return garment
    near = near_median(px, px[:: max(1, len(px) // MEDIAN_SAMPLES)], MAIN_CLOTH_SPREAD, MAIN_CLOTH_MIN_DIFF)
    if near.mean() < min_share:
        return garment
    out = np.zeros_like(garment)
    out[garment] = near
    return out


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


def bare_arm(bm: BodyMap, pts: np.ndarray, light: Light | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For image points (N, 2): how much of each a bared arm covers (0..1, with an edge one pixel
    soft), and the radiance there under `light` (closet.lighting), relative to the arm's brightest
    line across (1 there; a side turned from the light keeps the ambient share). None: the cover
    only (radiance 1)."""
    cover, radiance = np.zeros(len(pts)), np.ones(len(pts))
    behind = None
    for side in (-1, 1):
        if not bm.placed(side):
            continue
        t, u, *across = bm.image_to_sleeve(side, pts, across=light is not None)
        radius = np.interp(t, (0.0, 1.0), BARE_ARM_RADII) * bm.body.scale  # px
        off = np.abs(u) * bm.radius  # px from the bone
        c = np.clip(radius - off + 0.5, 0.0, 1.0)
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
    v = _remap(np.where(cloth, g, -1.0), cr, -1.0)
    return np.where(v < 0, mean, v)


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
                image: np.ndarray | None = None) -> np.ndarray:
    """bool (H, W): the old garment re-cut to the new shape on the same body: sleeves cut or
    continued along the arms, the hem raised or lowered (flaring a little when it goes long).
    The work is done in the box `pad` px around everything it can cover (`bm`'s flat_grid there is
    kept, so a caller working in a box inside it with the same `bm` computes no grid again).
    `image`, the photo, lets a grown sleeve find the arm's skin beyond the parse's (`_arm_skin`)."""
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
    # Added cloth below the hem continues the garment's own sides (a dress below a coat wider than
    # HEM_HALF stepped in at the coat's hem: bus.jpg's fur coat), flaring as it goes.
    right, left = -HEM_HALF, HEM_HALF
    sides = torso & was & (flat[:, 1] > old.hem - 0.15) & (flat[:, 1] <= old.hem)
    if sides.sum() >= 20:
        lo, hi = np.percentile(flat[sides, 0], [2, 98])
        right, left = max(min(lo, right), -HEM_HALF - HEM_WIDER), min(max(hi, left), HEM_HALF + HEM_WIDER)
    flare = HEM_FLARE * np.clip((flat[:, 1] - old.hem) / max(new.hem - old.hem, 1e-3), 0, 1)
    keep |= torso & (flat[:, 1] <= new.hem) & (was | ((flat[:, 0] >= right - flare) & (flat[:, 0] <= left + flare)))
    if new.hem >= old.hem:  # nothing to cut: a garment measured to HEM_MAX may run further still
        keep |= torso & was
    for side in (-1, 1):
        mine = part == side
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
    cut = np.flatnonzero((part != 0) & was & ~keep)
    if cut.size:
        pts = np.stack([xs[cut] + cols.start + 0.5, ys[cut] + rows.start + 0.5], 1)
        tb = bm.image_to_torso(pts)
        on_torso = (np.abs(tb[:, 0]) <= TORSO_W) & (tb[:, 1] >= TOP) & (tb[:, 1] <= new.hem)
        stays = np.ones(region_b.shape, np.uint8)
        stays[ys[keep], xs[keep]] = 0
        to_cloth = cv2.distanceTransform(stays, cv2.DIST_L2, 3)[ys[cut], xs[cut]]
        to_world = cv2.distanceTransform(mask_b.astype(np.uint8), cv2.DIST_L2, 3)[ys[cut], xs[cut]]
        keep[cut] = (on_torso | (to_cloth < to_world)) & (bare_arm(bm, pts)[0] <= 0)
    box = np.zeros(region_b.shape, np.uint8)
    box[ys[keep], xs[keep]] = 1
    box[parse.head[rows, cols]] = 0
    if parse.in_front is not None:
        box[parse.in_front[rows, cols]] = 0
    box = cv2.morphologyEx(box, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    # Added cloth continues the old garment: a piece that does not touch it (a sleeve lengthened
    # along a wrist that pose placed past the hand) is not the garment's.
    _, pieces = cv2.connectedComponents(box, connectivity=8)
    worn = np.unique(pieces[mask_b & (box > 0)])
    out = np.zeros((h, w), bool)
    out[rows, cols] = np.isin(pieces, worn[worn > 0])
    return out


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
        rim = _lifted_rim(out.rim, small_image.shape, image.shape, parse.mask)
        lifted, result = workscale.lift(image, parse.mask, small_image, out.image, small.mask, out.result_mask,
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
        out = RenderResult(lifted, result, out.shape, rim=None if rim is None else (slice(None), slice(None), rim))
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
    return RenderResult(out.image, out.result_mask, out.shape, painted, out.rim)


def _lifted_rim(rim: tuple[slice, slice, np.ndarray] | None, small_shape: tuple[int, ...],
                shape: tuple[int, ...], old: np.ndarray) -> np.ndarray | None:
    """bool (H, W): a reduced render's rim (RenderResult.rim) at the photo's size, outside its
    garment and within `edge_rim` of it there."""
    if rim is None:
        return None
    rows, cols, box = rim
    big_rows, big_cols, big = workscale.enlarge_region(box.astype(np.uint8) * 255, rows, cols, small_shape, shape,
                                                       np.uint8)
    out = np.zeros(shape[:2], bool)
    out[big_rows, big_cols] = big > 127
    reach = edge_rim(shape)
    near_rows = slice(max(0, big_rows.start - reach), big_rows.stop + reach)
    near_cols = slice(max(0, big_cols.start - reach), big_cols.stop + reach)
    out[near_rows, near_cols] &= dilate(old[near_rows, near_cols], reach) & ~old[near_rows, near_cols]
    return out


def _render_swap(image: np.ndarray, parse: GarmentParse, drawing: np.ndarray, view: CanonicalView,
                 category: str | None, preserve_color: bool, person: np.ndarray | None) -> RenderResult:
    """render_swap at the photo's own size."""
    body, old = parse.body, parse.mask
    gen = _gray(np.asarray(drawing)).astype(np.float32)
    size = gen.shape[0]
    new_shape = read(gen, view.frame, category, view.shape)
    r = dilation_radius(image.shape)
    bm = BodyMap(body)
    new = new_garment(parse, view.shape, new_shape, bm, 2 * r + 2, image)
    rows, cols = _box([old, new], 2 * r + 2)
    crop = image[rows, cols]
    old_c, new_c = old[rows, cols], new[rows, cols]
    h, w = old_c.shape
    flat, part = bm.flat_grid(rows, cols)  # a slice of new_garment's: its box holds this one
    hem = (part == 0) & (flat[..., 1] > view.shape.hem - HEM_OVERLAP)  # where a longer hem adds cloth
    hem_flare = hem
    if parse.silhouette is not None:  # over the person's own lower body, where the photo shows it
        hem_flare = hem & over_the_legs(flat, parse.silhouette[rows, cols], hem & new_c)
        new_c = new_c & ~(hem & ~old_c & ~hem_flare)
    if person is not None:
        # Added cloth covers the person: a sleeve grows over an arm. Only a longer hem may flare
        # past the legs. Pose put the grey-haired man's left arm (zidane.jpg) in the crowd behind
        # him, and his lengthened sleeve was a dark blob there.
        new_c = new_c & ~(~old_c & ~person[rows, cols] & ~hem_flare)
    drawn = shading(gen, _to_frame(flat.reshape(-1, 2), size, view.frame)).reshape(h, w)

    # the garment layer: the photo's cloth, added cloth mirrored from it, the generator's coarse change
    ext = new_c & ~old_c
    lab = to_lab(crop)  # the photo's Lab; the garment layer's differs only where cloth was added
    source = old_c & main_cloth(lab, old_c)
    texture = mirrored_texture(crop, source, ext) if ext.any() else crop
    if (ext & (part != 0)).any():  # a sleeve grown longer: along the arm, from its own cloth
        coded = _coded(old, parse.in_front)
        ends = {side: _sleeve_run(coded, bm, side)[0] for side in (-1, 1) if bm.placed(side)}
        # its own colours only, whatever their share (the astronaut's badge ran down a sleeve)
        texture = sleeve_texture(texture, crop, old_c & main_cloth(lab, old_c, 0.0), ext, bm, part, ends,
                                 (rows.start, cols.start))
    glab = lab.copy()
    glab[ext] = to_lab(texture[ext])
    cell = max(1.0, view.frame[0] / size * body.length)  # one drawing pixel, in image pixels
    known = old_c | ext
    # Sleeve and torso read different places of the drawing: soften the seam between them.
    drawn = _lowpass(drawn, known, 0.5 * cell)
    if preserve_color:
        # The photo's lightness, shaded by the generator's change: its output minus its input, in
        # Fashion-MNIST gray, which canonical_view scaled so that the cloth's spread is FMNIST_STD.
        # Less its mean over the new garment: the cloth keeps its own lightness, as it keeps its colour.
        given = _gray(np.asarray(view.gray)).astype(np.float32)  # the translator's input
        given = shading(given, _to_frame(flat.reshape(-1, 2), given.shape[0], view.frame)).reshape(h, w)
        change = drawn - _lowpass(given, known, 0.5 * cell)
        inside = new_c if new_c.any() else known
        change -= float(change[inside].mean()) if inside.any() else 0.0
        # A fold, not a new colour: where the drawing's outline misses the flat lay's, the change
        # runs to the whole gray range, and saturated cloth pushed that far loses its chroma.
        change = np.clip(change, -MAX_CHANGE * FMNIST_STD, MAX_CHANGE * FMNIST_STD)
        glab[..., 0] = np.clip(glab[..., 0] + change * (cloth_spread(lab[..., 0][old_c]) / FMNIST_STD), 0.0, 100.0)
    else:
        glab = np.zeros_like(glab)
        glab[..., 0] = np.clip(drawn, 0, 255) * (100.0 / 255.0)
    garment_layer = to_rgb8(glab)

    # the layer under it: what the old garment hid
    under = crop.copy()
    uncovered = old_c & ~new_c
    ys, xs = np.nonzero(uncovered)
    arm, light = bare_arm(bm, np.stack([xs + cols.start + 0.5, ys + rows.start + 0.5], 1), parse.skin.light)
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
    if (arm < 1).any():
        # What the old garment hid: inpainted from around it (the old and new garment are not sources).
        fill = inpaint(crop, old_c | new_c | rim)
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
        under[legs] = trousers(lab[..., 0][old_c], lab[..., 0][legs], seen) if carried is None else carried
    on = arm > 0
    if on.any():
        skin = np.empty((int(on.sum()), 3), np.float32)  # the bared pixels only
        skin[...] = parse.skin.lit
        # The light on the old garment, not its print: its own lightness only (no background mixed
        # in), within its own spread (a name tag or a ribbon bar showed through as a pale disc).
        garment_l = lab[..., 0][old_c]
        base = float(np.median(garment_l)) if old_c.any() else parse.skin.lit[0]
        spread = cloth_spread(garment_l)
        lighting = _lowpass(lab[..., 0], old_c, max(1.0, 0.04 * body.scale))[ys[on], xs[on]]
        shaded = skin[:, 0] + SKIN_SHADING * np.clip(lighting - base, -spread, spread)
        # The cloth around bared skin shades it: darker where it leaves the sleeve and beside the torso.
        near = cv2.distanceTransform((~new_c).astype(np.uint8), cv2.DIST_L2, 3)[ys[on], xs[on]]
        occluded = 1.0 - CLOTH_SHADOW * np.exp(-near / max(1.0, CLOTH_SHADOW_REACH * body.scale))
        # Shaded as light shades: less light scales XYZ, so L + 16 and a*b* by the same cube root.
        skin[:, 0] = np.clip(((shaded + 16.0) * np.cbrt(light[on]) - 16.0) * occluded, 0, 100)
        # Darker skin that kept the lit colour's chroma read as brown paint beside a black jacket.
        skin[:, 1:] *= ((skin[:, 0] + 16.0) / (parse.skin.lit[0] + 16.0))[:, None]
        a = arm[on, None]
        below = under[ys[on], xs[on]].astype(np.float32)
        under[ys[on], xs[on]] = np.clip(a * to_rgb8(skin[None])[0] + (1 - a) * below + 0.5, 0, 255).astype(np.uint8)

    # Feathered inside the union only: where alpha is 0, `under` comes back exactly, and `under` is
    # the photo's own outside the old garment and its rim. So every pixel farther than `edge_rim`
    # from the old and the new garment keeps its bytes, a stricter promise than the served one
    # (outside their dilation, never narrower).
    alpha = cv2.GaussianBlur(new_c.astype(np.float32), (0, 0), 1.0)[..., None]
    alpha = np.where((new_c | old_c)[..., None], alpha, 0.0)
    mixed = np.clip(under.astype(np.float32) * (1 - alpha) + garment_layer.astype(np.float32) * alpha + 0.5, 0, 255)
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
    return RenderResult(out, result, new_shape, painted, (rows, cols, rim) if rim.any() else None)
