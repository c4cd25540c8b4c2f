"""What only the KServe runtime has: gRPC v2, the v2 binary_data extension, its ports and metrics.

Against the session `kserve` server (closet/kserve on free loopback ports, every built MAR). Bad
gRPC requests get a clear status (INVALID_ARGUMENT with closet's error JSON, NOT_FOUND, ...), and
the same process answers a good request afterwards.
"""

from __future__ import annotations

import io
import ipaddress
import json
import struct

import grpc
import numpy as np
import psutil
import pytest
import requests
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as pb_grpc
from PIL import Image

from closet.config import ENSEMBLE, SEGMENTATION
from closet.metrics import LATENCY_BUCKETS
from tests.support.images import png

pytestmark = pytest.mark.serve
Tensor = pb.ModelInferRequest.InferInputTensor


@pytest.fixture(scope="module")
def photo() -> bytes:
    import skimage.data

    return png(np.asarray(Image.fromarray(skimage.data.astronaut()).resize((160, 160))))


@pytest.fixture(scope="module")
def stub(kserve):
    kserve.require(SEGMENTATION)
    with grpc.insecure_channel(kserve.grpc_target) as channel:
        yield pb_grpc.GRPCInferenceServiceStub(channel)


def image_tensor(photo: bytes, **params: str) -> Tensor:
    return Tensor(name="image", datatype="BYTES", shape=[1], contents=pb.InferTensorContents(bytes_contents=[photo]),
                  parameters={k: pb.InferParameter(string_param=v) for k, v in params.items()})


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def test_grpc_health_and_metadata(stub, kserve):
    assert stub.ServerLive(pb.ServerLiveRequest()).live
    assert stub.ServerReady(pb.ServerReadyRequest()).ready
    for name in kserve.models:
        assert stub.ModelReady(pb.ModelReadyRequest(name=name)).ready


def test_grpc_bytes_are_the_file_and_match_rest(stub, kserve, photo):
    r = stub.ModelInfer(pb.ModelInferRequest(model_name=SEGMENTATION, id="g-1",
                                             inputs=[image_tensor(photo, output="rgba")]), timeout=300)
    assert r.id == "g-1" and r.model_name == SEGMENTATION
    (out,) = r.outputs
    assert (out.name, out.datatype, list(out.shape)) == ("result", "BYTES", [1])
    assert out.parameters["content_type"].string_param == "image/png"
    rgba = decode(out.contents.bytes_contents[0])  # the PNG itself: no base64 on a binary wire
    assert rgba.shape == (160, 160, 4)
    rest = kserve.predict(SEGMENTATION, data=photo, headers={"X-Closet-Output": "rgba"})
    assert rest.status_code == 200
    assert np.abs(decode(rest.content).astype(int) - rgba.astype(int)).max() <= 2


def test_grpc_raw_input_contents_get_raw_outputs(stub, photo):
    r = stub.ModelInfer(pb.ModelInferRequest(model_name=SEGMENTATION, inputs=[
        Tensor(name="image", datatype="UINT8", shape=[len(photo)])], raw_input_contents=[photo]), timeout=300)
    (raw,) = r.raw_output_contents
    (n,) = struct.unpack_from("<I", raw)  # one BYTES element: 4-byte length, then the PNG
    assert decode(raw[4:4 + n]).shape == (160, 160)


def test_grpc_ensemble_answers_json_with_the_options(stub, kserve, photo):
    kserve.require(ENSEMBLE)
    import skimage.data

    astronaut = png(skimage.data.astronaut())
    r = stub.ModelInfer(pb.ModelInferRequest(model_name=ENSEMBLE, inputs=[image_tensor(astronaut, target="coat")],
                                             parameters={"seed": pb.InferParameter(int64_param=5)}), timeout=600)
    (out,) = r.outputs
    assert out.parameters["content_type"].string_param == "application/json"
    doc = json.loads(out.contents.bytes_contents[0])
    assert doc["target"] == "coat" and doc["seed"] == 5 and doc["parser"] == "pose-garment"


