"""closet.lighting: the light read from a face, and the radiance it gives a surface."""

from __future__ import annotations

import numpy as np
import pytest

from closet import lighting


def lit_sphere(light: lighting.Light, across: np.ndarray, diameter: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """A face as a unit sphere under `light`, drawn with `across` as its eye-to-eye axis: the CIE L
    (N,) of its pixels and their image points (N, 2)."""
    c = (np.arange(diameter) + 0.5) / diameter * 2.0 - 1.0
    x, y = np.meshgrid(c, c)
    inside = x ** 2 + y ** 2 < 1.0
    down = np.array([-across[1], across[0]])
    # image axes from the face's: a point at (a, d) across and down the face lies at a * across + d * down
    normal = np.stack([x[inside] * across[0] + y[inside] * down[0], x[inside] * across[1] + y[inside] * down[1],
                       np.sqrt(1.0 - x[inside] ** 2 - y[inside] ** 2)], 1)
    lightness = 116.0 * np.cbrt(0.45 * light.radiance(normal)) - 16.0
    return lightness, (normal[:, :2] + 1.0) * diameter / 2.0


@pytest.mark.parametrize("tilt", [0.0, 25.0])
@pytest.mark.parametrize("side", [-1, 1])
@pytest.mark.parametrize("angle", [0.0, 30.0, 60.0, 85.0])
def test_the_light_is_read_from_the_lit_side_of_a_face(angle, side, tilt):
    """A face lit from `angle` degrees off the camera, to one side of it (a face tilted `tilt`
    degrees in the image): the light read from it comes from that side, within 10 degrees of
    that angle, and from neither above nor below the face."""
    across = np.array([np.cos(np.radians(tilt)), np.sin(np.radians(tilt))])
    a = np.radians(angle)
    toward = side * np.sin(a) * across
    truth = lighting.Light((float(toward[0]), float(toward[1]), float(np.cos(a))), 0.3)
    lightness, points = lit_sphere(truth, across)
    got = lighting.face_light(lightness, points, across, 120 / lighting.FACE_REGION_WIDTH)
    read = np.degrees(np.arccos(np.clip(got.direction[2], -1.0, 1.0)))
    assert abs(read - angle) < 10.0, (read, angle)
    assert np.linalg.norm(got.direction) == pytest.approx(1.0)
    if angle >= 30.0:
        assert side * float(np.asarray(got.direction[:2]) @ across) > 0.4
    down = np.array([-across[1], across[0]])
    assert abs(float(np.asarray(got.direction[:2]) @ down)) < 1e-6


def test_the_ambient_share_is_the_shadows_and_kept_in_range():
    """A face whose shadow side keeps 35% of its lit side's light (CIE Y) reads about that; one
    in a hard side light (nearly none) the range's low end, an evenly lit one its high end."""
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 100, (400, 2))
    across = np.array([1.0, 0.0])
    lit = points[:, 0] > 60

    def face(shadow_share: float) -> np.ndarray:
        lit_l = 70.0
        return np.where(lit, lit_l, 116.0 * np.cbrt(shadow_share * ((lit_l + 16.0) / 116.0) ** 3) - 16.0)

    assert lighting.face_light(face(0.35), points, across, 100).ambient == pytest.approx(0.35, abs=0.01)
    assert lighting.face_light(face(0.02), points, across, 100).ambient == lighting.AMBIENT[0]
    assert lighting.face_light(face(0.95), points, across, 100).ambient == lighting.AMBIENT[1]
    assert lighting.face_light(np.full(400, 60.0), points, across, 100) == lighting.FRONT  # no lit side


def test_a_surface_turned_from_the_light_keeps_the_ambient_share():
    """Radiance is 1 facing the light, the ambient share turned away, and falls off smoothly
    between (past the terminator too: light wraps WRAP into the shadow)."""
    light = lighting.Light((0.6, 0.0, 0.8), 0.3)
    to_light = np.asarray(light.direction)
    assert light.radiance(to_light[None])[0] == pytest.approx(1.0)
    assert light.radiance(-to_light[None])[0] == pytest.approx(0.3)
    cosines = np.linspace(-1, 1, 201)
    r = light.radiance_at(cosines)
    assert np.all(np.diff(r) >= 0)
    assert r[np.searchsorted(cosines, -0.2)] > 0.3 + 1e-3  # lit a little past the terminator
    assert np.max(np.abs(np.diff(r))) < 0.01  # no step
