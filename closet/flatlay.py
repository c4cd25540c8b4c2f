"""The flat lay: a worn garment laid flat as Fashion-MNIST shows garments, and the map between it and the body.

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

The shape render (closet.render) draws a Shape back onto the body through the same BodyMap.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from closet.body import Arm, Body

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
SLEEVE_FROM = 0.08  # sleeves are measured from this far down the arm (0 shoulder, 1 wrist)
# -- shapes -----------------------------------------------------------------------------------
NECKLINE = 0.45  # a V neck or an open collar (a shirt and tie inside a jacket) reaches this far: the hem is sought below it
HIP_HEM = 1.05  # a hip-length garment's hem (B); what a garment running off the photo is taken for
HEM_MAX = 2.0
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
# How far a category stands off the body beyond the worn garment's outline (body widths): a coat is
# worn over clothes, so it is wider as well as longer (the issue: "a coat is longer and wider").
# Fashion-MNIST fills its frame with every garment, so its drawings cannot say this; the category does.
CATEGORY_EASE = {"coat": 0.06}
CLOTH_GRAY = 8.0  # the drawing's background is black; cloth is brighter than this
READ_LEVEL = 0.45  # the drawing covers a point where it is this bright relative to its chest
SLEEVE_LENGTHS = (0.0, 0.35, 1.0)  # what a 32-pixel drawing can say: none, short, long
# -- looks ------------------------------------------------------------------------------------
FMNIST_MEAN, FMNIST_STD, FMNIST_FLOOR = 160.0, 45.0, 40.0  # Fashion-MNIST garment gray
SUPERSAMPLE = 4
# The flat-lay coordinates of a garment box are computed on at most this many grid points, then
# resized: a 12 MP photo's box (about 5 MP) costs what a 0.25 MP one does (docs/speed.md).
GRID_PIXELS = 250_000


@dataclass(frozen=True)
class Shape:
    """A garment's shape: sleeve reach per side (-1 right, +1 left; 0 none .. 1 wrist), hem (B), and
    ease: how far it stands off the body beyond the worn garment's outline (body widths, CATEGORY_EASE)."""

    reach: dict[int, float]
    hem: float
    ease: float = 0.0

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
            # Only points within a sleeve radius of the arm's bones can be on it: the others are
            # not measured (most of a garment's box lies off an arm).
            bones = np.array([self.arms[side].shoulder, self.arms[side].elbow, self.arms[side].wrist])
            lo, hi = bones.min(axis=0) - self.radius, bones.max(axis=0) + self.radius
            near = np.nonzero((p[:, 0] >= lo[0]) & (p[:, 0] <= hi[0]) & (p[:, 1] >= lo[1]) & (p[:, 1] <= hi[1]))[0]
            t, u = self.image_to_sleeve(side, p[near])
            on = (np.abs(u) <= 1.0) & (t >= SLEEVE_FROM / 2) & (np.abs(u) < best[near])
            mine = near[on]
            flat[mine] = np.stack([side * (SLEEVE_X + np.clip(u[on], -1, 1) * SLEEVE_W), t[on] * SLEEVE_LEN], 1)
            part[mine] = side
            best[mine] = np.abs(u[on])
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
def sample_mask(mask: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Mask values at image points: 1 garment, 0 not, -1 outside the photo."""
    h, w = mask.shape
    x, y = np.round(p[:, 0] - 0.5).astype(int), np.round(p[:, 1] - 0.5).astype(int)
    inside = (x >= 0) & (x < w) & (y >= 0) & (y < h)
    out = np.full(len(p), -1.0)
    out[inside] = mask[y[inside], x[inside]]
    return out


def with_unknown(mask: np.ndarray, hidden: np.ndarray | None) -> np.ndarray:
    """A bool `mask` as sample_mask reads it, with -1 (unknown) where `hidden` hides it."""
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


def sleeve_run(mask: np.ndarray, bm: BodyMap, side: int) -> tuple[float, bool, np.ndarray, np.ndarray]:
    """Arm `side`'s sleeve in `mask`: its reach, whether the photo shows its end (`_run`), and the
    image points it was sampled at (a row of 5 across per step) with the steps (0 shoulder, 1 wrist)."""
    cover, pts, ts = _sleeve_cover(mask, bm, side)
    reach, shown = _run(cover, ts, 1.0)
    return reach, shown, pts, ts


def _sleeve_cover(mask: np.ndarray, bm: BodyMap, side: int) -> tuple[list[float], np.ndarray, np.ndarray]:
    """Arm `side`'s rows of `mask` samples down the arm (`_row_cover`), the image points they were
    sampled at (a row of 5 across per step) and the steps (0 shoulder, 1 wrist)."""
    ts = np.round(np.arange(SLEEVE_FROM, 1.0 + 1e-6, 0.04), 6)
    tt, uu = np.meshgrid(ts, np.linspace(-0.6, 0.6, 5), indexing="ij")
    pts = bm.sleeve_to_image(side, tt.ravel(), uu.ravel())
    return _row_cover(sample_mask(mask, pts).reshape(len(ts), -1)), pts, ts


def measure(mask: np.ndarray, body: Body, hidden: np.ndarray | None = None, skin: np.ndarray | None = None) -> Shape:
    """The Shape of a garment mask on a body (a sleeve off the photo is taken to go on; a hem off
    the photo to reach the hips at least; `hidden`, people in front, hide as the photo's edge does:
    a shirt behind a seated woman's head measured as a crop top). `skin`, the person's bare skin,
    hides the torso's rows too: a hand, a forearm across, or what it holds in a skin-like colour
    (a seated woman's hand of cards ended her top's hem at 0.48 torso lengths, and `pullover` then
    covered the cards and the ashtray before her in mirrored cloth); not the sleeves, which it bares."""
    bm = BodyMap(body)
    torso_mask = with_unknown(mask, hidden if skin is None else skin if hidden is None else skin | hidden)
    mask = with_unknown(mask, hidden)
    ys = np.round(np.arange(NECKLINE, HEM_MAX + 1e-6, 0.025), 6)  # exact steps: a hem at HEM_MAX is HEM_MAX
    xs = np.linspace(-0.22, 0.22, 9)
    p = bm.torso_to_image(np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2))  # row by row, y down the torso
    v = sample_mask(torso_mask, p)
    v[bm.flat_of(p)[1] != 0] = -1.0  # an arm in front hides the torso there
    cover = _row_cover(v.reshape(len(ys), len(xs)))
    # A neckline deeper than NECKLINE (a camisole, a deep V) leaves the rows below it bare: the run
    # starts at the first covered row. (Read from NECKLINE on, a camisole measured as a crop top
    # ending at the chest, and `pullover` filled her chest and hair with a slab of mirrored cloth.)
    first = next((k for k, c in enumerate(cover) if c >= 0.5 or c < 0), len(cover))
    hem = max(_run(cover[first:], ys[first:], HIP_HEM)[0], 0.2)
    reach, seen, shown = {}, {}, {}
    for side in (-1, 1):
        if not bm.placed(side):
            continue
        cover, _, ts = _sleeve_cover(mask, bm, side)
        reach[side], seen[side] = _run(cover, ts, 1.0)
        shown[side] = _run(cover, ts, 0.0)[0]  # as far as the photo shows its cloth
    # A flat lay is symmetric: the arm whose sleeve shows more tells (the other may be hidden behind
    # the body in a profile), but a sleeve whose end the photo shows beats one that runs off it (a
    # portrait cut at the elbows), unless that one's cloth is seen past the end: then the end was
    # something over the sleeve (long hair over a woman's shoulder, read as skin, measured her
    # long-sleeved blouse as sleeveless beside her other sleeve running off the photo at the
    # elbow, and `dress` left both sleeves on); no arm seen: long sleeves, the commonest.
    ended = [r for side, r in reach.items() if seen[side]]
    past = [reach[side] for side in reach if not seen[side] and shown[side] > max(ended, default=1.0)]
    both = max(past or ended or reach.values()) if reach else 1.0
    return Shape({-1: both, 1: both}, hem)



def _frame_points(size: int, frame: tuple[float, float]) -> np.ndarray:
    """B points (size*size, 2) of a frame's pixel centres."""
    side, top = frame
    c = (np.arange(size) + 0.5) * side / size
    gx, gy = np.meshgrid(c - side / 2, top + c)
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def to_frame(b: np.ndarray, size: int, frame: tuple[float, float]) -> np.ndarray:
    """Continuous (col, row) frame pixel coordinates of B points (pixel centres at +0.5)."""
    side, top = frame
    return np.stack([(b[:, 0] + side / 2) * size / side, (b[:, 1] - top) * size / side], axis=1)


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """uint8 gray of an RGB image (a gray one as it is)."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb


def remap(img: np.ndarray, pts: np.ndarray, fill: float | None) -> np.ndarray:
    """Bilinear samples of an image (H, W) or (H, W, C) at (x, y) points (N, 2), pixel centres at
    +0.5, in float32: (N,) or (N, C). `fill` outside; None: the nearest edge pixel's."""
    n = len(pts)
    cols = 1024  # cv2.remap takes maps under 32767 on a side
    rows = -(-n // cols)
    p = np.concatenate([pts - 0.5, np.full((rows * cols - n, 2), -1e4)]).astype(np.float32).reshape(rows, cols, 2)
    border = dict(borderMode=cv2.BORDER_REPLICATE) if fill is None else \
        dict(borderMode=cv2.BORDER_CONSTANT, borderValue=fill)
    out = cv2.remap(img.astype(np.float32), p[..., 0], p[..., 1], cv2.INTER_LINEAR, **border)
    return out.reshape(rows * cols, *img.shape[2:])[:n]


def coverage(shape: Shape, frame: tuple[float, float], size: int) -> np.ndarray:
    """float32 (size, size) in [0, 1]: how much of each pixel of `frame` the flat lay of `shape` covers
    (SUPERSAMPLE x SUPERSAMPLE points per pixel): its silhouette, as a view or a drawing shows it."""
    big = size * SUPERSAMPLE
    inside = shape.covers(_frame_points(big, frame)).reshape(big, big).astype(np.float32)
    return inside.reshape(size, SUPERSAMPLE, size, SUPERSAMPLE).mean(axis=(1, 3))


def fmnist_gray(gray: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """float32 like `gray` (a garment's pixels): the `seen` ones scaled to Fashion-MNIST's mean
    and spread of garment gray, the others (hidden, off the photo) that mean."""
    vals = gray[seen]
    mean = float(vals.mean()) if vals.size else 128.0
    std = float(vals.std()) if vals.size > 1 else 1.0
    norm = np.where(seen, (gray - mean) / max(std, 4.0) * FMNIST_STD + FMNIST_MEAN, FMNIST_MEAN)
    return np.clip(norm, FMNIST_FLOOR, 255.0).astype(np.float32)


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
        hidden: bool (H, W), other people seen in front of this one (GarmentParse.in_front), or None.
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
        gray = remap(to_gray(image[y0:y1, x0:x1]).astype(np.float32), at, -1.0)
        seen = remap(mask[y0:y1, x0:x1].astype(np.float32), at, 0.0) > 0.5
    else:  # the flat lay lies off the photo
        gray, seen = np.full(len(src), -1.0, np.float32), np.zeros(len(src), bool)
    canvas = np.zeros(big * big, np.float32)
    canvas[inside] = fmnist_gray(gray, seen)
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
    g = cv2.GaussianBlur(to_gray(np.asarray(drawing)).astype(np.float32), (0, 0), 0.7)
    size = g.shape[0]

    def at(b: np.ndarray) -> np.ndarray:
        return remap(g, to_frame(b, size, frame), 0.0)

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
    return Shape({-1: both, 1: both}, hem, CATEGORY_EASE.get(category, 0.0))
