"""`make eval-swap` on a judge's own folder (`--photos`): one photo, every target, the four figures,
the translator's own drawings judged beside the outputs, and the grid."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import skimage.data

from closet_dev import eval_swap
from closet_dev.mar import mar_path


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from closet.config import ENSEMBLE

    if not mar_path(ENSEMBLE).exists():
        pytest.skip(f"{mar_path(ENSEMBLE)} is not built: run `make mars`")
    photos = tmp_path_factory.mktemp("photos")
    cv2.imwrite(str(photos / "astronaut.png"), cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR))
    out = tmp_path_factory.mktemp("eval")
    eval_swap.main(["--photos", str(photos), "--out", str(out), "--threads", "1"])
    return json.loads((out / "metrics.json").read_text()), out


def test_every_target_is_judged_with_the_four_figures_and_the_drawing(report):
    metrics, _ = report
    domains = metrics["domains"]
    pairs = metrics["pairs"]
    assert [p["target"] for p in pairs] == domains  # one person, each target once
    for p in pairs:
        assert p["class"] in domains and p["drawing_class"] in domains
        assert p["hit"] == (p["class"] == p["target"]) and p["drawn"] == (p["drawing_class"] == p["target"])
        assert 0 <= p["colour"] and 0 < p["detail"] and 0 < p["spread"] <= 1
    for key in ("hit", "colour", "detail", "spread", "drawn"):
        assert metrics["overall"][key] == pytest.approx(np.mean([p[key] for p in pairs]))
    # the targets re-cut the garment differently: short sleeves and a sleeveless dress are not a coat
    assert metrics["overall"]["spread"] < 0.95


def test_the_grid_has_the_input_then_each_target(report):
    metrics, out = report
    grid = cv2.imread(str(out / "grid.png"))
    tile = 192  # eval_swap.grid's default height; the astronaut is square
    assert grid.shape[0] == tile + 4
    assert grid.shape[1] == tile * (1 + len(metrics["domains"]))
