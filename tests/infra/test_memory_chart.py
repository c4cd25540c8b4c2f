"""The deployments' memory follows the configured limits (helm template with real helm 3.17; k8s/).

helm/closet/files/memory.yaml is what `make config` derives from config/closet.yaml with
closet_dev/memory.py; templates/_memory.tpl refuses a memory request or limit below it. Here the
default and CPU profiles render, a smaller value is refused, and a chart whose config raised
max_pixels or a batch size (its memory.yaml regenerated, in a copy of the chart) is refused until
its resources follow. The KServe manifests in k8s/ request what their models need too.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from closet import config as closet_config
from closet.config import REPO_ROOT
from closet_dev import memory

CHART = REPO_ROOT / "helm" / "closet"
HELM = REPO_ROOT / ".cache" / "bin" / "helm"
MIB = memory.MIB
UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}

needs_helm = pytest.mark.skipif(not HELM.exists(), reason="helm not installed: run `make k8s-tools`")


def template(chart: Path = CHART, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(HELM), "template", "closet", str(chart), "--namespace", "closet", *args],
                          capture_output=True, text=True, timeout=120)


def quantity_bytes(q) -> float:
    q = str(q)
    for unit, factor in UNITS.items():
        if q.endswith(unit):
            return float(q[: -len(unit)]) * factor
    return float(q)


def serving_resources(rendered: str) -> dict:
    (dep,) = [d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "Deployment"]
    (container,) = [c for c in dep["spec"]["template"]["spec"]["containers"]]
    return container["resources"]


@needs_helm
@pytest.mark.parametrize("values", [[], ["-f", str(CHART / "values-cpu.yaml")]], ids=["default", "cpu"])
def test_default_profiles_cover_the_measured_need(values):
    need = memory.pod_bytes(closet_config.load())
    r = template(CHART, *values)
    assert r.returncode == 0, r.stderr
    res = serving_resources(r.stdout)
    for kind in ("requests", "limits"):
        assert quantity_bytes(res[kind]["memory"]) >= need, (kind, res[kind]["memory"], need / MIB)


@needs_helm
@pytest.mark.parametrize("kind", ["requests", "limits"])
def test_less_memory_is_refused(kind):
    need_mi = yaml.safe_load((REPO_ROOT / memory.CHART_FILE).read_text())["podMi"]
    r = template(CHART, "--set", f"resources.{kind}.memory={need_mi - 1}Mi")
    assert r.returncode != 0
    assert f"resources.{kind}.memory={need_mi - 1}Mi is below the {need_mi}Mi a pod needs" in r.stderr, r.stderr
    ok = template(CHART, "--set", f"resources.requests.memory={need_mi}Mi", "--set", f"resources.limits.memory={need_mi}Mi")
    assert ok.returncode == 0, ok.stderr


@pytest.fixture
def chart_copy(tmp_path) -> Path:
    dst = tmp_path / "closet"
    shutil.copytree(CHART, dst, symlinks=False)  # the chart's symlinked files become copies
    return dst


def raised(cfg: closet_config.ClosetConfig, what: str) -> closet_config.ClosetConfig:
    if what == "max_pixels":
        return dataclasses.replace(cfg, limits=dataclasses.replace(cfg.limits, max_pixels=cfg.limits.max_pixels * 2))
    closet = cfg.model("closet")
    return dataclasses.replace(cfg, models={**cfg.models, "closet": dataclasses.replace(closet, batch_size=closet.batch_size * 2)})


@needs_helm
@pytest.mark.parametrize("what", ["max_pixels", "batch_size"])
def test_raising_a_limit_needs_the_memory_to_follow(chart_copy, what):
    cfg = raised(closet_config.load(), what)
    (chart_copy / memory.CHART_FILE.removeprefix("helm/closet/")).write_text(memory.render_chart_file(cfg))
    if what == "batch_size":  # the chart also insists its batch size equals the archive's
        (chart_copy / "files" / "model-config" / "closet-model-config.yaml").write_text(
            (CHART / "files" / "model-config" / "closet-model-config.yaml").read_text().replace(
                "batchSize: 4", f"batchSize: {cfg.model('closet').batch_size}"))
    sets = ["--set", f"models.closet.batchSize={cfg.model('closet').batch_size}"]
    r = template(chart_copy, *sets)
    assert r.returncode != 0 and "a pod needs" in r.stderr, r.stderr
    need_mi = -(-memory.pod_bytes(cfg) // MIB)
    ok = template(chart_copy, *sets, "--set", f"resources.requests.memory={need_mi}Mi",
                  "--set", f"resources.limits.memory={need_mi}Mi")
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize("manifest, models", [
    ("kserve/inferenceservice.yaml", None),  # all four models in one TorchServe
    ("kserve/inferenceservice-v1.yaml", None),
    *((f"graph/{m}.yaml", [m]) for m in ("segmentation", "parsing", "translation")),
])
def test_kserve_manifests_request_what_their_models_need(manifest, models):
    need = memory.pod_bytes(closet_config.load(), models=models)
    (isvc,) = [d for d in yaml.safe_load_all((REPO_ROOT / "k8s" / manifest).read_text()) if d]
    res = isvc["spec"]["predictor"]["model"]["resources"]
    for kind in ("requests", "limits"):
        assert quantity_bytes(res[kind]["memory"]) >= need, (manifest, kind, res[kind]["memory"], need / MIB)
