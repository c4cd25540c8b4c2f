"""The page's option controls, read from the API contract (openapi/closet.yaml), not written into the page.

Every multipart field of POST /predictions/closet that the page does not handle itself becomes a control:
an enum of true/false a checkbox, another enum a drop-down, anything else a text box. An option added to
the spec (where every option must be declared anyway: the multipart schema is closed) appears on the page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# Fields with their own controls on the page (photo, style) or that the app sets (return=json).
PAGE_FIELDS = frozenset({"image", "reference", "target", "mode", "seed", "return"})
BOOL_WORDS = frozenset({"true", "false"})


def load_spec(path: str | Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def _resolve(spec: dict, node: dict) -> dict:
    """A property with its $ref followed; the property's own keys (default, description) win."""
    merged: dict[str, Any] = {}
    while "$ref" in node:
        target = spec
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        merged = {**target, **merged, **{k: v for k, v in node.items() if k != "$ref"}}
        node = target
    return {**node, **merged}


def page_options(spec: dict, model: str = "closet") -> list[dict]:
    """[{name, label, kind: bool|choice|text, choices, default, help}] for the model's extra options, in spec order."""
    schema = spec["paths"][f"/predictions/{model}"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    out = []
    for name, prop in schema["properties"].items():
        if name in PAGE_FIELDS:
            continue
        p = _resolve(spec, prop)
        enum = [str(v) for v in p.get("enum") or []]
        default = p.get("default")
        if BOOL_WORDS <= set(enum):
            kind, choices = "bool", ["true", "false"]
        elif enum:
            kind, choices = "choice", enum
        else:
            kind, choices = "text", []
        out.append({"name": name, "label": name.replace("_", " "), "kind": kind, "choices": choices,
                    "default": None if default is None else str(default).lower(),
                    "help": " ".join(str(p.get("description", "")).split())})
    return out
