"""What a built model archive (.mar) holds, as a worker reads it.

A stage declares the files it needs (`ArchiveFile`) and the build settings it reads (`Setting`);
the builder (closet_dev/mar.py) packs them, records the settings in closet-build.json and hashes
every file into closet-manifest.json. A worker verifies that manifest before loading anything and
reads settings here, so it never imports the builder.

Standard library only: the builder's make rules are printed from these declarations.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

MANIFEST_NAME = "closet-manifest.json"
BUILD_INFO_NAME = "closet-build.json"
MAR_INF = "MAR-INF"  # written by torch-model-archiver (holds a timestamp), not covered by the manifest
# A photo of a person every archive packs (source: WARM_UP_SOURCE): each worker answers it once at
# load, so the first real request does not pay for first-call allocations.
WARM_UP_PHOTO = "warmup.jpg"
WARM_UP_SOURCE = "assets/warmup.jpg"  # scikit-image's astronaut (NASA, public domain) at 256x256


@dataclass(frozen=True)
class ArchiveFile:
    """One file a stage needs inside its archive."""

    name: str  # file name inside the archive
    var: str  # make/env variable that overrides the source path, e.g. STARGAN_CKPT
    default: str  # repo-relative default source ("" = none)
    required: bool = True  # an optional file is skipped when its source is unset or missing


@dataclass(frozen=True)
class Setting:
    """One build setting a stage reads, recorded into closet-build.json at build time."""

    var: str  # make/env variable, e.g. U2NET_ARCH
    default: str


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def covered(rel: str) -> bool:
    """Whether an archive member is listed in the manifest."""
    parts = rel.split("/")
    return rel != MANIFEST_NAME and parts[0] != MAR_INF and "__pycache__" not in parts


def verify_manifest(model_dir: str | Path) -> int:
    """Check every file listed in closet-manifest.json against its sha256; returns the count.

    Raises RuntimeError on a missing manifest, a missing file or a hash mismatch. Files that are
    not listed (e.g. __pycache__ the worker writes) are ignored; listed ones must all match.
    """
    root = Path(model_dir)
    mf = root / MANIFEST_NAME
    if not mf.is_file():
        raise RuntimeError(f"{MANIFEST_NAME} missing in {root}: refusing to load an unverified archive")
    listed = json.loads(mf.read_text(encoding="utf-8"))["files"]
    bad = []
    for rel, digest in sorted(listed.items()):
        p = root / rel
        if not p.is_file():
            bad.append(f"{rel} (missing)")
        elif sha256_file(p) != digest:
            bad.append(f"{rel} (sha256 mismatch)")
    if bad:
        raise RuntimeError(f"{MANIFEST_NAME} check failed in {root}: {', '.join(bad[:5])}")
    return len(listed)


def read_build_info(model_dir: str | Path) -> dict:
    """closet-build.json of an extracted archive ({} when absent, e.g. a unit test's folder)."""
    p = Path(model_dir) / BUILD_INFO_NAME
    return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else {}


def setting(model_dir: str | Path, s: Setting) -> str:
    """The value `s` was built with, or its default (a folder that is not an archive)."""
    return read_build_info(model_dir).get("settings", {}).get(s.var) or s.default
