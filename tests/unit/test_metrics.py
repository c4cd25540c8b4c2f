"""closet.metrics without a server: bounded labels, the metrics_config TorchServe reads, names used elsewhere."""

from __future__ import annotations

import yaml

from closet import metrics
from closet.config import REPO_ROOT
from closet.errors import REASONS
from closet.metrics import METRICS, OTHER, STAGES, PipelineMetrics
from closet_dev import configgen


def test_latency_buckets_resolve_50ms_to_60s():
    """closet's latencies (10 ms decode .. ~20 s CPU request) fall inside the buckets, with room to 60 s."""
    b = metrics.STAGE_SECONDS.buckets
    assert list(b) == sorted(set(b))
    assert b[0] <= 0.05 and b[-1] == 60.0
    assert sum(1 for x in b if 0.05 <= x <= 60.0) >= 12  # at least 12 bounds across that range
    assert all(hi / lo <= 2.5 for lo, hi in zip(b, b[1:]))  # no gap wider than 2.5x


def test_names_carry_units_and_model_label():
    for spec in METRICS:
        assert spec.name.startswith("closet_")
        assert spec.name.endswith(("_seconds", "_total", "_megapixels", "_size")), spec.name
        assert spec.labels[0] == metrics.MODEL_LABEL
        assert (spec.type == "counter") == spec.name.endswith("_total")
        assert spec.type in ("counter", "gauge", "histogram")
    assert len({s.name for s in METRICS}) == len(METRICS)


def test_label_values_are_bounded():
    m = PipelineMetrics(None, "segmentation")
    m.stage("decode", 0.01)
    m.stage("../../etc/passwd", 0.01)  # a handler bug: not a known stage
    m.error("no_person")
    m.error("KeyError('x')")
    m.request("hoodie", "swap")
    m.request("A" * 500, "swap\n")
    m.parser("schp")
    m.stage("segmentation", -1.0)  # clock skew never yields a negative observation
    labels = [dims for _, _, dims in m.recorded]
    assert labels[0] == ("segmentation", "decode")
    assert labels[1] == ("segmentation", OTHER)
    assert labels[2] == ("segmentation", "no_person")
    assert labels[3] == ("segmentation", OTHER)
    assert labels[4] == ("segmentation", "hoodie", "swap")
    assert labels[5] == ("segmentation", OTHER, "swap")
    assert m.recorded[-1][1] == 0.0
    for name, _, dims in m.recorded:
        spec = next(s for s in METRICS if s.name == name)
        assert len(dims) == len(spec.labels)
    assert set(REASONS) >= {"bad_image", "internal"} and "handler" in STAGES


def test_records_through_a_torchserve_metric_cache(tmp_path):
    """The real ts.metrics cache built from the metrics_config `make config` writes accepts every update."""
    from ts.metrics.metric_cache_yaml_impl import MetricsCacheYamlImpl
    from ts.metrics.metric_type_enum import MetricTypes

    cfg = tmp_path / "metrics.yaml"
    cfg.write_text(configgen.render_metrics_config(), encoding="utf-8")
    cache = MetricsCacheYamlImpl(config_file_path=str(cfg))
    cache.initialize_cache()
    emitted = []
    for spec in METRICS:
        if spec.served_by_worker:
            continue
        cached = cache.get_metric(spec.name, MetricTypes(spec.type))
        cached.emit_metrics = lambda rid, value, dims, name=spec.name: emitted.append((name, value, dims))
    m = PipelineMetrics(cache, "translation")
    m.stage("translation", 0.5)
    m.request("hoodie", "swap")
    m.error("bad_image")
    m.input_megapixels(0.26)
    m.batch_size(3)
    m.parser("schp")
    assert [e[0] for e in emitted] == [s.name for s in (metrics.REQUESTS, metrics.ERRORS,
                                                        metrics.INPUT_MEGAPIXELS, metrics.BATCH_SIZE, metrics.PARSER)]
    assert emitted[0][2] == "model_name:translation,target:hoodie,mode:swap"


def test_stage_seconds_goes_to_the_worker_histogram():
    """With a TorchServe cache present, the stage histogram is observed by prometheus_client with
    closet's buckets (TorchServe's cache never sees it: it is not in the metrics_config)."""
    hist = metrics.worker_histogram(metrics.STAGE_SECONDS)

    def bucket(le: str) -> float:
        (family,) = hist.collect()
        return sum(s.value for s in family.samples if s.name.endswith("_bucket") and s.labels.get("le") == le
                   and s.labels.get("stage") == "composite" and s.labels.get("model_name") == "unit")

    class NoCache:  # any call would mean the histogram went to TorchServe's cache
        def get_metric(self, *a):
            raise AssertionError("stage_seconds must not go through TorchServe's metric cache")

    before = (bucket("2.0"), bucket("3.0"), bucket("60.0"))
    PipelineMetrics(NoCache(), "unit").stage("composite", 2.5)  # between the 2 s and 3 s bounds
    assert (bucket("2.0"), bucket("3.0"), bucket("60.0")) == (before[0], before[1] + 1, before[2] + 1)
    assert metrics.worker_histogram(metrics.STAGE_SECONDS) is hist  # one object per process


def test_generated_metrics_config_declares_exactly_closet_metrics():
    """config/metrics.yaml (make config) carries every METRICS entry with its type, unit and dimensions."""
    data = yaml.safe_load((REPO_ROOT / configgen.METRICS_CONFIG_PATH).read_text(encoding="utf-8"))
    declared = {
        e["name"]: (kind, e["unit"], tuple(e["dimensions"]))
        for kind, entries in data["model_metrics"].items()
        for e in entries
        if e["name"].startswith("closet_")
    }
    assert declared == {s.name: (s.type, s.unit, s.labels) for s in METRICS if not s.served_by_worker}
    # The worker port's histograms are not declared: TorchServe would export a second, coarse copy.
    assert not {s.name for s in METRICS if s.served_by_worker} & declared.keys()
    # The TorchServe metrics the rules read must stay declared, with the labels closet.metrics records.
    ts = {e["name"]: (kind, tuple(e["dimensions"])) for kind, entries in data["ts_metrics"].items() for e in entries}
    for m in metrics.TS_METRICS:
        assert ts[m.name] == (m.type, m.labels), m.name
