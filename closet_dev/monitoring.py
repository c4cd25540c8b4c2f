"""Prometheus/Grafana plumbing: the monitoring/ files, a local Prometheus, PromQL over HTTP.

monitoring/ is the single source of the Prometheus config template, the rule files
and the Grafana dashboard; `make monitor`, the tests, tools/dashboard_snapshot.py
and the Helm chart (via helm/closet/files) all read these paths.

    python -m closet_dev.monitoring config --target 127.0.0.1:8082 --out .cache/prometheus/prometheus.yml
    python -m closet_dev.monitoring autoscaling      # prints the autoscaling record name and expr
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import signal
import string
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import yaml

from closet.config import REPO_ROOT
from closet_dev.torchserve import free_ports

log = logging.getLogger(__name__)

MONITORING_DIR = REPO_ROOT / "monitoring"
RULES_DIR = MONITORING_DIR / "rules"
# Order matters only for reading: alerts use the recording rules of the other files. slo.yml is
# generated from the SLO file (closet_dev/slo_rules.py).
RULE_FILES = (
    RULES_DIR / "recording.yml", RULES_DIR / "autoscaling.yml", RULES_DIR / "alerts.yml", RULES_DIR / "slo.yml",
)
AUTOSCALING_RULES = RULES_DIR / "autoscaling.yml"
PROMETHEUS_TEMPLATE = MONITORING_DIR / "prometheus.yml"
PROMTOOL_TESTS = (MONITORING_DIR / "tests" / "alerts.test.yml", MONITORING_DIR / "tests" / "slo.test.yml")
DASHBOARD = MONITORING_DIR / "grafana" / "closet.json"
# The scrape job of every closet metrics endpoint; the chart's ServiceMonitor yields the same job
# (jobLabel: app.kubernetes.io/part-of), and ClosetTargetDown and the SLO rules select it.
JOB_NAME = "closet"

# What the dashboard's Grafana variables become when its queries run outside Grafana.
GRAFANA_DEFAULTS = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "5m",
    "model": ".*",
    "namespace": ".*",
    "datasource": "prometheus",
}


def render_prometheus_config(
    targets: str | list[str], scrape_interval: str = "5s", rules_dir: Path = RULES_DIR
) -> str:
    """monitoring/prometheus.yml with its placeholders filled (rule file paths made absolute).

    Args:
        targets: host:port of one or more TorchServe metrics APIs.
        scrape_interval: Prometheus duration; also the rule evaluation interval.
    """
    if isinstance(targets, str):
        targets = [targets]
    tmpl = string.Template(PROMETHEUS_TEMPLATE.read_text(encoding="utf-8"))
    return tmpl.substitute(
        metrics_targets=", ".join(json.dumps(t) for t in targets),
        scrape_interval=scrape_interval,
        rules_dir=str(Path(rules_dir).resolve()),
        job=JOB_NAME,
    )


@dataclass(frozen=True)
class Rule:
    group: str
    kind: str  # record | alert
    name: str
    expr: str


def rules(files=RULE_FILES) -> list[Rule]:
    """Every rule in the rule files, in order."""
    out = []
    for f in files:
        data = yaml.safe_load(Path(f).read_text(encoding="utf-8"))
        for group in data["groups"]:
            for r in group["rules"]:
                kind = "record" if "record" in r else "alert"
                out.append(Rule(group["name"], kind, r[kind], r["expr"].strip()))
    return out


def autoscaling_rule() -> Rule:
    """The one autoscaling signal (monitoring/rules/autoscaling.yml): what Helm and the autoscale test use."""
    (rule,) = rules([AUTOSCALING_RULES])
    return rule


@dataclass(frozen=True)
class PanelQuery:
    panel: str
    ref_id: str
    expr: str


def dashboard_queries(path: Path = DASHBOARD) -> list[PanelQuery]:
    """Every PromQL target of the dashboard (panels nested in rows included)."""
    dash = json.loads(Path(path).read_text(encoding="utf-8"))
    out = []

    def walk(panels):
        for p in panels:
            walk(p.get("panels", []))
            for t in p.get("targets", []):
                if t.get("expr"):
                    out.append(PanelQuery(p.get("title", ""), t.get("refId", ""), t["expr"]))

    walk(dash.get("panels", []))
    return out


def grafana_substitute(expr: str, values: dict[str, str] | None = None) -> str:
    """Replace Grafana variables ($x, ${x}, [[x]]) so the expression runs against Prometheus directly."""
    vals = {**GRAFANA_DEFAULTS, **(values or {})}

    def repl(m: re.Match) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        if name not in vals:
            raise KeyError(f"no value for Grafana variable ${name} in {expr!r}")
        return vals[name]

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]", repl, expr)


_PROMQL_WORDS = {
    # functions, aggregations and keywords used in closet's expressions (extend when a new one appears)
    "rate", "irate", "increase", "changes", "deriv", "delta", "histogram_quantile", "clamp_min", "clamp_max",
    "sum", "avg", "count", "min", "max", "abs", "absent", "label_replace", "by", "without", "on", "ignoring",
    "group_left", "group_right", "and", "or", "unless", "offset", "bool", "topk", "bottomk", "vector", "scalar",
    "time", "max_over_time", "min_over_time", "avg_over_time",
}


def metric_names(expr: str) -> set[str]:
    """Metric (and recording rule) names a PromQL expression selects.

    A small lexer, enough for closet's rules and dashboard: string literals, label matchers
    `{...}`, ranges `[...]` and grouping label lists `by (...)` are dropped, then every
    identifier that is not a function or keyword is a metric name. Raises ValueError on a word
    it does not know as a function (followed by "(") so a new function is added on purpose.
    """
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    names = set()
    for m in re.finditer(r"(?<![\w.])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?", s):
        word, call = m.group(1), m.group(2)
        if word in _PROMQL_WORDS:
            continue
        if call:
            raise ValueError(f"unknown PromQL function {word!r} in {expr!r}")
        if re.fullmatch(r"\d+(e\d+)?|[0-9.]+[smhdwy]", word) or word in ("e", "Inf", "NaN"):
            continue
        names.add(word)
    return names


# ---------------------------------------------------------------- a local Prometheus
def prometheus_binary() -> str:
    exe = shutil.which("prometheus")
    if not exe:
        raise FileNotFoundError("prometheus is not installed: apt-get install -y prometheus (make prometheus)")
    return exe


class Prometheus:
    """Client for a Prometheus HTTP API (instant and range queries)."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")

    def _get(self, path: str, params: dict, attempts: int = 3) -> dict:
        q = urllib.parse.urlencode(params)
        for attempt in range(attempts):
            try:
                with urllib.request.urlopen(f"{self.url}{path}?{q}", timeout=30) as r:
                    return json.loads(r.read())
            except urllib.error.HTTPError as e:  # 400/422 carry the PromQL error as JSON
                return json.loads(e.read() or b"{}") or {"status": "error", "error": str(e)}
            except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
                # A loaded machine can stall a local Prometheus for seconds; retry, then report.
                if attempt == attempts - 1:
                    return {"status": "error", "error": f"{type(e).__name__}: {e}"}
                time.sleep(1)
        raise AssertionError("unreachable")

    def query(self, expr: str, at: float | None = None) -> dict:
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        return self._get("/api/v1/query", params)

    def query_range(self, expr: str, start: float, end: float, step: float) -> dict:
        return self._get("/api/v1/query_range", {"query": expr, "start": start, "end": end, "step": step})

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def targets_up(self) -> bool:
        data = self._get("/api/v1/targets", {})
        active = data.get("data", {}).get("activeTargets", [])
        return bool(active) and all(t.get("health") == "up" for t in active)

    def rules_evaluated(self) -> bool:
        data = self._get("/api/v1/rules", {})
        groups = data.get("data", {}).get("groups", [])
        return bool(groups) and all(g.get("lastEvaluation", "").startswith("20") for g in groups)


