"""The composite stage: crop the garment for the translator, and blend the result back into the photo.

Images are uint8 RGB numpy arrays (H, W, 3); masks are bool (H, W). Pure functions, one image each.

Guarantee of `composite`: every pixel outside `dilate(garment, dilation_radius(shape))` is
byte-identical to the input.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from closet.errors import NoGarment
from closet.serving.options import Option, boolean

# Padding around the garment's bounding box, as a fraction of its longer side.
CROP_PAD = 0.12
# Dilation of the masks, as a fraction of the image's longer side (at least MIN_DILATION px).
DILATION_FRACTION = 0.01
MIN_DILATION = 2

OPTIONS = {
    "preserve_color": Option(boolean, True, "keep the garment's colours (true) or the generator's (false)"),
}


@dataclass(frozen=True)
class Box:
    """A square crop in image coordinates; may extend past the image edges."""

    left: int
    top: int
    size: int

    def as_list(self) -> list[int]:
        return [self.left, self.top, self.size]


# -- crop --------------------------------------------------------------------
def crop_box(garment: np.ndarray, pad: float = CROP_PAD) -> Box:
    """Square box around the garment mask's bounding box, padded by `pad` of its longer side."""
    ys, xs = np.nonzero(garment)
    if ys.size == 0:
        raise NoGarment("no upper-body garment found", "send a photo showing the person's torso")
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    side = max(y1 - y0, x1 - x0)
    size = max(int(round(side * (1 + 2 * pad))), 8)
    cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
    return Box(left=int(round(cx - size / 2)), top=int(round(cy - size / 2)), size=size)


def _extract(image: np.ndarray, box: Box) -> np.ndarray:
    """The box's pixels; areas past the image edge are zero (black, like the training data)."""
    h, w = image.shape[:2]
    out = np.zeros((box.size, box.size) + image.shape[2:], dtype=image.dtype)
    sy0, sx0 = max(box.top, 0), max(box.left, 0)
    sy1, sx1 = min(box.top + box.size, h), min(box.left + box.size, w)
    if sy1 > sy0 and sx1 > sx0:
        out[sy0 - box.top:sy1 - box.top, sx0 - box.left:sx1 - box.left] = image[sy0:sy1, sx0:sx1]
    return out


def crop(image: np.ndarray, garment: np.ndarray, box: Box, img_size: int) -> np.ndarray:
    """The generator's input: the garment alone on black, the box resized to img_size x img_size.

    The garment-only view matches Fashion-MNIST-style training data (product on black).
    """
    only = np.where(garment[..., None], image, 0).astype(np.uint8)
    region = _extract(only, box)
    return np.asarray(Image.fromarray(region).resize((img_size, img_size), Image.Resampling.BOX))


def uncrop(crop_img: np.ndarray, box: Box, shape: tuple[int, int]) -> tuple[np.ndarray, tuple[slice, slice]]:
    """Undo `crop`: resize back to the box and clip to the image.

    Returns (pixels, (rows, cols)) where pixels fill image[rows, cols].
    """
    h, w = shape
    big = np.asarray(Image.fromarray(crop_img).resize((box.size, box.size), Image.Resampling.BICUBIC))
    sy0, sx0 = max(box.top, 0), max(box.left, 0)
    sy1, sx1 = min(box.top + box.size, h), min(box.left + box.size, w)
    region = big[sy0 - box.top:sy1 - box.top, sx0 - box.left:sx1 - box.left]
    return region, (slice(sy0, sy1), slice(sx0, sx1))


# -- composite ----------------------------------------------------------------
def dilation_radius(shape: tuple[int, ...]) -> int:
    """Mask dilation in pixels for an image of this shape."""
    return max(MIN_DILATION, int(round(max(shape[:2]) * DILATION_FRACTION)))


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary dilation with a disc of `radius` pixels."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel) > 0


def blend_alpha(garment: np.ndarray, person: np.ndarray) -> np.ndarray:
    """Feathered blend weight in [0, 1]: garment within the dilated person, blurred, zero
    outside the dilated garment."""
    r = dilation_radius(garment.shape)
    core = garment & dilate(person, r)
    alpha = cv2.GaussianBlur(core.astype(np.float32), (0, 0), sigmaX=max(r / 2.0, 0.5))
    alpha[~dilate(garment, r)] = 0.0
    return alpha


def composite(image: np.ndarray, translated: np.ndarray, box: Box, garment: np.ndarray,
              person: np.ndarray, preserve_color: bool = True) -> np.ndarray:
    """Blend the translated crop back into the photo.

    Args:
        image: the decoded photo, uint8 (H, W, 3).
        translated: the generator output for `box`, uint8 (s, s, 3).
        box: the crop box from `crop_box`.
        garment, person: bool (H, W) masks.
        preserve_color: keep the photo's garment colours (closet.color), else raw generator colours.
    Returns:
        uint8 (H, W, 3); pixels where the blend weight is 0 (all pixels outside the dilated
        garment mask among them) are copied from `image` unchanged.
    """
    from closet import color

    alpha = blend_alpha(garment, person)
    region, (rows, cols) = uncrop(as_rgb(translated), box, image.shape[:2])
    original = image[rows, cols]
    a = alpha[rows, cols]
    if preserve_color:
        region = color.preserve_color(region, original, garment[rows, cols])
    mixed = original.astype(np.float32) * (1 - a[..., None]) + region.astype(np.float32) * a[..., None]
    mixed = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
    out = image.copy()
    out[rows, cols] = np.where(a[..., None] > 0, mixed, original)
    return out


def as_rgb(img: np.ndarray) -> np.ndarray:
    """uint8 (H, W) gray or (H, W, 3) -> uint8 (H, W, 3)."""
    return np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img


class Compositor:
    """The composite stage as an object, like the others: crops in, blended photos out."""

    files = ()
    settings = ()
    options = OPTIONS

    @classmethod
    def load(cls, model_dir=None, device=None) -> Compositor:
        return cls()

    def crops(self, images: list[np.ndarray], garments: list[np.ndarray], img_size: int) -> list[tuple[np.ndarray, Box]]:
        """The translator's input per image (the garment alone on black, img_size square) and its box."""
        out = []
        for image, garment in zip(images, garments):
            box = crop_box(garment)
            out.append((crop(image, garment, box, img_size), box))
        return out

    def __call__(self, images: list[np.ndarray], translated: list[np.ndarray], boxes: list[Box],
                 garments: list[np.ndarray], persons: list[np.ndarray], preserve_color: list[bool]) -> list[np.ndarray]:
        return [composite(*args) for args in zip(images, translated, boxes, garments, persons, preserve_color)]
