"""docker/Dockerfile: hadolint clean, built on the official TorchServe 0.12 images, multi-stage,
non-root, with a HEALTHCHECK. (No Docker engine here: the build itself is not run; checkov scans
the Dockerfile in tests/infra/test_helm.py::test_checkov_clean_except_listed_skips.)"""

from __future__ import annotations

import re
import subprocess

import pytest

from closet.config import REPO_ROOT

ROOT = REPO_ROOT
DOCKERFILE = ROOT / "docker" / "Dockerfile"
HADOLINT = ROOT / ".cache" / "tools-venv" / "bin" / "hadolint"


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


@pytest.mark.skipif(not HADOLINT.exists(), reason="hadolint not installed: run `make k8s-tools`")
def test_hadolint_clean():
    r = subprocess.run(
        [str(HADOLINT), "--failure-threshold", "info", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.skipif(not HADOLINT.exists(), reason="hadolint not installed: run `make k8s-tools`")
def test_hadolint_can_fail(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM pytorch/torchserve:latest\nRUN pip install torch\n")
    r = subprocess.run([str(HADOLINT), str(bad)], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "DL3007" in r.stdout


def test_official_torchserve_base_with_flavor_arg():
    ins = instructions()
    args = dict(rest.split("=", 1) for word, rest in ins if word == "ARG" and "=" in rest)
    assert args["TS_VERSION"] == "0.12.0" and args["FLAVOR"] in ("gpu", "cpu")
    froms = [rest for word, rest in ins if word == "FROM"]
    assert len(froms) == 2, "multi-stage: MAR build, then runtime"
    assert all(f.startswith("pytorch/torchserve:${TS_VERSION}-${FLAVOR}") for f in froms)
    assert froms[0].endswith(" AS mars")
    build = " ".join(rest for word, rest in ins if word == "RUN")
    assert "python -m closet_dev.mar build" in build
    assert any(word == "COPY" and rest.startswith("--from=mars") and "model-store" in rest for word, rest in ins)


def test_runs_as_non_root_with_healthcheck():
    ins = instructions()
    users = [rest for word, rest in ins if word == "USER"]
    assert users[-1] == "10001:10001"  # the chart's podSecurityContext.runAsUser
    health = next(rest for word, rest in ins if word == "HEALTHCHECK")
    assert "/ping" in health
    entry = next(rest for word, rest in ins if word == "ENTRYPOINT")
    cmd = next(rest for word, rest in ins if word == "CMD")
    assert entry == '["torchserve"]' and "--foreground" in cmd
    assert "/home/model-server/config/config.properties" in cmd  # where the chart mounts its ConfigMap


def test_dockerignore_is_an_allowlist():
    lines = (ROOT / "docker" / "Dockerfile.dockerignore").read_text().splitlines()
    rules = [ln for ln in lines if ln and not ln.startswith("#")]
    assert rules[0] == "*"
    assert "!closet/" in rules and "!handlers/" in rules and "!config/" in rules
