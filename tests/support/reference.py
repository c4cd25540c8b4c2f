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


def official_stargan_checkpoint(folder: Path, domains: tuple[str, ...] = ("coat", "dress"), seed: int = 0,
                                img_size: int = 256) -> Path:
    """A full-colour StarGAN v2 at the official size, seeded init, laid out as the released
    nets_ema.ckpt ({'generator', 'mapping_network', 'style_encoder'}: the manifests' keys), with the
    sidecar closet reads beside it. Returns the folder (stargan.ckpt, stargan-meta.json)."""
    from closet.models import stargan_v2
    from closet.stages.translate import STARGAN_CKPT, STARGAN_META

    torch.manual_seed(seed)
    nets = stargan_v2.build_nets(img_size=img_size, num_domains=len(domains))
    assert list(nets["generator"].state_dict()) == [k for k, _, _ in manifest(f"stargan_v2_generator_{img_size}")["state_dict"]]
    torch.save({k: nets[k].state_dict() for k in ("generator", "mapping_network", "style_encoder")},
               folder / STARGAN_CKPT.name)
    (folder / STARGAN_META.name).write_text(json.dumps({"domains": list(domains), "img_size": img_size}))
    return folder
