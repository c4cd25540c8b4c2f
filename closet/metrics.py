"""Every custom Prometheus metric closet emits, defined once, plus the exact names
TorchServe 0.12 exports them (and its own metrics) under.

The handlers record through PipelineMetrics. Two exporters carry closet's metrics:
  * TorchServe's metrics port: every MetricSpec without `buckets`. `make config` writes the
    `model_metrics` section of config/metrics.yaml (TorchServe's metrics_config) from them.
  * The worker metrics port (closet/serving/worker_metrics.py): every MetricSpec with `buckets`.
    TorchServe 0.12 builds model histograms with the Java client's default buckets, 0.005..10
    (PrometheusHistogram never calls .buckets(); checked in its model-server.jar), which cannot
    resolve closet's 50 ms..60 s latencies. These histograms are written by prometheus_client in
    multiprocess mode instead and served, summed over the pod's workers, on their own port.
The Prometheus rules (monitoring/rules/*.yml) and the Grafana dashboard (monitoring/grafana/
closet.json) use the names in EXPORTED, and tests/unit/test_metrics.py and tests/infra/test_metrics_live.py check both against a real
TorchServe's ports.

What TorchServe 0.12 does to a model metric on its way to /metrics on the metrics port
(checked against the installed frontend, see tests/infra/test_metrics_live.py):
  * the name is kept exactly (counters keep their `_total`, no `_created` series);
  * the declared dimensions become labels, in order, and the frontend appends a
    `Hostname` label (capital H; the pod name in Kubernetes);
  * histograms get the default buckets above whatever the declared unit, so sizes over 10
    land in +Inf and only their _sum/_count (the mean) stays exact.
TorchServe's own metrics use other label spellings (ts_* carry lowercase
`hostname`, the Requests*XX and host gauges carry `Level` and `Hostname`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from closet.errors import REASONS

log = logging.getLogger(__name__)

MODEL_LABEL = "model_name"
# Appended by the TorchServe frontend to every model metric.
HOSTNAME_LABEL = "Hostname"
# Seconds. One request on 2 CPU cores takes up to ~20 s, a GPU batch well under 1 s, decode and
# encode ~10 ms: 10 ms..60 s, with 3 s (the SLO's p95, loadtest/slo.yaml) a boundary.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0)


@dataclass(frozen=True)
class MetricSpec:
    name: str
    type: str  # counter | gauge | histogram (TorchServe MetricTypes values)
    unit: str
    labels: tuple[str, ...]
    help: str
    # Histogram bucket bounds; set only for histograms served by the worker metrics port.
    buckets: tuple[float, ...] = ()

    @property
    def served_by_worker(self) -> bool:
        """True: prometheus_client in the worker (own buckets); False: TorchServe's metrics port."""
        return bool(self.buckets)

    @property
    def exported_labels(self) -> tuple[str, ...]:
        """Label names at /metrics (TorchServe's frontend appends Hostname; the worker port does not)."""
        return self.labels if self.served_by_worker else (*self.labels, HOSTNAME_LABEL)

    @property
    def series(self) -> tuple[str, ...]:
        """Sample names at /metrics."""
        if self.type == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        return (self.name,)


STAGE_SECONDS = MetricSpec(
    "closet_stage_seconds", "histogram", "Seconds", (MODEL_LABEL, "stage"),
    "Wall time of one pipeline stage for one batch (STAGES); stage=handler is the whole handle() call.",
    buckets=LATENCY_BUCKETS,
)
REQUESTS = MetricSpec(
    "closet_requests_total", "counter", "Count", (MODEL_LABEL, "target", "mode"),
    "Requests handled, by validated target domain and mode.",
)
ERRORS = MetricSpec(
    "closet_errors_total", "counter", "Count", (MODEL_LABEL, "reason"),
    "Requests refused or failed, by bounded reason (closet.errors.REASONS).",
)
INPUT_MEGAPIXELS = MetricSpec(
    "closet_input_megapixels", "histogram", "Count", (MODEL_LABEL,),
    "Decoded input size in megapixels.",
)
BATCH_SIZE = MetricSpec(
    "closet_batch_size", "histogram", "Count", (MODEL_LABEL,),
    "Requests in the batch TorchServe actually formed.",
)
PARSER = MetricSpec(
    "closet_parser_total", "counter", "Count", (MODEL_LABEL, "parser"),
    "Garment masks produced, by the parser that produced them.",
)

