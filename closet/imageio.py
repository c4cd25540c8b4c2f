"""Decode and encode images: pure functions, no server.

decode_photo is the single gate every request image passes through: it checks
the declared size before decoding any pixel (decompression bombs), applies the
EXIF orientation, and returns a Photo: 8-bit RGB pixels plus what the answer
must carry back (the input's RGB ICC profile and its alpha channel).
decode_image is the same gate for callers that want the RGB pixels alone.

What survives into an answer (encode_image): the pixels (upright), the ICC
profile and the alpha channel (PNG and WebP; JPEG has none). EXIF, XMP and every
other metadata block (GPS position, camera serial, capture time) are dropped on
purpose: a photo sent to closet does not come back with its owner's location.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import ExifTags, Image, ImageCms, ImageOps, UnidentifiedImageError

from closet import icc as icc_profiles
from closet.errors import BadImage, TooLarge
from closet.png import encode_png

# Formats accepted as input; GIF/BMP/TIFF decode as their first frame.
INPUT_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "MPO")
OUTPUT_FORMATS = {"png": ("PNG", "image/png"), "jpeg": ("JPEG", "image/jpeg"), "webp": ("WEBP", "image/webp")}
ACCEPTED_HINT = "send a JPEG, PNG or WebP image as the request body or the multipart field 'image'"
# Modes whose pixels an RGB profile describes (P and YCbCr are encodings of RGB).
_RGB_MODES = ("RGB", "RGBA", "RGBX", "RGBa", "P", "PA", "YCbCr")
# What the stages see under a transparent pixel: white, as a product cut-out is usually shown.
BACKGROUND = 255


@dataclass(frozen=True)
class Photo:
    """A decoded request image: its pixels and what its answer carries back."""

    pixels: np.ndarray  # uint8 RGB (H, W, 3), EXIF-upright; numbers in the colour space of `icc`
    icc: bytes | None = None  # the input's RGB ICC profile; None: sRGB
    alpha: np.ndarray | None = None  # uint8 (H, W), 255 = opaque; None: the input had no transparency

    def visible(self) -> np.ndarray:
        """uint8 RGB (H, W, 3) as a viewer shows it, in the photo's own numbers: over white where the
        input is transparent."""
        if self.alpha is None:
            return self.pixels
        a = self.alpha[..., None].astype(np.uint16)
        return ((self.pixels * a + BACKGROUND * (255 - a) + 127) // 255).astype(np.uint8)

    def working(self) -> np.ndarray:
        """uint8 sRGB (H, W, 3): the visible pixels in sRGB, what the stages work on (the networks
        and closet.color expect sRGB), so colours hidden under alpha 0 cannot steer a mask."""
        visible = self.visible()
        return visible if self.icc is None else icc_profiles.to_srgb(visible, self.icc)

    def merge(self, result: np.ndarray, working: np.ndarray) -> np.ndarray:
        """The answer's pixels, in the photo's colour space, from `result` computed on `working`:
        every pixel the stages left unchanged takes the photo's own numbers (the colour under
        transparency included); the changed ones are converted from sRGB into the photo's space."""
        if self.alpha is None and self.icc is None:
            return result
        changed = (result != working).any(axis=-1)
        out = self.pixels.copy()
        rows, cols = np.nonzero(changed.any(axis=1))[0], np.nonzero(changed.any(axis=0))[0]
        if rows.size:  # convert only the box around the changed pixels
            box = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
            drawn = result[box] if self.icc is None else icc_profiles.from_srgb(result[box], self.icc)
            out[box] = np.where(changed[box][..., None], drawn, out[box])
        return out

    def to_srgb(self) -> Photo:
        """The same photo with its pixels converted to sRGB (no profile)."""
        if self.icc is None:
            return self
        return Photo(icc_profiles.to_srgb(self.pixels, self.icc), None, self.alpha)


def check_size(width: int, height: int, max_pixels: int, max_side: int) -> None:
    """Refuse a declared size over the limits, before any pixel is decoded."""
    if width < 1 or height < 1:
        raise BadImage("image has no pixels", f"declared size {width}x{height}")
    if width * height > max_pixels or max(width, height) > max_side:
        raise TooLarge(
            "image is too large",
            f"declared size {width}x{height}; the limits are {max_pixels} pixels and {max_side} px per side",
        )


