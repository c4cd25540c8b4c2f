"""Every custom Prometheus metric closet emits, defined once.

The handlers record through PipelineMetrics; `make config` writes the
`model_metrics` section of config/metrics.yaml (TorchServe's metrics_config)
from METRICS, and the Prometheus rules and Grafana dashboard are checked
against these names. TorchServe 0.12 exports histogram buckets 0.005..10
whatever the unit, so latencies are recorded in seconds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)

MODEL_LABEL = "model_name"


@dataclass(frozen=True)
class MetricSpec:
    name: str
    type: str  # counter | gauge | histogram (TorchServe MetricTypes values)
    unit: str
    labels: tuple[str, ...]
    help: str


STAGE_SECONDS = MetricSpec(
    "closet_stage_seconds", "histogram", "Seconds", (MODEL_LABEL, "stage"),
    "Wall time of one pipeline stage for one batch (decode, segmentation, parsing, translation, composite, encode).",
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
STAGES = ("decode", "segmentation", "parsing", "translation", "composite", "encode")


class PipelineMetrics:
    """Records closet metrics through TorchServe's metric cache (context.metrics).

    Metrics must be declared in the metrics_config yaml to reach /metrics; this
    class only looks them up and updates them. Without a metrics cache (unit
    tests with a bare context) it records into `self.recorded` instead.
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
            from ts.metrics.metric_type_enum import MetricTypes  # only inside a TorchServe worker

            metric = self._cache.get_metric(spec.name, MetricTypes(spec.type))
            metric.add_or_update(value, list(dims))
        except Exception:  # a metric must never fail a request
            log.warning("could not record metric %s", spec.name, exc_info=True)

    def stage(self, stage: str, seconds: float) -> None:
        self._update(STAGE_SECONDS, seconds, stage)

    def request(self, target: str, mode: str) -> None:
        self._update(REQUESTS, 1, target, mode)

    def error(self, reason: str) -> None:
        self._update(ERRORS, 1, reason)

    def input_megapixels(self, megapixels: float) -> None:
        self._update(INPUT_MEGAPIXELS, megapixels)

    def batch_size(self, n: int) -> None:
        self._update(BATCH_SIZE, n)

    def parser(self, name: str) -> None:
        self._update(PARSER, 1, name)
