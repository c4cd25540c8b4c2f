"""KServe v2 (open inference protocol) input tensors, as TorchServe's kservev2 envelope passes them.

With `service_envelope=kservev2`, TorchServe (ts/torch_handler/request_envelope/kservev2.py)
hands the handler one row per input tensor of the request:
    {"name": "image", "datatype": "BYTES", "shape": [1], "data": "<base64 image>", "parameters": {...}}
(for BYTES it keeps only data[0]; request-level "parameters" are dropped, so options travel as
the input tensor's parameters). A UINT8 tensor carries the encoded file's bytes as numbers.
The handler's return value per row becomes the data of one output tensor; a JSON string
becomes a BYTES output.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import numpy as np

from closet.errors import BadImage, BadOption
from closet.serving.options import IMAGE_FIELD, Option, ParsedRequest, parse_request, safe_preview

V2_KEYS = frozenset({"name", "datatype", "data"})


class V2Request(ParsedRequest):
    """A request that arrived as a v2 input tensor; its reply must be JSON."""


def is_input_tensor(row: Any) -> bool:
    """True for a row the kservev2 envelope produced (a v2 input tensor dict)."""
    return isinstance(row, dict) and V2_KEYS <= set(row) and isinstance(row.get("datatype"), str)


def wants(req: ParsedRequest) -> bool:
    return isinstance(req, V2Request)


def _image_bytes(tensor: dict) -> bytes:
    dtype, data = tensor.get("datatype"), tensor.get("data")
    if dtype == "BYTES":
        if isinstance(data, dict) and "b64" in data:  # {"b64": ...}, as KServe's v1 protocol spells it
            data = data["b64"]
        if not isinstance(data, str):
            raise BadImage("v2 BYTES input must hold one base64 string", "data: [\"<base64 of the image file>\"]")
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise BadImage("v2 BYTES input is not valid base64", "base64-encode the image file") from None
    if dtype == "UINT8":
        arr = np.asarray(data)
        if arr.dtype.kind not in "iu" or arr.size == 0 or arr.min() < 0 or arr.max() > 255:
            raise BadImage("v2 UINT8 input must hold the image file's bytes (0..255)")
        return arr.astype(np.uint8).tobytes()
    raise BadImage(f"v2 input datatype '{safe_preview(str(dtype))}' is not supported",
                   "send the image file as a BYTES tensor (base64) or a UINT8 tensor of its bytes")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise BadOption("v2 parameters must be strings, numbers or booleans", f"got a {type(value).__name__}")


def parse_input(tensor: dict, headers: dict[str, str], spec: dict[str, Option], file_fields: tuple[str, ...],
                max_chars: int, request_id: str = "") -> V2Request:
    """One v2 input tensor -> a validated request. Options come from the tensor's `parameters`;
    a file field (e.g. `reference`) is a base64 string parameter. X-Closet-* headers work too."""
    params = tensor.get("parameters") or {}
    if not isinstance(params, dict):
        raise BadOption("v2 input 'parameters' must be an object")
    row: dict[str, Any] = {IMAGE_FIELD: _image_bytes(tensor)}
    for key, value in params.items():
        name = str(key).lower()
        if name in file_fields:
            try:
                row[name] = base64.b64decode(_text(value), validate=True)
            except (binascii.Error, ValueError):
                raise BadImage(f"v2 parameter '{name}' is not valid base64") from None
        elif name == "content_type":  # KServe clients add this to BYTES inputs; nothing to do
            continue
        else:
            row[name] = _text(value)
    p = parse_request(row, headers, spec, file_fields, max_chars=max_chars, request_id=request_id)
    return V2Request(image=p.image, files=p.files, options=p.options, request_id=p.request_id)