def _to_rgb(img: Image.Image) -> Image.Image:
    """8-bit RGB from any PIL mode; 16-bit and float images are rescaled, alpha dropped."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr * (255.0 / top) + 0.5, 0, 255).astype(np.uint8), "L")
    elif img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        img = Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode == "P":
        img = img.convert("RGBA")
    return img if img.mode == "RGB" else img.convert("RGB")


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        "transparency" in img.info and img.mode in ("P", "RGB", "L"))


def _jpeg_rgb(data: bytes) -> np.ndarray | None:
    """An upright colour JPEG's RGB pixels, decoded by OpenCV straight into numpy; None if it cannot.
    The same libjpeg-turbo decode as PIL's, without PIL's copy into numpy: 0.06 against 0.10 s at
    12 MP, the same pixels (tests/unit/test_imageio_decode.py). A truncated file gives None, and PIL then
    refuses it."""
    flags = cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION  # orientation is decode_photo's
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    return pixels if pixels is not None and pixels.ndim == 3 else None


def _photo(img: Image.Image, pixels: np.ndarray | None = None) -> Photo:
    """An upright PIL image -> Photo: RGB pixels, the RGB profile kept, other profiles applied.
    `pixels`: the image's RGB pixels, when they are decoded already (`_jpeg_rgb`)."""
    profile = img.info.get("icc_profile") or None
    space = icc_profiles.colour_space(profile)
    alpha = np.asarray(img.getchannel("A") if img.mode == "RGBA" else img.convert("RGBA").getchannel("A")) \
        if _has_alpha(img) else None
    if pixels is not None:  # a colour JPEG: no alpha; a profile that is not RGB cannot tag its pixels
        return Photo(pixels, profile if space == icc_profiles.RGB else None, None)
    if space == icc_profiles.RGB and img.mode in _RGB_MODES:
        return Photo(np.asarray(_to_rgb(img)), profile, alpha)
    if space in (icc_profiles.GRAY, icc_profiles.CMYK) and img.mode in ("L", "CMYK"):
        # Gray and CMYK profiles cannot tag RGB pixels: apply them now, the answer is sRGB.
        try:
            return Photo(np.asarray(icc_profiles.image_to_srgb(img, profile)), None, alpha)
        except ImageCms.PyCMSError:
            pass
    return Photo(np.asarray(_to_rgb(img)), None, alpha)


def decode_photo(data: bytes | bytearray | None, max_pixels: int, max_side: int) -> Photo:
    """Bytes -> Photo (upright 8-bit RGB, ICC profile, alpha), or BadImage / TooLarge.

    Args:
        data: the encoded image.
        max_pixels: refuse images whose declared width*height exceeds this.
        max_side: refuse images whose declared longest side exceeds this.
    """
    if not data:
        raise BadImage("empty image", ACCEPTED_HINT)
    try:
        with warnings.catch_warnings():
            # Our own limit is stricter than PIL's; its bomb warning is noise here.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(bytes(data)))
            check_size(img.width, img.height, max_pixels, max_side)
            if img.format not in INPUT_FORMATS:
                raise BadImage("unsupported image format", f"got {img.format}; {ACCEPTED_HINT}")
            img.seek(0)
            upright = img.getexif().get(ExifTags.Base.Orientation, 1) == 1
            if upright and img.format == "JPEG" and img.mode == "RGB" and (pixels := _jpeg_rgb(data)) is not None:
                return _photo(img, pixels)
            img.load()
            profile = img.info.get("icc_profile")
            if not upright:  # else exif_transpose only copies (9 ms at 12 MP)
                img = ImageOps.exif_transpose(img)
                img.info["icc_profile"] = profile  # kept whatever the transpose copies
            return _photo(img)
    except Image.DecompressionBombError as e:
        raise TooLarge("image is too large", str(e)) from None
    except UnidentifiedImageError:
        raise BadImage("not an image", ACCEPTED_HINT) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error) as e:
        raise BadImage("image could not be decoded", f"{type(e).__name__}: the data is truncated or corrupt") from None


def decode_image(data: bytes | bytearray | None, max_pixels: int, max_side: int) -> Image.Image:
    """Bytes -> upright 8-bit RGB PIL image (decode_photo's pixels), or BadImage / TooLarge."""
    return Image.fromarray(decode_photo(data, max_pixels, max_side).pixels)


def encode_image(img: Image.Image | np.ndarray, fmt: str = "png", *, icc: bytes | None = None,
                 alpha: np.ndarray | None = None) -> tuple[bytes, str]:
    """Encode to bytes; returns (data, content_type). No metadata but the profile is written.

    Args:
        img: the pixels (uint8 RGB (H, W, 3), gray (H, W) or RGBA, or a PIL image).
        fmt: png, jpeg or webp.
        icc: ICC profile to embed (PNG iCCP, JPEG APP2, WebP ICCP); None embeds none.
        alpha: uint8 (H, W) alpha for RGB pixels, written as is by PNG and (lossless alpha) WebP;
            JPEG has no alpha channel and drops it.
    """
    pil_format, content_type = OUTPUT_FORMATS[fmt]
    if pil_format == "PNG" and isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim in (2, 3):
        pixels = img if alpha is None else np.dstack([img if img.ndim == 3 else np.dstack([img] * 3), alpha])
        if pixels.ndim == 2 or pixels.shape[2] in (3, 4):
            return encode_png(pixels, icc), content_type
    if isinstance(img, np.ndarray):
        img = Image.fromarray(img)
    if alpha is not None and pil_format != "JPEG":
        img = Image.fromarray(np.dstack([np.asarray(img.convert("RGB")), alpha]), "RGBA")
    extra = {"icc_profile": icc} if icc else {}
    buf = io.BytesIO()
    if pil_format == "PNG":
        img.save(buf, format="PNG", compress_level=1, **extra)  # speed over size; still lossless
    elif pil_format == "JPEG":
        img.convert("RGB").save(buf, format="JPEG", quality=92, **extra)
    else:
        # alpha_quality 100 (the default, named here because alpha is copied byte for byte) keeps alpha lossless.
        img.save(buf, format="WEBP", quality=92, alpha_quality=100, **extra)
    return buf.getvalue(), content_type


def encode_mask(mask: np.ndarray) -> bytes:
    """bool (H, W) mask -> 8-bit PNG (0 or 255)."""
    return encode_image(np.asarray(mask, dtype=bool).astype(np.uint8) * 255, "png")[0]


def b64(data: bytes) -> str:
    """Bytes as base64 text, for JSON answers."""
    import base64

    return base64.b64encode(data).decode("ascii")
