"""Decode and encode images: pure functions, no server.

decode_image is the single gate every request image passes through: it checks
the declared size before decoding any pixel (decompression bombs), applies the
EXIF orientation, and returns 8-bit RGB.
"""

from __future__ import annotations

import io
import struct
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from closet.errors import BadImage, TooLarge

# Formats accepted as input; GIF/BMP/TIFF decode as their first frame.
INPUT_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "MPO")
OUTPUT_FORMATS = {"png": ("PNG", "image/png"), "jpeg": ("JPEG", "image/jpeg"), "webp": ("WEBP", "image/webp")}
ACCEPTED_HINT = "send a JPEG, PNG or WebP image as the request body or the multipart field 'image'"


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
    return img.convert("RGB")


def decode_image(data: bytes | bytearray | None, max_pixels: int, max_side: int) -> Image.Image:
    """Bytes -> upright 8-bit RGB PIL image, or BadImage / TooLarge.

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
            img.load()
            img = ImageOps.exif_transpose(img)
            return _to_rgb(img)
    except Image.DecompressionBombError as e:
        raise TooLarge("image is too large", str(e)) from None
    except UnidentifiedImageError:
        raise BadImage("not an image", ACCEPTED_HINT) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error) as e:
        raise BadImage("image could not be decoded", f"{type(e).__name__}: the data is truncated or corrupt") from None


def encode_image(img: Image.Image | np.ndarray, fmt: str = "png") -> tuple[bytes, str]:
    """Encode to bytes; returns (data, content_type). fmt is png, jpeg or webp."""
    if isinstance(img, np.ndarray):
        img = Image.fromarray(img)
    pil_format, content_type = OUTPUT_FORMATS[fmt]
    buf = io.BytesIO()
    if pil_format == "PNG":
        img.save(buf, format="PNG", compress_level=1)  # speed over size; still lossless
    elif pil_format == "JPEG":
        img.convert("RGB").save(buf, format="JPEG", quality=92)
    else:
        img.save(buf, format="WEBP", quality=92)
    return buf.getvalue(), content_type


def encode_mask(mask: np.ndarray) -> bytes:
    """bool (H, W) mask -> 8-bit PNG (0 or 255)."""
    return encode_image(np.asarray(mask, dtype=bool).astype(np.uint8) * 255, "png")[0]


def b64(data: bytes) -> str:
    """Bytes as base64 text, for JSON answers."""
    import base64

    return base64.b64encode(data).decode("ascii")
