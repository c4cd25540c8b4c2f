"""What the chart tests share: the value sets the chart is linted, rendered and validated with, and
the Kubernetes versions its manifests are validated against."""

from __future__ import annotations

# Value files (relative to helm/closet) per named set: the five, plus gpu and objectstore.
VALUE_SETS: dict[str, tuple[str, ...]] = {
    "default": (),
    "cpu": ("values-cpu.yaml",),
    "keda": ("ci/keda-values.yaml",),
    "pvc": ("ci/pvc-values.yaml",),
    "ingress": ("ci/ingress-values.yaml",),
    "gpu": ("ci/gpu-values.yaml",),
    "objectstore": ("ci/objectstore-values.yaml",),
}
K8S_VERSIONS = ("1.29.0", "1.33.0")
