"""Zero-downtime rules on the rendered manifests: rolling update, PodDisruptionBudget, probes.

The arithmetic is Kubernetes': during a RollingUpdate the Deployment controller keeps at least
`replicas - maxUnavailable` pods available (a percentage rounds down) and at most
`replicas + maxSurge` pods in all (rounds up); a new pod counts as available only once ready for
minReadySeconds. A PodDisruptionBudget lets an eviction through only while more than
`minAvailable` (a percentage rounds up) pods are healthy.
"""

from __future__ import annotations

import math
import re

import pytest

from tests.support.charts import VALUE_SETS


def one(docs: list[dict], kind: str) -> dict | None:
    found = [d for d in docs if d["kind"] == kind and "helm.sh/hook" not in d["metadata"].get("annotations", {})]
    assert len(found) <= 1, kind
    return found[0] if found else None


def _count(value, total: int, round_up: bool) -> int:
    """An int-or-percent Kubernetes field as a pod count."""
    if isinstance(value, str) and value.endswith("%"):
        exact = total * int(value[:-1]) / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value)


def fewest_replicas(docs: list[dict]) -> int:
    """The smallest pod count the release can run at: the autoscaler's floor, or spec.replicas."""
    if hpa := one(docs, "HorizontalPodAutoscaler"):
        return hpa["spec"]["minReplicas"]
    if so := one(docs, "ScaledObject"):
        return so["spec"]["minReplicaCount"]
    return one(docs, "Deployment")["spec"]["replicas"]


def rollout(docs: list[dict]) -> dict:
    """Available-pod floor and pod ceiling of a rolling update at the release's smallest size."""
    spec = one(docs, "Deployment")["spec"]
    replicas = fewest_replicas(docs)
    if spec["strategy"]["type"] == "Recreate":
        return {"replicas": replicas, "floor": 0, "ceiling": replicas}
    ru = spec["strategy"]["rollingUpdate"]
    unavailable = _count(ru["maxUnavailable"], replicas, round_up=False)
    surge = _count(ru["maxSurge"], replicas, round_up=True)
    return {"replicas": replicas, "floor": max(replicas - unavailable, 0), "ceiling": replicas + surge}


def drain(docs: list[dict]) -> dict:
    """What a node drain may evict from a healthy release at its smallest size, and what stays."""
    replicas = fewest_replicas(docs)
    pdb = one(docs, "PodDisruptionBudget")
    if pdb is None:
        return {"evictable": replicas, "stays": 0}
    if "minAvailable" in pdb["spec"]:
        keep = _count(pdb["spec"]["minAvailable"], replicas, round_up=True)
    else:
        keep = replicas - _count(pdb["spec"]["maxUnavailable"], replicas, round_up=True)
    return {"evictable": max(replicas - keep, 0), "stays": keep}


def zero_downtime_problems(docs: list[dict]) -> list[str]:
    """Every way this rendering lets an upgrade or a node drain leave no pod serving."""
    problems = []
    r = rollout(docs)
    if r["floor"] < 1:
        problems.append(f"a rolling update may leave {r['floor']} of {r['replicas']} pods available")
    d = drain(docs)
    if d["stays"] < 1:
        problems.append(f"a node drain may evict every pod ({d['evictable']} of {fewest_replicas(docs)})")
    if d["evictable"] < 1:
        problems.append("no pod is ever evictable: node drains would wait forever")
    dep = one(docs, "Deployment")
    c = dep["spec"]["template"]["spec"]["containers"][0]
    if "--models" not in c["readinessProbe"].get("exec", {}).get("command", []):
        problems.append("readiness does not check the models (ready.py --models)")
    if "httpGet" not in c["livenessProbe"] or c["livenessProbe"]["httpGet"]["path"] == "/ping":
        problems.append("liveness does not check the frontend alone: one failing model could restart the pod")
    start = c["startupProbe"]
    budget = start["periodSeconds"] * start["failureThreshold"]
    if dep["spec"]["progressDeadlineSeconds"] <= budget + dep["spec"].get("minReadySeconds", 0):
        problems.append("progressDeadlineSeconds ends before a new pod may finish loading its models")
    return problems


@pytest.mark.parametrize("cluster", ["bare", "full"])
@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_defaults_upgrade_and_drain_without_an_outage(chart, apis, name, cluster):
    docs = chart(*VALUE_SETS[name], apis=apis.full if cluster == "full" else ())
    assert zero_downtime_problems(docs) == []
    r = rollout(docs)
    assert r["replicas"] >= 2
    assert r["floor"] == r["replicas"], "the default rollout lowers serving capacity"  # maxUnavailable 0
    assert r["ceiling"] == r["replicas"] + 1  # one surge pod: one spare GPU on a GPU pool
    assert drain(docs) == {"evictable": r["replicas"] - 1, "stays": 1}


def test_gpu_pool_setting_needs_no_spare_gpu_and_still_serves(chart, apis):
    """values.yaml's alternative for a full GPU pool: no surge pod, one pod replaced at a time."""
    docs = chart(sets=("strategy.rollingUpdate.maxSurge=0", "strategy.rollingUpdate.maxUnavailable=1"), apis=apis.full)
    r = rollout(docs)
    assert r["ceiling"] == r["replicas"]  # no extra GPU
    assert r["floor"] == r["replicas"] - 1 >= 1  # capacity dips by one pod, never to zero
    assert zero_downtime_problems(docs) == []


