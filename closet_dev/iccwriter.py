"""Write small RGB display ICC profiles (matrix/TRC, ICC v2.1) for tests and pictures.

Pillow's ImageCms can only create sRGB, Lab and XYZ profiles, and the wide-gamut profiles phones and
cameras embed (Display P3, Adobe RGB) are not shipped anywhere closet may read. A matrix/TRC display
profile is fully given by its primaries, white point and tone curve (ICC.1:2001-04, sections 6.3.1.2
and 6.5), so these are written here from the published numbers:

    DISPLAY_P3  SMPTE EG 432-1 primaries, D65 white, the sRGB tone curve (Apple's Display P3)
    ADOBE_RGB   Adobe RGB (1998): its primaries, D65 white, gamma 563/256

Colorants are stored adapted to the D50 connection space with the Bradford transform, as the
specification requires, and LittleCMS reads the result (tests/unit/test_iccwriter.py checks it
against a colour whose Display P3 coordinates are published).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

# ICC profile connection space white (D50), as the header and every v2 profile state it.
D50 = (0.9642, 1.0, 0.8249)
_BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])


@dataclass(frozen=True)
class RGBSpace:
    """An RGB colour space: CIE xy of its red, green and blue primaries and white; its tone curve."""

    name: str
    primaries: tuple[tuple[float, float], tuple[float, float], tuple[float, float]]
    white: tuple[float, float]
    gamma: float | None = None  # a pure power curve; None: the sRGB curve (IEC 61966-2-1)


D65 = (0.3127, 0.3290)
DISPLAY_P3 = RGBSpace("Display P3", ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060)), D65)
ADOBE_RGB = RGBSpace("Adobe RGB (1998) compatible", ((0.64, 0.33), (0.21, 0.71), (0.15, 0.06)), D65, 563 / 256)


def _xyz(xy: tuple[float, float]) -> np.ndarray:
    x, y = xy
    return np.array([x / y, 1.0, (1 - x - y) / y])


def colorants(space: RGBSpace) -> np.ndarray:
    """(3, 3): columns are the XYZ of full red, green and blue, adapted from the space's white to D50."""
    prim = np.stack([_xyz(p) for p in space.primaries], axis=1)  # (XYZ, RGB), unscaled
    white = _xyz(space.white)
    m = prim * np.linalg.solve(prim, white)  # scale so R+G+B = white (Y = 1)
    cone_src, cone_dst = _BRADFORD @ white, _BRADFORD @ np.array(D50)
    adapt = np.linalg.inv(_BRADFORD) @ np.diag(cone_dst / cone_src) @ _BRADFORD
    return adapt @ m


def _s15f16(v: float) -> bytes:
    return struct.pack(">i", int(round(v * 65536)))


def _xyz_tag(xyz) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_s15f16(float(v)) for v in xyz)


def _curve_tag(space: RGBSpace) -> bytes:
    if space.gamma is not None:  # one u8Fixed8 exponent
        return b"curv\0\0\0\0" + struct.pack(">IH", 1, int(round(space.gamma * 256))) + b"\0\0"
    x = np.linspace(0.0, 1.0, 1024)
    y = np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    return b"curv\0\0\0\0" + struct.pack(">I", x.size) + np.round(y * 65535).astype(">u2").tobytes()


def _desc_tag(text: str) -> bytes:
    ascii_ = text.encode("ascii") + b"\0"
    # textDescriptionType: ASCII, then empty Unicode and ScriptCode parts (67-byte ScriptCode field).
    return b"desc\0\0\0\0" + struct.pack(">I", len(ascii_)) + ascii_ + struct.pack(">IIHB", 0, 0, 0, 0) + bytes(67)


def _text_tag(text: str) -> bytes:
    return b"text\0\0\0\0" + text.encode("ascii") + b"\0"


def profile(space: RGBSpace) -> bytes:
    """The ICC v2.1 display profile of `space` (deterministic bytes: fixed date, no profile ID)."""
    m = colorants(space)
    curve = _curve_tag(space)
    tags = [
        (b"desc", _desc_tag(space.name)),
        (b"cprt", _text_tag("No copyright, use freely")),
        (b"wtpt", _xyz_tag(_xyz(space.white))),
        (b"rXYZ", _xyz_tag(m[:, 0])),
        (b"gXYZ", _xyz_tag(m[:, 1])),
        (b"bXYZ", _xyz_tag(m[:, 2])),
        (b"rTRC", curve),
        (b"gTRC", curve),  # the three TRC entries may share one data block
        (b"bTRC", curve),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data, placed = [], b"", {}
    for sig, blob in tags:
        if blob not in placed:
            placed[blob] = offset + len(data)
            data += blob + bytes(-len(blob) % 4)  # tag data starts on 4-byte boundaries
        table.append(struct.pack(">4sII", sig, placed[blob], len(blob)))
    body = struct.pack(">I", len(tags)) + b"".join(table) + data
    header = (struct.pack(">I", 128 + len(body)) + bytes(4) + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ "
              + struct.pack(">6H", 2024, 1, 1, 0, 0, 0) + b"acsp" + bytes(24) + struct.pack(">I", 0)
              + b"".join(_s15f16(v) for v in D50) + bytes(48))
    assert len(header) == 128
    return header + body
