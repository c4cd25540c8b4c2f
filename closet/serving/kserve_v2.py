"""KServe request/response bodies (open inference protocol v2, and KServe v1), handled per request.

closet does NOT use TorchServe's `service_envelope` (kservev2 / kserve): in TorchServe 0.12 both
envelopes read only the first request of a batch (`body_list[0]` / `_data_list[0]`), so with
batchSize > 1 concurrent requests got another request's answer or none. Instead TorchServe decodes
an application/json body into a dict, ClosetHandler.parse_json hands it here, and the reply of that
one request is formatted here; plain requests in the same batch keep their plain replies.

v2 request (POST /v2/models/<model>/infer; what KServe's TorchServe runtime forwards, a REST
InferRequest: {"id", "model_name", "inputs", "parameters"?}):
    {"id": "r1", "inputs": [{"name": "image", "datatype": "BYTES", "shape": [1],
                             "data": ["<base64 image>"], "parameters": {"target": "coat"}}],
     "parameters": {...}}
The image is the input named "image" (or the only input); BYTES holds the base64 of the file,
UINT8 the file's bytes as numbers. On a binary wire (the v2 binary_data extension, gRPC: the
KServe runtime, closet/kserve) a BYTES element is the file itself. `shape` must match the data. An input named like a file field (`reference`) is a second
image; a file field may also be a base64 string parameter. Options come from the image input's
`parameters` and the request-level `parameters` (the same key in both must agree).
v2 reply: {"model_name", "id", "outputs": [{"name": "result", "shape": [1], "datatype": "BYTES",
"data": [...], "parameters": {"content_type": ...}}]} where data[0] is the JSON text of a JSON
answer (content_type application/json) or the base64 of an image answer (content_type image/png...).

v1 request (POST /v1/models/<model>:predict): {"instances": [{"b64" | "data": "<base64 image>",
<option>: value, ...}]}, exactly one instance per HTTP request (send concurrent requests instead;
TorchServe batches them). v1 reply: {"predictions": [<JSON answer> | {"b64": ..., "content_type": ...}]}.
Errors are the plain 4xx JSON {"error", "detail", "reason"} for both (v2 defines errors as
{"error": "..."}).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from closet.errors import BadImage, BadOption
from closet.serving.options import IMAGE_FIELD, Option, ParsedRequest, parse_request, safe_preview

V2_KEYS = frozenset({"name", "datatype", "data"})
# Parameters KServe clients attach that carry no closet option.
PROTOCOL_PARAMETERS = frozenset({"content_type", "binary_data", "binary_data_output", "binary_data_size"})
OUTPUT_NAME = "result"


@dataclass
class V2Request(ParsedRequest):
    """A request that arrived as a KServe v2 (or v1) body; its reply is formatted by format_reply."""

    protocol: str = "v2"  # "v2" or "v1"
    v2_id: str = ""  # the request's "id" ("" when it sent none)


def is_input_tensor(row: Any) -> bool:
    """True for a v2 input tensor dict."""
    return isinstance(row, dict) and V2_KEYS <= set(row) and isinstance(row.get("datatype"), str)


def is_v2_body(body: Any) -> bool:
    return isinstance(body, dict) and "inputs" in body


def is_v1_body(body: Any) -> bool:
    return isinstance(body, dict) and "instances" in body


def wants(req: ParsedRequest) -> bool:
    """True when the request came through a KServe body (its answer must be JSON-able)."""
    return isinstance(req, V2Request)


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise BadImage(f"{what} must be a base64 string", "base64-encode the image file")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BadImage(f"{what} is not valid base64", "base64-encode the image file") from None


def _elements(tensor: dict) -> int:
    """The element count the tensor's `shape` declares (BadImage unless a list of non-negative integers)."""
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                              for d in shape):
        raise BadImage("v2 input 'shape' must be a list of non-negative integers", "e.g. \"shape\": [1]")
    return int(np.prod(shape, dtype=np.int64))


