"""The SLO gate: thresholds from an SLO file, judged against a finished run's totals.

Pure functions (no Locust import), so the tests check the judging itself and the locustfile
calls the same code in its `quitting` handler. SLO file (YAML):

    p95_ms: 2000            # 95th percentile latency of all requests, milliseconds (<=)
    max_error_ratio: 0.01   # failed / all requests (<=); a 200 with a broken image counts as failed
    min_rps: 5              # completed requests per second over the run (>=)
    min_requests: 50        # optional: a run with fewer requests proves nothing (>=)
    flavor: gpu             # optional: the image flavour (cpu/gpu) the thresholds are sized for;
                            # not a threshold: CI pairs it with the environment's flavour
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

KEYS = {"p95_ms", "max_error_ratio", "min_rps", "min_requests"}
REQUIRED = {"p95_ms", "max_error_ratio", "min_rps"}
FLAVORS = ("cpu", "gpu")


@dataclass(frozen=True)
class Check:
    name: str  # SLO key, e.g. p95_ms
    measured: float
    threshold: float
    ok: bool

    def line(self) -> str:
        op = "<=" if self.name in ("p95_ms", "max_error_ratio") else ">="
        verdict = "ok" if self.ok else "MISSED"
        return f"SLO {self.name}: measured {self.measured:.4g} {op} {self.threshold:.4g}: {verdict}"


def _read(path: str | Path) -> dict:
    import yaml

    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: an SLO file is a mapping of {sorted(KEYS)}")
    return data


def flavor(path: str | Path) -> str | None:
    """The image flavour (cpu/gpu) an SLO file declares it is sized for, or None."""
    value = _read(path).get("flavor")
    if value is not None and value not in FLAVORS:
        raise ValueError(f"{path}: flavor must be one of {FLAVORS}, got {value!r}")
    return value


def load(path: str | Path) -> dict[str, float]:
    """The thresholds of an SLO file (its `flavor`, checked, is left out)."""
    flavor(path)
    data = {k: v for k, v in _read(path).items() if k != "flavor"}
    unknown, missing = set(data) - KEYS, REQUIRED - set(data)
    if unknown or missing:
        raise ValueError(f"{path}: unknown SLO keys {sorted(unknown)}, missing {sorted(missing)}")
    out = {}
    for k, v in data.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            raise ValueError(f"{path}: SLO {k} must be a non-negative number, got {v!r}")
        out[k] = float(v)
    return out


def judge(slo: dict[str, float], p95_ms: float, error_ratio: float, rps: float, requests: int) -> list[Check]:
    checks = [
        Check("p95_ms", p95_ms, slo["p95_ms"], p95_ms <= slo["p95_ms"]),
        Check("max_error_ratio", error_ratio, slo["max_error_ratio"], error_ratio <= slo["max_error_ratio"]),
        Check("min_rps", rps, slo["min_rps"], rps >= slo["min_rps"]),
    ]
    if "min_requests" in slo:
        checks.append(Check("min_requests", requests, slo["min_requests"], requests >= slo["min_requests"]))
    return checks


def junit(checks: list[Check], suite: str = "closet-slo") -> str:
    """JUnit XML, one testcase per SLO (GitLab shows it as the job's test report)."""
    fails = sum(not c.ok for c in checks)
    cases = []
    for c in checks:
        inner = "" if c.ok else f"<failure message={quoteattr(c.line())}>{escape(c.line())}</failure>"
        cases.append(f'  <testcase classname="{suite}" name="{c.name}">{inner}</testcase>')
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="{suite}" tests="{len(checks)}" '
            f'failures="{fails}">\n' + "\n".join(cases) + "\n</testsuite>\n")


BEGIN, END = "--- slo-junit.xml begin ---\n", "--- slo-junit.xml end ---"


def junit_from_log(text: str) -> str | None:
    """The JUnit XML a master printed with CLOSET_SLO_JUNIT_STDOUT=1 (the in-cluster run), or None."""
    if BEGIN not in text:
        return None
    return text.split(BEGIN, 1)[1].split(END, 1)[0]


if __name__ == "__main__":
    # python loadtest/slo.py junit-from-log loadtest/reports/locust-master.log > loadtest/reports/slo-junit.xml
    import sys

    if len(sys.argv) != 3 or sys.argv[1] != "junit-from-log":
        sys.exit("usage: slo.py junit-from-log MASTER_LOG")
    xml = junit_from_log(Path(sys.argv[2]).read_text(encoding="utf-8", errors="replace"))
    if xml is None:
        sys.exit(f"{sys.argv[2]}: no SLO verdicts (did the master run to the end?)")
    sys.stdout.write(xml)
