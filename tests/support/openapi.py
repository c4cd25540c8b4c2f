"""Check real HTTP responses against openapi/closet.yaml (status, content type, headers, JSON body).

The spec is OpenAPI 3.1, whose schemas are JSON Schema 2020-12: component schemas are
validated with jsonschema (openapi-core is not installed here).
"""

from __future__ import annotations

import base64
import io
import json
from functools import lru_cache

import jsonschema
import numpy as np
import yaml
from PIL import Image

from closet.config import REPO_ROOT

SPEC_PATH = REPO_ROOT / "openapi" / "closet.yaml"


@lru_cache(maxsize=1)
def spec() -> dict:
    return yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))


def _validate(instance, schema: dict) -> None:
    root = {"components": spec()["components"], **schema}
    jsonschema.Draft202012Validator(root).validate(instance)


def validate_schema(instance, name: str) -> None:
    """Validate `instance` against components/schemas/<name>."""
    _validate(instance, {"$ref": f"#/components/schemas/{name}"})


def _resolve(obj: dict) -> dict:
    while "$ref" in obj:
        node = spec()
        for part in obj["$ref"].lstrip("#/").split("/"):
            node = node[part]
        obj = node
    return obj


def check_response(path: str, response) -> object:
    """Assert a requests.Response matches the spec's POST `path`; returns the parsed JSON body or bytes."""
    op = spec()["paths"][path]["post"]
    status = str(response.status_code)
    assert status in op["responses"], f"{path}: undocumented status {status}: {response.text[:300]}"
    documented = _resolve(op["responses"][status])
    ctype = response.headers.get("content-type", "").split(";")[0].strip()
    content = documented.get("content", {})
    assert ctype in content, f"{path} {status}: undocumented content type {ctype!r} (documented {list(content)})"
    for name, header in documented.get("headers", {}).items():
        header = _resolve(header)
        assert name in response.headers, f"{path} {status}: missing header {name}"
        _validate(response.headers[name], header["schema"])
    if ctype == "application/json":
        body = response.json()
        _validate(body, content[ctype]["schema"])
        return body
    return response.content


def b64_image(data: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))))


def v2_payload(response_json: dict) -> dict:
    """The JSON carried in a v2 response's one BYTES output."""
    validate_schema(response_json, "V2Response")
    return json.loads(response_json["outputs"][0]["data"][0])
