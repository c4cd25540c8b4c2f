"""The KServe runtime without a server: archive loading, the v2 wire decoding, ClosetModel.predict in-process.

A real segmentation.mar built by the archive table (random-init weights: contents, not quality) is
extracted and served by ClosetModel; KServe's protocol objects (InferRequest, InferResponse) are
built the way KServe's REST and gRPC layers build them.
"""

from __future__ import annotations

import asyncio
import io
import json
import struct

import numpy as np
import pytest
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferInput, InferRequest, InferResponse, serialize_byte_tensor
from PIL import Image

from closet.errors import BadImage, ClosetError
from closet.kserve import archive as kserve_archive
from closet.kserve.model import ClosetModel, Refused, tensor_dict
from closet.kserve.rest import binary_request, json_request
from closet.metrics import Sink


def png(w: int, h: int, seed: int = 0) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


class ListSink(Sink):
    def __init__(self):
        self.seen = []

    def record(self, spec, value, labels):
        self.seen.append((spec.name, labels))


@pytest.fixture(scope="module")
def model(segmentation_mar, tmp_path_factory):
    archive = kserve_archive.extract(segmentation_mar, tmp_path_factory.mktemp("models"))
    m = ClosetModel(archive, "cpu", ListSink())
    assert m.load() and m.ready
    return m


def predict(model, payload):
    async def go():
        headers: dict[str, str] = {}
        try:
            return await model.predict(payload, {}, headers), headers
        finally:
            await model.batcher.close()

    return asyncio.run(go())


def test_archive_is_the_mars_handler_and_code(segmentation_mar, tmp_path):
    a = kserve_archive.extract(segmentation_mar, tmp_path)
    assert (a.name, a.version, a.handler_file) == ("segmentation", "1.0", "segmentation.py")
    h = kserve_archive.handler_of(a)
    assert type(h).__name__ == "SegmentationHandler" and h.name == "segmentation"
    assert kserve_archive.code_drift(a) == []  # built from the closet this process runs


def test_code_drift_names_files_built_from_other_sources(segmentation_mar, tmp_path):
    import shutil

    a = kserve_archive.extract(segmentation_mar, tmp_path / "x")
    other = tmp_path / "closet"
    shutil.copytree(kserve_archive.RUNTIME_PACKAGE, other, ignore=shutil.ignore_patterns("__pycache__"))
    (other / "errors.py").write_text((other / "errors.py").read_text() + "\n# edited\n")
    assert kserve_archive.code_drift(a, other) == ["closet/errors.py"]


def test_a_tampered_archive_does_not_load(segmentation_mar, tmp_path):
    a = kserve_archive.extract(segmentation_mar, tmp_path)
    target = a.model_dir / "closet" / "stages" / "segment.py"
    target.write_text(target.read_text() + "\n# changed\n")
    m = ClosetModel(a, "cpu")
    with pytest.raises(RuntimeError, match="closet/stages/segment.py"):
        m.load()
    assert not m.ready


def test_a_file_that_is_no_archive_is_refused(tmp_path):
    import zipfile

    bogus = tmp_path / "bogus.mar"
    with zipfile.ZipFile(bogus, "w") as z:
        z.writestr("hello.txt", "hi")
    with pytest.raises(RuntimeError, match="not a torch-model-archiver archive"):
        kserve_archive.extract(bogus, tmp_path / "out")


def test_batching_settings_come_from_the_archives_config(model):
    cfg = model.handler.config.model("segmentation")
    assert (model.batcher.max_size, model.batcher.max_delay_s) == (cfg.batch_size, cfg.max_batch_delay_ms / 1000)
    assert model.batcher.max_queue == model.handler.config.server.job_queue_size


def test_v2_json_request_gets_the_torchserve_reply_shape(model):
    req = InferRequest("segmentation", [InferInput("image", [1], "BYTES", [b64(png(40, 30))],
                                                   {"output": "rgba"})], request_id="r-1")
    body, headers = predict(model, req)
    assert body["id"] == "r-1" and body["model_name"] == "segmentation"
    out = body["outputs"][0]
    assert out["parameters"]["content_type"] == "image/png" and headers["X-Closet-Output"] == "rgba"
    import base64

    rgba = np.asarray(Image.open(io.BytesIO(base64.b64decode(out["data"][0]))))
    assert rgba.shape == (30, 40, 4)
    recorded = {name for name, _ in model.sink.seen}
    assert {"closet_stage_seconds", "closet_batch_size", "closet_requests_total"} <= recorded


def test_v1_instances(model):
    body, _ = predict(model, {"instances": [{"b64": b64(png(20, 10))}]})
    (pred,) = body["predictions"]
    assert pred["content_type"] == "image/png"


def test_binary_wire_bytes_are_the_file_and_the_reply_is_binary_too(model):
    photo = png(24, 16)
    inp = InferInput("image", [1], "BYTES")
    inp._raw_data = serialize_byte_tensor(np.array([photo], dtype=object)).item()  # as KServe's clients send it
    req = InferRequest("segmentation", [inp], request_id="g-1", from_grpc=True, raw_inputs=[inp._raw_data])
    res, _ = predict(model, req)
    assert isinstance(res, InferResponse) and res.id == "g-1"
    grpc = res.to_grpc()
    (raw,) = grpc.raw_output_contents  # binary in, binary out (KServe's gRPC rule)
    (n,) = struct.unpack_from("<I", raw)
    assert np.asarray(Image.open(io.BytesIO(raw[4:4 + n]))).shape == (16, 24)
    assert grpc.outputs[0].parameters["content_type"].string_param == "image/png"


