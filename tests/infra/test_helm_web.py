"""The chart's optional demo page (web.*): off by default; when on, a hardened Deployment like the serving
one, its Service, the API contract as a ConfigMap, and NetworkPolicies that let it reach only the inference
pods. Rendered with the real helm, validated with kubernetes-validate and checkov, and its rendered command
line starts the real app."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from closet import config as closet_config
from tests.support.charts import K8S_VERSIONS

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "closet"
HELM = ROOT / ".cache" / "bin" / "helm"
CHECKOV = ROOT / ".cache" / "tools-venv" / "bin" / "checkov"
WEB = {"app.kubernetes.io/component": "web"}

pytestmark = pytest.mark.skipif(not HELM.exists(), reason="helm not installed: run `make k8s-tools`")


def render(*sets: str, files: tuple[str, ...] = (), check: bool = True) -> subprocess.CompletedProcess:
    args = [str(HELM), "template", "closet", str(CHART), "--namespace", "closet"]
    for f in files:
        args += ["-f", str(CHART / f)]
    for s in sets:
        args += ["--set", s]
    return subprocess.run(args, capture_output=True, text=True, check=check, timeout=120)


def docs(*sets: str, files: tuple[str, ...] = ()) -> list[dict]:
    return [d for d in yaml.safe_load_all(render(*sets, files=files).stdout) if d]


def is_web(d: dict) -> bool:
    return d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "web"


def only(objs: list[dict], kind: str, web: bool) -> dict:
    found = [d for d in objs if d["kind"] == kind and is_web(d) == web and "helm.sh/hook" not in
             d["metadata"].get("annotations", {})]
    assert len(found) == 1, f"{kind} (web={web}): {len(found)}"
    return found[0]


def selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


@pytest.fixture(scope="module")
def on() -> list[dict]:
    return docs("web.enabled=true")


def test_off_by_default():
    assert not [d for d in docs() if is_web(d)]
    assert not [d for d in docs("web.enabled=true", "networkPolicy.enabled=false") if d["kind"] == "NetworkPolicy"
                and is_web(d)]


def test_objects_and_validation(on):
    import kubernetes_validate

    web = [d for d in on if is_web(d)]
    assert sorted(d["kind"] for d in web) == ["ConfigMap", "Deployment", "NetworkPolicy", "NetworkPolicy", "Service"]
    for version in K8S_VERSIONS:
        for d in web:
            kubernetes_validate.validate(d, version, strict=True)
    cpu = [d for d in docs("web.enabled=true", files=("values-cpu.yaml",)) if is_web(d)]
    assert len(cpu) == len(web)


def test_same_hardening_as_the_serving_pods(on):
    serving = only(on, "Deployment", web=False)["spec"]["template"]["spec"]
    page = only(on, "Deployment", web=True)["spec"]["template"]["spec"]
    assert page["securityContext"] == serving["securityContext"]
    assert page["automountServiceAccountToken"] is False
    (container,) = page["containers"]
    assert container["securityContext"] == serving["containers"][0]["securityContext"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["resources"]["limits"] and container["resources"]["requests"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/tmp"}
    assert "nvidia.com/gpu" not in json.dumps(container["resources"])


def test_selectors_keep_the_page_and_the_server_apart(on):
    page_pod = only(on, "Deployment", web=True)["spec"]["template"]["metadata"]["labels"]
    server_pod = only(on, "Deployment", web=False)["spec"]["template"]["metadata"]["labels"]
    assert not selects(only(on, "Service", web=False)["spec"]["selector"], page_pod)
    assert not selects(only(on, "Deployment", web=False)["spec"]["selector"]["matchLabels"], page_pod)
    assert selects(only(on, "Service", web=True)["spec"]["selector"], page_pod)
    assert not selects(only(on, "Service", web=True)["spec"]["selector"], server_pod)


def test_settings_come_from_the_one_config(on):
    cfg = closet_config.load()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["web"]["port"] == cfg.server.web_port
    args = only(on, "Deployment", web=True)["spec"]["template"]["spec"]["containers"][0]["args"]
    opts = dict(zip(args[2::2], args[3::2]))
    svc = only(on, "Service", web=False)
    assert opts["--api"] == f"http://{svc['metadata']['name']}:{svc['spec']['ports'][0]['port']}"
    assert int(opts["--max-request-size"]) == cfg.server.max_request_size == values["torchserve"]["maxRequestSize"]
    assert int(opts["--port"]) == cfg.server.web_port
    spec = only(on, "ConfigMap", web=True)["data"]["openapi.yaml"]
    assert spec.strip() == (ROOT / "openapi" / "closet.yaml").read_text().strip()


def test_network_policies(on):
    page_pod = only(on, "Deployment", web=True)["spec"]["template"]["metadata"]["labels"]
    server_pod = only(on, "Deployment", web=False)["spec"]["template"]["metadata"]["labels"]
    policies = [d for d in on if d["kind"] == "NetworkPolicy" and is_web(d)]
    (own,) = [p for p in policies if selects(p["spec"]["podSelector"]["matchLabels"], page_pod)]
    (api,) = [p for p in policies if selects(p["spec"]["podSelector"]["matchLabels"], server_pod)]
    assert own["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert [p["port"] for r in own["spec"]["ingress"] for p in r["ports"]] == ["http"]
    to_api, dns = own["spec"]["egress"]
    assert to_api["ports"] == [{"port": closet_config.load().server.inference_port, "protocol": "TCP"}]
    assert selects(to_api["to"][0]["podSelector"]["matchLabels"], server_pod)
    assert {p["port"] for p in dns["ports"]} == {53}
    (rule,) = api["spec"]["ingress"]
    assert rule["ports"] == [{"port": "inference", "protocol": "TCP"}]
    assert selects(rule["from"][0]["podSelector"]["matchLabels"], page_pod)
    closed = docs("web.enabled=true", "web.networkPolicy.allowSameNamespace=false", "web.networkPolicy.namespaces=null")
    (own_closed,) = [d for d in closed if d["kind"] == "NetworkPolicy" and is_web(d)
                     and selects(d["spec"]["podSelector"]["matchLabels"], page_pod)]
    assert own_closed["spec"]["ingress"] == []  # not `from: []`, which would admit everyone


@pytest.mark.parametrize("sets", [("web.enabled=true", "web.color=blue"), ("web.enabled=true", "web.port=0")])
def test_schema_refuses_bad_web_values(sets):
    assert render(*sets, check=False).returncode != 0


def test_checkov_clean(on, tmp_path):
    if not CHECKOV.exists():
        pytest.skip("checkov not installed: run `make k8s-tools`")
    (tmp_path / "web.yaml").write_text(yaml.safe_dump_all([d for d in on if is_web(d)]))
    r = subprocess.run([str(CHECKOV), "--config-file", str(ROOT / ".checkov.yaml"), "-d", str(tmp_path), "--output",
                        "json", "--quiet", "--compact"], capture_output=True, text=True, timeout=300, cwd=ROOT,
                       env={"BC_SKIP_MAPPING": "TRUE", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                            "LOG_LEVEL": "ERROR"})
    report, _ = json.JSONDecoder().raw_decode(r.stdout[r.stdout.index("{"):])
    assert report["results"]["failed_checks"] == [], report["results"]["failed_checks"]
    assert report["summary"]["passed"] > 50


def test_the_rendered_command_line_starts_the_page(on, tmp_path):
    """The container's args, with loopback for the pod's address and the ConfigMap as a file, start the app."""
    container = only(on, "Deployment", web=True)["spec"]["template"]["spec"]["containers"][0]
    spec_file = tmp_path / "openapi.yaml"
    spec_file.write_text(only(on, "ConfigMap", web=True)["data"]["openapi.yaml"])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    replace = {"--host": "127.0.0.1", "--port": str(port), "--api": "http://127.0.0.1:1", "--openapi": str(spec_file)}
    args = list(container["args"])
    for i in range(2, len(args) - 1, 2):
        args[i + 1] = replace.get(args[i], args[i + 1])
    assert container["command"] == ["python"]
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                                               "MPLCONFIGDIR": str(tmp_path / "mpl")})
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read().decode()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert json.loads(r.read()) == {"status": "ok"}
                    break
            except OSError:
                assert time.monotonic() < deadline, "the page did not start"
                time.sleep(0.3)
        with pytest.raises(urllib.error.HTTPError) as e:  # the API (port 1) is not there: not ready
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10)
        assert e.value.code == 503
    finally:
        proc.terminate()
        proc.wait(timeout=20)
