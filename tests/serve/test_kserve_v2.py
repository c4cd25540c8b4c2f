"""The closet ensemble through KServe's v2 (open inference protocol) and v1 JSON bodies.

Runs against both servers that speak KServe's protocol (`v2_server`): a second real TorchServe
with the KServe variant of config.properties (closet_dev.configgen.render_properties(..., "kserve"):
no service_envelope, the handler decodes v2/v1 bodies per request, closet/serving/kserve_v2.py),
serving closet.mar only, and the KServe runtime (closet/kserve, KServe's own v1/v2 routes). POSTs
v2 JSON to /v2/models/closet/infer (v1 to /v1/models/closet:predict), including several at once
so the server batches them (closet batch_size > 1).
"""

from __future__ import annotations

import base64
import io
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests
from PIL import Image

from closet import config as closet_config
from closet.imageio import decode_image
from closet.stages import composite as pipeline
from tests.support.openapi import b64_image, check_response, v2_payload

pytestmark = pytest.mark.serve
MODEL = "closet"
PATH = f"/v2/models/{MODEL}/infer"
V1_PATH = f"/v1/models/{MODEL}:predict"
assert MODEL in closet_config.MODEL_NAMES


@pytest.fixture(scope="module")
def photo() -> bytes:
    import skimage.data

    buf = io.BytesIO()
    Image.fromarray(skimage.data.astronaut()).save(buf, format="PNG")
    return buf.getvalue()


def v2_request(tensor: dict) -> dict:
    return {"id": "req-1", "inputs": [tensor]}


def test_v2_bytes_input_with_parameters(v2_server, photo):
    body = v2_request({"name": "image", "shape": [1], "datatype": "BYTES", "data": [base64.b64encode(photo).decode()],
                       "parameters": {"target": "shirt", "seed": 11, "preserve_color": True, "format": "png"}})
    r = requests.post(f"{v2_server.inference_url}{PATH}", json=body, timeout=300)
    assert r.status_code == 200, r.text
    doc = check_response(PATH, r)
    assert doc["id"] == "req-1" and doc["model_name"] == MODEL
    result = v2_payload(doc)
    check_payload = dict(result)
    from tests.support.openapi import validate_schema

    validate_schema(check_payload, "ClosetResult")
    assert result["target"] == "shirt" and result["seed"] == 11 and result["parser"] == "pose-garment"
    out = b64_image(result["image"])
    garment = b64_image(result["garment_mask"]) > 127
    garment |= b64_image(result["result_mask"]) > 127
    src = np.asarray(decode_image(photo, 10**8, 10**5))
    outside = ~pipeline.dilate(garment, pipeline.dilation_radius(out.shape))
    assert np.array_equal(out[outside], src[outside])
    assert re.match(r"^decode=", r.headers.get("X-Closet-Timing", "")), r.headers


def test_v2_errors_are_4xx_and_the_worker_goes_on(v2_server, photo):
    pids = v2_server.worker_pids(MODEL)
    url = f"{v2_server.inference_url}{PATH}"
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
        err = check_response(PATH, r)  # the plain 4xx error JSON ({"error"} is v2's error shape too)
        assert err["reason"] == reason and err["detail"], err
    # raw image bytes as a UINT8 tensor, after the errors, on the same worker
    raw = np.frombuffer(photo, dtype=np.uint8)
    r = requests.post(url, json=v2_request({"name": "image", "shape": [raw.size], "datatype": "UINT8",
                                            "data": raw.tolist(), "parameters": {"target": "coat"}}), timeout=300)
    assert r.status_code == 200, r.text
    assert v2_payload(check_response(PATH, r))["target"] == "coat"
    assert v2_server.worker_pids(MODEL) == pids


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _v2(photo: bytes, rid: str, target: str, seed: int) -> dict:
    return {"id": rid, "inputs": [{"name": "image", "shape": [1], "datatype": "BYTES", "data": [_b64(photo)],
                                   "parameters": {"target": target}}], "parameters": {"seed": seed}}


