"""closet_dev.autoscale: the Kubernetes HPA arithmetic and its inputs read from the chart/adapter files.

The long run on real TorchServe + Prometheus is `make autoscale-check` (not in `make test`);
here the controller math is checked against hand-worked Kubernetes examples."""

from __future__ import annotations

import pytest
import yaml

from closet.config import REPO_ROOT
from closet_dev import autoscale, monitoring


def spec(**kw) -> autoscale.HpaSpec:
    base = dict(min_replicas=1, max_replicas=4, target=0.5,
                scale_up=autoscale.Policy(0, 2, 30), scale_down=autoscale.Policy(600, 1, 300), metric_name="m")
    return autoscale.HpaSpec(**{**base, **kw})


@pytest.mark.parametrize("q, v", [("500m", 0.5), ("2", 2.0), (3, 3.0), ("1.5", 1.5), ("1Ki", 1024.0), ("250m", 0.25)])
def test_parse_quantity(q, v):
    assert autoscale.parse_quantity(q) == pytest.approx(v)


def test_parse_quantity_rejects_garbage():
    with pytest.raises(ValueError):
        autoscale.parse_quantity("half")


def test_kubernetes_formula_with_tolerance():
    assert autoscale.desired_replicas(2, 0.54, 0.5) == 2  # ratio 1.08: within 10 %
    assert autoscale.desired_replicas(2, 0.56, 0.5) == 3  # ceil(2 * 1.12)
    assert autoscale.desired_replicas(3, 0.2, 0.5) == 2  # ceil(3 * 0.4)
    assert autoscale.desired_replicas(1, 0.0, 0.5) == 0  # bounds come later
    with pytest.raises(ValueError):
        autoscale.desired_replicas(1, 1.0, 0)


def test_spec_and_query_come_from_the_chart_and_adapter_files():
    values = yaml.safe_load((REPO_ROOT / "helm" / "closet" / "values.yaml").read_text())["autoscaling"]
    s = autoscale.HpaSpec.from_values(time_scale=0.1)
    assert (s.min_replicas, s.max_replicas) == (values["minReplicas"], values["maxReplicas"])
    assert s.target == autoscale.parse_quantity(values["targetAverageValue"])
    assert s.scale_down.window_s == pytest.approx(values["behavior"]["scaleDown"]["stabilizationWindowSeconds"] * 0.1)
    assert autoscale.HpaSpec.from_values(target=4).target == 4
    series, query = autoscale.adapter_query()
    assert series == monitoring.autoscaling_rule().name
    assert query.startswith("max(" + series) and "<<" not in query
    assert autoscale.adapter_metric_name() == values["metricName"] == s.metric_name


def test_scale_up_is_rate_limited_and_bounded():
    hpa = autoscale.Hpa(spec())
    assert hpa.step(0, 5.0) == 3  # raw 10; +2 pods per 30 s from 1
    assert hpa.step(15, 5.0) == 3  # same period: no more pods
    assert hpa.step(31, 5.0) == 4  # next period, max 4
    assert hpa.step(60, 50.0) == 4


def test_scale_down_waits_for_the_window_then_one_pod_per_period():
    hpa = autoscale.Hpa(spec(), replicas=4)
    hpa.step(0, 2.0)  # high recommendation at t=0 (raw 16) stays in the 600 s window
    assert hpa.step(300, 0.0) == 4
    assert hpa.step(599, 0.0) == 4
    assert hpa.step(601, 0.0) == 3  # window passed: down by one pod
    assert hpa.step(700, 0.0) == 3  # one pod per 300 s
    assert hpa.step(902, 0.0) == 2
    assert hpa.step(1203, 0.0) == 1
    assert hpa.step(1600, 0.0) == 1  # never below min


def test_within_tolerance_keeps_replicas():
    hpa = autoscale.Hpa(spec(), replicas=2)
    assert hpa.step(0, 0.52) == 2 and hpa.step(15, 0.47) == 2


def test_cpu_profile_overlay_is_merged_like_helm():
    cpu = yaml.safe_load((REPO_ROOT / "helm" / "closet" / "values-cpu.yaml").read_text())["autoscaling"]
    s = autoscale.HpaSpec.from_values(overlays=(REPO_ROOT / "helm" / "closet" / "values-cpu.yaml",))
    assert s.target == autoscale.parse_quantity(cpu["targetAverageValue"]) and s.max_replicas == cpu["maxReplicas"]
    assert s.scale_up == autoscale.HpaSpec.from_values().scale_up  # behavior not in the overlay: kept
