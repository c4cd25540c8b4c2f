"""The composite stage: the translator's input from each person's garment, and the result back in the photo.

Two render modes (option `render`):
  * shape: the garment goes to the translator as its training data looks (closet.flatlay's
    canonical frame from the pose keypoints: gray, on black, centred), and the translator's
    drawing comes back as the new garment's outline and coarse shading, with the photo's own
    colour and fine detail (closet.render.render_swap). The default for a grayscale
    (silhouette) translator, such as the Fashion-MNIST demo.
  * appearance: a square crop around the garment goes to the translator, and its output is
    blended back inside the old garment's mask (`composite` below). The default for a
    full-colour translator that knows real garments.

Images are uint8 RGB numpy arrays (H, W, 3); masks are bool (H, W). Pure functions, one image each.

Guarantee: every pixel outside `dilate(garment | result_mask, dilation_radius(shape))` is
byte-identical to the input.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from closet import flatlay
from closet.errors import BadOption, NoGarment
from closet.garment import bounding_box
from closet.serving.options import Option, boolean, choice

# Padding around the garment's bounding box, as a fraction of its longer side.
CROP_PAD = 0.12
# Dilation of the masks, as a fraction of the image's longer side (at least MIN_DILATION px).
DILATION_FRACTION = 0.01
MIN_DILATION = 2

RENDERS = ("shape", "appearance")
OPTIONS = {
    "preserve_color": Option(boolean, True, "keep the garment's colours (true) or the generator's (false)"),
    "render": Option(choice(*RENDERS), None, "shape: the garment takes the target's outline; appearance: the "
                     "translator repaints the garment in place; default: shape for a grayscale translator"),
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
    if not garment.any():
        raise NoGarment("no upper-body garment found", "send a photo showing the person's torso")
    rows, cols = bounding_box(garment)
    y0, y1, x0, x1 = rows.start, rows.stop, cols.start, cols.stop
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
    """Binary dilation with a disc of `radius` pixels. A true disc, the same turned or mirrored
    (OpenCV's MORPH_ELLIPSE is not the same transposed), so that a photo swapped turned upright
    (closet.upright) keeps the guarantee in its own frame."""
    y, x = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    kernel = (x * x + y * y <= radius * radius).astype(np.uint8)
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


def default_render(grayscale: bool, declared: str | None = None) -> str:
    """The render mode a translator gets by default: its sidecar's `render`, else shape for a
    grayscale (silhouette) translator and appearance for a full-colour one."""
    return declared if declared in RENDERS else ("shape" if grayscale else "appearance")


@dataclass(frozen=True)
class Plan:
    """How one person's garment goes to the translator and comes back."""

    render: str  # shape | appearance
    box: Box  # the square crop around the garment (the translator's input in appearance mode)
    view: object = None  # shape: the garment laid flat (closet.flatlay.CanonicalView), the translator's input
    target: str = ""  # shape: the target domain


class Compositor:
    """The composite stage as an object, like the others: translator inputs out, photos back in."""

    files = ()
    settings = ()
    options = OPTIONS

    @classmethod
    def load(cls, model_dir=None, device=None) -> Compositor:
        return cls()

    def plan(self, image: np.ndarray, person, render: str, target: str, img_size: int) -> tuple[np.ndarray, Plan]:
        """The translator's input for one person's garment (uint8 (S, S) gray or (S, S, 3)) and the plan.

        Args:
            person: a closet.stages.parse.Person; shape mode needs its pose geometry.
            render: shape or appearance.
            target: the target domain.
        Raises:
            BadOption: shape mode for a person without keypoints (a label-map parser).
        """
        box = crop_box(person.garment)
        if render == "appearance":
            return crop(image, person.garment, box, img_size), Plan(render, box)
        if person.geometry is None:
            raise BadOption("render=shape needs the pose parser's keypoints",
                            "use render=appearance, or serve the pose-garment parser (the default)")
        view = flatlay.canonical_view(image, person.geometry.mask, person.geometry.body, img_size,
                                      hidden=person.geometry.in_front, skin=person.geometry.skin_pixels)
        return view.gray, Plan(render, box, view, target)

    def __call__(self, image: np.ndarray, person, translated: np.ndarray, plan: Plan, person_mask: np.ndarray,
                 preserve_color: bool = True) -> tuple[np.ndarray, np.ndarray, tuple | None]:
        """One person's garment replaced: (the new photo, result_mask: bool, the garment as it is now,
        and in shape mode the cut: (flatlay.Shape the garment took, the sides whose sleeve stayed as
        it was); None in appearance mode)."""
        if plan.render == "appearance":
            return (composite(image, translated, plan.box, person.garment, person_mask, preserve_color),
                    person.garment, None)
        from closet import render  # render imports this module's dilation

        out = render.render_swap(image, person.geometry, translated, plan.view, plan.target, preserve_color,
                                 person_mask)
        return out.image, out.result_mask, (out.shape, out.kept)
