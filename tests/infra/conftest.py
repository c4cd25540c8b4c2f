"""Fixtures of the chart tests: render helm/closet as a cluster with or without optional APIs would.

    chart(*value_files, sets=(), apis=())   -> list of rendered objects (helm template)
    chart_notes(*value_files, sets=(), apis=()) -> NOTES.txt as `helm install` would print it
    validate_crs(objects) -> [{"kind", "name", "ok", "error"}] against the published CR schemas
    apis.operator / .adapter / .metrics_server / .keda / .full   -> `--api-versions` entries

`apis` are what a cluster serves besides Kubernetes' own APIs (none: a bare cluster).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "closet"
HELM = ROOT / ".cache" / "bin" / "helm"
NODE_MODULES = ROOT / ".cache" / "node" / "node_modules"
RELEASE, NAMESPACE = "closet", "closet"

PROMETHEUS_OPERATOR = ("monitoring.coreos.com/v1/ServiceMonitor", "monitoring.coreos.com/v1/PrometheusRule")
PROMETHEUS_ADAPTER = ("custom.metrics.k8s.io/v1beta1",)
METRICS_SERVER = ("metrics.k8s.io/v1beta1",)
KEDA = ("keda.sh/v1alpha1/ScaledObject",)
FULL_CLUSTER = PROMETHEUS_OPERATOR + PROMETHEUS_ADAPTER + METRICS_SERVER + KEDA


def _helm(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    if not HELM.exists():
        pytest.skip("helm not installed: run `make k8s-tools`")
    return subprocess.run([str(HELM), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def _template_args(chart: Path, files, sets, apis) -> list[str]:
    args = ["template", RELEASE, str(chart), "--namespace", NAMESPACE]
    for f in files:
        args += ["-f", str(chart / f)]
    for s in sets:
        args += ["--set", s]
    for api in apis:
        args += ["--api-versions", api]
    return args


@pytest.fixture(scope="session")
def apis():
    return SimpleNamespace(
        operator=PROMETHEUS_OPERATOR,
        adapter=PROMETHEUS_ADAPTER,
        metrics_server=METRICS_SERVER,
        keda=KEDA,
        full=FULL_CLUSTER,
    )


class RenderError(Exception):
    """helm refused the values; the message is helm's stderr."""


@pytest.fixture(scope="session")
def chart():
    def render(*files: str, sets=(), apis=()) -> list[dict]:
        r = _helm(*_template_args(CHART, files, sets, apis))
        if r.returncode != 0:
            raise RenderError(r.stderr)
        return [d for d in yaml.safe_load_all(r.stdout) if d]

    render.error = RenderError
    return render


@pytest.fixture(scope="session")
def chart_notes(tmp_path_factory):
    """NOTES.txt rendered with the same context `helm install` gives it.

    helm 3.17's `install --dry-run=client` still contacts a cluster (helm/helm#13144), and
    `helm template` never prints NOTES. So a copy of the chart turns NOTES.txt into a named
    template and renders it, unchanged, into a ConfigMap.
    """
    copy = tmp_path_factory.mktemp("notes") / "closet"
    shutil.copytree(CHART, copy)
    notes = (copy / "templates" / "NOTES.txt").read_text()
    (copy / "templates" / "NOTES.txt").unlink()
    (copy / "templates" / "_notes.tpl").write_text('{{- define "test.notes" -}}\n' + notes + "\n{{- end }}\n")
    (copy / "templates" / "notes-render.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n"
        '  NOTES.txt: {{ include "test.notes" . | toJson }}\n'
    )

    def render(*files: str, sets=(), apis=()) -> str:
        args = _template_args(copy, files, sets, apis) + ["--show-only", "templates/notes-render.yaml"]
        r = _helm(*args)
        if r.returncode != 0:
            raise RenderError(r.stderr)
        return yaml.safe_load(r.stdout)["data"]["NOTES.txt"]

    return render


@pytest.fixture(scope="session")
def validate_crs():
    node = shutil.which("node")
    if not node or not NODE_MODULES.is_dir():
        pytest.skip("node and the CR schemas are needed: run `make k8s-tools`")

    def run(objects: list[dict]) -> list[dict]:
        r = subprocess.run(
            [node, str(ROOT / "k8s" / "validate" / "validate_crs.mjs"), str(NODE_MODULES)],
            input=json.dumps(objects),
            capture_output=True,
            text=True,
            timeout=120,
        )
        results = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
        assert len(results) == len(objects), r.stderr
        return results

    return run