def _shape_matches(tensor: dict, count: int) -> None:
    declared = _elements(tensor)
    if declared != count:
        raise BadImage(f"v2 input shape {safe_preview(str(tensor.get('shape')))} declares {declared} elements, "
                       f"the data holds {count}", "BYTES: shape [1] and one element; UINT8: shape [<file size>]")


def _image_bytes(tensor: dict) -> bytes:
    """The image file an input tensor carries.

    A BYTES element is base64 text on a JSON wire, or the file itself on a binary one (the v2
    binary_data extension, gRPC): bytes never arrive through JSON, so the two cannot be confused.
    """
    dtype, data = tensor.get("datatype"), tensor.get("data")
    if dtype == "BYTES":
        if isinstance(data, list):  # the wire form: one element, the file
            if len(data) != 1:
                raise BadImage("v2 BYTES input must hold exactly one element (the image file)")
            data = data[0]
        _shape_matches(tensor, 1)
        if isinstance(data, (bytes, bytearray)):
            return bytes(data)
        if isinstance(data, dict) and "b64" in data:  # {"b64": ...}, as KServe's v1 protocol spells it
            data = data["b64"]
        if not isinstance(data, str):
            raise BadImage("v2 BYTES input must hold one base64 string", "data: [\"<base64 of the image file>\"]")
        return _b64(data, "v2 BYTES input")
    if dtype == "UINT8":
        try:
            arr = np.asarray(data)
        except ValueError:
            arr = np.asarray([], dtype=object)
        if arr.dtype.kind not in "iu" or arr.size == 0 or arr.min() < 0 or arr.max() > 255:
            raise BadImage("v2 UINT8 input must hold the image file's bytes (0..255)")
        _shape_matches(tensor, int(arr.size))
        return arr.astype(np.uint8).tobytes()
    raise BadImage(f"v2 input datatype '{safe_preview(str(dtype))}' is not supported",
                   "send the image file as a BYTES tensor (base64 in JSON, the bytes themselves on a binary wire) "
                   "or a UINT8 tensor of its bytes")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise BadOption("v2 parameters must be strings, numbers or booleans", f"got a {type(value).__name__}")


def _options(params: dict, file_fields: tuple[str, ...], row: dict) -> None:
    """Copy `params` (v2 parameters or v1 instance keys) into a parse_request row."""
    for key, value in params.items():
        name = str(key).lower()
        if name in PROTOCOL_PARAMETERS:
            continue
        if name in file_fields:
            row[name] = _b64(_text(value), f"parameter '{name}'")
        else:
            row[name] = _text(value)


def parse_input(tensor: dict, headers: dict[str, str], spec: dict[str, Option], file_fields: tuple[str, ...],
                max_chars: int, request_id: str = "", extra: dict | None = None) -> V2Request:
    """One v2 image input tensor -> a validated request. Options come from the tensor's `parameters`
    (and `extra`, the request-level parameters); X-Closet-* headers work too."""
    params = tensor.get("parameters") or {}
    if not isinstance(params, dict):
        raise BadOption("v2 input 'parameters' must be an object")
    extra = extra or {}
    for key in set(params) & set(extra):
        if _text(params[key]) != _text(extra[key]):
            raise BadOption(f"parameter '{safe_preview(str(key))}' differs between the input and the request")
    row: dict[str, Any] = {IMAGE_FIELD: _image_bytes(tensor)}
    _options({**extra, **params}, file_fields, row)
    p = parse_request(row, headers, spec, file_fields, max_chars=max_chars, request_id=request_id)
    return V2Request(image=p.image, files=p.files, options=p.options, request_id=p.request_id)


