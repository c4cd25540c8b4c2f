"""MAR build table and the sha256 manifest the handler verifies at load."""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile

import pytest

from closet.archive import BUILD_INFO_NAME, MANIFEST_NAME, read_build_info, verify_manifest
from closet.config import MODEL_NAMES, REPO_ROOT
from closet_dev import mar
from tests.support.handlers import FakeContext, load_handler_module


def test_every_model_has_an_archive_derived_from_its_stages():
    from closet.stages import STAGES_OF_MODEL

    assert set(STAGES_OF_MODEL) == set(MODEL_NAMES)
    for name in MODEL_NAMES:
        spec = mar.spec(name)
        assert spec.files and spec.files[0].required
        assert len({f.name for f in spec.files}) == len(spec.files)
        assert {f.name for stage in STAGES_OF_MODEL[name] for f in stage.files} == {f.name for f in spec.files}
        assert (REPO_ROOT / spec.handler).is_file()


def test_makefile_rules_come_from_the_stages():
    out = mar.makefile()
    for name in MODEL_NAMES:
        assert f"model-store/{name}.mar: {mar.spec(name).handler}" in out
    assert "$(wildcard $(PARSER_CKPT))" in out  # optional input: no dependency when unset
    assert (REPO_ROOT / "mk" / "mars.mk").read_text() == out  # `make config` writes it; no drift


@pytest.mark.parametrize("edited,rebuilds", [("closet_dev/train/trainer.py", False), ("closet_dev/mar.py", False),
                                             ("closet/stages/segment.py", True)])
def test_only_runtime_edits_rebuild_archives(edited, rebuilds):
    """`make -n -W <file> mars`: what make would do if <file> were just edited (nothing is touched)."""
    if not all((REPO_ROOT / "model-store" / f"{n}.mar").is_file() for n in MODEL_NAMES):
        pytest.skip("needs the built MARs (`make mars`)")
    out = subprocess.run(["make", "-n", "-W", edited, "mars"], cwd=REPO_ROOT, capture_output=True, text=True,
                         check=True).stdout
    built = [n for n in MODEL_NAMES if f"closet_dev.mar build {n}" in out]
    assert built == (list(MODEL_NAMES) if rebuilds else []), out[-2000:]


def _extract(mar_file, dest):
    with zipfile.ZipFile(mar_file) as z:
        z.extractall(dest)
    return dest


def test_archive_is_self_contained_and_fully_hashed(segmentation_mar, tmp_path):
    d = _extract(segmentation_mar, tmp_path / "x")
    manifest = json.loads((d / MANIFEST_NAME).read_text())["files"]
    for needed in ("segmentation.py", "segmentation-model-config.yaml", "u2net.pth", "closet.yaml",
                   "closet/serving/handler.py", "closet/models/u2net.py", BUILD_INFO_NAME):  # fmt: skip
        assert needed in manifest
    assert not any("__pycache__" in k for k in manifest)
    # The runtime only: no training, monitoring, autoscale, config generator or build code.
    assert not [k for k in manifest if k.startswith("closet_dev/") or "/train/" in k
                or any(w in k for w in ("monitoring", "autoscale", "configgen", "mar.py", "launcher"))]
    assert verify_manifest(d) == len(manifest)
    assert read_build_info(d)["settings"] == {"U2NET_ARCH": "u2netp"}


@pytest.mark.parametrize("tamper", ["modify", "delete"])
def test_handler_refuses_a_tampered_archive(segmentation_mar, tmp_path, tamper):
    d = _extract(segmentation_mar, tmp_path / "x")
    target = d / "closet" / "stages" / "segment.py"
    if tamper == "modify":
        target.write_text(target.read_text() + "\n# changed\n")
    else:
        target.unlink()
    with pytest.raises(RuntimeError, match="closet-manifest.json check failed"):
        verify_manifest(d)
    h = load_handler_module("segmentation").SegmentationHandler()
    with pytest.raises(RuntimeError, match="closet/stages/segment.py"):
        h.initialize(FakeContext(d))
    assert not h.initialized


def test_handler_refuses_an_archive_without_manifest(segmentation_mar, tmp_path):
    d = _extract(segmentation_mar, tmp_path / "x")
    (d / MANIFEST_NAME).unlink()
    h = load_handler_module("segmentation").SegmentationHandler()
    with pytest.raises(RuntimeError, match="missing"):
        h.initialize(FakeContext(d))


def test_worker_written_pycache_is_ignored(segmentation_mar, tmp_path):
    d = _extract(segmentation_mar, tmp_path / "x")
    shutil.copytree(d / "closet", d / "closet" / "__pycache__", dirs_exist_ok=True)
    assert verify_manifest(d) > 0


def test_a_build_leaves_the_temp_folder_of_its_model_name_alone(tmp_path, monkeypatch, random_u2netp):
    """torch-model-archiver stages an archive's files in $TMPDIR/<model name>, deleting what is
    there before and after: two builds of one model at once deleted each other's files (a clean-clone
    CI run beside `make mars`: FileNotFoundError '/tmp/parsing/blazepose_detector.pth'), and a build
    deleted a user's /tmp/segmentation. Each build now stages in a TMPDIR of its own."""
    theirs = tmp_path / "tmp" / "segmentation"
    theirs.mkdir(parents=True)
    (theirs / "notes.txt").write_text("not the archiver's\n")
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    out = mar.build("segmentation", store=tmp_path / "store", env={"U2NETP_WEIGHTS": str(random_u2netp), "PATH": ""},
                    stage_dir=tmp_path / "stage")
    assert out.is_file()
    assert (theirs / "notes.txt").read_text() == "not the archiver's\n"
