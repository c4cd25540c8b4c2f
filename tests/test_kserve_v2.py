"""The closet ensemble through the KServe v2 (open inference protocol) envelope.

Starts a second real TorchServe with the KServe variant of config.properties
(closet.configgen.render_properties(..., "kserve"): service_envelope=kservev2), serving
closet.mar only, on free loopback ports, and POSTs v2 JSON to /v2/models/closet/infer.
"""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pytest
import requests
from closet_api import b64_image, check_response, v2_payload
from PIL import Image
from torchserve import MODEL_STORE, REPO, START_TIMEOUT_S, free_ports

from closet import config as closet_config
from closet import configgen, pipeline
from closet.serving.launcher import Server

pytestmark = pytest.mark.serve
MODEL = "closet"
PATH = f"/v2/models/{MODEL}/infer"
assert MODEL in closet_config.MODEL_NAMES


def kserve_properties(cfg, store, ports) -> str:
    """The kserve variant, narrowed for a test: loopback only, and the snapshot lists closet alone."""
    text = configgen.render_properties(cfg, "kserve", ports=ports, model_store=str(store),
                                       metrics_config=str(REPO / configgen.METRICS_CONFIG_PATH))
    assert "service_envelope=kservev2" in text
    text = text.replace("0.0.0.0", "127.0.0.1")
    lines = []
    for line in text.splitlines():
        if line.startswith("model_snapshot="):
            snap = json.loads(line.split("=", 1)[1])
            snap["models"] = {MODEL: snap["models"][MODEL]}
            snap["modelCount"] = 1
            line = "model_snapshot=" + json.dumps(snap)
        elif line.startswith("load_models="):
            line = f"load_models={MODEL}.mar"
        lines.append(line)
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def kserve_ts(tmp_path_factory):
    mar = MODEL_STORE / f"{MODEL}.mar"
    if not mar.is_file():
        pytest.skip(f"{mar} is not built (run `make mars`)")
    tmp = tmp_path_factory.mktemp("kserve")
    store = tmp / "model-store"
    store.mkdir()
    (store / mar.name).write_bytes(mar.read_bytes())
    inf, mgmt, met, g1, g2 = free_ports(5)
    ports = {"inference": inf, "management": mgmt, "metrics": met, "grpc_inference": g1, "grpc_management": g2}
    ts_config = tmp / "config.properties"
    ts_config.write_text(kserve_properties(closet_config.load(), store, ports), encoding="utf-8")
    server = Server.from_properties(ts_config, store, tmp / "logs")
    server.start(ts_config)
    try:
        server.wait_ready([MODEL], timeout=START_TIMEOUT_S)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def photo() -> bytes:
    import skimage.data

    buf = io.BytesIO()
    Image.fromarray(skimage.data.astronaut()).save(buf, format="PNG")
    return buf.getvalue()


def v2_request(tensor: dict) -> dict:
    return {"id": "req-1", "inputs": [tensor]}


def test_v2_bytes_input_with_parameters(kserve_ts, photo):
    body = v2_request({"name": "image", "shape": [1], "datatype": "BYTES", "data": [base64.b64encode(photo).decode()],
                       "parameters": {"target": "shirt", "seed": 11, "preserve_color": True, "format": "png"}})
    r = requests.post(f"{kserve_ts.inference_url}{PATH}", json=body, timeout=300)
    assert r.status_code == 200, r.text
    doc = check_response(PATH, r)
    assert doc["id"] == "req-1" and doc["model_name"] == MODEL
    result = v2_payload(doc)
    check_payload = dict(result)
    from closet_api import validate_schema

    validate_schema(check_payload, "ClosetResult")
    assert result["target"] == "shirt" and result["seed"] == 11 and result["parser"] == "torso-estimate"
    out = b64_image(result["image"])
    garment = b64_image(result["garment_mask"]) > 127
    src = pipeline.decode(photo, 10**8, 10**5)
    outside = ~pipeline.dilate(garment, pipeline.dilation_radius(out.shape))
    assert np.array_equal(out[outside], src[outside])
    assert re.match(r"^decode=", r.headers.get("X-Closet-Timing", "")), r.headers


def test_v2_errors_are_4xx_and_the_worker_goes_on(kserve_ts, photo):
    pids = kserve_ts.worker_pids(MODEL)
    url = f"{kserve_ts.inference_url}{PATH}"
    bad = [
        ({"name": "image", "shape": [1], "datatype": "BYTES", "data": [base64.b64encode(photo).decode()],
          "parameters": {"target": "spacesuit"}}, "unknown_target"),
        ({"name": "image", "shape": [1], "datatype": "BYTES", "data": ["***not base64***"]}, "bad_image"),
        ({"name": "image", "shape": [3], "datatype": "FP32", "data": [1.0, 2.0, 3.0]}, "bad_image"),
        ({"name": "image", "shape": [1], "datatype": "BYTES", "data": [base64.b64encode(photo).decode()],
          "parameters": {"mode": "reference"}}, "bad_option"),
    ]
    for tensor, reason in bad:
        r = requests.post(url, json=v2_request(tensor), timeout=120)
        assert r.status_code == 400, r.text
        err = v2_payload(check_response(PATH, r))
        assert err["reason"] == reason and err["detail"], err
    # raw image bytes as a UINT8 tensor, after the errors, on the same worker
    raw = np.frombuffer(photo, dtype=np.uint8)
    r = requests.post(url, json=v2_request({"name": "image", "shape": [raw.size], "datatype": "UINT8",
                                            "data": raw.tolist(), "parameters": {"target": "coat"}}), timeout=300)
    assert r.status_code == 200, r.text
    assert v2_payload(check_response(PATH, r))["target"] == "coat"
    assert kserve_ts.worker_pids(MODEL) == pids
