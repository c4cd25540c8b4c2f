"""Big photos: the garment's geometry worked out on a reduced copy, and lifted back to the photo.

A phone photo (12 MP) shows a body several times wider than the garment geometry needs: masks,
re-cut sleeves and hems, added texture and shading look the same at a body width of
WORK_BODY_WIDTH pixels. The pose-garment parser (closet.garment) and the shape render
(closet.render) therefore work on a copy reduced to that width (`factor`), so that their cost
follows the garment at that width, not the photo. What they made is lifted back:

* masks by linear interpolation of the reduced mask, cut at one half (`enlarge_mask`);
* a render by `lift`: cloth that stays gets the render's change as a smooth difference added to
  the photo's own pixels, so it keeps every full-resolution detail; what is new (added cloth,
  bared skin, inpainted background) is the reduced render enlarged.

A body no wider than WORK_BODY_WIDTH is worked on as it is (factor 1): nothing changes for it.
"""

from __future__ import annotations

import cv2
import numpy as np

from closet.flatlay import remap

# Measured on the 12 MP bench photo (tools/workscale_probe.py): against the render at the photo's
# own size, result masks agree to IoU 0.986-0.988 and 1.5-2.2% of the garment's pixels move by more
# than 8 levels, along the re-cut edges; 400 px (IoU 0.990-0.993) cost 0.15 s more per request.
WORK_BODY_WIDTH = 256.0


def factor(body_width: float) -> float:
    """The reduction (<= 1) that brings a body `body_width` pixels wide to WORK_BODY_WIDTH."""
    return min(1.0, WORK_BODY_WIDTH / max(float(body_width), 1e-6))


def reduced_size(shape: tuple[int, ...], f: float) -> tuple[int, int]:
    """cv2 (width, height) of an image of `shape` reduced by `f`."""
    return max(1, round(shape[1] * f)), max(1, round(shape[0] * f))


def reduce_image(image: np.ndarray, f: float) -> np.ndarray:
    """uint8 image reduced by `f` (area averaging: no aliasing of fine patterns)."""
    return cv2.resize(image, reduced_size(image.shape, f), interpolation=cv2.INTER_AREA)


def reduce_mask(mask: np.ndarray, f: float) -> np.ndarray:
    """bool mask reduced by `f`: a reduced pixel is set when at least half its area is."""
    small = cv2.resize(mask.astype(np.uint8) * 255, reduced_size(mask.shape, f), interpolation=cv2.INTER_AREA)
    return small >= 128


def enlarge(small: np.ndarray, shape: tuple[int, ...], rows: slice | None = None,
            cols: slice | None = None, dtype: type = np.float32) -> np.ndarray:
    """`small` (a reduced copy of an image of `shape`) bilinearly enlarged, only for the box
    (rows, cols) of the full image (default: all of it), in `dtype` (uint8: rounded, at half the
    cost of float32). Pixel centres map as cv2.resize maps them."""
    h, w = shape[:2]
    rows, cols = rows or slice(0, h), cols or slice(0, w)
    sx, sy = small.shape[1] / w, small.shape[0] / h
    # dst (x, y) of the box -> src ((x + x0 + 0.5) * sx - 0.5, ...)
    m = np.float32([[sx, 0, (cols.start + 0.5) * sx - 0.5], [0, sy, (rows.start + 0.5) * sy - 0.5]])
    return cv2.warpAffine(small.astype(dtype, copy=False), m, (cols.stop - cols.start, rows.stop - rows.start),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)