BAD_GRPC = [
    ("datatype FP32", dict(model_name=SEGMENTATION, inputs=[Tensor(name="image", datatype="FP32", shape=[2],
                                                                   contents=pb.InferTensorContents(fp32_contents=[1, 2]))]),
     grpc.StatusCode.INVALID_ARGUMENT, "bad_image"),
    ("shape [2] for one element", dict(model_name=SEGMENTATION, inputs=[Tensor(
        name="image", datatype="BYTES", shape=[2], contents=pb.InferTensorContents(bytes_contents=[b"x"]))]),
     grpc.StatusCode.INVALID_ARGUMENT, "bad_image"),
    ("uint8 shape larger than data", dict(model_name=SEGMENTATION, inputs=[Tensor(
        name="image", datatype="UINT8", shape=[100], contents=pb.InferTensorContents(uint_contents=[1, 2, 3]))]),
     grpc.StatusCode.INVALID_ARGUMENT, "bad_image"),
    ("not an image", dict(model_name=SEGMENTATION, inputs=[Tensor(
        name="image", datatype="BYTES", shape=[1], contents=pb.InferTensorContents(bytes_contents=[b"GIF89a..."]))]),
     grpc.StatusCode.INVALID_ARGUMENT, "bad_image"),
    ("no inputs", dict(model_name=SEGMENTATION), grpc.StatusCode.INVALID_ARGUMENT, "bad_image"),
    ("unknown option", dict(model_name=SEGMENTATION, inputs=[Tensor(
        name="image", datatype="BYTES", shape=[1], contents=pb.InferTensorContents(bytes_contents=[b"x"]),
        parameters={"colour": pb.InferParameter(string_param="red")})]),
     grpc.StatusCode.INVALID_ARGUMENT, "bad_option"),
    ("malformed raw BYTES", dict(model_name=SEGMENTATION, inputs=[Tensor(name="image", datatype="BYTES", shape=[1])],
                                 raw_input_contents=[b"\xff\xff\xff\x7f"]),
     grpc.StatusCode.INVALID_ARGUMENT, "bad_image"),
    ("raw contents count mismatch", dict(model_name=SEGMENTATION, inputs=[
        Tensor(name="image", datatype="BYTES", shape=[1]), Tensor(name="x", datatype="BYTES", shape=[1])],
        raw_input_contents=[b"\0\0\0\0"]), grpc.StatusCode.INVALID_ARGUMENT, None),
    ("unknown model", dict(model_name="evil", inputs=[]), grpc.StatusCode.NOT_FOUND, None),
]


@pytest.mark.parametrize("why, fields, code, reason", BAD_GRPC, ids=[b[0] for b in BAD_GRPC])
def test_bad_grpc_requests_get_a_clear_status(stub, why, fields, code, reason):
    with pytest.raises(grpc.RpcError) as e:
        stub.ModelInfer(pb.ModelInferRequest(**fields), timeout=120)
    assert e.value.code() == code, (why, e.value.code(), e.value.details())
    if reason:
        err = json.loads(e.value.details())  # closet's error JSON is the status message
        assert err["reason"] == reason and err["error"] and err["detail"], err


def test_undecodable_grpc_messages_then_the_same_process_serves(stub, kserve, photo):
    pids = kserve.worker_pids(SEGMENTATION)
    with grpc.insecure_channel(kserve.grpc_target) as channel:
        raw_call = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
        for garbage in (b"\x0a\xff\xff\xff\x0f", b"\x12\x05abc", bytes(range(256))):
            with pytest.raises(grpc.RpcError) as e:
                raw_call(garbage, timeout=30)
            assert e.value.code() != grpc.StatusCode.OK
    r = stub.ModelInfer(pb.ModelInferRequest(model_name=SEGMENTATION, inputs=[image_tensor(photo)]), timeout=300)
    assert decode(r.outputs[0].contents.bytes_contents[0]).shape == (160, 160)
    assert kserve.worker_pids(SEGMENTATION) == pids


