"""The memory a closet pod needs at the configured limits: one formula, fitted to measurements.

A worker's peak RSS for a batch of `n` images of `P` pixels each is modelled as

    peak(n, P) = base + n * (image + held * P) + transient * P

  base       bytes of the loaded worker (Python, torch, weights);
  image      bytes per image of the batch whatever its size (network activations at the fixed
             network input size: a batch is one forward pass);
  held       bytes per pixel every image of a batch holds at once (decoded photo, masks, result,
             encoded answer: the stages run batch-wide, so these stack up n times);
  transient  bytes per pixel of the largest per-image scratch (the encoders work on one image at
             a time; the garment geometry and the composites run side by side on the host's cores
             (closet.host), but at work scale their scratch is small).

`tools/memory_peak.py` (`make bench-memory`) measures peak(n, P) of each model's real TorchServe
worker (VmHWM) and fits the four numbers per model (non-negative least squares, then `base` raised
until the formula covers every measured point); they are pasted into FITS below
with the date and commit they were measured on. A pod runs every model's workers plus the Java
frontend, so it needs

    pod = (frontend + sum over models of max_workers * peak(batch_size, max_pixels)) * (1 + MARGIN)

`make config` writes that figure to helm/closet/files/memory.yaml, and the chart refuses a memory
request or limit below it (helm/closet/templates/_memory.tpl): raise `limits.max_pixels` or a
`batch_size` in config/closet.yaml and the chart's resources must follow.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from closet.config import ClosetConfig

MIB = 1 << 20
# Headroom over the fitted peak: allocator and page-cache variation between runs and machines.
MARGIN = 0.15
# Written by `make config`; the chart reads its copy (closet_dev.chart_files) as files/memory.yaml.
CONFIG_FILE = "config/memory.yaml"
CHART_FILE = "helm/closet/files/memory.yaml"


@dataclass(frozen=True)
class WorkerFit:
    """peak(n, P) = base + n * (image + held * P) + transient * P, in bytes."""

    base: float
    image: float  # bytes per image of the batch
    held: float  # bytes per pixel per image of the batch
    transient: float  # bytes per pixel, once

    def peak(self, batch: int, pixels: int) -> float:
        return self.base + batch * (self.image + self.held * pixels) + self.transient * pixels


# Fitted by `make bench-memory` (tools/memory_peak.py) on 2 shared CPU cores on 2026-12-06:
# segmentation, parsing and closet at commit 1ad43c1, translation at a9348d7 (OpenVINO runs a batch
# image by image: at 4 x 40 MP the ensemble worker's peak 4,490 -> 3,687 MiB, the translation
# worker's the same, 1,093 -> 1,098 MiB); the points and fits are in docs/reliability/memory-peak.json,
# the table in docs/reliability-security.md#memory. Rounded up.
FITS: dict[str, WorkerFit] = {
    "segmentation": WorkerFit(base=483 * MIB, image=0 * MIB, held=4.5, transient=1.7),
    "parsing": WorkerFit(base=559 * MIB, image=15 * MIB, held=8.6, transient=2.2),
    "translation": WorkerFit(base=366 * MIB, image=0 * MIB, held=3.2, transient=6.8),
    "closet": WorkerFit(base=724 * MIB, image=20 * MIB, held=17.7, transient=7.2),
}

# Peak RSS of TorchServe's Java frontend, the larger of the 2026-12-03 and -04 runs (it holds the bodies).
FRONTEND_BYTES = 1047 * MIB


def fit(points: list[tuple[int, int, float]]) -> WorkerFit:
    """WorkerFit from (batch, pixels, peak bytes) measurements (at least 4: two batch sizes at each
    of two image sizes). Non-negative least squares, as no term can free memory; then `base` is
    raised by the largest shortfall, so the formula is at or above every measured peak."""
    import numpy as np
    from scipy.optimize import nnls

    mp = 1e6  # columns in MiB and megapixels keep the problem well conditioned
    a = np.array([[1.0, n, n * p / mp, p / mp] for n, p, _ in points])
    y = np.array([peak for _, _, peak in points]) / MIB
    x, _ = nnls(a, y)
    base = x[0] + max(0.0, float((y - a @ x).max()))
    return WorkerFit(base * MIB, x[1] * MIB, x[2] * MIB / mp, x[3] * MIB / mp)


def pod_bytes(cfg: ClosetConfig, fits: dict[str, WorkerFit] | None = None, frontend: float = FRONTEND_BYTES,
              models: Iterable[str] | None = None) -> int:
    """Memory one pod serving `models` (default: all) needs when every worker runs a full batch at
    limits.max_pixels, margin included."""
    fits = fits or FITS
    names = list(cfg.models) if models is None else list(models)
    workers = sum(cfg.model(n).max_workers * fits[n].peak(cfg.model(n).batch_size, cfg.limits.max_pixels) for n in names)
    return int(math.ceil((frontend + workers) * (1 + MARGIN)))


def render_chart_file(cfg: ClosetConfig) -> str:
    """helm/closet/files/memory.yaml: the pod's memory need in MiB, which the chart checks its resources against."""
    lines = ["# GENERATED by `make config` (closet_dev/memory.py) from config/closet.yaml. Do not edit.",
             "# Memory a pod needs when every worker runs a full batch at limits.max_pixels (fitted to",
             "# `make bench-memory`), plus the Java frontend and a margin; the chart's resources.requests.memory",
             "# and resources.limits.memory must be at least podMi (templates/_memory.tpl).",
             f"maxPixels: {cfg.limits.max_pixels}",
             f"marginPercent: {round(MARGIN * 100)}",
             "workers:"]
    for name, m in cfg.models.items():
        peak = FITS[name].peak(m.batch_size, cfg.limits.max_pixels)
        lines.append(f"  {name}: {{maxWorkers: {m.max_workers}, batchSize: {m.batch_size}, "
                     f"peakMi: {math.ceil(peak / MIB)}}}")
    lines.append(f"frontendMi: {math.ceil(FRONTEND_BYTES / MIB)}")
    lines.append(f"podMi: {math.ceil(pod_bytes(cfg) / MIB)}")
    return "\n".join(lines) + "\n"
