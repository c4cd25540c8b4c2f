"""Each environment's load test is judged by the SLO file sized for the flavour that environment runs.

.gitlab-ci.yml: a deploy job (script `make ci-deploy`) sets IMAGE_FLAVOR and HELM_VALUES for its
environment; the chart's values (the file, over values.yaml) say image.flavor and gpu.enabled. A
load-test job of the same environment ships LOADTEST_SLO (ci/loadtest.sh's default when unset),
and that file's `flavor` (loadtest/slo.py) must be the environment's flavour.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "closet"
sys.path.insert(0, str(ROOT / "loadtest"))

import slo as slo_gate  # noqa: E402


class CILoader(yaml.SafeLoader):
    pass


CILoader.add_constructor("!reference", lambda loader, node: loader.construct_sequence(node))


def jobs(doc: dict) -> dict[str, dict]:
    """Visible jobs with their `extends` chain's variables merged (enough for variables and environment)."""
    def merged(name: str) -> dict:
        job = doc[name]
        parents = job.get("extends") or []
        out, variables = {}, {}
        for parent in [parents] if isinstance(parents, str) else parents:
            inherited = merged(parent)
            out.update(inherited)
            variables.update(inherited.get("variables") or {})
        out.update(job)
        variables.update(job.get("variables") or {})
        out["variables"] = variables
        return out

    return {n: merged(n) for n, j in doc.items() if isinstance(j, dict) and "script" in j and not n.startswith(".")}


def values_flavor(values_file: str) -> tuple[str, bool]:
    """(image.flavor, gpu.enabled) the chart renders with values.yaml overlaid by values_file."""
    base = yaml.safe_load((CHART / "values.yaml").read_text())
    over = yaml.safe_load((ROOT / values_file).read_text()) if values_file else {}
    image = {**base["image"], **(over.get("image") or {})}
    gpu = {**base["gpu"], **(over.get("gpu") or {})}
    return image["flavor"], bool(gpu["enabled"])


def default_slo() -> str:
    return re.search(r"slo=\$\{LOADTEST_SLO:-([^}]+)\}", (ROOT / "ci" / "loadtest.sh").read_text()).group(1)


def pairing_problems(doc: dict) -> list[str]:
    """Mismatches between each environment's deployed flavour and its load test's SLO file."""
    problems, flavors = [], {}
    all_jobs = jobs(doc)
    for name, job in all_jobs.items():
        env = (job.get("environment") or {}).get("name")
        if env and job["script"] == ["make ci-deploy"]:
            v = job["variables"]
            values = v.get("HELM_VALUES", "").replace("$CHART_DIR", str(CHART.relative_to(ROOT)))
            chart_flavor, gpu = values_flavor(values)
            if v.get("IMAGE_FLAVOR") != chart_flavor:
                problems.append(f"{name}: IMAGE_FLAVOR {v.get('IMAGE_FLAVOR')} but the chart values say {chart_flavor}")
            if gpu != (chart_flavor == "gpu"):
                problems.append(f"{name}: gpu.enabled={gpu} with the {chart_flavor} image")
            flavors[env] = v.get("IMAGE_FLAVOR")
    tested = 0
    for name, job in all_jobs.items():
        env = (job.get("environment") or {}).get("name")
        if job["script"] != ["make ci-loadtest"]:
            continue
        tested += 1
        slo_file = job["variables"].get("LOADTEST_SLO") or default_slo()
        declared = slo_gate.flavor(ROOT / slo_file)
        if env not in flavors:
            problems.append(f"{name}: environment {env} has no deploy job")
        elif declared != flavors[env]:
            problems.append(f"{name}: {env} runs the {flavors[env]} image, {slo_file} is sized for {declared}")
    if not tested:
        problems.append("no load-test job")
    return problems


@pytest.fixture(scope="module")
def ci() -> dict:
    return yaml.load((ROOT / ".gitlab-ci.yml").read_text(), Loader=CILoader)


def test_every_slo_file_says_which_flavour_it_is_for():
    files = sorted((ROOT / "loadtest").glob("slo*.yaml"))
    assert {f.name for f in files} >= {"slo.yaml", "slo-cpu.yaml", "slo-local.yaml"}
    for f in files:
        assert slo_gate.flavor(f) in slo_gate.FLAVORS, f.name
        assert set(slo_gate.load(f)) >= slo_gate.REQUIRED  # the gate still reads its thresholds


def test_each_environment_is_judged_by_the_slo_of_the_flavour_it_runs(ci):
    assert pairing_problems(ci) == []
    staging = jobs(ci)["loadtest-staging"]["variables"]
    assert slo_gate.flavor(ROOT / staging["LOADTEST_SLO"]) == "cpu"


def test_the_pairing_check_fails_on_the_old_staging_gate(ci):
    """staging deploys the cpu image; judging it by the GPU SLO (the old default) is caught."""
    old = {**ci, "loadtest-staging": {**ci["loadtest-staging"],
                                      "variables": {k: v for k, v in ci["loadtest-staging"]["variables"].items()
                                                    if k not in ("LOADTEST_SLO", "LOADTEST_USERS")}}}
    assert any("sized for gpu" in p for p in pairing_problems(old))


def test_the_pairing_check_fails_on_a_flavour_the_chart_values_contradict(ci):
    bad = {**ci, "deploy-staging": {**ci["deploy-staging"],
                                    "variables": {**ci["deploy-staging"]["variables"], "IMAGE_FLAVOR": "gpu"}}}
    assert any("chart values say cpu" in p for p in pairing_problems(bad))


def test_an_unknown_flavour_is_refused(tmp_path):
    f = tmp_path / "slo.yaml"
    f.write_text("flavor: tpu\np95_ms: 1\nmax_error_ratio: 0\nmin_rps: 1\n")
    with pytest.raises(ValueError, match="flavor"):
        slo_gate.load(f)
