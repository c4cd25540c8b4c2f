"""The chart installs on a bare cluster: objects of optional APIs render only where those APIs exist.

A bare cluster (`helm template` with no `--api-versions`) gets no prometheus-operator or KEDA
objects and no HPA it cannot feed; with the APIs present they render; every variant validates
(kubernetes-validate for Kubernetes' own kinds, the published CR schemas for the rest), and
NOTES.txt says what was skipped and why.
"""

from __future__ import annotations

import pytest

from tests.support.charts import K8S_VERSIONS, VALUE_SETS

CUSTOM_GROUPS = ("monitoring.coreos.com/", "keda.sh/")


def kinds(docs: list[dict]) -> list[str]:
    return [d["kind"] for d in docs]


def deployment(docs: list[dict]) -> dict:
    (dep,) = [d for d in docs if d["kind"] == "Deployment"]
    return dep


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_bare_cluster_gets_no_custom_resources_and_validates(chart, name):
    docs = chart(*VALUE_SETS[name])
    custom = [f"{d['kind']}/{d['metadata']['name']}" for d in docs if d["apiVersion"].startswith(CUSTOM_GROUPS)]
    assert not custom, f"{name}: a bare cluster would refuse {custom}"
    # No metrics API either: no HPA, and the Deployment carries its own replica count.
    assert "HorizontalPodAutoscaler" not in kinds(docs)
    assert deployment(docs)["spec"]["replicas"] >= 2
    import kubernetes_validate

    for version in K8S_VERSIONS:
        for d in docs:
            kubernetes_validate.validate(d, version, strict=True)


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_full_cluster_gets_the_custom_resources_and_they_validate(chart, apis, validate_crs, name):
    docs = chart(*VALUE_SETS[name], apis=apis.full)
    custom = [d for d in docs if d["apiVersion"].startswith(CUSTOM_GROUPS)]
    expected = {"ServiceMonitor", "PrometheusRule"} | ({"ScaledObject"} if name == "keda" else set())
    assert {d["kind"] for d in custom} == expected
    bad = [r for r in validate_crs(custom) if not r["ok"]]
    assert not bad, bad
    autoscaled = name != "pvc"  # ci/pvc-values.yaml turns autoscaling off
    assert ("replicas" not in deployment(docs)["spec"]) == autoscaled


def test_each_prometheus_operator_kind_follows_its_own_api(chart, apis):
    only_monitors = chart(apis=apis.operator[:1])
    assert "ServiceMonitor" in kinds(only_monitors) and "PrometheusRule" not in kinds(only_monitors)
    only_rules = chart(apis=apis.operator[1:])
    assert "PrometheusRule" in kinds(only_rules) and "ServiceMonitor" not in kinds(only_rules)


def test_assume_api_versions_forces_rendering(chart, apis, validate_crs):
    """GitOps renderers without cluster access list the APIs in values instead of --api-versions."""
    sets = tuple(f"assumeAPIVersions[{i}]={api}" for i, api in enumerate(apis.operator))
    docs = chart(sets=sets)
    custom = [d for d in docs if d["apiVersion"].startswith(CUSTOM_GROUPS)]
    assert {d["kind"] for d in custom} == {"ServiceMonitor", "PrometheusRule"}
    assert all(r["ok"] for r in validate_crs(custom))


def test_disabled_monitoring_stays_off_with_the_api_present(chart, apis):
    docs = chart(
        sets=("monitoring.serviceMonitor.enabled=false", "monitoring.prometheusRule.enabled=false"), apis=apis.full
    )
    assert not [d for d in docs if d["apiVersion"].startswith("monitoring.coreos.com/")]


# ---------------------------------------------------------------- the HPA's metric source
def hpa(docs: list[dict]) -> dict | None:
    found = [d for d in docs if d["kind"] == "HorizontalPodAutoscaler"]
    return found[0] if found else None


def test_hpa_on_queue_time_needs_the_custom_metrics_api(chart, apis):
    h = hpa(chart(apis=apis.adapter + apis.metrics_server))
    (metric,) = h["spec"]["metrics"]
    assert metric["type"] == "Pods" and metric["pods"]["metric"]["name"] == "closet_queue_time_per_request_seconds"


def test_hpa_falls_back_to_cpu_without_an_adapter(chart, apis):
    docs = chart(apis=apis.metrics_server)
    (metric,) = hpa(docs)["spec"]["metrics"]
    assert metric == {
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
    }
    assert "replicas" not in deployment(docs)["spec"]
    # CPU fallback turned off: no HPA, fixed replicas.
    docs = chart(sets=("autoscaling.withoutAdapter=off",), apis=apis.metrics_server)
    assert hpa(docs) is None and deployment(docs)["spec"]["replicas"] == 2


def test_keda_mode_without_keda_renders_no_autoscaler(chart, apis):
    docs = chart("ci/keda-values.yaml", apis=apis.operator + apis.adapter)
    assert "ScaledObject" not in kinds(docs) and hpa(docs) is None
    assert deployment(docs)["spec"]["replicas"] == 2


# ---------------------------------------------------------------- NOTES.txt says what happened
def test_notes_on_a_bare_cluster_name_every_skip_and_why(chart_notes):
    notes = chart_notes()
    assert "SKIPPED the ServiceMonitor and the PrometheusRule" in notes
    assert "does not serve monitoring.coreos.com/v1" in notes
    assert "SKIPPED the HPA" in notes and "no custom.metrics.k8s.io API" in notes
    assert "no metrics.k8s.io API (no metrics-server)" in notes
    assert "Autoscaling: OFF, 2 replicas" in notes


def test_notes_on_a_full_cluster_skip_nothing(chart_notes, apis):
    notes = chart_notes(apis=apis.full)
    assert "SKIPPED" not in notes and "FALLBACK" not in notes
    assert "HPA on closet_queue_time_per_request_seconds" in notes


def test_notes_say_when_the_hpa_falls_back_to_cpu(chart_notes, apis):
    notes = chart_notes(apis=apis.operator + apis.metrics_server)
    assert "HPA on CPU at 70%" in notes and "FALLBACK" in notes and "SKIPPED" not in notes


def test_notes_say_when_keda_is_missing(chart_notes, apis):
    notes = chart_notes("ci/keda-values.yaml", apis=apis.operator)
    assert "SKIPPED the ScaledObject" in notes and "KEDA is not installed" in notes
    assert "KEDA ScaledObject" in chart_notes("ci/keda-values.yaml", apis=apis.full)


def test_notes_say_the_surge_needs_a_spare_gpu(chart_notes):
    assert "A surge pod needs a spare GPU" in chart_notes()
    assert "spare GPU" not in chart_notes("values-cpu.yaml")
