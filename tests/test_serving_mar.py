"""MAR build table and the sha256 manifest the handler verifies at load."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile

import pytest
from torchserve import FakeContext, load_handler_module

from closet import mar
from closet.config import MODEL_NAMES, REPO_ROOT


def test_table_covers_every_model_and_first_input_is_required():
    assert set(mar.MARS) == set(MODEL_NAMES)
    for spec in mar.MARS.values():
        assert spec.inputs and spec.inputs[0].required
        assert len({i.dest for i in spec.inputs}) == len(spec.inputs)


def test_makefile_rules_come_from_the_table():
    out = subprocess.run([sys.executable, "-P", str(REPO_ROOT / "closet" / "mar.py"), "--makefile"], check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    for name in MODEL_NAMES:
        assert f"model-store/{name}.mar: handlers/{name}.py" in out
    assert "$(wildcard $(PARSER_CKPT))" in out  # optional input: no dependency when unset


def _extract(mar_file, dest):
    with zipfile.ZipFile(mar_file) as z:
        z.extractall(dest)
    return dest


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A real segmentation.mar built by the table (random-init weights: contents, not quality)."""
    import torch

    from closet.models.u2net import build

    tmp = tmp_path_factory.mktemp("mar")
    weights = tmp / "u2netp.pth"
    torch.manual_seed(0)
    torch.save(build("u2netp").state_dict(), weights)
    env = {"U2NETP_WEIGHTS": str(weights), "PATH": ""}
    return mar.build("segmentation", store=tmp / "store", env=env, stage_dir=tmp / "stage")


def test_archive_is_self_contained_and_fully_hashed(built, tmp_path):
    d = _extract(built, tmp_path / "x")
    manifest = json.loads((d / mar.MANIFEST_NAME).read_text())["files"]
    for needed in ("segmentation.py", "segmentation-model-config.yaml", "u2net.pth", "closet.yaml",
                   "closet/serving/handler.py", "closet/models/u2net.py", mar.BUILD_INFO_NAME):  # fmt: skip
        assert needed in manifest
    assert not any("__pycache__" in k for k in manifest)
    assert mar.verify_manifest(d) == len(manifest)
    assert mar.read_build_info(d)["settings"] == {"U2NET_ARCH": "u2netp"}


@pytest.mark.parametrize("tamper", ["modify", "delete"])
def test_handler_refuses_a_tampered_archive(built, tmp_path, tamper):
    d = _extract(built, tmp_path / "x")
    target = d / "closet" / "segmentation.py"
    if tamper == "modify":
        target.write_text(target.read_text() + "\n# changed\n")
    else:
        target.unlink()
    with pytest.raises(RuntimeError, match="closet-manifest.json check failed"):
        mar.verify_manifest(d)
    h = load_handler_module("segmentation").SegmentationHandler()
    with pytest.raises(RuntimeError, match="closet/segmentation.py"):
        h.initialize(FakeContext(d))
    assert not h.initialized


def test_handler_refuses_an_archive_without_manifest(built, tmp_path):
    d = _extract(built, tmp_path / "x")
    (d / mar.MANIFEST_NAME).unlink()
    h = load_handler_module("segmentation").SegmentationHandler()
    with pytest.raises(RuntimeError, match="missing"):
        h.initialize(FakeContext(d))


def test_worker_written_pycache_is_ignored(built, tmp_path):
    d = _extract(built, tmp_path / "x")
    shutil.copytree(d / "closet", d / "closet" / "__pycache__", dirs_exist_ok=True)
    assert mar.verify_manifest(d) > 0
