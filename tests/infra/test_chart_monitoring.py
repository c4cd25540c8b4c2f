"""The chart's monitoring objects match what the alerts select: job, ports, runbook links."""

from __future__ import annotations

import yaml

from closet_dev import monitoring


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind and "helm.sh/hook" not in d["metadata"].get("annotations", {})]


def test_scrape_job_is_the_one_the_alerts_select(chart, apis):
    """prometheus-operator names the job after the Service label jobLabel names: "closet" for every
    release, which ClosetTargetDown, ClosetGPUMemoryNearlyFull and the SLO rules select."""
    docs = chart(sets=("fullnameOverride=prod-swap",), apis=apis.operator)
    (sm,) = by_kind(docs, "ServiceMonitor")
    (svc,) = by_kind(docs, "Service")
    assert svc["metadata"]["labels"][sm["spec"]["jobLabel"]] == monitoring.JOB_NAME == "closet"
    exprs = [r.expr for r in monitoring.rules() if r.kind == "alert"]
    assert sum(f'job="{monitoring.JOB_NAME}"' in e for e in exprs) >= 2


def test_both_metrics_ports_are_scraped_served_and_reachable(chart, apis):
    docs = chart(apis=apis.operator)
    (sm,) = by_kind(docs, "ServiceMonitor")
    (svc,) = by_kind(docs, "Service")
    (dep,) = by_kind(docs, "Deployment")
    scraped = [e["port"] for e in sm["spec"]["endpoints"]]
    assert scraped == ["metrics", "worker-metrics"]
    assert set(scraped) <= {p["name"] for p in svc["spec"]["ports"]}
    c = dep["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    env = {e["name"]: e.get("value") for e in c["env"]}
    # The workers bind what the container exposes, and write where the emptyDir is mounted.
    assert env["CLOSET_WORKER_METRICS_ADDRESS"] == f"0.0.0.0:{ports['worker-metrics']}"
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volume = next(
        v for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == mounts[env["PROMETHEUS_MULTIPROC_DIR"]]
    )
    assert volume["emptyDir"]["medium"] == "Memory"
    (np,) = by_kind(docs, "NetworkPolicy")
    metrics_rule = next(r for r in np["spec"]["ingress"] if {"port": "metrics", "protocol": "TCP"} in r["ports"])
    assert {"port": "worker-metrics", "protocol": "TCP"} in metrics_rule["ports"]


def test_runbook_urls_get_the_base_url(chart, apis):
    base = "https://gitlab.example.com/closet/-/blob/main/"
    plain = by_kind(chart(apis=apis.operator), "PrometheusRule")[0]["spec"]["groups"]
    based = by_kind(
        chart(sets=(f"monitoring.prometheusRule.runbookBaseURL={base}",), apis=apis.operator), "PrometheusRule"
    )[0]["spec"]["groups"]
    pairs = [(a, b) for ga, gb in zip(plain, based) for a, b in zip(ga["rules"], gb["rules"]) if "alert" in a]
    assert len(pairs) >= 12
    for a, b in pairs:
        assert a["annotations"]["runbook_url"].startswith("docs/runbook.md#")
        assert b["annotations"]["runbook_url"] == base + a["annotations"]["runbook_url"]
        assert {**b, "annotations": {**b["annotations"], "runbook_url": a["annotations"]["runbook_url"]}} == a
    # Recording rules and groups are untouched, and the plain rendering equals the rule files.
    files = [g for f in sorted(monitoring.RULES_DIR.glob("*.yml")) for g in yaml.safe_load(f.read_text())["groups"]]
    assert plain == files
