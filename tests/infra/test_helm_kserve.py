"""The chart's `runtime: kserve` switch: one chart, two container commands, everything else the same.

Renders the chart with runtime torchserve and kserve (default and CPU profiles) and compares the
objects: only the container's name, command, args, gRPC port, preStop and TorchServe's multiprocess
metrics env may differ; the probes, other env, volumes, Service, HPA, monitoring and NetworkPolicy
are the same objects. The kserve command
line is parsed by closet.kserve's own argument parser.
"""

from __future__ import annotations

import copy
import subprocess

import pytest
import yaml

from closet.config import REPO_ROOT
from closet.kserve.server import build_parser

CHART = REPO_ROOT / "helm" / "closet"
HELM = REPO_ROOT / ".cache" / "bin" / "helm"
PROFILES = {"default": [], "cpu": ["values-cpu.yaml"]}
CONTAINER_KEYS = ("name", "command", "args", "ports", "lifecycle")  # what the switch may change

pytestmark = pytest.mark.skipif(not HELM.exists(), reason="helm not installed: run `make k8s-tools`")


def render(files: list[str], runtime: str, *sets: str) -> list[dict]:
    args = [str(HELM), "template", "closet", str(CHART), "--namespace", "closet", "--set", f"runtime={runtime}"]
    for f in files:
        args += ["-f", str(CHART / f)]
    for s in sets:
        args += ["--set", s]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=120).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def deployment(docs: list[dict]) -> dict:
    (dep,) = [d for d in docs if d["kind"] == "Deployment"]
    return dep


def container(docs: list[dict]) -> dict:
    (c,) = deployment(docs)["spec"]["template"]["spec"]["containers"]
    return c


@pytest.fixture(scope="module", params=sorted(PROFILES))
def both(request) -> tuple[list[dict], list[dict], dict]:
    files = PROFILES[request.param]
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for f in files:
        values.update(yaml.safe_load((CHART / f).read_text()))
    return render(files, "torchserve"), render(files, "kserve"), values


def test_the_values_file_and_the_ci_file_name_both_runtimes():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["runtime"] == "torchserve"
    assert yaml.safe_load((CHART / "ci" / "kserve-values.yaml").read_text())["runtime"] == "kserve"
    r = subprocess.run([str(HELM), "lint", "--strict", str(CHART), "-f", str(CHART / "values-cpu.yaml"),
                        "-f", str(CHART / "ci" / "kserve-values.yaml")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_an_unknown_runtime_is_refused():
    r = subprocess.run([str(HELM), "template", "closet", str(CHART), "--set", "runtime=triton"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "runtime" in r.stderr


def test_only_the_container_command_differs(both):
    ts, ks, _ = both
    assert [(d["kind"], d["metadata"]["name"]) for d in ts] == [(d["kind"], d["metadata"]["name"]) for d in ks]
    for a, b in zip(ts, ks):
        if a["kind"] != "Deployment":
            assert a == b, a["kind"]  # Service, HPA/ScaledObject, ServiceMonitor, PrometheusRule, NetworkPolicy...
    da, db = copy.deepcopy(deployment(ts)), copy.deepcopy(deployment(ks))
    ca, cb = (d["spec"]["template"]["spec"]["containers"][0] for d in (da, db))
    for k in CONTAINER_KEYS:
        ca.pop(k, None), cb.pop(k, None)
    ca["env"] = [e for e in ca["env"] if e["name"] not in ("PROMETHEUS_MULTIPROC_DIR", "CLOSET_WORKER_METRICS_ADDRESS")]
    assert da == db  # probes, other env, resources, volumes, security, checksum annotation: the same


def test_same_probes(both):
    """The same probe objects: ready.py on the management API and /api-description on the inference
    port; tests/serve/test_kserve_runtime.py checks the KServe runtime answers both."""
    ts, ks, _ = both
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container(ks)[probe] == container(ts)[probe]
    assert any("ready.py" in str(a) for a in container(ks)["readinessProbe"]["exec"]["command"])
    assert container(ks)["livenessProbe"]["httpGet"]["port"] == "inference"


def test_no_multiprocess_metrics_env_for_kserve(both):
    """TorchServe's workers write histograms to multiprocess files; the one KServe process must not
    (prometheus_client would move every metric, KServe's own too, into files)."""
    ts, ks, _ = both
    names = {e["name"] for e in container(ks)["env"]}
    assert "PROMETHEUS_MULTIPROC_DIR" not in names and "CLOSET_WORKER_METRICS_ADDRESS" not in names
    assert "PROMETHEUS_MULTIPROC_DIR" in {e["name"] for e in container(ts)["env"]}


def test_kserve_command_line_parses_and_uses_the_chart_ports(both):
    _, ks, values = both
    c = container(ks)
    assert c["name"] == "kserve" and c["command"] == ["python", "-m", "closet.kserve"]
    args = build_parser().parse_args(c["args"])
    ports = values["torchserve"]["ports"]
    assert (args.inference_port, args.grpc_port, args.management_port, args.metrics_port, args.worker_metrics_port) == (
        ports["inference"], ports["grpcInference"], ports["management"], ports["metrics"], ports["workerMetrics"])
    assert args.bind == "0.0.0.0" and args.model_store == values["modelStore"]["path"]
    assert args.models == [n for n in ("segmentation", "parsing", "translation", "closet") if values["models"][n]["enabled"]]
    assert args.device == ("cuda" if values["gpu"]["enabled"] else "cpu")
    assert args.workdir.startswith("/tmp/")  # the writable emptyDir under a read-only root filesystem
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    assert "/tmp" in mounts
    named = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert named == {"inference": ports["inference"], "metrics": ports["metrics"], "grpc": ports["grpcInference"],
                     "worker-metrics": ports["workerMetrics"]}
    assert "management" not in named
    assert "torchserve" not in " ".join(c["lifecycle"]["preStop"]["exec"]["command"])


def test_disabled_models_are_not_loaded():
    c = container(render([], "kserve", "models.translation.enabled=false"))
    assert build_parser().parse_args(c["args"]).models == ["segmentation", "parsing", "closet"]