# -- REST: the v2 binary_data extension -------------------------------------------------------------
def binary_post(kserve, model: str, inputs: list[tuple[dict, bytes]], **extra):
    head = json.dumps({"id": "bin-1", "inputs": [t for t, _ in inputs], **extra}).encode()
    return requests.post(f"{kserve.inference_url}/v2/models/{model}/infer", data=head + b"".join(d for _, d in inputs),
                         headers={"Inference-Header-Content-Length": str(len(head)),
                                  "Content-Type": "application/octet-stream"}, timeout=300)


def test_binary_bytes_input_and_binary_output(kserve, photo):
    raw = struct.pack("<I", len(photo)) + photo
    r = binary_post(kserve, SEGMENTATION, [({"name": "image", "shape": [1], "datatype": "BYTES",
                                             "parameters": {"binary_data_size": len(raw), "output": "rgba"}}, raw)],
                    parameters={"binary_data_output": True})
    assert r.status_code == 200, r.text[:300]
    n = int(r.headers["inference-header-content-length"])
    head = json.loads(r.content[:n])
    (out,) = head["outputs"]
    assert head["id"] == "bin-1" and out["parameters"]["content_type"] == "image/png"
    body = r.content[n:]
    assert len(body) == out["parameters"]["binary_data_size"]
    (size,) = struct.unpack_from("<I", body)
    assert decode(body[4:4 + size]).shape == (160, 160, 4)


def test_binary_uint8_input_with_a_json_reply(kserve, photo):
    r = binary_post(kserve, SEGMENTATION, [({"name": "image", "shape": [len(photo)], "datatype": "UINT8",
                                             "parameters": {"binary_data_size": len(photo)}}, photo)])
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json"), r.text[:300]
    assert r.json()["outputs"][0]["parameters"]["content_type"] == "image/png"


@pytest.mark.parametrize("why, inputs, header", [
    ("sizes exceed the body", [({"name": "image", "shape": [1], "datatype": "BYTES",
                                 "parameters": {"binary_data_size": 999}}, b"\0\0\0\0")], None),
    ("header length past the body", [({"name": "image", "shape": [4], "datatype": "UINT8",
                                        "parameters": {"binary_data_size": 4}}, b"abcd")], "999999"),
    ("malformed BYTES element", [({"name": "image", "shape": [1], "datatype": "BYTES",
                                   "parameters": {"binary_data_size": 4}}, b"\xff\xff\xff\x7f")], None),
])
def test_bad_binary_bodies_are_400_json(kserve, why, inputs, header):
    head = json.dumps({"inputs": [t for t, _ in inputs]}).encode()
    r = requests.post(f"{kserve.inference_url}/v2/models/{SEGMENTATION}/infer", data=head + inputs[0][1],
                      headers={"Inference-Header-Content-Length": header or str(len(head))}, timeout=120)
    assert r.status_code == 400, (why, r.status_code, r.text[:300])
    assert r.json()["reason"] == "bad_image" and r.json()["detail"]


# -- what KServe would expose, and what this runtime reports --------------------------------------
@pytest.mark.parametrize("verb", ["unload", "load"])
def test_model_repository_changes_are_refused_on_the_public_port(kserve, verb):
    r = requests.post(f"{kserve.inference_url}/v2/repository/models/{SEGMENTATION}/{verb}", timeout=30)
    assert r.status_code == 403 and r.json()["reason"] and r.json()["error"]
    assert requests.get(f"{kserve.inference_url}/v2/models/{SEGMENTATION}/ready", timeout=30).json()["ready"] is True
    assert SEGMENTATION in kserve.server.ready_models()


