"""config/closet.yaml -> generated TorchServe files (closet_dev.configgen)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from closet import config as closet_config
from closet.metrics import METRICS
from closet_dev import configgen


@pytest.fixture(scope="module")
def cfg():
    return closet_config.load(closet_config.DEFAULT_PATH)


def props(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.split("=", 1)
            assert k not in out, f"{k} set twice"
            out[k] = v
    return out


def test_generated_files_do_not_drift():
    r = subprocess.run([sys.executable, "-m", "closet_dev.configgen", "--check"], capture_output=True, text=True,
                       cwd=closet_config.REPO_ROOT)  # fmt: skip
    assert r.returncode == 0, f"run `make config`: {r.stderr}"


def test_local_properties(cfg):
    p = props(configgen.render_properties(cfg, "local"))
    s = cfg.server
    assert p["inference_address"] == f"http://127.0.0.1:{s.inference_port}"
    assert p["management_address"] == f"http://127.0.0.1:{s.management_port}"
    assert p["metrics_address"] == f"http://127.0.0.1:{s.metrics_port}"
    assert p["metrics_mode"] == "prometheus" and p["metrics_config"] == configgen.METRICS_CONFIG_PATH
    assert p["disable_token_authorization"] == "true" and p["enable_model_api"] == "false"
    assert (int(p["max_request_size"]), int(p["max_response_size"])) == (s.max_request_size, s.max_response_size)
    assert p["load_models"].split(",") == [f"{n}.mar" for n in cfg.models] and p["model_store"] == "model-store"
    assert p["allowed_urls"].startswith("file://") and "http" not in p["allowed_urls"]
    assert p["vmargs"] == s.jvm_options
    # One layer: per-model knobs live in the MAR's model-config.yaml only.
    assert "models" not in p and "model_snapshot" not in p


def test_jvm_options_are_a_string_and_empty_means_no_vmargs():
    raw = yaml.safe_load(closet_config.DEFAULT_PATH.read_text(encoding="utf-8"))
    raw["server"]["jvm_options"] = ["-XX:+UseSerialGC"]
    with pytest.raises(closet_config.ConfigError, match="server.jvm_options"):
        closet_config.parse(raw)
    raw["server"]["jvm_options"] = ""
    assert "vmargs" not in props(configgen.render_properties(closet_config.parse(raw), "local"))


def test_variants_bind_and_paths(cfg):
    helm = props(configgen.render_properties(cfg, "helm"))
    assert helm["inference_address"].startswith("http://0.0.0.0:")
    assert helm["metrics_address"].startswith("http://0.0.0.0:")
    assert helm["management_address"].startswith("http://127.0.0.1:")
    ks = props(configgen.render_properties(cfg, "kserve"))
    # No TorchServe envelope: it answers only a batch's first request; the handlers speak KServe JSON.
    assert "service_envelope" not in ks and ks["model_store"] == "/mnt/models/model-store"
    assert ks["inference_address"].endswith(f":{configgen.KSERVE_INFERENCE_PORT}")
    assert ks["management_address"].startswith("http://127.0.0.1:")
    snapshot = __import__("json").loads(ks["model_snapshot"])
    for name, m in cfg.models.items():
        entry = snapshot["models"][name][configgen.MODEL_VERSION]
        assert entry["marName"] == f"{name}.mar" and entry["batchSize"] == m.batch_size
    with pytest.raises(ValueError):
        configgen.render_properties(cfg, "docker")


def test_port_overrides(cfg):
    p = props(configgen.render_properties(cfg, "local", ports={"inference": 1234, "grpc_management": 4321},
                                          model_store="/tmp/store"))  # fmt: skip
    assert p["inference_address"].endswith(":1234") and p["grpc_management_port"] == "4321"
    assert p["model_store"] == "/tmp/store" and p["allowed_urls"] == "file:///tmp/store/[A-Za-z0-9_-]+\\\\.mar"
    with pytest.raises(ValueError):
        configgen.render_properties(cfg, "local", ports={"admin": 1})


def test_model_configs(cfg):
    for name, m in cfg.models.items():
        y = yaml.safe_load(configgen.render_model_config(m))
        assert y == {"minWorkers": m.min_workers, "maxWorkers": m.max_workers, "batchSize": m.batch_size,
                     "maxBatchDelay": m.max_batch_delay_ms, "responseTimeout": m.response_timeout_s}  # fmt: skip
        assert configgen.model_config_path(name).endswith(f"{name}-model-config.yaml")


def test_metrics_config_declares_every_closet_metric_torchserve_serves():
    y = yaml.safe_load(configgen.render_metrics_config())
    assert "ts_inference_requests_total" in [m["name"] for m in y["ts_metrics"]["counter"]]
    declared = {m["name"]: (kind, m["dimensions"]) for kind, ms in y["model_metrics"].items() for m in ms}
    for spec in METRICS:
        if spec.served_by_worker:  # closet/serving/worker_metrics.py serves it, with its own buckets
            assert spec.name not in declared
        else:
            assert declared[spec.name] == (spec.type, list(spec.labels))
