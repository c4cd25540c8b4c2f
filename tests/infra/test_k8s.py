"""k8s/: KServe InferenceServices and InferenceGraph (checked strictly against the kserve 0.21
python models), closet's own KServe runtime as a custom predictor, the prometheus-adapter rule, and
the `make kserve-bundle` layout."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import kserve.models as kserve_models
import kubernetes.client.models as k8s_models
import pytest
import yaml

from closet import config as closet_config
from closet.config import REPO_ROOT
from closet_dev import configgen

ROOT = REPO_ROOT
K8S = ROOT / "k8s"
ISVC_FILES = sorted((K8S / "kserve").glob("inferenceservice*.yaml")) + sorted(
    p for p in (K8S / "graph").glob("*.yaml") if p.name != "inferencegraph.yaml"
)
GRAPH_FILE = K8S / "graph" / "inferencegraph.yaml"
PRIMITIVES = {"str": str, "int": int, "float": (int, float), "bool": bool}


class StrictError(ValueError):
    pass


def strict(data, typ: str, path: str = "$"):
    """Deserialize `data` into the kserve/kubernetes model named `typ`, refusing unknown fields and
    wrong types (the generated models' own deserializer drops unknown keys silently)."""
    # Both spellings occur: kserve's "list[X]"/"dict(str, X)", kubernetes' "List[X]"/"Dict[str, X]".
    if typ.lower().startswith("list["):
        if not isinstance(data, list):
            raise StrictError(f"{path}: expected a list, got {type(data).__name__}")
        return [strict(x, typ[5:-1], f"{path}[{i}]") for i, x in enumerate(data)]
    if typ.lower().startswith(("dict(", "dict[")):
        if not isinstance(data, dict):
            raise StrictError(f"{path}: expected a mapping")
        inner = typ[typ.index(",") + 1 : -1].strip()
        return {k: strict(v, inner, f"{path}.{k}") for k, v in data.items()}
    if typ == "object":
        return data
    if typ in ("ResourceQuantity", "datetime", "bytes"):  # serialized as strings (quantities may be numbers)
        if not isinstance(data, (str, int, float)) or isinstance(data, bool):
            raise StrictError(f"{path}: expected a {typ} string, got {data!r}")
        return data
    if typ in PRIMITIVES:
        if not isinstance(data, PRIMITIVES[typ]) or (typ != "bool" and isinstance(data, bool)):
            raise StrictError(f"{path}: expected {typ}, got {data!r}")
        return data
    cls = getattr(kserve_models, typ, None) or getattr(k8s_models, typ)
    if not isinstance(data, dict):
        raise StrictError(f"{path}: expected a {typ} mapping, got {data!r}")
    by_json = {j: p for p, j in cls.attribute_map.items()}
    unknown = sorted(set(data) - set(by_json))
    if unknown:
        raise StrictError(f"{path}: unknown field(s) {unknown} for {typ}")
    kwargs = {by_json[k]: strict(v, cls.openapi_types[by_json[k]], f"{path}.{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except ValueError as e:  # required field missing / enum value refused by the model
        raise StrictError(f"{path}: {e}") from e


def load(path: Path) -> dict:
    (doc,) = [d for d in yaml.safe_load_all(path.read_text()) if d]
    return doc


@pytest.mark.parametrize("path", ISVC_FILES, ids=lambda p: p.relative_to(K8S).as_posix())
def test_inference_service_is_strictly_valid(path):
    doc = load(path)
    isvc = strict(doc, "V1beta1InferenceService")
    assert isvc.api_version == "serving.kserve.io/v1beta1" and isvc.kind == "InferenceService"
    model = isvc.spec.predictor.model
    assert model.model_format.name == "pytorch"  # KServe's TorchServe runtime
    assert model.protocol_version in ("v1", "v2")
    assert model.resources.limits["nvidia.com/gpu"] == "1"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in doc["spec"]["predictor"][
        "tolerations"
    ]
    bundle = model.storage_uri.rsplit("/", 1)[1]
    assert bundle in LAYOUTS, f"storageUri must end in a `make kserve-bundle` directory, got {bundle}"


def test_both_protocols_are_offered():
    protocols = {load(p)["spec"]["predictor"]["model"]["protocolVersion"]: p.name for p in ISVC_FILES}
    assert set(protocols) == {"v1", "v2"}


def test_inference_graph_is_strictly_valid_and_chains_the_stages():
    doc = load(GRAPH_FILE)
    graph = strict(doc, "V1alpha1InferenceGraph")
    root = graph.spec.nodes["root"]
    assert root.router_type == "Sequence"
    services = {load(p)["metadata"]["name"] for p in (K8S / "graph").glob("*.yaml") if p != GRAPH_FILE}
    steps = [s.service_name for s in root.steps]
    assert steps == ["closet-segmentation", "closet-parsing", "closet-translation"]
    assert set(steps) == services
    assert [s.data for s in root.steps] == ["$request", "$response", "$response"]


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["spec"]["predictor"]["model"].update(storageURI="s3://x"), "unknown field(s) ['storageURI']"),
        (lambda d: d["spec"]["predictor"].update(gpus=1), "unknown field(s) ['gpus']"),
        (lambda d: d["spec"]["predictor"].update(minReplicas="one"), "expected int"),
        (lambda d: d["spec"]["predictor"]["tolerations"][0].update(tolerate=True), "unknown field(s) ['tolerate']"),
    ],
)
def test_strict_check_rejects_bad_manifests(mutate, message):
    doc = json.loads(json.dumps(load(K8S / "kserve" / "inferenceservice.yaml")))
    mutate(doc)
    with pytest.raises(StrictError, match=re.escape(message)):
        strict(doc, "V1beta1InferenceService")