def enlarge_mask(small: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """bool (H, W): a reduced mask enlarged to `shape`, its edge where the interpolation crosses one
    half. Only the box around the reduced mask's pixels is interpolated."""
    h, w = shape[:2]
    out = np.zeros((h, w), bool)
    ys, xs = np.flatnonzero(small.any(axis=1)), np.flatnonzero(small.any(axis=0))
    if ys.size == 0:
        return out
    rows, cols = enlarged_box(slice(ys[0], ys[-1] + 1), slice(xs[0], xs[-1] + 1), small.shape, shape)
    out[rows, cols] = enlarge(small.astype(np.uint8) * 255, shape, rows, cols) >= 127.5
    return out


def enlarged_box(rows: slice, cols: slice, small_shape: tuple[int, ...],
                 shape: tuple[int, ...]) -> tuple[slice, slice]:
    """The box of an image of `shape` that a box (rows, cols) of its reduced copy (`small_shape`)
    reaches when enlarged: a full pixel interpolates the reduced pixels within one of its own
    position, so the box grows by one reduced pixel each side."""
    h, w = shape[:2]
    sy, sx = h / small_shape[0], w / small_shape[1]
    return (slice(max(0, int((rows.start - 1) * sy)), min(h, int(np.ceil((rows.stop + 1) * sy)))),
            slice(max(0, int((cols.start - 1) * sx)), min(w, int(np.ceil((cols.stop + 1) * sx)))))


def enlarge_region(values: np.ndarray, rows: slice, cols: slice, small_shape: tuple[int, ...],
                   shape: tuple[int, ...], dtype: type = np.float32) -> tuple[slice, slice, np.ndarray]:
    """`values` of a box (rows, cols) of a reduced copy (`small_shape`; zero elsewhere), enlarged
    to an image of `shape` in `dtype` (as `enlarge`): the box they reach there, and their values in it."""
    whole = np.zeros(small_shape[:2], dtype)
    whole[rows, cols] = values
    big_rows, big_cols = enlarged_box(rows, cols, small_shape, shape)
    return big_rows, big_cols, enlarge(whole, shape, big_rows, big_cols, dtype)


def lift(image: np.ndarray, old: np.ndarray, small_image: np.ndarray, small_out: np.ndarray,
         small_old: np.ndarray, small_new: np.ndarray, keep_detail: bool = True,
         also: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A render made on a reduced copy, brought back to the photo: the render enlarged, plus, where
    cloth of the old garment stays, the photo's own detail (the photo minus its reduced copy
    enlarged). Interpolation is linear, so that is the photo plus the render's change enlarged.

    Args:
        image: uint8 (H, W, 3), the photo; old: bool (H, W), its garment.
        small_image, small_out: the reduced copy before and after the render.
        small_old, small_new: bool, the reduced copy's old garment and its render's result mask.
        keep_detail: False takes the enlarged render alone everywhere (a render that repaints the
            cloth whole, e.g. in the generator's own gray).
        also: bool (H, W), more pixels the render painted outside both garments (its rim), or None.
    Returns:
        (uint8 (H, W, 3) output, bool (H, W) result mask). Pixels outside old | result mask | also are
        the photo's, byte for byte; so is kept cloth that the render left unchanged.
    """
    h, w = image.shape[:2]
    new = enlarge_mask(small_new, (h, w))
    union = old | new if also is None else old | new | also
    out = image.copy()
    if not union.any():
        return out, new
    ys, xs = np.flatnonzero(union.any(axis=1)), np.flatnonzero(union.any(axis=0))
    rows, cols = slice(ys[0], ys[-1] + 1), slice(xs[0], xs[-1] + 1)
    # In uint8 and int16 through OpenCV, not float32 through numpy: 0.14 -> 0.09 s at 12 MP, within
    # one level (kept cloth the render left unchanged is still the photo's, byte for byte).
    lifted = enlarge(small_out, (h, w), rows, cols, np.uint8)
    if keep_detail:
        detail = cv2.subtract(image[rows, cols], enlarge(small_image, (h, w), rows, cols, np.uint8), dtype=cv2.CV_16S)
        kept = enlarge((small_old & small_new).astype(np.uint8) * 255, (h, w), rows, cols, np.uint8)
        # only the photo's cloth: just past the old garment's edge its detail is what lies beside it
        # (a line of the arm's skin along a short sleeve's hem, through the sleeve grown over it)
        kept[~old[rows, cols]] = 0
        detail = cv2.multiply(detail, cv2.merge([kept] * 3), scale=1 / 255, dtype=cv2.CV_16S)
        lifted = cv2.add(lifted, detail, dtype=cv2.CV_8U)  # saturates at 0 and 255
    # cv2.copyTo writes through the box's view: 1.5 ms at 12 MP, against np.copyto(where=)'s 54 ms.
    cv2.copyTo(lifted, union[rows, cols].view(np.uint8), out[rows, cols])
    return out, new


def carry_detail(out: np.ndarray, image: np.ndarray, small_image: np.ndarray, where: tuple[slice, slice, np.ndarray],
                 old: np.ndarray, sources: tuple[slice, slice, np.ndarray]) -> None:
    """Cloth a render on a reduced copy added (a grown sleeve, a longer hem, a coat's ring), given
    the photo's own detail where it was taken from: adds to `out` (in place), at the pixels `where`
    ((rows, cols, bool box) of the photo), the photo minus its reduced copy enlarged (what `lift`
    keeps for cloth that stays), read at each pixel's source. `sources`: (rows, cols, int32 (h, w, 2)) a box of the
    reduced copy and, per pixel, the row and column of the reduced copy its cloth came from (-1:
    none). A full pixel's source is the reduced sources interpolated as `enlarge` interpolates,
    where its four reduced neighbours' lie together (a mirror image, a strip), else its nearest
    one's; and only from the old garment (`old`). Enlarged alone, added cloth had none of the
    cloth's grain: on a phone photo a grown sleeve was a smear; taken whole from each reduced
    pixel's source, its grain broke into blocks."""
    rows, cols, src = sources
    h, w = image.shape[:2]
    sh, sw = src.shape[:2]
    fy, fx = small_image.shape[0] / h, small_image.shape[1] / w
    ys, xs = np.nonzero(where[2])
    ys, xs = ys + where[0].start, xs + where[1].start
    qy, qx = (ys + 0.5) * fy - 0.5 - rows.start, (xs + 0.5) * fx - 0.5 - cols.start
    y0, x0 = np.floor(qy).astype(np.int64), np.floor(qx).astype(np.int64)
    ty, tx = (qy - y0)[:, None], (qx - x0)[:, None]
    corners = [src[np.clip(y0 + dy, 0, sh - 1), np.clip(x0 + dx, 0, sw - 1)].astype(np.float64)
               for dy in (0, 1) for dx in (0, 1)]
    near = src[np.clip(np.rint(qy).astype(np.int64), 0, sh - 1), np.clip(np.rint(qx).astype(np.int64), 0, sw - 1)]
    stack = np.stack(corners)
    together = (stack.min(axis=0) >= 0).all(axis=1) & ((stack.max(axis=0) - stack.min(axis=0)) <= 2.5).all(axis=1)
    s = np.where(together[:, None], (1 - ty) * ((1 - tx) * corners[0] + tx * corners[1])
                 + ty * ((1 - tx) * corners[2] + tx * corners[3]), near.astype(np.float64))
    inside = (qy > -1) & (qy < sh) & (qx > -1) & (qx < sw) & (s[:, 0] >= 0)
    ys, xs, s = ys[inside], xs[inside], s[inside]
    sy = np.clip(np.rint((s[:, 0] + 0.5) / fy - 0.5).astype(np.int64), 0, h - 1)
    sx = np.clip(np.rint((s[:, 1] + 0.5) / fx - 0.5).astype(np.int64), 0, w - 1)
    cloth = old[sy, sx]
    ys, xs, sy, sx = ys[cloth], xs[cloth], sy[cloth], sx[cloth]
    if not len(ys):
        return
    # the reduced copy enlarged (bilinearly, as `enlarge` maps pixel centres), at the sources only
    smooth = remap(small_image, np.stack([(sx + 0.5) * fx, (sy + 0.5) * fy], axis=1), None)
    detail = image[sy, sx] - np.rint(smooth)
    out[ys, xs] = np.clip(out[ys, xs] + detail, 0, 255).astype(np.uint8)
