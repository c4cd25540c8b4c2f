"""tools/bench_precision.py (`make bench-precision`): the precision gate's numbers on the package
photos. On this CPU tf32 and fp16 are refused as a worker refuses them; bf16 is refused where the
CPU lacks it, and where it has it (AVX-512 BF16 or AMX) the bench measures U^2-Net-P's masks and what a
user sees of it in the served ensemble."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from closet import runtime
from closet.config import ENSEMBLE, REPO_ROOT, NetworkRuntime
from closet_dev.mar import mar_path

TOOL = [sys.executable, str(REPO_ROOT / "tools" / "bench_precision.py")]


def test_the_bench_refuses_what_the_cpu_lacks_and_measures_what_it_has(tmp_path):
    if not (mar_path(ENSEMBLE).exists() and mar_path("segmentation").exists()):
        pytest.skip("the archives are not built: run `make mars`")
    out = tmp_path / "precision.json"
    r = subprocess.run(TOOL + ["--device", "cpu", "--runs", "1", "--json", str(out)],
                       capture_output=True, text=True, timeout=600, cwd=REPO_ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    got = json.loads(out.read_text())
    assert got["fp32"]["p50_s"] > 0
    assert "needs CUDA" in got["tf32"]["refused"] and "needs CUDA" in got["fp16"]["refused"]
    try:  # as `precision: bf16` would load: in the runtime `auto` picks for U^2-Net (OpenVINO)
        picked = runtime.resolve("u2net", NetworkRuntime("auto", "bf16"), torch.device("cpu"))
    except runtime.UnsupportedRuntime:
        assert "bf16 is not supported" in got["bf16"]["refused"]
        return
    bf16 = got["bf16"]
    assert bf16["runtime"] == picked
    assert all(0.95 <= v < 1.0 for v in bf16["mask_iou"].values())  # near fp32, and not fp32 itself
    ens = bf16["ensemble"]
    assert set(ens["result_iou"]) == set(bf16["mask_iou"])
    assert all(v > 0.99 for v in ens["result_iou"].values())  # the garment barely moves
    assert all(0 <= v < 0.01 for v in ens["moved_share"].values())
    assert ens["p50_s"] > 0 and ens["configured_p50_s"] > 0
    every = bf16["ensemble_every_network"]  # measured beside it (BlazePose in bf16 moves the keypoints)
    assert set(every["result_iou"]) == set(ens["result_iou"]) and every["p50_s"] > 0
