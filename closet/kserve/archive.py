"""A built MAR as the KServe runtime reads it: extracted, manifest-checked, its handler instantiated.

The MAR stays the one packaging unit: the same archive TorchServe loads gives this runtime its
weights, its closet.yaml (batching, limits) and its handler class. The handler module is imported
the way TorchServe imports it (the archive's MAR-INF/MANIFEST.json names the file; the module must
define exactly one class), and `ClosetHandler.setup` checks closet-manifest.json before loading.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

from closet.archive import MANIFEST_NAME, sha256_file
from closet.serving.handler import ClosetHandler

log = logging.getLogger(__name__)

MAR_MANIFEST = "MAR-INF/MANIFEST.json"  # written by torch-model-archiver
RUNTIME_PACKAGE = Path(__file__).resolve().parent.parent  # the closet package this process imported


@dataclass(frozen=True)
class Archive:
    """One extracted archive."""

    name: str  # the model name the archive was built as (MAR-INF modelName)
    version: str
    model_dir: Path
    handler_file: str  # relative to model_dir


def extract(mar: str | Path, root: str | Path) -> Archive:
    """Unpack `mar` into root/<archive stem> (replacing an earlier copy) and read its MAR-INF manifest."""
    mar = Path(mar)
    model_dir = Path(root) / mar.stem
    shutil.rmtree(model_dir, ignore_errors=True)
    model_dir.mkdir(parents=True)
    with zipfile.ZipFile(mar) as z:
        z.extractall(model_dir)  # ZipFile strips absolute paths and '..' from member names
    try:
        model = json.loads((model_dir / MAR_MANIFEST).read_text(encoding="utf-8"))["model"]
        return Archive(model["modelName"], str(model.get("modelVersion", "1.0")), model_dir, model["handler"])
    except (OSError, KeyError, ValueError) as e:
        raise RuntimeError(f"{mar}: not a torch-model-archiver archive ({MAR_MANIFEST}: {e})") from None


def handler_of(archive: Archive) -> ClosetHandler:
    """An instance of the one class the archive's handler module defines (not yet set up)."""
    path = archive.model_dir / archive.handler_file
    spec = importlib.util.spec_from_file_location(f"closet_handler_{archive.name}", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"{archive.name}: cannot import handler {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    classes = [c for c in vars(module).values() if isinstance(c, type) and c.__module__ == module.__name__]
    if len(classes) != 1 or not issubclass(classes[0], ClosetHandler):
        raise RuntimeError(f"{archive.name}: {archive.handler_file} must define exactly one ClosetHandler class")
    return classes[0]()


def code_drift(archive: Archive, package: Path = RUNTIME_PACKAGE) -> list[str]:
    """closet/*.py files the archive packs whose bytes differ from the package this process runs.

    TorchServe runs the archive's own copy of `closet/`; this process has one `closet` for every
    archive, so an archive built from other sources would run different code than it ships.
    """
    listed = json.loads((archive.model_dir / MANIFEST_NAME).read_text(encoding="utf-8"))["files"]
    prefix = package.name + "/"
    drift = []
    for rel, digest in sorted(listed.items()):
        if rel.startswith(prefix):
            mine = package / rel[len(prefix):]
            if not mine.is_file() or sha256_file(mine) != digest:
                drift.append(rel)
    return drift