def test_every_port_binds_loopback_locally(kserve):
    pid = kserve.server.pgid
    ports = {int(u.rsplit(":", 1)[1]) for u in (kserve.inference_url, kserve.management_url, kserve.metrics_url)}
    ports.add(int(kserve.grpc_target.rsplit(":", 1)[1]))
    listening = {c.laddr.port: c.laddr.ip for c in psutil.net_connections(kind="tcp")
                 if c.status == psutil.CONN_LISTEN and c.pid == pid}
    assert ports <= set(listening), listening
    for p in ports:  # gRPC may report an IPv4-mapped IPv6 address
        addr = ipaddress.ip_address(listening[p])
        assert (getattr(addr, "ipv4_mapped", None) or addr).is_loopback, listening


def test_metrics_have_closets_names_labels_buckets_and_ports(kserve, photo):
    """As with TorchServe: own-bucket histograms on the worker metrics port, the rest on the metrics port."""
    before = kserve.metrics_text()
    assert kserve.predict(SEGMENTATION, data=photo).status_code == 200
    text = kserve.metrics_text()
    workers = kserve.http.get(f"{kserve.worker_metrics_url}/metrics", timeout=10).text
    lines = [ln for ln in workers.splitlines() if ln.startswith("closet_stage_seconds_bucket")
             and f'model_name="{SEGMENTATION}"' in ln and 'stage="handler"' in ln]
    les = sorted({float(ln.split('le="')[1].split('"')[0]) for ln in lines} - {float("inf")})
    assert les == list(LATENCY_BUCKETS)  # closet's 10 ms .. 60 s, not the Java client's 5 ms .. 10 s
    assert not any("Hostname=" in ln for ln in lines)  # the worker port's labels (closet.metrics)
    assert "closet_stage_seconds" not in text  # served once, like TorchServe's workers serve it
    counts = [ln for ln in text.splitlines() if ln.startswith("closet_batch_size_count")]
    assert counts and all("Hostname=" in ln for ln in counts)  # the metrics port's labels

    def value(text: str, prefix: str, label: str) -> float:
        return sum(float(ln.rsplit(" ", 1)[1]) for ln in text.splitlines() if ln.startswith(prefix) and label in ln)

    for name in ("ts_inference_requests_total", "ts_queue_latency_microseconds", "ts_inference_latency_microseconds"):
        assert value(text, name, f'model_name="{SEGMENTATION}"') > value(before, name, f'model_name="{SEGMENTATION}"')
    assert value(text, "Requests2XX", 'Level="Host"') > value(before, "Requests2XX", 'Level="Host"')
    assert "request_predict_seconds_bucket" in text  # KServe's own histograms stay
    assert "_created" not in text  # as on TorchServe


