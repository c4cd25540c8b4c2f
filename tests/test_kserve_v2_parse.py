"""closet.serving.kserve_v2: v2 input tensors (as TorchServe's kservev2 envelope passes them) -> requests."""

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
