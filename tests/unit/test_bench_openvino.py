"""tools/bench_openvino.py (`make bench-openvino`): the measurement behind `auto`'s OpenVINO on CPU
runs the export the archive packs, in both runtimes, and compares their masks on the package photos."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from closet import runtime
from closet.config import ENSEMBLE, REPO_ROOT
from closet_dev.mar import mar_path


def test_the_bench_times_both_runtimes_on_the_packed_export(tmp_path):
    if not mar_path(ENSEMBLE).exists():
        pytest.skip("the archives are not built: run `make mars`")
    out = tmp_path / "openvino.json"
    r = subprocess.run([sys.executable, str(REPO_ROOT / "tools" / "bench_openvino.py"), "--runs", "3",
                        "--json", str(out), "--official-scale", "0.25"], capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    got = json.loads(out.read_text())["runtimes"]
    assert {"onnxruntime f32", "openvino f32", "openvino f32 any batch"} <= set(got)
    assert all(v["p50_s"] > 0 for v in got.values())
    for served in ("openvino f32", "openvino f32 any batch"):  # one image at a time or not, the same masks in fp32
        assert all(v == 1.0 for v in got[served]["mask_iou"].values())
        assert got[served]["largest_difference"] < 1e-3
    four = json.loads(out.read_text())["batch_of_four"]
    assert four["openvino f32"]["p50_s"] > 0 and four["openvino f32 any batch"]["p50_s"] > 0
    assert four["largest_difference"] < 1e-4  # image by image, the batch's own answers
    networks = json.loads(out.read_text())["networks"]
    # the official networks at a quarter of their sizes: the bench's path, in a quarter of its time
    assert {"demo generator 32 px, batch 5", "generator 64 px", "style encoder 64 px", "SCHP (ATR) 128 px"} <= set(networks)
    for r in networks.values():
        assert set(r) == {"torch", "onnxruntime", "openvino"} and all(v["p50_s"] > 0 for v in r.values())
        assert all(v["largest_difference"] < 1e-3 for v in r.values())
    if runtime.openvino_bf16_supported():
        assert all(0.95 <= v < 1.0 for v in got["openvino bf16"]["mask_iou"].values())  # near, not equal
    else:
        assert "openvino bf16" not in got
