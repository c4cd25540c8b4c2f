"""monitoring/rules/slo.yml: multi-window, multi-burn-rate SLO alerts generated from the SLO file.

The SLO is the one the load test gates on (loadtest/slo.yaml, read by loadtest/slo.py). It
becomes two objectives over a 30-day window:
  * availability: at most `max_error_ratio` of responses are 5xx (TorchServe's Requests5XX
    among all its responses, per namespace; kubelet probes count as successes);
  * latency: at most 5 % of handler batches take longer than `p95_ms`
    (closet_stage_seconds{stage="handler"}, per namespace and model). `p95_ms` must be a bucket
    bound of closet_stage_seconds (closet/metrics.py): the ratio reads that bucket.
Each objective gets the Google SRE workbook's alerting ("Alerting on SLOs", table 5-8): a page
when the budget burns 14.4x as fast as allowed over 1 h (and over the last 5 min) or 6x over 6 h
(and 30 min); a ticket at 3x over 1 d (and 2 h) or 1x over 3 d (and 6 h). The short window stops
the alert soon after the burn stops. Both error ratios are recorded for every window.

    python -m closet_dev.slo_rules            write monitoring/rules/slo.yml
    python -m closet_dev.slo_rules --check    exit 1 when the file differs from what would be written
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from closet.config import REPO_ROOT
from closet.metrics import STAGE_SECONDS
from closet_dev.monitoring import JOB_NAME

log = logging.getLogger(__name__)

SLO_FILE = REPO_ROOT / "loadtest" / "slo.yaml"
OUT = REPO_ROOT / "monitoring" / "rules" / "slo.yml"
RUNBOOK = "docs/runbook.md"
LATENCY_OBJECTIVE = 0.95  # p95_ms: 95 % of requests at or under it


@dataclass(frozen=True)
class BurnWindow:
    long: str
    short: str
    factor: float  # times the sustainable burn rate
    severity: str  # critical pages, warning opens a ticket


# Google SRE workbook, "Alerting on SLOs", recommended parameters for a 30-day SLO.
PAGE = (BurnWindow("1h", "5m", 14.4, "critical"), BurnWindow("6h", "30m", 6.0, "critical"))
TICKET = (BurnWindow("1d", "2h", 3.0, "warning"), BurnWindow("3d", "6h", 1.0, "warning"))
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
_SECONDS = {"m": 60, "h": 3600, "d": 86400}


def window_seconds(window: str) -> int:
    return int(window[:-1]) * _SECONDS[window[-1]]


def _num(x: float) -> str:
    """A float as PromQL reads it, without binary noise (0.15, not 0.15000000000000002)."""
    return repr(round(x, 10))


def le_label(seconds: float) -> str:
    """The `le` label value prometheus_client writes for a bucket bound (3.0 -> "3.0")."""
    from prometheus_client.utils import floatToGoString

    return floatToGoString(seconds)


def load_slo(path: Path = SLO_FILE) -> dict[str, float]:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    for key in ("p95_ms", "max_error_ratio"):
        if not isinstance(data.get(key), (int, float)) or isinstance(data.get(key), bool) or data[key] <= 0:
            raise ValueError(f"{path}: {key} must be a positive number, got {data.get(key)!r}")
    if not data["max_error_ratio"] < 1:
        raise ValueError(f"{path}: max_error_ratio must be below 1")
    return {"p95_ms": float(data["p95_ms"]), "max_error_ratio": float(data["max_error_ratio"])}


def _zero_by_namespace() -> str:
    """0 for every namespace with any TorchServe response counter: the `or` fallback of a counter
    that has not appeared yet (TorchServe creates Requests4XX/5XX at their first response).
    No function on the regex selector: rate() would drop the names and leave duplicate series."""
    return f'0 * sum by (namespace) ({{__name__=~"Requests[245]XX", job="{JOB_NAME}"}})'


def _responses_expr(w: str) -> str:
    zero = _zero_by_namespace()
    terms = [f'(sum by (namespace) (rate(Requests{c}XX{{job="{JOB_NAME}"}}[{w}])) or {zero})' for c in "245"]
    return "\n+ ".join(terms) + "\n"


def _availability_expr(w: str) -> str:
    errors = f'(sum by (namespace) (rate(Requests5XX{{job="{JOB_NAME}"}}[{w}])) or {_zero_by_namespace()})'
    return f"{errors}\n/\nclamp_min(closet:slo_responses:rate{w}, 1 / {window_seconds(w)})\n"


def _latency_expr(w: str, le: str) -> str:
    sel = f'job="{JOB_NAME}", stage="handler"'
    count = f"sum by (namespace, model_name) (rate({STAGE_SECONDS.name}_count{{{sel}}}[{w}]))"
    fast = f'sum by (namespace, model_name) (rate({STAGE_SECONDS.name}_bucket{{{sel}, le="{le}"}}[{w}]))'
    return f"({count}\n - {fast})\n/\nclamp_min({count}, 1 / {window_seconds(w)})\n"


def _alert(name: str, record: str, budget: float, windows: tuple[BurnWindow, ...], what: str, labels: str) -> dict:
    pairs = [
        f"({record}{lw.long} > {_num(lw.factor * budget)} and {record}{lw.short} > {_num(lw.factor * budget)})"
        for lw in windows
    ]
    burn = " or ".join(f"{lw.factor:g}x over {lw.long} (and {lw.short})" for lw in windows)
    sli = "of responses are 5xx" if what == "availability" else "of handler batches miss the latency objective"
    return {
        "alert": name,
        "expr": "\n  or\n".join(pairs) + "\n",
        "for": "2m" if windows[0].severity == "critical" else "15m",
        "labels": {"severity": windows[0].severity, "slo": what},
        "annotations": {
            "summary": f"{labels}: {{{{ $value | humanizePercentage }}}} {sli} (budget {budget * 100:g} %)",
            "description": (
                f"The {what} error budget burns faster than it may: {burn} the sustainable rate. At "
                f"{windows[0].factor:g}x a 30-day budget lasts {30 / windows[0].factor:.1f} days."
            ),
            "runbook_url": f"{RUNBOOK}#{name.lower()}",
        },
    }


def render(slo: dict[str, float], source: str = "loadtest/slo.yaml") -> str:
    threshold_s = slo["p95_ms"] / 1000
    if threshold_s not in STAGE_SECONDS.buckets:
        raise ValueError(
            f"p95_ms={slo['p95_ms']:g} is not a bucket bound of {STAGE_SECONDS.name} {STAGE_SECONDS.buckets} "
            "(closet/metrics.py): the latency ratio could not be read exactly"
        )
    le = le_label(threshold_s)
    err_budget, slow_budget = slo["max_error_ratio"], 1 - LATENCY_OBJECTIVE
    rules: list[dict] = []
    for w in WINDOWS:
        rules.append({"record": f"closet:slo_responses:rate{w}", "expr": _responses_expr(w)})
    for w in WINDOWS:
        rules.append({"record": f"closet:slo_errors:ratio_rate{w}", "expr": _availability_expr(w)})
    for w in WINDOWS:
        rules.append({"record": f"closet:slo_slow:ratio_rate{w}", "expr": _latency_expr(w, le)})
    ns = "{{ $labels.namespace }}"
    model = "{{ $labels.namespace }}/{{ $labels.model_name }}"
    rules += [
        _alert("ClosetErrorBudgetBurnFast", "closet:slo_errors:ratio_rate", err_budget, PAGE, "availability", ns),
        _alert("ClosetErrorBudgetBurnSlow", "closet:slo_errors:ratio_rate", err_budget, TICKET, "availability", ns),
        _alert("ClosetLatencyBudgetBurnFast", "closet:slo_slow:ratio_rate", slow_budget, PAGE, "latency", model),
        _alert("ClosetLatencyBudgetBurnSlow", "closet:slo_slow:ratio_rate", slow_budget, TICKET, "latency", model),
    ]
    header = (
        f"# GENERATED by `make slo-rules` (closet_dev/slo_rules.py) from {source}. Do not edit.\n"
        f"# SLO: at most {err_budget * 100:g} % of responses 5xx; {LATENCY_OBJECTIVE * 100:g} % of handler batches\n"
        f'# within {threshold_s:g} s (closet_stage_seconds le="{le}"). Multi-window, multi-burn-rate alerts\n'
        "# (Google SRE workbook), 30-day budget; unit tests: monitoring/tests/slo.test.yml.\n"
    )
    body = yaml.dump({"groups": [{"name": "closet-slo", "rules": rules}]}, Dumper=_Dumper, sort_keys=False, width=120)
    return header + body


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as `|` blocks, so the expressions read as they are written."""


def _str(dumper: yaml.SafeDumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m closet_dev.slo_rules", description=__doc__.splitlines()[0])
    ap.add_argument("--slo", default=str(SLO_FILE), help="SLO file (default loadtest/slo.yaml)")
    ap.add_argument("--check", action="store_true", help="fail when monitoring/rules/slo.yml is not current")
    args = ap.parse_args(argv)
    slo_path = Path(args.slo)
    source = (
        str(slo_path.resolve().relative_to(REPO_ROOT))
        if slo_path.resolve().is_relative_to(REPO_ROOT)
        else str(slo_path)
    )
    text = render(load_slo(slo_path), source)
    if args.check:
        if not OUT.is_file() or OUT.read_text(encoding="utf-8") != text:
            log.error("%s is not generated from %s: run `make slo-rules`", OUT.relative_to(REPO_ROOT), source)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    log.info("wrote %s", OUT.relative_to(REPO_ROOT))
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sys.exit(main())
