"""The light on a person, read from their face, for painting bared skin as that light would.

A face lit from one side is bright on that side: the centroid of its lit pixels (the brighter of
its two lightness classes, `lit_class`) lies off the face's centre toward the light,
the farther the more the light comes from the side. A unit sphere lit by a directional light
plus an ambient share, rendered once (`_sphere`), says how far for each angle from the camera;
its inverse gives the light's direction from the face. The ambient share is the face's own: how
much of the lit side's radiance its shadow side keeps, within AMBIENT (a face's shadow class
holds its eyes, nostrils and brows too, darker than any light leaves skin).

A bared arm is then a cylinder under that light (Lambert): a surface turned toward it is lit,
one turned away keeps the ambient share.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

# The ambient share: the face's shadow-to-lit radiance ratio, kept in this range. The low end is a
# stadium's side light (zidane.jpg: the face's shadow side reads 0.09 of its lit side); the high
# end a studio's soft front light (the astronaut: 0.49).
AMBIENT = (0.25, 0.6)
# The face region's width, in face widths (closet.garment.LIT_FACE_AXES' horizontal half-axis, twice).
FACE_REGION_WIDTH = 0.76
WRAP = 0.4  # how far light wraps past the terminator, in cosine
SPHERE_ANGLES = np.radians(np.arange(0.0, 90.1, 2.5))


@dataclass(frozen=True)
class Light:
    """A directional light plus an ambient share, in image axes: x right, y down, z toward the camera."""

    direction: tuple[float, float, float] = (0.0, 0.0, 1.0)  # unit, toward the light
    ambient: float = AMBIENT[1]

    def radiance(self, normal: np.ndarray) -> np.ndarray:
        """(N,) radiance of surface normals (N, 3) (unit), 1 for a surface facing the light."""
        return self.radiance_at(normal @ np.asarray(self.direction))

    def radiance_at(self, cosine: np.ndarray) -> np.ndarray:
        """Radiance where the light falls at this cosine to the surface normal. Skin scatters light
        under its surface, so the shadow's edge is soft: the light wraps WRAP past the terminator."""
        return self.ambient + (1.0 - self.ambient) * np.clip((cosine + WRAP) / (1.0 + WRAP), 0.0, 1.0)


FRONT = Light()


@functools.lru_cache(maxsize=1)
def _sphere() -> np.ndarray:
    """Per angle of SPHERE_ANGLES (light from the right, that far from the camera): the lit class's
    centroid off a lit unit sphere's centre, in sphere diameters (increasing with the angle)."""
    c = np.linspace(-1.0, 1.0, 241)
    x, y = np.meshgrid(c, c)
    disk = x ** 2 + y ** 2 < 1.0
    nx, nz = x[disk], np.sqrt(1.0 - x[disk] ** 2 - y[disk] ** 2)
    offsets = []
    for angle in SPHERE_ANGLES:
        radiance = Light((float(np.sin(angle)), 0.0, float(np.cos(angle))), AMBIENT[0]).radiance(
            np.stack([nx, np.zeros_like(nx), nz], 1))
        lit = lit_class(116.0 * np.cbrt(0.5 * radiance) - 16.0)
        offsets.append(nx[lit].mean() / 2.0)
    return np.maximum.accumulate(np.asarray(offsets))


def lit_class(lightness: np.ndarray, min_share: float = 0.1) -> np.ndarray:
    """bool: the brighter class of Otsu's split of CIE L values in two, when it holds at least
    `min_share` of them (fewer are highlights: a shiny nose, glasses); else the brighter half."""
    levels = np.clip(lightness * 2.55 + 0.5, 0, 255).astype(np.uint8)
    split, _ = cv2.threshold(levels.reshape(-1, 1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    lit = levels > split
    return lit if lit.mean() >= min_share else lightness >= np.median(lightness)


def face_light(lightness: np.ndarray, points: np.ndarray, across: np.ndarray, face_width: float,
               lit: np.ndarray | None = None) -> Light:
    """The light on a face from its pixels' CIE L (N,) at image points (N, 2), the unit image
    vector across the face (eye to eye) and its width (px). Only the light's part across the face
    is read: a face is symmetric across, not up and down (its eyes and brows are dark, its forehead
    bright, whatever the light). `lit`: the face's lit pixels (default `lit_class(lightness)`)."""
    if lightness.size < 8 or face_width <= 0:
        return FRONT
    lit = lit_class(lightness) if lit is None else lit
    if lit.all() or not lit.any():
        return FRONT
    off = float((points[lit].mean(axis=0) - points.mean(axis=0)) @ across) / (FACE_REGION_WIDTH * face_width)
    angle = float(np.interp(abs(off), _sphere(), SPHERE_ANGLES))
    side = np.sign(off) * np.sin(angle) * np.asarray(across, np.float64)
    direction = (float(side[0]), float(side[1]), float(np.cos(angle)))
    # Radiance is linear in CIE Y, which is ((L + 16) / 116) ** 3.
    ratio = ((np.median(lightness[~lit]) + 16.0) / (np.median(lightness[lit]) + 16.0)) ** 3
    return Light(direction, float(np.clip(ratio, *AMBIENT)))