def scrape_targets(server) -> list[str]:
    """host:port of each metrics endpoint a closet_dev.launcher.Server (or a TorchServeSession) exposes: TorchServe's
    and, when served, the workers' own-bucket histograms."""
    urls = [server.metrics_url, getattr(server, "worker_metrics_url", None)]
    return [u.split("://", 1)[-1] for u in urls if u]


@contextmanager
def run_prometheus(
    targets: str | list[str], workdir: Path, port: int | None = None, scrape_interval: str = "1s", timeout_s: float = 90.0
) -> Iterator[Prometheus]:
    """Start Prometheus on 127.0.0.1 scraping `targets` with the rule files loaded; stop it afterwards."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / "prometheus.yml"
    cfg.write_text(render_prometheus_config(targets, scrape_interval), encoding="utf-8")
    port = port or free_ports(1)[0]
    cmd = [
        prometheus_binary(),
        f"--config.file={cfg}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    logf = open(workdir / "prometheus.log", "ab")
    proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
    prom = Prometheus(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + timeout_s
        while not prom.ready():
            if proc.poll() is not None:
                raise RuntimeError(f"prometheus exited with {proc.returncode}; see {workdir / 'prometheus.log'}")
            if time.monotonic() > deadline:
                raise TimeoutError("prometheus did not become ready")
            time.sleep(0.2)
        yield prom
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        logf.close()


def wait_for(predicate, timeout_s: float, interval_s: float = 0.5, what: str = "condition"):
    """Poll `predicate` until it returns a truthy value; that value, or TimeoutError."""
    deadline = time.monotonic() + timeout_s
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(interval_s)


# ---------------------------------------------------------------- a probe TorchServe and a load run
PROBE_HANDLER = MONITORING_DIR / "probe_handler.py"
PROBE_MODEL = "probe"


def build_probe_mar(store: Path) -> Path:
    """<store>/probe.mar: monitoring/probe_handler.py plus the closet-manifest.json ClosetHandler checks."""
    import hashlib
    import tempfile

    store = Path(store)
    store.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(PROBE_HANDLER.read_bytes()).hexdigest()
    with tempfile.TemporaryDirectory() as tmp:
        manifest = Path(tmp) / "closet-manifest.json"
        manifest.write_text(json.dumps({"files": {PROBE_HANDLER.name: digest}}), encoding="utf-8")
        mc = Path(tmp) / "model-config.yaml"
        # Real batching, so closet_batch_size sees batches > 1 under concurrent load.
        mc.write_text("minWorkers: 1\nmaxWorkers: 1\nbatchSize: 4\nmaxBatchDelay: 50\nresponseTimeout: 60\n")
        archiver = Path(sys.executable).parent / "torch-model-archiver"
        subprocess.run(
            [str(archiver if archiver.exists() else "torch-model-archiver"), "--model-name", PROBE_MODEL,
             "--version", "1.0", "--handler", str(PROBE_HANDLER), "--config-file", str(mc),
             "--extra-files", str(manifest), "--export-path", str(store), "--force"],
            check=True,
        )
    return store / f"{PROBE_MODEL}.mar"


def sample_images() -> dict[str, bytes]:
    """Request bodies for a load run: a real photo, a corrupt one, and one declaring too many pixels."""
    import io
    import struct
    import zlib

    from PIL import Image
    from skimage import data as skdata

    buf = io.BytesIO()
    Image.fromarray(skdata.astronaut()).save(buf, "JPEG", quality=90)
    good = buf.getvalue()

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    # A PNG header declaring 20000x20000 px (400 MP): refused from the header, never decoded.
    huge = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )
    return {"good": good, "corrupt": good[: len(good) // 3], "huge": huge, "garbage": b"not an image"}


def probe_requests(n_good: int = 30) -> list[tuple[bytes, dict[str, str]]]:
    """(body, headers) for the probe: good requests over targets/modes plus one of every failure."""
    imgs = sample_images()
    reqs = []
    for i in range(n_good):
        reqs.append((imgs["good"], {"X-Closet-Target": ("tshirt", "hoodie")[i % 2], "X-Closet-Mode": ("swap", "mask")[i % 3 == 0]}))
    reqs += [
        (imgs["garbage"], {}), (imgs["corrupt"], {}), (imgs["huge"], {}),
        (imgs["good"], {"X-Closet-Target": "sweater"}),  # bad_option (not a probe target)
        (imgs["good"], {"X-Closet-Fail": "no_garment"}), (imgs["good"], {"X-Closet-Fail": "no_garment"}),
        (imgs["good"], {"X-Closet-Fail": "internal"}),
    ]
    return reqs


def valid_headers(url: str, model: str) -> list[dict[str, str]]:
    """Option headers that make a good image a valid request for `model`.

    translation needs a target domain: the handler's describe option lists the checkpoint's domains.
    """
    if model != "translation":
        return [{}]
    req = urllib.request.Request(url, data=b"x", headers={"X-Closet-Describe": "true"})
    with urllib.request.urlopen(req, timeout=120) as r:  # noqa: S310 (loopback URL we built)
        domains = json.loads(r.read())["domains"]
    return [{"X-Closet-Target": d} for d in domains]


def post_all(url: str, requests_: list[tuple[bytes, dict[str, str]]], concurrency: int = 4, timeout: float = 120.0) -> list[int]:
    """POST every (body, headers) to `url` from `concurrency` threads; returns the status codes."""
    from concurrent.futures import ThreadPoolExecutor

    def one(item):
        body, headers = item
        req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/octet-stream", **headers})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 (loopback URLs we built)
                r.read()
                return r.status
        except urllib.error.HTTPError as e:
            e.read()
            return e.code

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, requests_))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m closet_dev.monitoring")
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("config", help="render monitoring/prometheus.yml for a local scrape target")
    c.add_argument("--target", action="append",
                   help="host:port to scrape, repeatable (default: the metrics and worker metrics ports of config/closet.yaml)")
    c.add_argument("--scrape-interval", default="5s")
    c.add_argument("--out", required=True)
    sub.add_parser("autoscaling", help="print the autoscaling recording rule")
    args = ap.parse_args(argv)
    if args.cmd == "config":
        target = args.target
        if not target:
            from closet import config as closet_config

            s = closet_config.load().server
            target = [f"{s.bind}:{s.metrics_port}", f"{s.bind}:{s.worker_metrics_port}"]
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render_prometheus_config(target, args.scrape_interval), encoding="utf-8")
        log.info("wrote %s (target %s)", out, target)
    elif args.cmd == "autoscaling":
        r = autoscaling_rule()
        json.dump({"record": r.name, "expr": r.expr}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    raise SystemExit(main())