def _batch_sizes(server) -> tuple[float, float]:
    """(sum, count) of closet_batch_size for the closet model from the server's Prometheus endpoint."""
    text = requests.get(f"{server.metrics_url}/metrics", timeout=10).text
    out = [0.0, 0.0]
    for line in text.splitlines():
        for i, name in enumerate(("closet_batch_size_sum", "closet_batch_size_count")):
            if line.startswith(name) and f'model_name="{MODEL}"' in line:
                out[i] += float(line.rsplit(" ", 1)[1])
    return out[0], out[1]


def test_concurrent_v2_requests_in_one_batch_each_get_their_own_answer(v2_server, photo):
    """TorchServe's kservev2 envelope answered only body_list[0] of a batch: every reply must match its request."""
    url = v2_server.inference_url
    reqs = [("a", "shirt", 1), ("b", "coat", 2), ("c", "shirt", 3)]
    alone = {}
    for rid, target, seed in reqs:
        r = requests.post(f"{url}{PATH}", json=_v2(photo, rid, target, seed), timeout=300)
        assert r.status_code == 200, r.text
        alone[rid] = v2_payload(check_response(PATH, r))
    for _attempt in range(3):  # until the server formed a batch of more than one (50 ms batch delay)
        before = _batch_sizes(v2_server)
        gate = threading.Barrier(len(reqs) + 1)

        def send(call, gate=gate):
            gate.wait()
            return requests.post(f"{url}{call[0]}", timeout=300, **call[1])

        calls = [(PATH, {"json": _v2(photo, rid, target, seed)}) for rid, target, seed in reqs]
        # a plain multipart request in the same batch keeps its plain (JSON) reply
        calls.append(("/predictions/closet", {"files": {"image": ("p.png", photo, "image/png")},
                                              "data": {"target": "coat", "seed": "5", "return": "json"}}))
        with ThreadPoolExecutor(len(calls)) as pool:
            replies = list(pool.map(send, calls))
        after = _batch_sizes(v2_server)
        for (rid, target, seed), r in zip(reqs, replies):
            assert r.status_code == 200, r.text
            doc = check_response(PATH, r)
            assert doc["id"] == rid and doc["model_name"] == MODEL, doc
            got = v2_payload(doc)
            assert got["target"] == target and got["seed"] == seed, (rid, got["target"], got["seed"])
            a, b = b64_image(got["image"]).astype(int), b64_image(alone[rid]["image"]).astype(int)
            assert a.shape == b.shape and np.abs(a - b).mean() < 1.0, rid  # same request, batched or alone
        plain = replies[-1]
        assert plain.status_code == 200 and plain.headers["content-type"].startswith("application/json")
        assert plain.json()["target"] == "coat" and plain.json()["seed"] == 5 and "outputs" not in plain.json()
        if after[0] - before[0] > after[1] - before[1]:  # some batch held more than one request
            break
    else:
        pytest.skip("the server never batched the concurrent requests on this loaded machine")
    imgs = [b64_image(alone[rid]["image"]).astype(int) for rid, _, _ in reqs]
    assert np.abs(imgs[0] - imgs[2]).mean() > 0  # same target, other seed: another answer


def test_v1_instances_body(v2_server, photo):
    r = requests.post(f"{v2_server.inference_url}{V1_PATH}",
                      json={"instances": [{"b64": _b64(photo), "target": "coat", "seed": 7}]}, timeout=300)
    assert r.status_code == 200, r.text
    (result,) = check_response(V1_PATH, r)["predictions"]
    assert result["target"] == "coat" and result["seed"] == 7
    r = requests.post(f"{v2_server.inference_url}{V1_PATH}",
                      json={"instances": [{"b64": _b64(photo)}, {"b64": _b64(photo)}]}, timeout=120)
    assert r.status_code == 400 and check_response(V1_PATH, r)["reason"] == "bad_image", r.text
