"""tools/bench_gpu.py, the GPU profile (docs/gpu.md), kept honest where no GPU is: its CPU trial
measures a served network in every precision the CPU runs, and without CUDA it says so and succeeds
(so `make bench` runs anywhere)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from closet.config import REPO_ROOT

TOOL = [sys.executable, str(REPO_ROOT / "tools" / "bench_gpu.py")]


def test_the_cpu_trial_measures_a_network_in_each_precision_the_cpu_runs(tmp_path):
    out = tmp_path / "gpu.json"
    r = subprocess.run(TOOL + ["--device", "cpu", "--sections", "networks", "--networks", "fmnist", "--runs", "1",
                               "--json", str(out)], capture_output=True, text=True, timeout=600, cwd=REPO_ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    got = json.loads(out.read_text())
    (name, row), = got["networks"].items()
    assert name.startswith("stargan_fmnist") and got["errors"] == {}
    assert all(row[f"fp32_b{b}_img_s"] > 0 and row[f"bf16_b{b}_img_s"] > 0 for b in (1, 4, 8))
    assert 0 < row["bf16_rel_diff"] < 0.1  # near fp32, and not fp32 itself
    assert not any(k.startswith(("fp16", "tf32")) for k in row)  # CUDA-only precisions are not tried


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the answer where no CUDA device is")
def test_without_cuda_it_says_so_and_succeeds():
    r = subprocess.run(TOOL, capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    assert r.returncode == 0 and "no CUDA device" in r.stdout, r.stdout + r.stderr
