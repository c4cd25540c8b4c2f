"""The Grafana dashboard as a file: provisionable as-is, one datasource variable, known metric names.

Its queries are run against real Prometheus data in tests/infra/test_metrics_live.py.
"""

from __future__ import annotations

import json

from closet.metrics import CLUSTER_ONLY_PREFIXES, EXPORTED
from closet_dev import monitoring

REQUIRED_PANELS = {
    "Requests per second by model", "Stage latency p50 / p95 / p99", "Queue and inference time per request",
    "Error ratio by reason", "Batch size formed", "Workers", "CPU", "Memory", "GPU utilisation",
    "GPU memory used", "Autoscaling signal and replicas",
}


def load() -> dict:
    return json.loads(monitoring.DASHBOARD.read_text(encoding="utf-8"))


def all_panels(dash: dict) -> list[dict]:
    out = []
    for p in dash["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def test_provisionable_as_is():
    dash = load()
    # File provisioning takes the JSON model as-is: fixed uid, no numeric id, no import-time ${DS_*} inputs.
    assert dash["uid"] == "closet-serving" and "id" not in dash and "__inputs" not in dash
    assert "${DS_" not in monitoring.DASHBOARD.read_text(encoding="utf-8")
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for name in ("model", "namespace"):
        assert variables[name]["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert variables[name]["allValue"] == ".*"
    ids = [p["id"] for p in all_panels(dash)]
    assert len(ids) == len(set(ids))
    for p in all_panels(dash):
        if p["type"] == "row":
            continue
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t["datasource"] == p["datasource"]
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0


def test_required_panels_present():
    titles = {p["title"] for p in all_panels(load())}
    assert REQUIRED_PANELS <= titles, REQUIRED_PANELS - titles


def test_queries_use_names_from_closet_metrics():
    records = {r.name for r in monitoring.rules() if r.kind == "record"}
    for q in monitoring.dashboard_queries():
        expr = monitoring.grafana_substitute(q.expr)  # also: every variable it uses is defined
        for name in monitoring.metric_names(expr):
            base = name
            for suffix in ("_bucket", "_sum", "_count"):
                if name.endswith(suffix) and EXPORTED.get(name[: -len(suffix)], ("",))[0] == "histogram":
                    base = name[: -len(suffix)]
            assert base in EXPORTED or base in records or base.startswith(CLUSTER_ONLY_PREFIXES), (
                f"{q.panel}/{q.ref_id} reads {name}, which closet/metrics.py does not define"
            )


def test_autoscaling_panel_shows_the_one_signal():
    rule = monitoring.autoscaling_rule()
    exprs = [q.expr for q in monitoring.dashboard_queries() if q.panel == "Autoscaling signal and replicas"]
    assert any(rule.name in e for e in exprs)
    assert any("kube_deployment_status_replicas" in e for e in exprs)
