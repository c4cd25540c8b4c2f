"""closet.serving.kserve_v2: KServe v2 bodies / input tensors and v1 instances -> requests; replies."""

from __future__ import annotations

import base64

import pytest

from closet.errors import BadImage, BadOption
from closet.serving import kserve_v2
from closet.serving.options import Option, boolean, integer

SPEC = {"target": Option(str, None), "seed": Option(integer(0, 9), None), "preserve_color": Option(boolean, True)}


def tensor(**kw):
    base = {"name": "image", "shape": [1], "datatype": "BYTES", "data": base64.b64encode(b"PNGDATA").decode()}
    return {**base, **kw}


def test_detects_envelope_rows_only():
    assert kserve_v2.is_input_tensor(tensor())
    assert not kserve_v2.is_input_tensor({"body": b"x"})
    assert not kserve_v2.is_input_tensor({"name": "x", "data": "y"})


def test_bytes_and_uint8_inputs_with_parameters():
    req = kserve_v2.parse_input(tensor(parameters={"target": "coat", "seed": 3, "preserve_color": False}), {},
                                SPEC, ("reference",), 64)
    assert req.image == b"PNGDATA" and req.options == {"target": "coat", "seed": 3, "preserve_color": False}
    assert kserve_v2.wants(req)
    raw = kserve_v2.parse_input(tensor(datatype="UINT8", shape=[3], data=[1, 2, 255]), {}, SPEC, (), 64)
    assert raw.image == bytes([1, 2, 255])
    ref = kserve_v2.parse_input(tensor(parameters={"reference": base64.b64encode(b"REF").decode()}), {},
                                SPEC, ("reference",), 64)
    assert ref.files == {"reference": b"REF"}


def test_headers_still_apply_and_conflicts_are_refused():
    req = kserve_v2.parse_input(tensor(), {"X-Closet-Target": "dress"}, SPEC, (), 64)
    assert req.options["target"] == "dress"
    with pytest.raises(BadOption):
        kserve_v2.parse_input(tensor(parameters={"target": "coat"}), {"X-Closet-Target": "dress"}, SPEC, (), 64)


@pytest.mark.parametrize("bad,err", [
    (dict(data="%%%"), BadImage),
    (dict(data=123), BadImage),
    (dict(datatype="FP32", data=[1.5]), BadImage),
    (dict(datatype="UINT8", data=[300]), BadImage),
    (dict(parameters={"colour": "red"}), BadOption),
    (dict(parameters={"seed": 99}), BadOption),
    (dict(parameters={"target": ["a"]}), BadOption),
    (dict(parameters="target=coat"), BadOption),
])
def test_bad_tensors(bad, err):
    with pytest.raises(err):
        kserve_v2.parse_input(tensor(**bad), {}, SPEC, ("reference",), 64)


# -- whole bodies, as TorchServe decodes an application/json request (no envelope) ----------------

def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def v2_body(**kw):
    body = {"id": "r-7", "inputs": [{"name": "image", "shape": [1], "datatype": "BYTES", "data": [b64(b"IMG")],
                                     "parameters": {"target": "coat"}}]}
    return {**body, **kw}


def test_v2_body_id_request_parameters_and_reference_input():
    req = kserve_v2.parse_v2(v2_body(parameters={"seed": 4}), {}, SPEC, ("reference",), 64)
    assert req.image == b"IMG" and req.v2_id == "r-7" and req.protocol == "v2"
    assert req.options == {"target": "coat", "seed": 4, "preserve_color": True}
    ref = {"name": "reference", "shape": [1], "datatype": "BYTES", "data": [b64(b"REF")]}
    body = v2_body(inputs=[ref, *v2_body()["inputs"]], model_name="closet")  # KServe adds model_name
    assert kserve_v2.parse_v2(body, {}, SPEC, ("reference",), 64).files == {"reference": b"REF"}
    assert kserve_v2.parse_body({"instances": [{"b64": b64(b"X")}]}, {}, SPEC, (), 64).protocol == "v1"
    assert kserve_v2.parse_body({"foo": 1}, {}, SPEC, (), 64) is None


@pytest.mark.parametrize("body,err", [
    (v2_body(inputs=[]), BadImage),
    (v2_body(inputs=[{"name": "image"}]), BadImage),
    (v2_body(inputs=[{"name": "a", "shape": [1], "datatype": "BYTES", "data": ["QQ=="]},
                     {"name": "b", "shape": [1], "datatype": "BYTES", "data": ["QQ=="]}]), BadImage),
    (v2_body(parameters={"target": "dress"}), BadOption),  # disagrees with the input's parameter
    (v2_body(parameters=["x"]), BadOption),
    (v2_body(inputs=[{"name": "image", "shape": [2], "datatype": "BYTES", "data": ["QQ==", "QQ=="]}]), BadImage),
])
def test_bad_v2_bodies(body, err):
    with pytest.raises(err):
        kserve_v2.parse_v2(body, {}, SPEC, ("reference",), 64)


def test_v1_instances():
    req = kserve_v2.parse_v1({"instances": [{"b64": b64(b"IMG"), "target": "coat", "seed": 2,
                                             "reference": b64(b"R")}]}, {}, SPEC, ("reference",), 64)
    assert req.image == b"IMG" and req.options["seed"] == 2 and req.files == {"reference": b"R"}
    for bad in ({"instances": []}, {"instances": [{"b64": "QQ=="}, {"b64": "QQ=="}]}, {"instances": [{"x": 1}]},
                {"instances": ["QQ=="]}, {"instances": [{"b64": "%%"}]}):
        with pytest.raises(BadImage):
            kserve_v2.parse_v1(bad, {}, SPEC, (), 64)


def test_format_reply_v2_json_and_image_and_v1():
    req = kserve_v2.parse_v2(v2_body(), {}, SPEC, (), 64)
    doc = kserve_v2.format_reply(req, "closet", {"target": "coat"}, "application/json", "ts-1")
    assert doc["model_name"] == "closet" and doc["id"] == "r-7"
    (out,) = doc["outputs"]
    assert out["datatype"] == "BYTES" and out["shape"] == [1] and out["parameters"]["content_type"] == "application/json"
    assert __import__("json").loads(out["data"][0]) == {"target": "coat"}
    req.v2_id = ""
    doc = kserve_v2.format_reply(req, "translation", b"\x89PNG", "image/png", "ts-1")
    assert doc["id"] == "ts-1" and base64.b64decode(doc["outputs"][0]["data"][0]) == b"\x89PNG"
    assert doc["outputs"][0]["parameters"]["content_type"] == "image/png"
    v1 = kserve_v2.parse_v1({"instances": [{"b64": b64(b"I")}]}, {}, SPEC, (), 64)
    assert kserve_v2.format_reply(v1, "closet", {"a": 1}, "application/json") == {"predictions": [{"a": 1}]}