METRICS = (STAGE_SECONDS, REQUESTS, ERRORS, INPUT_MEGAPIXELS, BATCH_SIZE, PARSER)
# Bounded values of the `stage` label; "handler" is recorded by ClosetHandler.handle for the whole batch.
STAGES = ("decode", "segmentation", "parsing", "translation", "composite", "encode", "handler")
# Label values outside a bounded set (or not a short identifier) are recorded as this.
OTHER = "other"
_SAFE_VALUE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")


@dataclass(frozen=True)
class TsMetric:
    """A metric the TorchServe frontend exports itself (declared in ts_metrics)."""

    name: str
    type: str
    labels: tuple[str, ...]
    help: str


# TorchServe 0.12's own metrics the rules and the dashboard use, with their exported labels.
TS_REQUESTS = TsMetric(
    "ts_inference_requests_total", "counter", ("model_name", "model_version", "hostname"),
    "Requests a model's workers were sent (successes and handler-level errors; not frontend 4xx/5xx).",
)
TS_INFERENCE_US = TsMetric(
    "ts_inference_latency_microseconds", "counter", ("model_name", "model_version", "hostname"),
    "Summed frontend-measured inference time per request, microseconds (a counter: use rate()).",
)
TS_QUEUE_US = TsMetric(
    "ts_queue_latency_microseconds", "counter", ("model_name", "model_version", "hostname"),
    "Summed time requests waited in the model's job queue, microseconds (a counter: use rate()).",
)
TS_REQUESTS_2XX = TsMetric("Requests2XX", "counter", ("Level", "Hostname"), "Responses with a 2xx status.")
TS_REQUESTS_4XX = TsMetric("Requests4XX", "counter", ("Level", "Hostname"), "Responses with a 4xx status.")
TS_REQUESTS_5XX = TsMetric(
    "Requests5XX", "counter", ("Level", "Hostname"), "Responses with a 5xx status (worker died, queue full, timeout)."
)
TS_WORKER_LOAD_MS = TsMetric(
    "WorkerLoadTime", "gauge", ("WorkerName", "Level", "Hostname"),
    "Milliseconds the last load of each worker took; one series per worker ever started.",
)
TS_CPU_PERCENT = TsMetric("CPUUtilization", "gauge", ("Level", "Hostname"), "Host CPU utilisation, percent.")
TS_MEMORY_USED_MB = TsMetric("MemoryUsed", "gauge", ("Level", "Hostname"), "Host memory used, megabytes.")
TS_MEMORY_PERCENT = TsMetric("MemoryUtilization", "gauge", ("Level", "Hostname"), "Host memory used, percent.")
TS_METRICS = (
    TS_REQUESTS, TS_INFERENCE_US, TS_QUEUE_US, TS_REQUESTS_2XX, TS_REQUESTS_4XX, TS_REQUESTS_5XX,
    TS_WORKER_LOAD_MS, TS_CPU_PERCENT, TS_MEMORY_USED_MB, TS_MEMORY_PERCENT,
)


