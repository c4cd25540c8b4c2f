"""Kubernetes HPA arithmetic for closet's replica autoscaling, and where its inputs live.

Nothing here is retyped from the chart: the HPA spec (min/max replicas, target, behavior) comes
from helm/closet/values.yaml `autoscaling`, the metric query from prometheus-adapter's rule in
k8s/prometheus-adapter-values.yaml, whose series is the record of monitoring/rules/autoscaling.yml.

The controller logic follows kube-controller-manager's podautoscaler (replica_calculator.go,
horizontal.go) for one Pods metric with an AverageValue target:
  desired = ceil(current * value / target), unless |value/target - 1| <= tolerance (0.1)
  then the stabilisation windows (scale-up: min over the window, scale-down: max over the window),
  the Pods rate policies per period, and min/max replicas.
`time_scale` shrinks every window and period (e.g. 0.05: 600 s -> 30 s) so a local check can
watch a whole scale-down; 1.0 is the chart's behaviour.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from closet.config import REPO_ROOT

VALUES = REPO_ROOT / "helm" / "closet" / "values.yaml"
ADAPTER_VALUES = REPO_ROOT / "k8s" / "prometheus-adapter-values.yaml"
TOLERANCE = 0.1  # --horizontal-pod-autoscaler-tolerance default

_SUFFIX = {"m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 1024.0, "Mi": 1024.0**2, "Gi": 1024.0**3}


def parse_quantity(q: str | int | float) -> float:
    """A Kubernetes quantity ('500m', '2', '1.5', '1Ki') as a float."""
    if isinstance(q, (int, float)) and not isinstance(q, bool):
        return float(q)
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(m|k|M|G|Ki|Mi|Gi)?\s*", str(q))
    if not m:
        raise ValueError(f"not a Kubernetes quantity: {q!r}")
    return float(m.group(1)) * _SUFFIX[m.group(2) or ""]


@dataclass(frozen=True)
class Policy:
    window_s: float  # stabilizationWindowSeconds
    pods: int  # Pods policy value
    period_s: float  # Pods policy periodSeconds


@dataclass(frozen=True)
class HpaSpec:
    min_replicas: int
    max_replicas: int
    target: float  # AverageValue target of the metric
    scale_up: Policy
    scale_down: Policy
    metric_name: str

    @classmethod
    def from_values(cls, path: Path = VALUES, target: float | None = None, time_scale: float = 1.0,
                    overlays: tuple[Path, ...] = ()) -> HpaSpec:
        """The chart's autoscaling values, with `helm -f` style overlays (e.g. values-cpu.yaml) merged
        over them; `target` overrides targetAverageValue (a documented knob of the local check)."""
        a = yaml.safe_load(Path(path).read_text(encoding="utf-8"))["autoscaling"]
        for extra in overlays:
            a = _merge(a, (yaml.safe_load(Path(extra).read_text(encoding="utf-8")) or {}).get("autoscaling", {}))
        b = a["behavior"]

        def pol(p):
            return Policy(p["stabilizationWindowSeconds"] * time_scale, int(p["pods"]), p["periodSeconds"] * time_scale)

        return cls(int(a["minReplicas"]), int(a["maxReplicas"]),
                   parse_quantity(a["targetAverageValue"]) if target is None else float(target),
                   pol(b["scaleUp"]), pol(b["scaleDown"]), a["metricName"])


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def adapter_query(path: Path = ADAPTER_VALUES, label_matchers: str = "", group_by: str = "pod") -> tuple[str, str]:
    """(series name, PromQL) prometheus-adapter runs for the HPA metric, from its rule.

    Locally there is no namespace/pod label (no Kubernetes service discovery), so the label
    matchers the adapter would add for the HPA's pods are empty; the rest is the rule's template.
    """
    (rule,) = yaml.safe_load(Path(path).read_text(encoding="utf-8"))["rules"]["custom"]
    series = re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", rule["seriesQuery"].strip("'\" ")).group(0)
    q = rule["metricsQuery"]
    q = q.replace("<<.Series>>", series).replace("<<.LabelMatchers>>", label_matchers).replace("<<.GroupBy>>", group_by)
    return series, q


def adapter_metric_name(path: Path = ADAPTER_VALUES) -> str:
    """The custom metric name the adapter exposes (its name.matches/as rewrite of the series)."""
    (rule,) = yaml.safe_load(Path(path).read_text(encoding="utf-8"))["rules"]["custom"]
    series, _ = adapter_query(path)
    as_ = re.sub(r"\$\{?(\d+)\}?", r"\\\1", rule["name"]["as"])
    return re.sub(rule["name"]["matches"], as_, series)


def desired_replicas(current: int, value: float, target: float, tolerance: float = TOLERANCE) -> int:
    """The HPA's raw recommendation for one Pods/AverageValue metric (before behaviour and bounds)."""
    if target <= 0:
        raise ValueError("target must be positive")
    ratio = value / target
    if abs(ratio - 1.0) <= tolerance:
        return current
    return math.ceil(ratio * current)


@dataclass
class Hpa:
    """A stateful HPA controller: call `step(now, value)` once per sync; it returns the new replicas."""

    spec: HpaSpec
    replicas: int = 0
    recommendations: list[tuple[float, int]] = field(default_factory=list)
    events: list[tuple[float, int]] = field(default_factory=list)  # (time, replica change)

    def __post_init__(self):
        self.replicas = self.replicas or self.spec.min_replicas

    def step(self, now: float, value: float) -> int:
        s, cur = self.spec, self.replicas
        raw = desired_replicas(cur, value, s.target)
        # stabilisation (horizontal.go stabilizeRecommendationWithBehaviors)
        up = down = raw
        for t, r in self.recommendations:
            if t > now - s.scale_up.window_s:
                up = min(up, r)
            if t > now - s.scale_down.window_s:
                down = max(down, r)
        self.recommendations = [(t, r) for t, r in self.recommendations
                                if t > now - max(s.scale_up.window_s, s.scale_down.window_s)] + [(now, raw)]
        rec = cur
        rec = max(rec, up)
        rec = min(rec, down)
        # rate policies and bounds (convertDesiredReplicasWithBehaviorRate)
        if rec > cur:
            added = sum(c for t, c in self.events if c > 0 and t > now - s.scale_up.period_s)
            limit = max(cur, cur - added + s.scale_up.pods)
            rec = min(rec, limit, s.max_replicas)
        elif rec < cur:
            removed = -sum(c for t, c in self.events if c < 0 and t > now - s.scale_down.period_s)
            limit = min(cur, cur + removed - s.scale_down.pods)
            rec = max(rec, limit, s.min_replicas)
        rec = min(max(rec, s.min_replicas), s.max_replicas)
        if rec != cur:
            self.events.append((now, rec - cur))
        self.replicas = rec
        return rec
