"""The image labels that say which checkpoints an image serves, read from the MARs it packs.

    python3 tools/image_labels.py model-store/*.mar      # one `key=value` per line (ci/build-image.sh)

Each closet MAR carries closet-build.json (input file name -> the path it was built from, and the
build settings) and closet-manifest.json (sha256 of every file, checked by the worker before it
loads). The labels come from those two files, so they describe the bytes in the image, whatever
path or URL the checkpoints came from:

    closet.checkpoint.<input>.sha256   e.g. closet.checkpoint.stargan.sha256 (input stargan.ckpt)
    closet.checkpoint.<input>.file     the file name it was built from (never a URL: URLs may be signed)
    closet.parser                      schp-<dataset>, or pose-garment when no SCHP checkpoint is packed
    closet.models                      the model names served, comma-separated

Two MARs that pack the same input with different digests (a stale MAR) are refused.
Standard library only: the image build job has python3 but no venv.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import zipfile
from pathlib import Path, PurePosixPath

log = logging.getLogger("image_labels")

BUILD_INFO = "closet-build.json"
MANIFEST = "closet-manifest.json"
PREFIX = "closet."
SCHP_INPUT = "schp.pth"  # closet_dev/mar.py: the optional parser checkpoint's name inside a MAR


def read_mar(path: Path) -> tuple[dict, dict]:
    """(closet-build.json, closet-manifest.json's files) of one MAR."""
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        if BUILD_INFO not in names or MANIFEST not in names:
            raise ValueError(f"{path}: not a closet MAR (no {BUILD_INFO} / {MANIFEST})")
        return json.loads(z.read(BUILD_INFO)), json.loads(z.read(MANIFEST))["files"]


def labels(mars: list[Path]) -> dict[str, str]:
    """Label key -> value for the given MARs (see module docstring)."""
    if not mars:
        raise ValueError("no MARs given: run `make mars`")
    inputs: dict[str, tuple[str, str, Path]] = {}  # input name -> (sha256, source file name, first MAR)
    models, parser = [], "pose-garment"
    for mar in sorted(mars):
        info, files = read_mar(mar)
        models.append(info["model"])
        for name, source in sorted(info["inputs"].items()):
            digest = files[name]
            seen = inputs.setdefault(name, (digest, PurePosixPath(source).name, mar))
            if seen[0] != digest:
                raise ValueError(f"{name}: {seen[2].name} packs sha256 {seen[0]}, {mar.name} packs {digest}; "
                                 "rebuild the MARs (`make mars`)")
            if name == SCHP_INPUT:
                parser = f"schp-{info['settings'].get('PARSER_DATASET', 'atr')}"
    out = {}
    for name, (digest, source, _) in sorted(inputs.items()):
        key = PREFIX + "checkpoint." + PurePosixPath(name).stem
        out[key + ".sha256"] = digest
        out[key + ".file"] = source
    out[PREFIX + "parser"] = parser
    out[PREFIX + "models"] = ",".join(sorted(models))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mars", nargs="*", type=Path)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    try:
        found = labels(args.mars)
    except (ValueError, KeyError, zipfile.BadZipFile) as e:
        log.error("%s", e)
        return 1
    sys.stdout.write("".join(f"{k}={v}\n" for k, v in found.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