def test_prometheus_adapter_rule_serves_the_autoscaling_record():
    rules = yaml.safe_load((ROOT / "monitoring" / "rules" / "autoscaling.yml").read_text())
    record = next(r for g in rules["groups"] for r in g["rules"] if "record" in r)
    values = yaml.safe_load((K8S / "prometheus-adapter-values.yaml").read_text())
    (rule,) = values["rules"]["custom"]
    assert rule["seriesQuery"].startswith(record["record"] + "{")
    assert re.fullmatch(rule["name"]["matches"], record["record"])
    assert rule["resources"]["overrides"] == {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}
    assert "<<.Series>>" in rule["metricsQuery"] and "rate(" in record["expr"]
    chart = yaml.safe_load((ROOT / "helm" / "closet" / "values.yaml").read_text())
    exposed = re.sub(rule["name"]["matches"], rule["name"]["as"].replace("${1}", r"\1"), record["record"])
    assert chart["autoscaling"]["metricName"] == exposed


def test_keda_example_reads_the_autoscaling_record():
    rules = yaml.safe_load((ROOT / "monitoring" / "rules" / "autoscaling.yml").read_text())
    record = next(r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r)
    so = load(K8S / "kserve" / "keda-scaledobject.yaml")
    assert f"{record}{{" in so["spec"]["triggers"][0]["metadata"]["query"]
    assert (
        so["spec"]["scaleTargetRef"]["name"]
        == load(K8S / "kserve" / "inferenceservice.yaml")["metadata"]["name"] + "-predictor"
    )


def _bundle_module():
    spec = importlib.util.spec_from_file_location("kserve_bundle", K8S / "kserve" / "bundle.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


bundle = _bundle_module()
LAYOUTS = bundle.layouts(closet_config.load())


def test_bundle_configs_are_the_kserve_variant():
    cfg = closet_config.load()
    v2 = configgen.render_properties(cfg, "kserve")
    assert LAYOUTS["closet"] == (tuple(closet_config.MODEL_NAMES), v2)
    # One config for v1 and v2: the handlers decode both bodies per request (no TorchServe envelope).
    assert LAYOUTS["closet-v1"] == LAYOUTS["closet"] and "service_envelope" not in v2
    for stage in bundle.STAGES:
        models, text = LAYOUTS[stage]
        assert models == (stage,)
        props = dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
        snapshot = json.loads(props["model_snapshot"])
        assert list(snapshot["models"]) == [stage] and snapshot["modelCount"] == 1
        assert props["model_store"] == "/mnt/models/model-store"


def test_bundle_layout(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    for name in ("segmentation", "parsing"):
        (store / f"{name}.mar").write_bytes(name.encode())  # stand-ins: the layout step only places files
    with pytest.raises(FileNotFoundError, match="run `make mars`"):
        bundle.build(tmp_path / "out", store, closet_config.load())
    placed = bundle.build(tmp_path / "out", store, closet_config.load(), allow_missing=True)
    assert placed == {"segmentation": ["segmentation"], "parsing": ["parsing"]}
    root = tmp_path / "out" / "segmentation"
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == [
        "config/config.properties",
        "config/metrics.yaml",
        "model-store/segmentation.mar",
    ]
    assert (root / "config" / "metrics.yaml").read_text() == configgen.render_metrics_config()


CUSTOM_PREDICTOR = K8S / "kserve" / "closet-runtime.yaml"


def test_custom_predictor_runs_closets_kserve_runtime_on_a_bundle():
    """The KServe runtime (closet/kserve) as a custom predictor container: strictly valid, its command
    line parsed by the server's own parser, its storage a `make kserve-bundle` directory."""
    from closet.kserve.server import build_parser

    doc = load(CUSTOM_PREDICTOR)
    isvc = strict(doc, "V1beta1InferenceService")
    assert isvc.spec.predictor.model is None  # no KServe model runtime: the container is the server
    (c,) = isvc.spec.predictor.containers
    assert c.name == "kserve-container" and c.command == ["python", "-m", "closet.kserve"]
    args = build_parser().parse_args(c.args)
    env = {e.name: e.value for e in c.env}
    assert env["STORAGE_URI"].rsplit("/", 1)[1] in LAYOUTS
    assert args.model_store == "/mnt/models/model-store"  # where the storage initializer puts the bundle
    assert [p.container_port for p in c.ports] == [args.inference_port]  # Knative routes one port
    assert c.readiness_probe.http_get.path == "/ping" and c.readiness_probe.http_get.port == args.inference_port
    annotations = doc["metadata"]["annotations"]
    assert int(annotations["prometheus.kserve.io/port"]) == args.metrics_port == args.worker_metrics_port
    assert c.resources.limits["nvidia.com/gpu"] == "1" and args.device == "cuda"
    cfg = closet_config.load().server
    assert (args.inference_port, args.grpc_port, args.management_port, args.metrics_port) == (
        cfg.inference_port, cfg.grpc_port, cfg.management_port, cfg.metrics_port)  # one scrape port: see the file