def test_the_rules_catch_an_outage(chart):
    """The check can fail: one replica replaced in place, no PodDisruptionBudget."""
    docs = chart(
        sets=(
            "replicaCount=1",
            "podDisruptionBudget.enabled=false",
            "autoscaling.enabled=false",
            "strategy.rollingUpdate.maxSurge=0",
            "strategy.rollingUpdate.maxUnavailable=1",
        )
    )
    problems = zero_downtime_problems(docs)
    assert any("rolling update may leave 0 of 1" in p for p in problems), problems
    assert any("node drain may evict every pod" in p for p in problems), problems
    docs = chart(sets=("strategy.rollingUpdate.maxSurge=50%", "strategy.rollingUpdate.maxUnavailable=100%"))
    assert any("leave 0 of 2" in p for p in zero_downtime_problems(docs))
    # Recreate stops every pod first: valid Kubernetes, and an outage the rules name.
    docs = chart(sets=("strategy.type=Recreate",))
    assert one(docs, "Deployment")["spec"]["strategy"] == {"type": "Recreate"}
    import kubernetes_validate

    kubernetes_validate.validate(one(docs, "Deployment"), "1.29.0", strict=True)
    assert any("leave 0 of 2" in p for p in zero_downtime_problems(docs))


@pytest.mark.parametrize(
    "sets, message",
    [
        (
            ("strategy.rollingUpdate.maxSurge=0", "strategy.rollingUpdate.maxUnavailable=0"),
            "maxSurge and maxUnavailable cannot both be 0",
        ),
        (("podDisruptionBudget.minAvailable=2",), "leaves no pod evictable with 2 pods"),
        (
            ("autoscaling.enabled=false", "replicaCount=3", "podDisruptionBudget.minAvailable=3"),
            "leaves no pod evictable with 3 pods",
        ),
        (("podDisruptionBudget.maxUnavailable=1",), "set exactly one of minAvailable and maxUnavailable"),
        (("podDisruptionBudget.minAvailable=",), "set exactly one of minAvailable and maxUnavailable"),
        (("progressDeadlineSeconds=600",), "must exceed the startup probe's budget (600 s)"),
        (("strategy.type=BlueGreen",), "strategy.type"),
    ],
)
def test_chart_refuses_rollout_settings_that_cannot_work(chart, sets, message):
    with pytest.raises(chart.error) as e:
        chart(sets=sets)
    assert message in str(e.value), str(e.value)


def test_a_percentage_budget_and_max_unavailable_render(chart, apis):
    docs = chart(sets=("podDisruptionBudget.minAvailable=", "podDisruptionBudget.maxUnavailable=1"), apis=apis.full)
    assert one(docs, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    assert drain(docs) == {"evictable": 1, "stays": 1}
    docs = chart(sets=("podDisruptionBudget.minAvailable=50%",), apis=apis.full)
    assert drain(docs) == {"evictable": 1, "stays": 1}


def test_probes_split_the_process_from_the_models(chart):
    """Readiness and startup ask the management API about every enabled model; liveness asks the
    frontend only (tests/infra/test_chart_probes_live.py runs them against a real TorchServe)."""
    c = one(chart(sets=("models.parsing.enabled=false",)), "Deployment")["spec"]["template"]["spec"]["containers"][0]
    command = c["readinessProbe"]["exec"]["command"]
    assert c["startupProbe"]["exec"]["command"] == command
    assert command[command.index("--models") + 1] == "segmentation,translation,closet"
    assert command[command.index("--management") + 1] == "http://127.0.0.1:8081"  # loopback only
    assert c["livenessProbe"]["httpGet"] == {"path": "/api-description", "port": "inference"}
    # Liveness gives a busy pod longer than readiness before acting.
    live, ready = c["livenessProbe"], c["readinessProbe"]
    assert live["periodSeconds"] * live["failureThreshold"] > ready["periodSeconds"] * ready["failureThreshold"]


def test_budget_and_selector_cover_exactly_the_serving_pods(chart, apis):
    docs = chart(apis=apis.full)
    dep = one(docs, "Deployment")
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    selector = one(docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"]
    assert selector == dep["spec"]["selector"]["matchLabels"] and selector.items() <= pod_labels.items()
    (test_job,) = [d for d in docs if d["kind"] == "Job"]
    assert not selector.items() <= test_job["spec"]["template"]["metadata"]["labels"].items()
    assert one(docs, "PodDisruptionBudget")["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


def test_an_upgrade_keeps_the_immutable_selector(chart, apis):
    """matchLabels cannot change on upgrade: nothing version- or value-dependent may enter it."""
    before = one(chart(apis=apis.full), "Deployment")["spec"]["selector"]
    after = one(
        chart("values-cpu.yaml", sets=("image.tag=9.9.9-cpu", "podLabels.team=x"), apis=apis.full), "Deployment"
    )["spec"]["selector"]
    assert before == after
    assert not any(re.search(r"version|chart", k) for k in before["matchLabels"])


def test_shutdown_waits_for_in_flight_requests(chart):
    pod = one(chart(), "Deployment")["spec"]["template"]["spec"]
    c = pod["containers"][0]
    drain_s = int(re.search(r"sleep (\d+)", " ".join(c["lifecycle"]["preStop"]["exec"]["command"])).group(1))
    # The pod keeps serving while its endpoint removal propagates, then has time left to finish.
    assert drain_s >= c["readinessProbe"]["periodSeconds"]
    assert pod["terminationGracePeriodSeconds"] > drain_s


def test_notes_state_the_upgrade_behaviour(chart_notes):
    assert "Upgrades: RollingUpdate (maxSurge 1, maxUnavailable 0), at least 2 pods; node drains keep 1 available" in (
        chart_notes()
    )
    notes = chart_notes(sets=("strategy.type=Recreate",))
    assert "Upgrades: Recreate (every pod stops before the new ones start: an outage), at least 2 pods" in notes
    assert "spare GPU" not in notes
