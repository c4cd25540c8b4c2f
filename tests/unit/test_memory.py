"""closet_dev.memory: the pod memory formula, its fit, and the chart file `make config` writes from it."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import yaml

from closet import config as closet_config
from closet.config import REPO_ROOT
from closet_dev import memory
from closet_dev.memory import MIB, WorkerFit

SIZES = [(1, 10**7), (4, 10**7), (2, 2 * 10**7), (1, 4 * 10**7), (4, 4 * 10**7)]


def test_fit_recovers_the_coefficients_of_its_own_formula():
    truth = WorkerFit(base=300 * MIB, image=150 * MIB, held=12.0, transient=90.0)
    got = memory.fit([(n, p, truth.peak(n, p)) for n, p in SIZES])
    for name in ("base", "image", "held", "transient"):
        assert getattr(got, name) == pytest.approx(getattr(truth, name), rel=1e-4, abs=1e-3)


def test_fit_covers_every_measured_point_with_no_negative_term():
    rng = np.random.default_rng(0)
    truth = WorkerFit(base=300 * MIB, image=150 * MIB, held=0.0, transient=30.0)
    points = [(n, p, truth.peak(n, p) + rng.normal(0, 60 * MIB)) for n, p in SIZES]
    got = memory.fit(points)
    assert min(got.base, got.image, got.held, got.transient) >= 0
    assert all(got.peak(n, p) >= peak - 1 for n, p, peak in points)


def test_the_fits_cover_every_committed_measurement():
    """closet_dev.memory.FITS is at or above each peak `make bench-memory` measured (and committed)."""
    report = json.loads((REPO_ROOT / "docs" / "reliability" / "memory-peak.json").read_text())
    assert set(report["models"]) == set(memory.FITS) == set(closet_config.load().models)
    max_pixels = closet_config.load().limits.max_pixels
    for name, measured in report["models"].items():
        points = measured["points"]
        assert max(p["pixels"] for p in points) > 0.99 * max_pixels  # measured at the limit
        for p in points:
            assert memory.FITS[name].peak(p["batch"], p["pixels"]) >= p["peak_bytes"], (name, p["batch"], p["pixels"])
    assert memory.FRONTEND_BYTES >= report["frontend_peak_bytes"]


def test_pod_memory_grows_with_max_pixels_batch_size_and_workers():
    cfg = closet_config.load()
    base = memory.pod_bytes(cfg)
    bigger = dataclasses.replace(cfg, limits=dataclasses.replace(cfg.limits, max_pixels=cfg.limits.max_pixels * 2))
    assert memory.pod_bytes(bigger) > base
    closet = cfg.model("closet")
    for change in ({"batch_size": closet.batch_size * 2}, {"max_workers": closet.max_workers + 1}):
        models = {**cfg.models, "closet": dataclasses.replace(closet, **change)}
        assert memory.pod_bytes(dataclasses.replace(cfg, models=models)) > base, change


def test_pod_memory_is_the_sum_of_the_workers_and_the_frontend_plus_the_margin():
    cfg = closet_config.load()
    workers = sum(m.max_workers * memory.FITS[n].peak(m.batch_size, cfg.limits.max_pixels) for n, m in cfg.models.items())
    assert memory.pod_bytes(cfg) == pytest.approx((workers + memory.FRONTEND_BYTES) * (1 + memory.MARGIN), abs=1)


def test_the_chart_file_is_generated_from_the_config():
    cfg = closet_config.load()
    committed = (REPO_ROOT / memory.CHART_FILE).read_text(encoding="utf-8")
    assert committed == memory.render_chart_file(cfg), "run `make config`"
    data = yaml.safe_load(committed)
    assert data["maxPixels"] == cfg.limits.max_pixels
    assert data["podMi"] * MIB >= memory.pod_bytes(cfg) > (data["podMi"] - 1) * MIB
    assert {n: w["batchSize"] for n, w in data["workers"].items()} == {n: m.batch_size for n, m in cfg.models.items()}
