"""The files the Helm chart reads with `.Files.Get`: byte-for-byte copies, generated, never symlinks.

helm/closet/ may not reach outside itself: helm warns on every symlink, and GitOps tools such as
Argo CD refuse symlinks that leave a chart. So the chart carries copies of its inputs, written
here from their one source and checked for drift by `make chart-check` and the tests:

    config/metrics.yaml                    -> helm/closet/files/metrics.yaml
    config/memory.yaml                     -> helm/closet/files/memory.yaml (what a pod needs, closet_dev.memory)
    config/model-config/<model>-...yaml    -> helm/closet/files/model-config/
    monitoring/rules/*.yml                 -> helm/closet/files/monitoring/rules/
    monitoring/grafana/closet.json         -> helm/closet/files/monitoring/grafana/closet.json
    openapi/closet.yaml                    -> helm/closet/files/openapi/closet.yaml (the web page's contract)
    helm/closet/values-cpu.yaml            -> helm/closet/ci/cpu-values.yaml (the CI scenario)

    python -m closet_dev.chart_files           write the copies (and remove stale ones under files/)
    python -m closet_dev.chart_files --check   exit 1 naming every copy that differs, is missing or is stale
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from closet.config import REPO_ROOT

log = logging.getLogger(__name__)

CHART = REPO_ROOT / "helm" / "closet"
FILES = CHART / "files"


def copies(root: Path = REPO_ROOT) -> dict[Path, Path]:
    """Destination (in the chart) -> source (in the repo), for every generated chart file."""
    chart_files = root / "helm" / "closet" / "files"
    out = {chart_files / "metrics.yaml": root / "config" / "metrics.yaml",
           chart_files / "memory.yaml": root / "config" / "memory.yaml"}
    for src in sorted((root / "config" / "model-config").glob("*.yaml")):
        out[chart_files / "model-config" / src.name] = src
    for src in sorted((root / "monitoring" / "rules").glob("*.yml")):
        out[chart_files / "monitoring" / "rules" / src.name] = src
    out[chart_files / "monitoring" / "grafana" / "closet.json"] = root / "monitoring" / "grafana" / "closet.json"
    out[chart_files / "openapi" / "closet.yaml"] = root / "openapi" / "closet.yaml"
    out[root / "helm" / "closet" / "ci" / "cpu-values.yaml"] = root / "helm" / "closet" / "values-cpu.yaml"
    return out


def drift(root: Path = REPO_ROOT) -> list[str]:
    """One line per copy that differs from its source, is missing, is a symlink, or is stale."""
    wanted = copies(root)
    problems = []
    for dest, src in wanted.items():
        rel = dest.relative_to(root)
        if dest.is_symlink():
            problems.append(f"{rel}: a symlink (the chart must hold a copy of {src.relative_to(root)})")
        elif not dest.is_file():
            problems.append(f"{rel}: missing (copy of {src.relative_to(root)})")
        elif dest.read_bytes() != src.read_bytes():
            problems.append(f"{rel}: differs from {src.relative_to(root)}")
    files_dir = root / "helm" / "closet" / "files"
    for p in sorted(files_dir.rglob("*")) if files_dir.is_dir() else []:
        if (p.is_file() or p.is_symlink()) and p not in wanted:
            problems.append(f"{p.relative_to(root)}: stale (no source generates it)")
    return problems


def write(root: Path = REPO_ROOT) -> list[Path]:
    """Write every copy (replacing symlinks) and remove stale files under files/; returns what changed."""
    wanted = copies(root)
    changed = []
    for dest, src in wanted.items():
        data = src.read_bytes()
        if dest.is_symlink() or not dest.is_file() or dest.read_bytes() != data:
            if dest.is_symlink():
                dest.unlink()
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
            changed.append(dest)
    files_dir = root / "helm" / "closet" / "files"
    for p in sorted(files_dir.rglob("*"), reverse=True):
        if (p.is_file() or p.is_symlink()) and p not in wanted:
            p.unlink()
            changed.append(p)
        elif p.is_dir() and not p.is_symlink() and not any(p.iterdir()):
            p.rmdir()
    return changed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m closet_dev.chart_files", description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="report drift instead of writing")
    args = ap.parse_args(argv)
    if args.check:
        problems = drift()
        for line in problems:
            log.error("%s", line)
        if problems:
            log.error("run `make chart` to regenerate the chart's copies")
        return 1 if problems else 0
    for p in write():
        log.info("%s %s", "wrote" if p.exists() else "removed", p.relative_to(REPO_ROOT))
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sys.exit(main())
