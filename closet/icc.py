"""ICC colour profiles: what a photo's embedded profile describes, and conversions to and from sRGB.

A photo's pixel numbers mean colours only through its profile (sRGB when it has none). closet keeps
the numbers and the profile together (closet.imageio.Photo), so the answer, tagged with the same
profile, looks as the photo did. Conversions run in LittleCMS through Pillow's ImageCms, with the
relative colorimetric intent (white maps to white; in-gamut colours are kept as measured).

Profiles come from untrusted input: one LittleCMS cannot read, or cannot build the transforms to
and from sRGB with, counts as no profile (`colour_space` returns None) and is never embedded in
an answer.
"""

from __future__ import annotations

import io
import logging
from functools import lru_cache

import numpy as np
from PIL import Image, ImageCms

log = logging.getLogger(__name__)

INTENT = ImageCms.Intent.RELATIVE_COLORIMETRIC
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
# ICC colour-space signatures (header bytes 16..19) of the profiles closet converts from.
RGB, GRAY, CMYK = "RGB", "GRAY", "CMYK"


def _profile(icc: bytes) -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(io.BytesIO(icc))


@lru_cache(maxsize=8)  # a client sends the same few profiles again and again
def _rgb_transforms(icc: bytes) -> tuple[ImageCms.ImageCmsTransform, ImageCms.ImageCmsTransform]:
    """(to sRGB, from sRGB) for an RGB profile; raises PyCMSError when LittleCMS cannot build them."""
    prof = _profile(icc)
    return (ImageCms.buildTransform(prof, _SRGB, "RGB", "RGB", renderingIntent=INTENT),
            ImageCms.buildTransform(_SRGB, prof, "RGB", "RGB", renderingIntent=INTENT))


def colour_space(icc: bytes | None) -> str | None:
    """The data colour space a profile describes ("RGB", "GRAY", "CMYK", ...), or None when absent,
    unreadable, or (RGB) without working transforms to and from sRGB."""
    if not icc:
        return None
    try:
        space = _profile(icc).profile.xcolor_space.strip()
        if space == RGB:
            _rgb_transforms(icc)
        return space
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        log.info("ignoring an unreadable ICC profile (%d bytes)", len(icc))
        return None


def image_to_srgb(img: Image.Image, icc: bytes) -> Image.Image:
    """A PIL image (RGB, L or CMYK numbers in `icc`'s colour space) -> sRGB RGB; raises PyCMSError if LittleCMS cannot."""
    return ImageCms.profileToProfile(img, _profile(icc), _SRGB, renderingIntent=INTENT, outputMode="RGB")


def to_srgb(pixels: np.ndarray, icc: bytes) -> np.ndarray:
    """uint8 RGB (H, W, 3) in the colour space of the RGB profile `icc` -> uint8 RGB in sRGB."""
    return np.asarray(ImageCms.applyTransform(Image.fromarray(pixels, "RGB"), _rgb_transforms(icc)[0]))


def from_srgb(pixels: np.ndarray, icc: bytes) -> np.ndarray:
    """uint8 sRGB, gray (H, W) or RGB (H, W, 3) -> uint8 RGB (H, W, 3) in the colour space of the RGB profile `icc`."""
    return np.asarray(ImageCms.applyTransform(Image.fromarray(pixels).convert("RGB"), _rgb_transforms(icc)[1]))
