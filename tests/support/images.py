"""Image bytes for requests and fixtures."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def png(image: np.ndarray) -> bytes:
    """uint8 (H, W[, C]) -> PNG bytes."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()
