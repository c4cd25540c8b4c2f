"""The legs a shortened garment uncovers: what the photo never showed under a long coat cut short.

Where the photo shows the legs below the old garment (a fur coat over jeans), the legs are those
trousers carried up (`carried_legs`): each leg seen there goes on up along its own line, and each
pixel takes the trousers' texture mirrored across the old hem along the nearer leg, at the same
place across it (mirrored back into the leg beside and between the legs), on their colour as lit
out of the coat's shadow (`seen_trousers`). Where the photo shows no legs (a coat running off the
photo), they are dark neutral cloth with the old garment's folds (`trousers`). Either way they fill
the old garment's outline below the new hem: legs drawn narrower left the coat's width beside them
to Telea's inpainting, smears of the background (and of a hand hanging by the hem).

All functions work on one box of the photo: `image` and the bool masks share its shape, and its
rows run on below the garment's box by the `reach` the trousers are read in.
"""

from __future__ import annotations

import cv2
import numpy as np

from closet.color import to_lab, to_rgb8

# Legs uncovered by a shorter garment: dark neutral cloth, at most TROUSERS_L, carrying TROUSERS_FOLDS of
# the old garment's lightness there (its folds lay over the legs; a flat fill read as a gray slab).
TROUSERS_L, TROUSERS_FOLDS = 30.0, 0.5
# ...unless the photo shows trousers below the old garment: their colour, read in a band this many
# torso lengths deep below its lowest edge, when the band is at least TROUSERS_SEEN_SHARE of the legs.
TROUSERS_REACH, TROUSERS_SEEN_SHARE = 0.25, 0.1
# ...and is one cloth: its darker and brighter halves (median CIE L) at most TROUSERS_ONE_CLOTH apart
# (jeans in a coat's shadow and out of it: L 2 and 9-16). Below a red hoodie a white shirt's tail
# hangs over dark trousers (L 4-12 and 50-67): carried up as one, they were a white block of
# scallops, the two mirrored into each other.
TROUSERS_ONE_CLOTH = 30.0
# ...and not within this many torso lengths above the feet (the person's lowest pixel in a column,
# when the photo shows it): there are shoes. A man in a black jacket and black trousers (one garment
# to the ankles) had his legs repainted in his white soles' colour.
TROUSERS_ABOVE_FEET = 0.3
# A leg carried up from the band is a piece of it this large (its share of the band) that touches the
# old garment's edge; at most two are.
LEG_MIN_SHARE = 0.1
# ...and at least this many torso lengths wide (a slanted hem leaves slivers of person beside it).
LEG_MIN_WIDTH = 0.05
# A carried leg reads this share of the seen leg's width: its outermost pixels are half background,
# and two thighs meeting read them as a dark seam.
SOURCE_WIDTH = 0.85
# The trousers' pattern is carried within this many of its robust spreads (per Lab channel) of its row.
SPECK_SPREAD = 2.5
# A leg carried up leans at most this many pixels across per pixel up (a short piece's line is a guess).
MAX_LEG_SLOPE = 0.25


def last_row(mask: np.ndarray) -> np.ndarray:
    """Per column, the mask's lowest row (the last row where the column is empty: callers leave
    those columns out)."""
    return mask.shape[0] - 1 - np.argmax(mask[::-1], axis=0)


def beneath(mask: np.ndarray) -> np.ndarray:
    """bool like `mask`: the pixels below its lowest pixel in their column (all of an empty column)."""
    return np.arange(mask.shape[0])[:, None] > np.where(mask.any(axis=0), last_row(mask), -1)[None, :]


def band(old: np.ndarray, person: np.ndarray, legs: np.ndarray, reach: int,
         shoes: np.ndarray | None = None) -> np.ndarray:
    """bool: the person below the old garment's lowest edge (within `reach` rows of it), in the
    columns of `legs` (the pixels a shortened garment uncovers), not on the `shoes`."""
    columns = legs.any(axis=0) & old.any(axis=0)
    depth = np.arange(old.shape[0])[:, None] - last_row(old)[None, :]
    seen = (depth > 0) & (depth <= reach) & columns[None, :] & person & ~old
    return seen & ~shoes if shoes is not None else seen


