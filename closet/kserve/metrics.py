"""The KServe runtime's Prometheus metrics: the names, labels, buckets and ports TorchServe's side has.

* closet.metrics.METRICS, recorded by the same handler code through PipelineMetrics -> ClosetSink,
  on the same two ports as with TorchServe: the histograms with their own buckets
  (`spec.buckets`, closet.metrics.LATENCY_BUCKETS, 10 ms .. 60 s) in `worker_registry`, served on
  worker_metrics_port without a Hostname label; every other metric in `registry` (metrics_port),
  with the `Hostname` label TorchServe's frontend appends (`spec.exported_labels`). Histograms
  without declared buckets get sizes that fit them (megapixels up to 64, batches up to 64) instead
  of the Java client's 0.005..10 TorchServe uses.
* TorchServe's frontend counters that monitoring/rules, the HPA query and the dashboard read
  (closet.metrics.TS_REQUESTS, TS_INFERENCE_US, TS_QUEUE_US, TS_REQUESTS_2XX/4XX/5XX), counted by
  this server under the same names and labels, so one set of rules serves both runtimes. Their
  names break prometheus_client's counter naming (no `_total`), so a collector exports them
  untyped; `rate()` reads them like TorchServe's.
* KServe's own request_{preprocess,predict,postprocess}_seconds stay in `registry`.
"""

from __future__ import annotations

import socket
import threading
from collections import defaultdict

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import Metric

from closet.metrics import (
    BATCH_SIZE,
    HOSTNAME_LABEL,
    INPUT_MEGAPIXELS,
    METRICS,
    TS_INFERENCE_US,
    TS_QUEUE_US,
    TS_REQUESTS,
    TS_REQUESTS_2XX,
    TS_REQUESTS_4XX,
    TS_REQUESTS_5XX,
    MetricSpec,
    Sink,
)

MEGAPIXEL_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64)
# Buckets of the histograms that declare none (closet.metrics gives its latency histograms theirs).
SIZE_BUCKETS = {INPUT_MEGAPIXELS.name: MEGAPIXEL_BUCKETS, BATCH_SIZE.name: BATCH_BUCKETS}
# TorchServe's `Level` label on its host-level request counters.
HOST_LEVEL = "Host"


class ClosetSink(Sink):
    """closet.metrics.METRICS as prometheus_client metrics: own-bucket histograms in `worker_registry`
    (the worker metrics port), the rest in `registry` (the metrics port)."""

    def __init__(self, registry: CollectorRegistry = REGISTRY, worker_registry: CollectorRegistry | None = None,
                 hostname: str | None = None):
        self.hostname = hostname or socket.gethostname()
        self.worker_registry = worker_registry if worker_registry is not None else CollectorRegistry()
        self._metrics = {}
        for spec in METRICS:
            labels = list(spec.exported_labels)
            where = self.worker_registry if spec.served_by_worker else registry
            if spec.type == "histogram":
                buckets = spec.buckets or SIZE_BUCKETS[spec.name]
                metric = Histogram(spec.name, spec.help, labels, buckets=buckets, registry=where)
            elif spec.type == "counter":
                metric = Counter(spec.name, spec.help, labels, registry=where)  # exported as spec.name
            else:
                metric = Gauge(spec.name, spec.help, labels, registry=where)
            self._metrics[spec.name] = metric

    def record(self, spec: MetricSpec, value: float, labels: tuple[str, ...]) -> None:
        if HOSTNAME_LABEL in spec.exported_labels:
            labels = (*labels, self.hostname)
        metric = self._metrics[spec.name].labels(*labels)
        if spec.type == "histogram":
            metric.observe(value)
        elif spec.type == "counter":
            metric.inc(value)
        else:
            metric.set(value)


class FrontendCounters:
    """TorchServe's frontend counters, counted by the KServe server (thread-safe), exported by collect()."""

    def __init__(self, registry: CollectorRegistry | None = REGISTRY, hostname: str | None = None):
        self.hostname = hostname or socket.gethostname()
        self._lock = threading.Lock()
        self._values: dict[tuple[str, tuple[str, ...]], float] = defaultdict(float)
        if registry is not None:
            registry.register(self)

    def _add(self, name: str, labels: tuple[str, ...], value: float) -> None:
        with self._lock:
            self._values[(name, labels)] += value

    def batch(self, model: str, version: str, waited_s: tuple[float, ...], run_s: float) -> None:
        """One batch of len(waited_s) requests: each waited in the queue, then took run_s to answer."""
        labels = (model, version, self.hostname)
        self._add(TS_REQUESTS.name, labels, len(waited_s))
        self._add(TS_QUEUE_US.name, labels, sum(waited_s) * 1e6)
        self._add(TS_INFERENCE_US.name, labels, run_s * 1e6 * len(waited_s))

    def response(self, status: int) -> None:
        """One HTTP response of any endpoint, by status class."""
        spec = {2: TS_REQUESTS_2XX, 4: TS_REQUESTS_4XX, 5: TS_REQUESTS_5XX}.get(status // 100)
        if spec is not None:
            self._add(spec.name, (HOST_LEVEL, self.hostname), 1)

    def value(self, name: str, labels: tuple[str, ...]) -> float:
        with self._lock:
            return self._values.get((name, labels), 0.0)

    def collect(self):
        with self._lock:
            values = dict(self._values)
        for spec in (TS_REQUESTS, TS_INFERENCE_US, TS_QUEUE_US, TS_REQUESTS_2XX, TS_REQUESTS_4XX, TS_REQUESTS_5XX):
            family = Metric(spec.name, spec.help, "unknown")
            for (name, labels), v in values.items():
                if name == spec.name:
                    family.add_sample(name, dict(zip(spec.labels, labels)), v)
            yield family