def exported() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Metric family name at /metrics -> (type, label names), closet's and TorchServe's used ones."""
    out = {s.name: (s.type, s.exported_labels) for s in METRICS}
    out.update({m.name: (m.type, m.labels) for m in TS_METRICS})
    return out


EXPORTED = exported()

# Series only a cluster provides (DCGM exporter, kube-state-metrics, cAdvisor); local Prometheus
# never has them, and the dashboard test lists expressions that need them as cluster-only.
CLUSTER_ONLY_PREFIXES = ("DCGM_", "kube_", "container_")


def model_metrics_section() -> dict[str, list[dict]]:
    """The `model_metrics` entries of TorchServe's metrics_config, one per metric TorchServe serves."""
    section: dict[str, list[dict]] = {}
    for spec in METRICS:
        if spec.served_by_worker:
            continue
        section.setdefault(spec.type, []).append({"name": spec.name, "unit": spec.unit, "dimensions": list(spec.labels)})
    return section


def _bounded(value, allowed: tuple[str, ...] | None = None) -> str:
    """A label value from a bounded set: `allowed` if given, else short lowercase identifiers."""
    v = str(value).strip().lower()
    if allowed is not None:
        return v if v in allowed else OTHER
    return v if _SAFE_VALUE.match(v) else OTHER


# prometheus_client histograms of this process, by name: one object per metric and process, because
# two objects of one name would overwrite each other's value in the multiprocess files.
_WORKER_HISTOGRAMS: dict[str, object] = {}


def worker_histogram(spec: MetricSpec):
    """The process's prometheus_client Histogram for `spec` (registered nowhere: the worker metrics
    port reads the multiprocess files, see closet/serving/worker_metrics.py)."""
    if spec.name not in _WORKER_HISTOGRAMS:
        import os

        from prometheus_client import Histogram

        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            log.warning("PROMETHEUS_MULTIPROC_DIR is not set: %s stays in this process, unexported", spec.name)
        _WORKER_HISTOGRAMS[spec.name] = Histogram(
            spec.name, spec.help, labelnames=spec.labels, buckets=spec.buckets, registry=None
        )
    return _WORKER_HISTOGRAMS[spec.name]


class PipelineMetrics:
    """Records closet metrics inside a TorchServe worker.

    Histograms with buckets go to prometheus_client (the worker metrics port); every other
    metric goes through TorchServe's metric cache (context.metrics), which only serves metrics
    declared in the metrics_config yaml. Without a metrics cache (unit tests with a bare
    context) it records into `self.recorded` only. Label values are bounded here (unknown
    stage/reason -> "other"), so a handler bug or a hostile option cannot blow up the series count.
    """

    def __init__(self, ts_metrics, model_name: str):
        self._cache = ts_metrics
        self.model_name = model_name
        self.recorded: list[tuple[str, float, tuple[str, ...]]] = []

    def _update(self, spec: MetricSpec, value: float, *labels: str) -> None:
        dims = (self.model_name, *labels)
        self.recorded.append((spec.name, value, dims))
        if self._cache is None:
            return
        try:
            if spec.served_by_worker:
                worker_histogram(spec).labels(*dims).observe(value)
                return
            from ts.metrics.metric_type_enum import MetricTypes  # only inside a TorchServe worker

            metric = self._cache.get_metric(spec.name, MetricTypes(spec.type))
            metric.add_or_update(value, list(dims))
        except Exception:  # a metric must never fail a request
            log.warning("could not record metric %s", spec.name, exc_info=True)

    def stage(self, stage: str, seconds: float) -> None:
        """One stage's wall time for one batch, seconds."""
        self._update(STAGE_SECONDS, max(0.0, float(seconds)), _bounded(stage, STAGES))

    def request(self, target: str, mode: str) -> None:
        """One validated request (target domain and mode are already checked by the handler's options)."""
        self._update(REQUESTS, 1, _bounded(target), _bounded(mode))

    def error(self, reason: str) -> None:
        self._update(ERRORS, 1, _bounded(reason, REASONS))

    def input_megapixels(self, megapixels: float) -> None:
        self._update(INPUT_MEGAPIXELS, max(0.0, float(megapixels)))

    def batch_size(self, n: int) -> None:
        self._update(BATCH_SIZE, n)

    def parser(self, name: str) -> None:
        self._update(PARSER, 1, _bounded(name))
