"""helm/closet/README.md, generated from the `# --` comments in helm/closet/values.yaml.

The convention is helm-docs': a comment block that starts with `# --` documents the key right
below it, and `#` lines that follow continue it. Every key with such a comment gets one row
(key path, type, default, description); keys under it without one are covered by its default.
The README's prose is helm/closet/README.md.gotmpl, whose `{{ values_table }}` line is replaced.

    python -m closet_dev.chart_readme           write helm/closet/README.md
    python -m closet_dev.chart_readme --check   exit 1 when README.md differs from what would be written
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from closet.config import REPO_ROOT

log = logging.getLogger(__name__)

CHART = REPO_ROOT / "helm" / "closet"
TEMPLATE_NAME = "README.md.gotmpl"
PLACEHOLDER = "{{ values_table }}"
_KEY = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z0-9_./\"-]+):(\s|$)")


@dataclass(frozen=True)
class Row:
    key: str  # dotted path, e.g. probes.startup.periodSeconds
    type: str
    default: object
    description: str


def documented_keys(values_text: str) -> dict[str, str]:
    """Dotted key path -> description, for every key preceded by a `# --` comment block."""
    out: dict[str, str] = {}
    stack: list[tuple[int, str]] = []  # (indent, key) of the enclosing mapping keys
    comment: list[str] | None = None
    for line in values_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            comment = [stripped[4:].strip()]
            continue
        if stripped.startswith("#"):
            if comment is not None:
                comment.append(stripped[1:].strip())
            continue
        if not stripped:
            comment = None
            continue
        m = _KEY.match(line)
        if not m or stripped.startswith("- "):
            comment = None
            continue
        indent = len(m.group("indent"))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([k for _, k in stack] + [m.group("key").strip('"')])
        stack.append((indent, m.group("key").strip('"')))
        if comment is not None:
            out[path] = " ".join(part for part in comment if part)
        comment = None
    return out


def _lookup(values: dict, path: str):
    node = values
    for part in path.split("."):
        node = node[part]
    return node


def _type(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return "null"


def rows(values_text: str) -> list[Row]:
    values = yaml.safe_load(values_text)
    return [
        Row(path, _type(_lookup(values, path)), _lookup(values, path), text)
        for path, text in documented_keys(values_text).items()
    ]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def values_table(values_text: str) -> str:
    """The Markdown table; a key whose sub-keys have rows of their own shows no default of its own."""
    table = rows(values_text)
    keys = [r.key for r in table]
    lines = ["| Key | Type | Default | Description |", "| --- | --- | --- | --- |"]
    for r in table:
        if any(k.startswith(r.key + ".") for k in keys):
            default = "see below"
        else:
            default = "`" + _cell(json.dumps(r.default, separators=(", ", ": "))) + "`"
        lines.append(f"| `{r.key}` | {r.type} | {default} | {_cell(r.description)} |")
    return "\n".join(lines)


def render(chart: Path = CHART) -> str:
    template = (chart / TEMPLATE_NAME).read_text(encoding="utf-8")
    if PLACEHOLDER not in template:
        raise ValueError(f"{chart / TEMPLATE_NAME} has no {PLACEHOLDER} line")
    table = values_table((chart / "values.yaml").read_text(encoding="utf-8"))
    version = yaml.safe_load((chart / "Chart.yaml").read_text(encoding="utf-8"))["version"]
    return template.replace(PLACEHOLDER, table).replace("{{ chart_version }}", str(version))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m closet_dev.chart_readme", description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail when README.md is not what would be written")
    args = ap.parse_args(argv)
    readme = CHART / "README.md"
    text = render()
    if args.check:
        if not readme.is_file() or readme.read_text(encoding="utf-8") != text:
            log.error("%s differs from the values.yaml comments: run `make chart`", readme.relative_to(REPO_ROOT))
            return 1
        return 0
    readme.write_text(text, encoding="utf-8")
    log.info("wrote %s", readme.relative_to(REPO_ROOT))
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sys.exit(main())
