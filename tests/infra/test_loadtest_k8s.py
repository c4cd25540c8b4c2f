"""Distributed Locust manifests (loadtest/k8s/locust-distributed.yaml) for the CI load-test stage:
valid Kubernetes objects, the names ci/loadtest.sh uses, and the master/worker command lines run
for real here (master + one worker as local processes, paths and host rewritten) against the
session TorchServe, with the SLO gate deciding the master's exit code."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from closet import config as closet_config
from closet_dev.torchserve import free_ports
from tests.support.charts import K8S_VERSIONS

ROOT = closet_config.REPO_ROOT
MANIFEST = ROOT / "loadtest" / "k8s" / "locust-distributed.yaml"
CI_SCRIPT = ROOT / "ci" / "loadtest.sh"
LOCUST = Path(sys.executable).parent / "locust"
sys.path.insert(0, str(ROOT / "loadtest"))

import slo as slo_gate  # noqa: E402


@pytest.fixture(scope="module")
def docs() -> list[dict]:
    return [d for d in yaml.safe_load_all(MANIFEST.read_text().replace("__TARGET_HOST__", "http://closet:8080")) if d]


def by_name(docs, kind, name):
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_manifest_is_valid_kubernetes(docs, version):
    import kubernetes_validate

    for d in docs:
        kubernetes_validate.validate(d, version, strict=True)
    assert sorted(d["kind"] for d in docs) == ["Job", "Job", "Service"]


def test_names_match_ci_loadtest_script(docs):
    ci = CI_SCRIPT.read_text()
    assert "loadtest/k8s/locust-distributed.yaml" in ci and "loadtest/slo.yaml" in ci
    configmap = re.search(r"create configmap (\S+) ", ci).group(1)
    job = re.search(r"job=job/(\S+)", ci).group(1)
    label = re.search(r"selector=(app\.kubernetes\.io/name=\S+)", ci).group(1)
    container = re.search(r"logs \"\$job\" -c (\S+)", ci).group(1)
    assert "__TARGET_HOST__" in ci and "__TARGET_HOST__" in MANIFEST.read_text()
    master = by_name(docs, "Job", job)
    key, value = label.split("=")
    for d in docs:
        assert d["metadata"]["labels"][key] == value
    for d in docs:
        if d["kind"] == "Job":
            vols = {v["name"]: v for v in d["spec"]["template"]["spec"]["volumes"]}
            assert vols["locustfile"]["configMap"]["name"] == configmap
    assert master["spec"]["template"]["spec"]["containers"][0]["name"] == container
    args = master["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--slo-file=/mnt/locust/slo.yaml" in args and "--headless" in args and "--master" in args
    svc = by_name(docs, "Service", "closet-locust-master")
    worker = by_name(docs, "Job", "closet-locust-worker")
    wargs = worker["spec"]["template"]["spec"]["containers"][0]["args"]
    assert f"--master-host={svc['metadata']['name']}" in wargs
    expect = int(next(a for a in args if a.startswith("--expect-workers=")).split("=")[1])
    assert worker["spec"]["parallelism"] == expect


def test_configmap_files_exist_flat_in_loadtest(docs):
    # `kubectl create configmap --from-file=loadtest/` takes the directory's regular files only
    for d in docs:
        if d["kind"] != "Job":
            continue
        c = d["spec"]["template"]["spec"]["containers"][0]
        for a in c["args"]:
            for path in re.findall(r"/mnt/locust/([\w.-]+)", a):
                assert (ROOT / "loadtest" / path).is_file(), path
    assert (ROOT / "loadtest" / "locustfile.py").is_file()


def _local(args: list[str], url: str, out: Path) -> list[str]:
    """A container's args as a local command: ConfigMap paths -> loadtest/, reports -> out, host -> url."""
    res = []
    for a in args:
        a = a.replace("/mnt/locust/", f"{ROOT / 'loadtest'}/").replace("/tmp/reports/", f"{out}/")
        a = a.replace("__TARGET_HOST__", url).replace("closet-locust-master", "127.0.0.1")
        res.append(a)
    return res


@pytest.mark.serve
def test_master_and_worker_command_lines_run_distributed(torchserve, tmp_path):
    model = "closet" if "closet" in torchserve.models else "segmentation"
    torchserve.require(model)
    raw = yaml.safe_load_all(MANIFEST.read_text())
    docs = {d["metadata"]["name"]: d for d in raw if d}
    margs = docs["closet-locust-master"]["spec"]["template"]["spec"]["containers"][0]["args"]
    wargs = docs["closet-locust-worker"]["spec"]["template"]["spec"]["containers"][0]["args"]
    port = free_ports(1)[0]
    slo = tmp_path / "slo.yaml"
    slo.write_text((ROOT / "loadtest" / "slo-local.yaml").read_text())
    # Same command lines, scaled down: 1 worker, 2 users for 30 s, this machine's SLO, a free port.
    over = {"--expect-workers": "1", "--peak-users": "2", "--shape-seconds": "30", "--slo-file": str(slo),
            "--model": model, "--shape": "soak"}
    margs = [f"{a.split('=')[0]}={over[a.split('=')[0]]}" if a.split("=")[0] in over else a for a in margs]
    master = [str(LOCUST), *_local(margs, torchserve.inference_url, tmp_path), f"--master-bind-port={port}",
              "--master-bind-host=127.0.0.1"]
    worker = [str(LOCUST), *[a.replace("--master-port=5557", f"--master-port={port}")
                             for a in _local(wargs, torchserve.inference_url, tmp_path)]]
    env = {**__import__("os").environ, "CLOSET_SLO_JUNIT_STDOUT": "1"}
    m = subprocess.Popen(master, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path, env=env)
    w = subprocess.Popen(worker, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    try:
        out, _ = m.communicate(timeout=300)
        w.wait(timeout=60)
    finally:
        for p in (m, w):
            if p.poll() is None:
                p.kill()
                p.wait()
    assert m.returncode == 0, out[-3000:]
    assert "SLO gate passed" in out and "--- slo-junit.xml begin ---" in out
    log = tmp_path / "locust-master.log"
    log.write_text(out)
    junit = subprocess.run([sys.executable, str(ROOT / "loadtest" / "slo.py"), "junit-from-log", str(log)],
                           capture_output=True, text=True, check=True).stdout
    assert junit == slo_gate.junit_from_log(out)
    assert 'failures="0"' in junit
    assert int(re.search(r"SLO min_requests: measured (\d+)", out).group(1)) >= 2
    assert (tmp_path / "staging_stats.csv").is_file() and (tmp_path / "staging.html").is_file()
