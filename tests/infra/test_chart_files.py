"""The chart is self-contained and its generated files are current (copies, README), as `make config-check` is for config."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from closet_dev import chart_files, chart_readme

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "closet"
HELM = ROOT / ".cache" / "bin" / "helm"


def test_chart_has_no_symlinks():
    links = [
        str(Path(d, n).relative_to(ROOT))
        for d, dirs, files in os.walk(CHART)
        for n in dirs + files
        if Path(d, n).is_symlink()
    ]
    assert not links, f"symlinks in the chart (Argo CD refuses those leaving it; helm warns): {links}"


def test_copies_equal_their_sources():
    problems = chart_files.drift()
    assert not problems, "\n".join(problems) + "\nrun `make chart`"
    # Every file .Files.Get reads is one of the generated copies.
    wanted = set(chart_files.copies())
    assert {p for p in (CHART / "files").rglob("*") if p.is_file()} <= wanted


def test_drift_is_detected(tmp_path):
    """The check can fail: an edited copy, a missing one, a stale one and a symlink are each reported."""
    root = tmp_path / "repo"
    for rel in ("config", "monitoring/rules", "monitoring/grafana", "openapi", "helm/closet"):
        shutil.copytree(ROOT / rel, root / rel, symlinks=True, dirs_exist_ok=True)
    assert chart_files.drift(root) == []
    files = root / "helm" / "closet" / "files"
    (files / "metrics.yaml").write_text("edited\n")
    (files / "monitoring" / "grafana" / "closet.json").unlink()
    (files / "monitoring" / "rules" / "old.yml").write_text("groups: []\n")
    rules = files / "monitoring" / "rules" / "alerts.yml"
    rules.unlink()
    rules.symlink_to(root / "monitoring" / "rules" / "alerts.yml")
    problems = "\n".join(chart_files.drift(root))
    assert "files/metrics.yaml: differs from config/metrics.yaml" in problems
    assert "closet.json: missing" in problems
    assert "rules/old.yml: stale" in problems
    assert "rules/alerts.yml: a symlink" in problems
    chart_files.write(root)
    assert chart_files.drift(root) == []


def test_helm_renders_without_symlink_warnings():
    if not HELM.exists():
        pytest.skip("helm not installed: run `make k8s-tools`")
    r = subprocess.run([str(HELM), "template", "closet", str(CHART)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "symbolic link" not in r.stderr


def test_readme_is_generated_from_the_values_comments():
    assert (CHART / "README.md").read_text(encoding="utf-8") == chart_readme.render(), "run `make chart`"


def test_readme_documents_every_value():
    """Every leaf of values.yaml is a README row or sits under one, with the values' default."""
    values_text = (CHART / "values.yaml").read_text(encoding="utf-8")
    values = yaml.safe_load(values_text)
    rows = {r.key: r for r in chart_readme.rows(values_text)}

    def leaves(node, prefix=""):
        if isinstance(node, dict) and node:
            for k, v in node.items():
                yield from leaves(v, f"{prefix}{k}" if not prefix else f"{prefix}.{k}")
        else:
            yield prefix

    undocumented = [p for p in leaves(values) if not any(p == k or p.startswith(k + ".") for k in rows)]
    assert not undocumented, undocumented
    readme = (CHART / "README.md").read_text(encoding="utf-8")
    assert "| `replicaCount` | int | `2` |" in readme
    assert "| `strategy.rollingUpdate.maxUnavailable`" not in readme  # covered by `strategy`'s row
    assert rows["probes.liveness"].description.startswith("Liveness probe (/api-description)")


def test_readme_generator_reads_helm_docs_comments():
    text = (
        "# -- First line\n# continued.\na: 1\n\n# not a doc comment\nb:\n  # -- Nested.\n  c: [x]\n"
        "  d: 2\n# -- Flag.\ne: false\n"
    )
    assert chart_readme.documented_keys(text) == {"a": "First line continued.", "b.c": "Nested.", "e": "Flag."}
    table = chart_readme.values_table(text)
    assert '| `b.c` | list | `["x"]` | Nested. |' in table and "| `e` | bool | `false` | Flag. |" in table


def test_chart_names_only_files_that_exist():
    """Paths the chart's comments and messages point at (values.yaml once named a missing test file)."""
    text = "\n".join(
        p.read_text(encoding="utf-8")
        for p in CHART.rglob("*")
        if p.is_file() and p.suffix in (".yaml", ".tpl", ".txt", ".gotmpl", ".json") and "files" not in p.parts
    )
    # Repo-relative paths only: not inside another path (helm/closet/...), a URL or an image name.
    paths = set(
        re.findall(
            r"(?<![\w/.:@-])((?:tests|docs|monitoring|config|k8s|closet|closet_dev|loadtest|docker)/"
            r"[\w./-]*\w)",
            text,
        )
    )
    assert paths, "no repo paths found: the pattern is broken"
    missing = sorted(p for p in paths if "*" not in p and not (ROOT / p).exists())
    assert not missing, missing
