"""The chart's probes against a real TorchServe 0.12: one model loading slowly, one that never loads.

The probe commands and paths come from the rendered Deployment, and ready.py from the rendered
ConfigMap, which is what a pod runs. Only the management URL and the model list are the test
server's. Readiness must fail while a model is not serving, which TorchServe's /ping misses.
Liveness must keep passing, so the pod leaves the Service instead of being restarted with all
its healthy models.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from closet import config as closet_config
from closet_dev import configgen, monitoring
from closet_dev.launcher import Server
from closet_dev.torchserve import free_ports

# A handler whose import fails: TorchServe registers the model and retries its worker forever.
BROKEN_HANDLER = 'raise RuntimeError("this model never loads (test_chart_probes_live)")\n'
# A handler that takes LOAD_S seconds to initialise, as a large checkpoint would.
LOAD_S = 12
SLOW_HANDLER = f"""
import time


class SlowToLoad:
    def initialize(self, context):
        time.sleep({LOAD_S})
        self.initialized = True

    def handle(self, data, context):
        return ["ok"] * len(data)
"""


def rendered_probes(chart, tmp_path: Path, management: str, models: list[str]) -> dict:
    docs = chart()
    (dep,) = [d for d in docs if d["kind"] == "Deployment"]
    (cm,) = [d for d in docs if d["kind"] == "ConfigMap" and "ready.py" in d.get("data", {})]
    c = dep["spec"]["template"]["spec"]["containers"][0]
    script = tmp_path / "ready.py"
    script.write_text(cm["data"]["ready.py"])
    command = list(c["readinessProbe"]["exec"]["command"])
    assert c["startupProbe"]["exec"]["command"] == command
    assert command[1].endswith("/ready.py")
    # The pod's command, pointed at this test's server and models.
    command[0], command[1] = sys.executable, str(script)
    command[command.index("--management") + 1] = management
    models_at = command.index("--models") + 1
    assert command[models_at].split(",") == list(closet_config.MODEL_NAMES)  # every enabled model
    assert c["livenessProbe"]["httpGet"]["port"] == "inference"

    def ready(*names: str) -> subprocess.CompletedProcess:
        cmd = [*command[:models_at], ",".join(names), *command[models_at + 1 :]]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=c["readinessProbe"]["timeoutSeconds"])

    return {"ready": ready, "liveness": c["livenessProbe"]["httpGet"]["path"]}


def build_mar(store: Path, work: Path, name: str, handler_text: str) -> None:
    handler = work / f"{name}_handler.py"
    handler.write_text(handler_text)
    archiver = Path(sys.executable).parent / "torch-model-archiver"
    subprocess.run(
        [
            str(archiver),
            "--model-name",
            name,
            "--version",
            "1.0",
            "--handler",
            str(handler),
            "--export-path",
            str(store),
            "--force",
        ],
        check=True,
        timeout=120,
    )


def get(url: str) -> requests.Response:
    return requests.get(url, timeout=10)


@pytest.mark.serve
def test_readiness_follows_the_models_and_liveness_the_process(chart, tmp_path):
    store = tmp_path / "model-store"
    monitoring.build_probe_mar(store)
    build_mar(store, tmp_path, "slow", SLOW_HANDLER)
    build_mar(store, tmp_path, "broken", BROKEN_HANDLER)
    ports = dict(zip(("inference", "management", "metrics", "grpc_inference", "grpc_management"), free_ports(5)))
    props = configgen.render_properties(
        closet_config.load(),
        "local",
        ports=ports,
        model_store=str(store),
        metrics_config=str(closet_config.REPO_ROOT / configgen.METRICS_CONFIG_PATH),
    )
    props = (
        "\n".join(
            "load_models=probe.mar,slow.mar,broken.mar" if line.startswith("load_models=") else line
            for line in props.splitlines()
        )
        + "\n"
    )
    ts_config = tmp_path / "config.properties"
    ts_config.write_text(props)
    server = Server.from_properties(ts_config, store, tmp_path / "logs")
    probes = rendered_probes(chart, tmp_path, server.management_url, ["probe", "slow", "broken"])
    url = server.inference_url
    server.start(ts_config)
    try:
        # 1. The frontend is up and /ping says Healthy while `slow` is still loading: /ping would
        #    send traffic to a pod that cannot serve it. ready.py says so instead.
        monitoring.wait_for(lambda: _status(url + "/ping") == 200, 120, what="/ping 200")
        early = probes["ready"]("slow")
        assert early.returncode == 1 and "slow: 0 of 1 workers READY" in early.stdout, early.stdout
        # 2. `broken` never loads. /ping stays 200 for maxRetryTimeoutInSec (300 s); ready.py
        #    fails, naming it; liveness passes: the pod leaves the Service, nothing restarts it.
        server.wait_ready(["probe", "slow"], timeout=300)
        for _ in range(3):
            assert _status(url + "/ping") == 200
            r = probes["ready"]("probe", "slow", "broken")
            assert r.returncode == 1 and "broken: 0 of 1 workers READY" in r.stdout, r.stdout
            assert "probe:" not in r.stdout and "slow:" not in r.stdout
            assert _status(url + probes["liveness"]) == 200
            time.sleep(2)
        # The healthy models answer in the same pod all along.
        r = requests.post(
            f"{url}/predictions/probe",
            data=monitoring.sample_images()["good"],
            headers={"Content-Type": "application/octet-stream"},
            timeout=60,
        )
        assert r.status_code == 200, r.text
        # 3. A pod whose models all serve is ready (the same command without `broken`; the model
        #    API that could unregister it is off in closet's config).
        ok = probes["ready"]("probe", "slow")
        assert ok.returncode == 0 and ok.stdout.strip() == "ready: probe, slow", ok.stdout
        assert _status(url + probes["liveness"]) == 200
    finally:
        server.stop()


def _status(url: str) -> int:
    try:
        return get(url).status_code
    except requests.RequestException:
        return -1


def test_ready_script_fails_closed_without_a_management_api(chart, tmp_path):
    """No server on the port: not ready, with the reason on stdout (the kubelet's event text)."""
    probes = rendered_probes(chart, tmp_path, f"http://127.0.0.1:{free_ports(1)[0]}", ["closet"])
    r = probes["ready"]("closet", "parsing")
    assert r.returncode == 1
    assert r.stdout.startswith("not ready: closet: management API unreachable")
    assert "parsing: management API unreachable" in r.stdout
