"""The official checkpoint manifests (tests/reference/*.json) and synthetic checkpoints laid out like them."""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import torch

from closet.config import REPO_ROOT

REFERENCE = REPO_ROOT / "tests" / "reference"


def manifest(name: str) -> dict:
    """One manifest, e.g. `schp_atr`, `u2netp`, `stargan_v2_generator_256` (or a SCHP dataset: atr, lip, pascal)."""
    stem = f"schp_{name}" if name in ("atr", "lip", "pascal") else name
    return json.loads((REFERENCE / f"{stem}.json").read_text())


def official_schp_checkpoint(dataset: str, path: Path, seed: int = 0) -> OrderedDict:
    """A file laid out like the released .pth: {'state_dict': {'module.<key>': tensor}}, shapes from the manifest."""
    g = torch.Generator().manual_seed(seed)
    sd = OrderedDict()
    for name, shape, dtype in manifest(dataset)["state_dict"]:
        assert dtype == "float32"
        t = torch.randn(shape, generator=g) * 0.01
        if name.endswith("running_var"):
            t = t.abs() + 1.0
        sd["module." + name] = t
    torch.save({"state_dict": sd, "epoch": 150}, path)
    return sd
