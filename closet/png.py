"""A lossless 8-bit PNG writer, deflating on every core.

An answer's PNG was 0.82-0.86 s of a 12 MP request through PIL at compress level 1: PIL tries
every row filter and deflates on one thread. Here every row takes the Up filter (a photo's rows
are alike, so the differences are small numbers that deflate well; numpy computes them at once),
and bands of rows deflate on parallel threads, each band ending on a byte boundary (Z_FULL_FLUSH)
so that the bands concatenate into one zlib stream, as pigz does. The deflate and the checksums are
Intel's ISA-L (python-isal, zlib's API; it releases the GIL): at level 1 it deflates the 12 MP
bench photo 4x faster than zlib, and smaller. On that photo, 2 threads: 0.08 s against zlib's
0.28 s and PIL's 0.86 s; 8.8 MB against 9.3 MB (zlib) and 9.7 MB (PIL).

Writes gray (H, W), RGB (H, W, 3) and RGBA (H, W, 4) uint8 arrays, with an optional ICC profile
(iCCP). Anything else goes through PIL (closet.imageio.encode_image).
"""

from __future__ import annotations

import struct
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from isal import isal_zlib as zlib

from closet import host

SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOR_TYPES = {1: 0, 3: 2, 4: 6}  # channels -> PNG colour type: gray, RGB, RGBA
UP = 2  # the PNG row filter "Up": each byte minus the byte above it
LEVEL = 1  # ISA-L level (0-3): speed over size, still lossless
BAND_BYTES = 1 << 17  # a band smaller than this is not worth a thread

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=host.threads(), thread_name_prefix="png")
        return _pool


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def filtered_rows(pixels: np.ndarray) -> np.ndarray:
    """uint8 (H, 1 + W*C): each row as PNG stores it, its filter byte (Up) then its bytes minus the row above."""
    h = pixels.shape[0]
    rows = pixels.reshape(h, -1)
    out = np.empty((h, rows.shape[1] + 1), np.uint8)
    out[:, 0] = UP
    out[0, 1:] = rows[0]  # the row above the first is zeros
    np.subtract(rows[1:], rows[:-1], out=out[1:, 1:])  # uint8 arithmetic wraps modulo 256, as PNG's does
    return out


def _deflate(data: memoryview, last: bool) -> bytes:
    """Raw deflate of one band; a band that is not the last ends on a byte boundary, not final."""
    c = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush(zlib.Z_FINISH if last else zlib.Z_FULL_FLUSH)


def zlib_stream(raw: np.ndarray, bands: int) -> bytes:
    """One zlib stream of `raw`'s bytes, deflated as `bands` bands of whole rows on parallel threads."""
    rows = raw.shape[0]
    edges = np.linspace(0, rows, max(1, min(bands, rows)) + 1).round().astype(int)
    parts = [memoryview(raw[a:b]).cast("B") for a, b in zip(edges[:-1], edges[1:])]
    view = memoryview(raw).cast("B")
    if len(parts) == 1:
        body = _deflate(parts[0], True)
        check = zlib.adler32(view)
    else:
        pool = _executor()
        jobs = [pool.submit(_deflate, p, i == len(parts) - 1) for i, p in enumerate(parts)]
        check = zlib.adler32(view)
        body = b"".join(j.result() for j in jobs)
    header = b"\x78\x01"  # deflate, 32K window, the "fastest" level flag
    return header + body + struct.pack(">I", check)


def encode_png(pixels: np.ndarray, icc: bytes | None = None) -> bytes:
    """PNG bytes of uint8 gray (H, W), RGB (H, W, 3) or RGBA (H, W, 4) pixels, with `icc` as iCCP."""
    pixels = np.ascontiguousarray(pixels)
    if pixels.dtype != np.uint8:
        raise TypeError(f"encode_png writes uint8 pixels, not {pixels.dtype}")
    channels = {2: 1, 3: pixels.shape[-1]}.get(pixels.ndim)
    if channels not in COLOR_TYPES:
        raise ValueError(f"encode_png writes gray, RGB or RGBA, not shape {pixels.shape}")
    h, w = pixels.shape[:2]
    raw = filtered_rows(pixels)
    bands = host.threads() if raw.nbytes >= 2 * BAND_BYTES else 1
    out = [SIGNATURE, _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, COLOR_TYPES[channels], 0, 0, 0))]
    if icc:
        out.append(_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc)))
    out += [_chunk(b"IDAT", zlib_stream(raw, bands)), _chunk(b"IEND", b"")]
    return b"".join(out)
