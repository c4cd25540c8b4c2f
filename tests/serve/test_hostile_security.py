"""Security checks: safe checkpoint loading, MAR integrity in a real TorchServe, model registration
refused, management API never public, limits from one config, logs with request ids and no image data.
"""

from __future__ import annotations

import ast
import ipaddress
import re
import time
import zipfile
from pathlib import Path

import psutil
import pytest
import yaml

from closet import config as closet_config
from closet_dev import configgen, mar
from closet_dev.torchserve import ephemeral

ROOT = closet_config.REPO_ROOT
CFG = closet_config.load()
HELM = ROOT / ".cache" / "bin" / "helm"


# ---------------------------------------------------------------- torch.load is always weights_only=True
def _torch_load_calls(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            owner = getattr(f.value, "id", "") if isinstance(f, ast.Attribute) else ""
            if name == "load" and owner == "torch":  # `from torch import load` is refused by the caller
                yield node


def test_every_torch_load_passes_weights_only_true():
    sources = [p for d in ("closet", "handlers", "tools") for p in (ROOT / d).rglob("*.py")]
    calls = 0
    for p in sources:
        text = p.read_text(encoding="utf-8")
        assert not re.search(r"from\s+torch\s+import\s+[^\n]*\bload\b", text), f"{p}: import torch.load by name"
        assert "pickle.load" not in text and "torch.jit.load" not in text, f"{p}: unsafe loader"
        for call in _torch_load_calls(p):
            calls += 1
            kw = {k.arg: k.value for k in call.keywords}
            ok = isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True
            assert ok, f"{p.relative_to(ROOT)}:{call.lineno}: torch.load without weights_only=True"
    assert calls >= 2  # the scan does see the project's loaders


# ---------------------------------------------------------------- management API never public
@pytest.mark.parametrize("variant", configgen.VARIANTS)
def test_management_and_grpc_bind_loopback_in_every_variant(variant):
    props = dict(
        line.split("=", 1) for line in configgen.render_properties(CFG, variant).splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert props["management_address"].startswith("http://127.0.0.1:")
    assert props["grpc_management_address"] == props["grpc_inference_address"] == "127.0.0.1"
    assert props["enable_model_api"] == "false"
    assert re.fullmatch(r"file://\S+\\\\\.mar", props["allowed_urls"]), props["allowed_urls"]
    # The request size limit comes from config/closet.yaml, in every variant.
    assert int(props["max_request_size"]) == CFG.server.max_request_size


@pytest.mark.skipif(not HELM.exists(), reason="helm not installed: run `make k8s-tools`")
def test_helm_service_exposes_no_management_port():
    import subprocess

    out = subprocess.run([str(HELM), "template", "closet", str(ROOT / "helm" / "closet")], capture_output=True,
                         text=True, check=True, timeout=120).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    services = [d for d in docs if d["kind"] == "Service"]
    assert services
    for svc in services:
        for port in svc["spec"]["ports"]:
            assert "manag" not in port["name"] and str(port.get("targetPort")) != str(CFG.server.management_port)
            assert port["port"] != CFG.server.management_port
    for dep in (d for d in docs if d["kind"] == "Deployment"):
        for c in dep["spec"]["template"]["spec"]["containers"]:
            for p in c.get("ports", []):
                assert "manag" not in p.get("name", ""), p


# ---------------------------------------------------------------- limits from one config
def test_limits_are_not_hardcoded_outside_the_config():
    """The pixel/side/body limits appear as literals only in config/closet.yaml."""
    values = {CFG.limits.max_pixels, CFG.limits.max_side, CFG.server.max_request_size}
    for p in [*(ROOT / "closet").rglob("*.py"), *(ROOT / "handlers").glob("*.py")]:
        text = p.read_text(encoding="utf-8")
        for v in values:
            assert not re.search(rf"(?<![\w.]){v}(?![\w.])", text), f"{p.relative_to(ROOT)} hardcodes {v}"
    for p in (ROOT / "handlers").glob("*.py"):
        text = p.read_text(encoding="utf-8")
        if "decode_image(" in text:
            assert "limits.max_pixels" in text and "limits.max_side" in text, p


# ---------------------------------------------------------------- against the session TorchServe
@pytest.mark.serve
@pytest.mark.parametrize("url", [
    "http://127.0.0.1:1/evil.mar",
    "https://example.com/segmentation.mar",
    "file:///etc/passwd",
    "segmentation.mar",
])
def test_model_registration_is_refused(torchserve, url):
    before = torchserve.server.ready_models()
    r = torchserve.http.post(f"{torchserve.management_url}/models", params={"url": url, "model_name": "evil"},
                             timeout=60)
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    r2 = torchserve.http.get(f"{torchserve.management_url}/models", timeout=30)
    assert "evil" not in {m["modelName"] for m in r2.json()["models"]}
    assert torchserve.server.ready_models() == before


@pytest.mark.serve
def test_management_port_listens_on_loopback_only(torchserve):
    mgmt_port = int(torchserve.management_url.rsplit(":", 1)[1])
    infer_port = int(torchserve.inference_url.rsplit(":", 1)[1])
    listening = {}
    for c in psutil.net_connections(kind="tcp"):
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port in (mgmt_port, infer_port):
            listening.setdefault(c.laddr.port, set()).add(c.laddr.ip)
    assert listening.get(mgmt_port), listening
    for ip in listening[mgmt_port]:  # Java may report an IPv4-mapped IPv6 address
        addr = ipaddress.ip_address(ip)
        addr = getattr(addr, "ipv4_mapped", None) or addr
        assert addr.is_loopback, listening


@pytest.mark.serve
def test_model_log_has_request_ids_and_no_image_bytes(torchserve):
    import io

    from PIL import Image
    from skimage import data as skdata

    model = torchserve.models[0] if "segmentation" not in torchserve.models else "segmentation"
    buf = io.BytesIO()
    Image.fromarray(skdata.astronaut()).resize((96, 96)).save(buf, format="PNG")
    torchserve.predict(model, data=buf.getvalue(), timeout=300)
    bad = torchserve.predict(model, data=b"A" * 5000 + b"<html>" + bytes(range(256)) * 4, timeout=300)
    assert bad.status_code == 400
    log_file = torchserve.log_dir / "model_log.log"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "request_id=" not in log_file.read_text("utf-8", "replace"):
        time.sleep(1)  # the worker's stdout reaches the log asynchronously
    text = log_file.read_text("utf-8", "replace")
    ids = re.findall(r"request_id=([0-9a-f-]{36})\b", text)
    assert len(ids) >= 2, "handler log lines carry no request id"
    assert not re.search(r"[A-Za-z0-9+/=]{200,}", text), "a long base64/binary-looking run reached model_log"
    assert "\ufffd" * 8 not in text and "PNG\r\n" not in text and "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" not in text


# ---------------------------------------------------------------- tampered MAR in a real TorchServe
def _tamper(src: Path, dst: Path) -> str:
    """Copy the MAR, appending a line to one file its closet-manifest.json lists; returns that file."""
    with zipfile.ZipFile(src) as zin:
        import json

        listed = json.loads(zin.read(mar.MANIFEST_NAME))["files"]
        victim = next(n for n in sorted(listed) if n.endswith(".py"))
        with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
            for info in zin.infolist():
                data = zin.read(info)
                if info.filename == victim:
                    data += b"\nimport os  # injected\n"
                zout.writestr(info, data)
    return victim


@pytest.mark.serve
def test_tampered_mar_fails_to_load_in_torchserve(tmp_path):
    src = ROOT / "model-store" / "segmentation.mar"
    if not src.is_file():
        pytest.skip("model-store/segmentation.mar is not built (run `make mars`)")
    tampered = tmp_path / "tampered" / "segmentation.mar"
    tampered.parent.mkdir()
    victim = _tamper(src, tampered)
    with ephemeral(tmp_path / "ts", [tampered], wait=False) as ts:
        model_log = ts.log_dir / "model_log.log"
        # The worker refuses the archive, dies, and TorchServe retries it with back-off; two refusals
        # are enough (the launcher's own load-failure scan does not see this path: see the docs).
        deadline, refusals, text = time.monotonic() + 300, 0, ""
        while time.monotonic() < deadline and refusals < 2:
            assert ts.server.alive(), "TorchServe exited"
            text = model_log.read_text("utf-8", "replace") if model_log.is_file() else ""
            refusals = text.count("Failed to load model segmentation, exception closet-manifest.json check failed")
            time.sleep(1)
        assert refusals >= 2, "the tampered archive was not refused twice within 300 s"
        assert victim in text and "sha256 mismatch" in text
        assert "segmentation" not in ts.server.ready_models()