def test_uint8_on_the_binary_wire(model):
    photo = png(12, 12)
    inp = InferInput("image", [len(photo)], "UINT8")
    inp._raw_data = photo
    body, _ = predict(model, InferRequest("segmentation", [inp]))
    assert body["outputs"][0]["parameters"]["content_type"] == "image/png"


@pytest.mark.parametrize("inp, reason", [
    (InferInput("image", [3], "FP32", [1.0, 2.0, 3.0]), "bad_image"),
    (InferInput("image", [2], "BYTES", ["QQ=="]), "bad_image"),
    (InferInput("image", [1], "BYTES", [b64(png(8, 8))], {"output": "sepia"}), "bad_option"),
    (InferInput("image", [1], "BYTES", [b64(b"not an image")]), "bad_image"),
])
def test_refusals_carry_closets_error(model, inp, reason):
    with pytest.raises(Refused) as e:
        predict(model, InferRequest("segmentation", [inp]))
    assert isinstance(e.value, InvalidInput)  # gRPC: INVALID_ARGUMENT
    assert e.value.error.reason == reason and json.loads(str(e.value))["reason"] == reason


def test_malformed_binary_bytes_are_refused():
    inp = InferInput("image", [1], "BYTES")
    inp._raw_data = b"\xff\xff\xff\x7f" + b"x"  # declares 2 GB, holds 1 byte
    with pytest.raises(BadImage, match="malformed"):
        tensor_dict(inp)


# -- the REST body decoders ------------------------------------------------------------------------
def _binary_body(tensors: list[tuple[dict, bytes]], extra: dict | None = None) -> tuple[bytes, str]:
    head = json.dumps({"id": "b", "inputs": [t for t, _ in tensors], **(extra or {})}).encode()
    return head + b"".join(data for _, data in tensors), str(len(head))


def test_binary_request_keeps_bytes_elements_as_bytes():
    photo = png(8, 8)
    raw = struct.pack("<I", len(photo)) + photo
    body, n = _binary_body([({"name": "image", "shape": [1], "datatype": "BYTES",
                              "parameters": {"binary_data_size": len(raw), "target": "coat"}}, raw)],
                           {"parameters": {"binary_data_output": True}})
    req = binary_request(body, n, "closet")
    assert req.id == "b" and req.use_binary_outputs
    t = tensor_dict(req.inputs[0])
    assert t["data"] == [photo] and t["parameters"]["target"] == "coat"


@pytest.mark.parametrize("mutate, message", [
    (lambda body, n: (body, "0"), "length of the JSON part"),
    (lambda body, n: (body, str(len(body) + 1)), "length of the JSON part"),
    (lambda body, n: (body, "abc"), "length of the JSON part"),
    (lambda body, n: (body + b"extra", n), "do not add up"),
    (lambda body, n: (body[:-3], n), "does not fit the body"),
])
def test_binary_request_refuses_inconsistent_bodies(mutate, message):
    body, n = _binary_body([({"name": "image", "shape": [4], "datatype": "UINT8",
                              "parameters": {"binary_data_size": 4}}, b"\x01\x02\x03\x04")])
    with pytest.raises(BadImage, match=message):
        binary_request(*mutate(body, n), "segmentation")


def test_binary_request_needs_data_or_a_size():
    body, n = _binary_body([({"name": "image", "shape": [1], "datatype": "BYTES"}, b"")])
    with pytest.raises(BadImage, match="neither 'data' nor 'binary_data_size'"):
        binary_request(body, n, "segmentation")


def test_json_request_errors_name_the_field_not_the_input():
    with pytest.raises(ClosetError) as e:
        json_request(json.dumps({"inputs": [{"name": "image", "shape": ["x" * 500], "datatype": "BYTES",
                                             "data": ["QQ=="]}]}).encode())
    assert "inputs.0.shape.0" in json.dumps(e.value.to_json()) and "x" * 100 not in json.dumps(e.value.to_json())


# -- starting it: closet_dev.kserve ------------------------------------------------------------------
def test_the_launcher_command_is_the_servers_command_line(tmp_path):
    from closet import config as closet_config
    from closet.kserve.server import build_parser
    from closet_dev.kserve import KServeProcess

    cfg = closet_config.load()
    srv = KServeProcess.from_config(cfg, tmp_path / "store", tmp_path / "logs")
    cmd = srv.command()
    assert cmd[1:3] == ["-m", "closet.kserve"]
    args = build_parser().parse_args(cmd[3:])
    s = cfg.server
    assert (args.inference_port, args.grpc_port, args.management_port, args.metrics_port, args.worker_metrics_port,
            args.bind) == (s.inference_port, s.grpc_port, s.management_port, s.metrics_port, s.worker_metrics_port,
                           s.bind)
    assert args.models is None  # every built archive
    srv.load_models = ("closet.mar",)
    srv.extra_args = ("--worker-metrics-port", str(s.metrics_port))
    args = build_parser().parse_args(srv.command()[3:])
    assert args.models == ["closet"] and args.worker_metrics_port == s.metrics_port  # the later option wins
    assert srv.pid_file != "torchserve.pid"  # `make stop` stops both runtimes by their own pid files
