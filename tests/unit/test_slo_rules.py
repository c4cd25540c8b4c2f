"""monitoring/rules/slo.yml is generated from the SLO file: current, derived from its numbers, readable."""

from __future__ import annotations

import pytest
import yaml

from closet.metrics import STAGE_SECONDS
from closet_dev import slo_rules


def generated(slo: dict) -> dict:
    return {r.get("alert") or r["record"]: r for r in yaml.safe_load(slo_rules.render(slo))["groups"][0]["rules"]}


def test_rule_file_is_current():
    assert slo_rules.OUT.read_text(encoding="utf-8") == slo_rules.render(slo_rules.load_slo()), "run `make slo-rules`"


def test_promtool_scenarios_match_the_slo_file():
    """monitoring/tests/slo.test.yml's inputs are sized for these budgets; a new SLO needs new scenarios."""
    assert slo_rules.load_slo() == {"p95_ms": 3000.0, "max_error_ratio": 0.01}


def test_thresholds_follow_the_slo_numbers():
    """Another SLO file gives other thresholds: 14.4x, 6x, 3x and 1x of each budget."""
    rules = generated({"p95_ms": 1000.0, "max_error_ratio": 0.001})
    fast, slow = rules["ClosetErrorBudgetBurnFast"]["expr"], rules["ClosetErrorBudgetBurnSlow"]["expr"]
    assert "closet:slo_errors:ratio_rate1h > 0.0144 and closet:slo_errors:ratio_rate5m > 0.0144" in fast
    assert "closet:slo_errors:ratio_rate6h > 0.006 and closet:slo_errors:ratio_rate30m > 0.006" in fast
    assert "closet:slo_errors:ratio_rate1d > 0.003 and closet:slo_errors:ratio_rate2h > 0.003" in slow
    assert "closet:slo_errors:ratio_rate3d > 0.001 and closet:slo_errors:ratio_rate6h > 0.001" in slow
    latency = rules["ClosetLatencyBudgetBurnFast"]["expr"]
    assert "closet:slo_slow:ratio_rate1h > 0.72 and closet:slo_slow:ratio_rate5m > 0.72" in latency
    assert 'le="1.0"' in rules["closet:slo_slow:ratio_rate5m"]["expr"]
    assert {r["labels"]["severity"] for n, r in rules.items() if n.endswith("Fast")} == {"critical"}
    assert {r["labels"]["severity"] for n, r in rules.items() if n.endswith("Slow")} == {"warning"}


def test_every_window_is_recorded_once_per_sli():
    rules = generated(slo_rules.load_slo())
    for w in slo_rules.WINDOWS:
        for sli in ("slo_responses:rate", "slo_errors:ratio_rate", "slo_slow:ratio_rate"):
            assert f"closet:{sli}{w}" in rules
    used = {w for bw in slo_rules.PAGE + slo_rules.TICKET for w in (bw.long, bw.short)}
    assert used == set(slo_rules.WINDOWS)


def test_latency_threshold_must_be_a_bucket_bound():
    assert 3.0 in STAGE_SECONDS.buckets and slo_rules.le_label(3.0) == "3.0"
    with pytest.raises(ValueError, match="not a bucket bound"):
        slo_rules.render({"p95_ms": 2500.0, "max_error_ratio": 0.01})


@pytest.mark.parametrize(
    "text", ["p95_ms: 3000\n", "p95_ms: 3000\nmax_error_ratio: 1.5\n", "p95_ms: -1\nmax_error_ratio: 0.01\n"]
)
def test_bad_slo_files_are_refused(tmp_path, text):
    f = tmp_path / "slo.yaml"
    f.write_text(text)
    with pytest.raises(ValueError):
        slo_rules.load_slo(f)