def seen_trousers(image: np.ndarray, old: np.ndarray, person: np.ndarray, legs: np.ndarray,
                  reach: int, shoes: np.ndarray | None = None) -> np.ndarray | None:
    """Lab (3,): the lit colour (the median of the brighter half) of the person below the old
    garment's lowest edge (`band`): the trousers the photo shows there (a fur coat over jeans).
    None when the photo shows too little of them (a coat running off the photo, or down to the
    shoes), or more than one cloth there (TROUSERS_ONE_CLOTH)."""
    seen = band(old, person, legs, reach, shoes) if reach >= 1 else np.zeros_like(old)
    if seen.sum() < max(16, TROUSERS_SEEN_SHARE * legs.sum()):
        return None
    # Their lit half (as bared skin takes the face's lit side): right under the hem they lie in
    # the old garment's shadow (bus.jpg's jeans: L 2 there, 9-16 in the brighter half), and the
    # legs a shorter garment uncovers are out of it.
    lab = to_lab(image[seen][None])[0]
    order = np.argsort(lab[:, 0], kind="stable")
    darker, brighter = lab[order[:len(lab) // 2]], lab[order[len(lab) // 2:]]
    if np.median(brighter[:, 0]) - np.median(darker[:, 0]) > TROUSERS_ONE_CLOTH:
        return None
    return np.median(brighter, axis=0)


def trousers(garment_l: np.ndarray, here_l: np.ndarray, seen: np.ndarray | None = None) -> np.ndarray:
    """uint8 (N, 3): legs in trousers, for the pixels a shortened garment uncovered below its new hem.
    Their colour is `seen` (Lab: the trousers the photo shows below the old garment, `seen_trousers`),
    else dark neutral: the old garment's darker quartile (at most TROUSERS_L). Plus TROUSERS_FOLDS of
    the old garment's own lightness at those pixels (`here_l`) about its median."""
    lab = np.zeros((len(here_l), 3), np.float32)
    if seen is None:
        base = min(float(np.percentile(garment_l, 25)) if garment_l.size else TROUSERS_L, TROUSERS_L)
    else:
        base = float(seen[0])
        lab[:, 1:] = seen[1:]
    lab[:, 0] = np.clip(base + TROUSERS_FOLDS * (here_l - float(np.median(here_l))), 0, 100)
    return to_rgb8(lab[None])[0]


def feet(person: np.ndarray, cols: slice, rows: slice, height: float) -> np.ndarray:
    """bool (rows, cols) box: the person's lowest `height` pixels in each column of the image, where
    the photo shows their end (a person running off the photo's bottom shows no feet)."""
    column = person[:, cols]
    lowest = last_row(column)
    shown = column.any(axis=0) & (lowest < person.shape[0] - 1)
    y = np.arange(rows.start, rows.stop)[:, None]
    return shown[None, :] & (y > lowest[None, :] - height) & (y <= lowest[None, :])


class _Leg:
    """One leg seen below the old garment: per row of it (from its top down), its middle and half
    width; above its top, its own line carried on up (a leg is straight from the knee to the hip)."""

    def __init__(self, piece: np.ndarray):
        rows = np.nonzero(piece.any(axis=1))[0]
        self.top, self.rows = int(rows[0]), np.arange(rows[0], rows[-1] + 1)
        cols = np.arange(piece.shape[1])
        inside = piece[self.rows]  # a piece's rows are contiguous, and each holds some of it
        left = np.where(inside, cols, piece.shape[1]).min(axis=1)
        right = np.where(inside, cols, -1).max(axis=1)
        self.middle = (left + right + 1) / 2.0
        self.half = (right + 1 - left) / 2.0
        # By a line through all its rows: its first ones lie in the garment's shadow and along its
        # slanted edge, narrower than the leg.
        slope, at = np.polyfit(self.rows, self.middle, 1) if len(self.rows) > 1 else (0.0, self.middle[0])
        self.middle0 = float(at + slope * self.top)
        self.slope = float(np.clip(slope, -MAX_LEG_SLOPE, MAX_LEG_SLOPE))
        self.half0 = float(np.median(self.half))

    def above(self, y: np.ndarray) -> np.ndarray:
        """The leg's middle on rows `y` above its top."""
        return self.middle0 + self.slope * (y - self.top)

    def source(self, y: np.ndarray, across: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where the photo shows the pixel `across` (-1..1) of this leg, `top - y` rows above its
        top: as far below it (a mirror image, repeated past the rows it shows), as far across (within
        SOURCE_WIDTH of its edges); its first rows left out."""
        skip = len(self.rows) // 4  # the rows along the garment's edge: its fringe and its shadow
        n = len(self.rows) - skip
        k = np.maximum(self.top - y, 0) % (2 * n)
        k = skip + np.where(k >= n, 2 * n - 1 - k, k)
        return self.middle[k] + across * SOURCE_WIDTH * self.half[k], self.rows[k]


def _fold(r: np.ndarray) -> np.ndarray:
    """r mirrored back into -1..1 at its ends, as often as it takes (a triangle wave)."""
    t = np.mod(r + 1.0, 4.0)
    return np.where(t <= 2.0, t, 4.0 - t) - 1.0


def carried_legs(image: np.ndarray, old: np.ndarray, person: np.ndarray, legs: np.ndarray, reach: int,
                 length: float, lit: np.ndarray, shoes: np.ndarray | None = None) -> np.ndarray | None:
    """The legs the photo shows below the old garment, carried up into `legs` (bool, the person's
    pixels a shortened garment uncovered below its new hem).

    Args:
        image: uint8 (H, W, 3), the box.
        old: bool (H, W), the old garment.
        person: bool (H, W), the person mask.
        legs: bool (H, W), the pixels to fill.
        reach: rows below the old garment's edge the legs are read in.
        length: the person's torso length, pixels.
        lit: Lab (3,), the trousers' lit colour (`seen_trousers`).
        shoes: bool (H, W), the feet (`feet`), or None.
    Returns:
        uint8 (N, 3): the colour of the pixels of `legs` (in np.nonzero order), or None when no leg
        shows under the old garment's edge.
    """
    # Legs, not the slivers of person beside a slanted hem or between a coat's flaps.
    width = max(3, int(round(LEG_MIN_WIDTH * length)))
    seen = cv2.morphologyEx(band(old, person, legs, reach, shoes).astype(np.uint8), cv2.MORPH_OPEN,
                            np.ones((1, width), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(seen, connectivity=8)
    at_edge = np.zeros(seen.shape, bool)
    ys, xs = np.nonzero(seen)
    at_edge[ys, xs] = ys - last_row(old)[xs] <= max(2, reach // 4)  # a leg comes out from under the garment
    pieces = [k for k in range(1, count) if stats[k, cv2.CC_STAT_AREA] >= LEG_MIN_SHARE * seen.sum()
              and at_edge[labels == k].any()]
    pieces = sorted(sorted(pieces, key=lambda k: -stats[k, cv2.CC_STAT_AREA])[:2],
                    key=lambda k: stats[k, cv2.CC_STAT_LEFT])
    if not pieces:
        return None
    body_legs = [_Leg(labels == k) for k in pieces]
    half = max(leg.half0 for leg in body_legs)  # two legs are alike: a coat's flap half hides one

    ys, xs = np.nonzero(legs)
    across = np.stack([(xs + 0.5 - leg.above(ys.astype(np.float32))) / half for leg in body_legs])
    nearest = np.argmin(np.abs(across), axis=0)
    # Beside the legs and between them the old garment's outline is kept, in the nearer leg's cloth
    # mirrored across its edge. (Inpainted as background, the gap between two legs was a smooth gray
    # patch the size of a hand, and beside a hand hanging by the hem a smear of its skin.)
    r = _fold(across[nearest, np.arange(len(ys))])
    lab = to_lab(image)
    # ...within their own spread: what else the band holds (a shoe's edge, a bit of the coat) is not
    # copied up as specks.
    seen_lab = lab[np.isin(labels, pieces)]
    spread = SPECK_SPREAD * 1.4826 * np.median(np.abs(seen_lab - np.median(seen_lab, axis=0)), axis=0) + 1.0
    out = np.zeros((len(ys), 3), np.float32)
    for i, leg in enumerate(body_legs):
        mine = nearest == i
        sx, sy = leg.source(ys[mine], r[mine])
        sx = np.clip(np.floor(sx).astype(int), 0, image.shape[1] - 1)
        # The trousers' own pattern and folds, about their row's mean (under the hem that row lies in
        # the coat's shadow), on their lit colour.
        row_mean = np.array([lab[y][labels[y] == pieces[i]].mean(axis=0) for y in leg.rows], np.float32)
        out[mine] = lit + np.clip(lab[sy, sx] - row_mean[sy - leg.top], -spread, spread)
    out[:, 0] = np.clip(out[:, 0], 0, 100)
    return to_rgb8(out[None])[0]