def parse_v2(body: dict, headers: dict[str, str], spec: dict[str, Option], file_fields: tuple[str, ...],
             max_chars: int, request_id: str = "") -> V2Request:
    """A whole v2 InferRequest body (one HTTP request) -> a validated request."""
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs or not all(is_input_tensor(t) for t in inputs):
        raise BadImage("v2 'inputs' must be a list of input tensors {name, shape, datatype, data}",
                       "one input named 'image': {\"name\": \"image\", \"shape\": [1], \"datatype\": \"BYTES\", "
                       "\"data\": [\"<base64 of the image file>\"]}")
    params = body.get("parameters") or {}
    if not isinstance(params, dict):
        raise BadOption("v2 request 'parameters' must be an object")
    files = {t["name"]: t for t in inputs if t["name"] in file_fields}
    images = [t for t in inputs if t["name"] not in file_fields]
    named = [t for t in images if t["name"] == IMAGE_FIELD]
    if len(images) != 1 and len(named) != 1:
        raise BadImage("v2 request must carry one image input (name it 'image')",
                       {"inputs": [safe_preview(str(t["name"])) for t in inputs], "files": list(file_fields)})
    image = named[0] if named else images[0]
    if len(images) > 1:
        others = [safe_preview(str(t["name"])) for t in images if t is not image]
        raise BadOption("unknown v2 inputs", {"inputs": others, "allowed": [IMAGE_FIELD, *file_fields]})
    req = parse_input(image, headers, spec, file_fields, max_chars, request_id, extra=params)
    for name, tensor in files.items():
        if name in req.files:
            raise BadOption(f"'{name}' was sent both as an input and as a parameter")
        req.files[name] = _image_bytes(tensor)
    rid = body.get("id")
    req.v2_id = rid if isinstance(rid, str) else ""
    return req


def parse_v1(body: dict, headers: dict[str, str], spec: dict[str, Option], file_fields: tuple[str, ...],
             max_chars: int, request_id: str = "") -> V2Request:
    """A KServe v1 {"instances": [ {...} ]} body with exactly one instance -> a validated request."""
    instances = body.get("instances")
    if not isinstance(instances, list) or len(instances) != 1 or not isinstance(instances[0], dict):
        raise BadImage("v1 'instances' must hold exactly one object {\"b64\": \"<base64 image>\", options...}",
                       "send one image per request; concurrent requests are batched by the server")
    inst = dict(instances[0])
    keys = [k for k in ("b64", "data") if k in inst]
    if len(keys) != 1:
        raise BadImage("v1 instance must carry the image as 'b64' (or 'data'): a base64 string")
    row: dict[str, Any] = {IMAGE_FIELD: _b64(inst.pop(keys[0]), f"v1 '{keys[0]}'")}
    _options(inst, file_fields, row)
    p = parse_request(row, headers, spec, file_fields, max_chars=max_chars, request_id=request_id)
    return V2Request(image=p.image, files=p.files, options=p.options, request_id=p.request_id, protocol="v1")


def parse_body(body: Any, headers: dict[str, str], spec: dict[str, Option], file_fields: tuple[str, ...],
               max_chars: int, request_id: str = "") -> V2Request | None:
    """A decoded JSON body -> a request when it is a KServe v2 or v1 body, else None."""
    if is_v2_body(body):
        return parse_v2(body, headers, spec, file_fields, max_chars, request_id)
    if is_v1_body(body):
        return parse_v1(body, headers, spec, file_fields, max_chars, request_id)
    return None


def format_reply(req: V2Request, model_name: str, body: bytes | dict, content_type: str,
                 request_id: str = "") -> dict:
    """The KServe reply body for one successful answer (`body`, `content_type`) to `req`."""
    if req.protocol == "v1":
        if isinstance(body, dict):
            return {"predictions": [body]}
        return {"predictions": [{"b64": base64.b64encode(body).decode("ascii"), "content_type": content_type}]}
    if isinstance(body, dict):
        data, ctype = json.dumps(body), "application/json"
    else:
        data, ctype = base64.b64encode(body).decode("ascii"), content_type
    return {
        "model_name": model_name,
        "id": req.v2_id or request_id,
        "outputs": [{"name": OUTPUT_NAME, "shape": [1], "datatype": "BYTES", "data": [data],
                     "parameters": {"content_type": ctype}}],
    }
