"""Prometheus rules: promtool checks and unit tests, and the metric names they read."""

from __future__ import annotations

import shutil
import subprocess

import yaml

from closet.metrics import CLUSTER_ONLY_PREFIXES, EXPORTED
from closet_dev import monitoring

PROMTOOL = shutil.which("promtool")


def promtool(*args: str) -> subprocess.CompletedProcess:
    assert PROMTOOL, "promtool is not installed: run `make prometheus` (make test does)"
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120)


def test_promtool_check_rules():
    r = promtool("check", "rules", *map(str, monitoring.RULE_FILES))
    assert r.returncode == 0, r.stdout + r.stderr


def test_promtool_unit_tests_fire_and_stay_quiet():
    r = promtool("test", "rules", *map(str, monitoring.PROMTOOL_TESTS))
    assert r.returncode == 0, r.stdout + r.stderr
    # Every alert has a case where it fires and one where it must not.
    tests = [t for f in monitoring.PROMTOOL_TESTS for t in yaml.safe_load(f.read_text(encoding="utf-8"))["tests"]]
    cases = [c for t in tests for c in t.get("alert_rule_test", [])]
    for rule in monitoring.rules():
        if rule.kind != "alert":
            continue
        mine = [c for c in cases if c["alertname"] == rule.name]
        assert any(c["exp_alerts"] for c in mine), f"{rule.name}: no test where it fires"
        assert any(not c["exp_alerts"] for c in mine), f"{rule.name}: no test where it stays quiet"


def test_rendered_prometheus_config_is_valid(tmp_path):
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(monitoring.render_prometheus_config(["127.0.0.1:8082", "127.0.0.1:18082"], "2s"), encoding="utf-8")
    r = promtool("check", "config", str(cfg))
    assert r.returncode == 0, r.stdout + r.stderr
    loaded = yaml.safe_load(cfg.read_text(encoding="utf-8"))
    assert loaded["scrape_configs"][0]["static_configs"][0]["targets"] == ["127.0.0.1:8082", "127.0.0.1:18082"]
    assert loaded["scrape_configs"][0]["job_name"] == monitoring.JOB_NAME


def test_rules_read_only_known_metric_names():
    """Rule expressions use closet.metrics names (or other rules, `up`, cluster exporters)."""
    records = {r.name for r in monitoring.rules() if r.kind == "record"}
    for rule in monitoring.rules():
        for name in monitoring.metric_names(rule.expr):
            base = name
            for suffix in ("_bucket", "_sum", "_count"):
                if name.endswith(suffix) and EXPORTED.get(name[: -len(suffix)], ("",))[0] == "histogram":
                    base = name[: -len(suffix)]
            assert base in EXPORTED or base in records or base == "up" or base.startswith(CLUSTER_ONLY_PREFIXES), (
                f"{rule.name} reads {name}, which closet/metrics.py does not define"
            )


def test_rule_files_are_plain_rule_groups():
    """What a PrometheusRule's spec.groups takes: groups of {name, rules} and nothing else."""
    names = set()
    for f in monitoring.RULE_FILES:
        data = yaml.safe_load(f.read_text(encoding="utf-8"))
        assert set(data) == {"groups"}, f
        for g in data["groups"]:
            assert set(g) <= {"name", "rules", "interval"}, (f, g)
            assert g["name"] not in names
            names.add(g["name"])
            for r in g["rules"]:
                assert set(r) <= {"record", "alert", "expr", "for", "labels", "annotations"}, r


def test_autoscaling_signal_defined_once():
    rule = monitoring.autoscaling_rule()
    assert rule.name == "closet:queue_time_per_request_seconds:rate1m"
    assert {"ts_queue_latency_microseconds", "ts_inference_requests_total"} == monitoring.metric_names(rule.expr)
    # No other rule file retypes the query.
    others = [r for r in monitoring.rules() if r.kind == "record" and r.name == rule.name]
    assert len(others) == 1