def test_the_charts_probes_pass(kserve):
    """The chart's readiness/startup probe (helm/closet/scripts/ready.py on the management API) and its
    liveness route (/api-description) work on the KServe runtime as on TorchServe."""
    import subprocess
    import sys

    from closet.config import REPO_ROOT

    r = subprocess.run([sys.executable, str(REPO_ROOT / "helm" / "closet" / "scripts" / "ready.py"),
                        "--management", kserve.management_url, "--models", ",".join(kserve.models)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("ready:"), r.stdout + r.stderr
    bad = subprocess.run([sys.executable, str(REPO_ROOT / "helm" / "closet" / "scripts" / "ready.py"),
                          "--management", kserve.management_url, "--models", "evil"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "404" in bad.stdout
    live = kserve.http.get(f"{kserve.inference_url}/api-description", timeout=30)
    assert live.status_code == 200 and "/predictions/{model_name}" in live.json()["paths"]


def test_one_scrape_port_carries_every_metric(tmp_path):
    """--worker-metrics-port equal to --metrics-port (k8s/kserve/closet-runtime.yaml: KServe scrapes one
    port) serves the own-bucket histograms beside the other metrics. Its own small server: translation."""
    from closet.config import TRANSLATION
    from closet_dev.kserve import ephemeral
    from closet_dev.torchserve import MODEL_STORE

    mar = MODEL_STORE / f"{TRANSLATION}.mar"
    if not mar.is_file():
        pytest.skip(f"{mar} is not built (run `make mars`)")
    with ephemeral(tmp_path, [mar]) as ks:
        port = ks.metrics_url.rsplit(":", 1)[1]
        ks.server.stop()
        ks.server.extra_args = ("--worker-metrics-port", port)
        ks.server.start()
        ks.server.wait_ready([TRANSLATION], timeout=300)
        r = ks.http.post(f"{ks.inference_url}/predictions/{TRANSLATION}", data={"describe": "true"}, timeout=60)
        assert r.status_code == 200
        text = ks.metrics_text()
        assert 'closet_stage_seconds_count{model_name="translation",stage="handler"}' in text
        assert "ts_inference_requests_total" in text and "closet_batch_size_count" in text


def test_both_runtimes_give_the_same_bytes(torchserve, kserve):
    """The same archive, handler and request: the same answer, byte for byte, from either server."""
    import skimage.data

    from closet.config import ENSEMBLE

    for ts in (torchserve, kserve):
        ts.require(ENSEMBLE)
    astronaut = png(skimage.data.astronaut())
    calls = [(SEGMENTATION, {"data": astronaut, "headers": {"X-Closet-Output": "rgba"}}),
             (ENSEMBLE, {"files": {"image": ("a.png", astronaut, "image/png"), "target": (None, "coat"),
                                   "seed": (None, "7")}})]
    for model, kw in calls:
        a, b = torchserve.predict(model, timeout=600, **kw), kserve.predict(model, timeout=600, **kw)
        assert a.status_code == b.status_code == 200, (a.text[:200], b.text[:200])
        assert a.headers["content-type"] == b.headers["content-type"] == "image/png"
        assert a.content == b.content, model


def test_answers_over_max_response_size_are_413_on_every_protocol(kserve, photo, tmp_path):
    """The response limit of the handler base (ClosetHandler.fit) holds here too: REST, v2 JSON and
    gRPC refuse the one oversized answer as too_large; a smaller answer of the same photo passes.
    Its own server: segmentation, with max_response_size just under the RGBA cut-out (CLOSET_CONFIG)."""
    import base64

    import yaml

    from closet import config as closet_config
    from closet_dev.kserve import ephemeral
    from closet_dev.torchserve import MODEL_STORE

    kserve.require(SEGMENTATION)
    rgba = kserve.predict(SEGMENTATION, data=photo, headers={"X-Closet-Output": "rgba"})
    mask = kserve.predict(SEGMENTATION, data=photo)
    assert rgba.status_code == mask.status_code == 200 and len(mask.content) < len(rgba.content) - 1
    raw = yaml.safe_load(closet_config.DEFAULT_PATH.read_text())
    raw["server"]["max_response_size"] = len(rgba.content) - 1
    cfg = tmp_path / "closet.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    with ephemeral(tmp_path / "ks", [MODEL_STORE / f"{SEGMENTATION}.mar"], extra_env={"CLOSET_CONFIG": str(cfg)}) as ks:
        r = ks.predict(SEGMENTATION, data=photo, headers={"X-Closet-Output": "rgba"})
        assert r.status_code == 413 and r.json()["reason"] == "too_large", r.text[:300]
        assert ks.predict(SEGMENTATION, data=photo).content == mask.content
        body = {"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES",
                            "data": [base64.b64encode(photo).decode()], "parameters": {"output": "rgba"}}]}
        r = ks.http.post(f"{ks.inference_url}/v2/models/{SEGMENTATION}/infer", json=body, timeout=300)
        assert r.status_code == 413 and r.json()["reason"] == "too_large", r.text[:300]
        with grpc.insecure_channel(ks.server.grpc_target) as channel:
            with pytest.raises(grpc.RpcError) as e:
                pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(pb.ModelInferRequest(
                    model_name=SEGMENTATION, inputs=[image_tensor(photo, output="rgba")]), timeout=300)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert json.loads(e.value.details())["reason"] == "too_large"
