"""Fashion-MNIST as StarGAN v2 domains: read the IDX files, export an ImageFolder tree, load it.

The Debian package `dataset-fashion-mnist` ships the four gzipped IDX files under
/usr/share/datasets/fashion-mnist/. Training and evaluation read an ImageFolder-style
directory (`<root>/<split>/<domain>/*.png`), like the official data loader; domain
index = sorted folder order, as in the official code.
"""

from __future__ import annotations

import gzip
import logging
import os
import struct
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

log = logging.getLogger(__name__)

FMNIST_DIR = Path(os.environ.get("FMNIST_DIR", "/usr/share/datasets/fashion-mnist"))
FMNIST_CLASSES = ("tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot")
# The five upper-garment classes used as translation domains: name -> Fashion-MNIST label.
GARMENT_DOMAINS = {"tshirt": 0, "pullover": 2, "dress": 3, "coat": 4, "shirt": 6}
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read a (gzipped) IDX file: uint8 images (N, 28, 28) or labels (N,)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as fh:
        data = fh.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_fmnist(split: str, root: Path = FMNIST_DIR) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N,28,28), labels uint8 (N,)) of split 'train' (60k) or 'test' (10k)."""
    prefix = {"train": "train", "test": "t10k"}[split]
    images = read_idx(root / f"{prefix}-images-idx3-ubyte.gz")
    labels = read_idx(root / f"{prefix}-labels-idx1-ubyte.gz")
    if len(images) != len(labels):
        raise ValueError(f"{root}: {len(images)} images but {len(labels)} labels")
    return images, labels


def export_domains(out: Path, root: Path = FMNIST_DIR, domains: dict[str, int] = GARMENT_DOMAINS) -> Path:
    """Write `<out>/{train,test}/<domain>/<index>.png` (28x28 gray, as shipped). Idempotent."""
    out = Path(out)
    stamp = out / ".complete"
    if stamp.exists():
        return out
    for split in ("train", "test"):
        images, labels = load_fmnist(split, root)
        for name, label in domains.items():
            d = out / split / name
            d.mkdir(parents=True, exist_ok=True)
            for idx in np.flatnonzero(labels == label):
                Image.fromarray(images[idx], mode="L").save(d / f"{idx:05d}.png")
    stamp.write_text("fashion-mnist\n")
    log.info("exported Fashion-MNIST domains to %s", out)
    return out


def list_domains(split_dir: Path) -> list[str]:
    """Domain names = sorted sub-folder names (the official ImageFolder order)."""
    names = sorted(p.name for p in Path(split_dir).iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(names) < 2:
        raise ValueError(f"{split_dir}: need at least two domain folders, found {names}")
    return names


def to_tensor(images: np.ndarray, img_size: int, channels: int = 3) -> torch.Tensor:
    """uint8 (N,H,W) or (N,H,W,C) -> float (N,channels,img_size,img_size) in [-1,1], bilinear resize."""
    x = torch.from_numpy(np.array(images, copy=True)).float() / 255.0
    x = x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2)
    if x.shape[-1] != img_size or x.shape[-2] != img_size:
        x = F.interpolate(x, size=(img_size, img_size), mode="bilinear", align_corners=False)
    if x.shape[1] == 1 and channels == 3:
        x = x.expand(-1, 3, -1, -1)  # replicated gray keeps the official RGB layout
    return (x * 2 - 1).contiguous()  # official Normalize(0.5, 0.5)


def load_folder(split_dir: Path, img_size: int, channels: int = 3, limit: int | None = None):
    """Load an ImageFolder split into memory: (x (N,C,S,S) in [-1,1], y (N,), domain names, paths)."""
    domains = list_domains(split_dir)
    arrays, labels, paths = [], [], []
    for i, name in enumerate(domains):
        files = sorted(p for p in (Path(split_dir) / name).iterdir() if p.suffix.lower() in IMAGE_EXTS)
        if limit:
            files = files[:limit]
        for p in files:
            with Image.open(p) as im:
                arrays.append(np.asarray(im.convert("L").resize((img_size, img_size), Image.BILINEAR)))
            labels.append(i)
            paths.append(str(p))
    x = to_tensor(np.stack(arrays), img_size, channels)
    return x, torch.tensor(labels, dtype=torch.long), domains, paths
