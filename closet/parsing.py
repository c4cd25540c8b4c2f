"""Human parsing: label spaces, SCHP pre/post-processing, garment masks, PNG and JSON output.

`parse` / `parse_batch` reproduce the official SCHP `simple_extractor.py` on an
RGB image (as closet.imageio.decode_image returns it):
  pre:  RGB -> BGR (the official reader is cv2.imread) -> aspect-preserving
        letterbox to S x S with the official affine (k = (S-1)/max(w-1, h-1),
        image centre -> output centre), cv2.warpAffine INTER_LINEAR, black border
        -> /255 -> mean/std in B, G, R order.
  post: fusion logits output[0][-1] -> bilinear (align_corners=True) to S x S
        -> inverse affine per channel (INTER_LINEAR, border 0) to h x w -> argmax.
The batched form runs ONE forward pass for all images.

Label spaces: "atr" (18), "lip" (20), "pascal" (7) from the official manifests, and "pose",
the pose-garment parser's (closet.stages.parse): 0 background, k the garment of the k-th
person from the left.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

log = logging.getLogger(__name__)

ATR_LABELS = (
    "Background", "Hat", "Hair", "Sunglasses", "Upper-clothes", "Skirt", "Pants", "Dress", "Belt",
    "Left-shoe", "Right-shoe", "Face", "Left-leg", "Right-leg", "Left-arm", "Right-arm", "Bag", "Scarf",
)
LIP_LABELS = (
    "Background", "Hat", "Hair", "Glove", "Sunglasses", "Upper-clothes", "Dress", "Coat", "Socks", "Pants",
    "Jumpsuits", "Scarf", "Skirt", "Face", "Left-arm", "Right-arm", "Left-leg", "Right-leg", "Left-shoe", "Right-shoe",
)
PASCAL_LABELS = ("Background", "Head", "Torso", "Upper Arms", "Lower Arms", "Upper Legs", "Lower Legs")

# The pose-garment parser's labels: one per person's garment, left to right (closet.stages.parse).
POSE_LABEL_SPACE = "pose"
POSE_LABELS = ("Background",) + tuple(f"Garment-{k}" for k in range(4))

LABELS: dict[str, tuple[str, ...]] = {"atr": ATR_LABELS, "lip": LIP_LABELS, "pascal": PASCAL_LABELS,
                                      POSE_LABEL_SPACE: POSE_LABELS}
INPUT_SIZE = {"atr": 512, "lip": 473, "pascal": 512}
MEAN_BGR = (0.406, 0.456, 0.485)
STD_BGR = (0.225, 0.224, 0.229)

# Garment names a request may ask for -> the label that means it in each label space.
# Pascal-Person-Part has no clothing classes: its Torso is the nearest region.
GARMENTS: dict[str, dict[str, str]] = {
    "upper-clothes": {"atr": "Upper-clothes", "lip": "Upper-clothes", "pascal": "Torso"},
    "coat": {"lip": "Coat"},
    "dress": {"atr": "Dress", "lip": "Dress"},
}
DEFAULT_GARMENTS = ("upper-clothes",)


def parser_name(dataset: str) -> str:
    """The name responses carry for the parser of `dataset`: pose-garment or schp-<dataset>."""
    return "pose-garment" if dataset == POSE_LABEL_SPACE else f"schp-{dataset}"


def get_palette(num_cls: int = 256) -> list[int]:
    """The PASCAL VOC colormap as a flat [r0, g0, b0, r1, ...] list (official get_palette)."""
    palette = [0] * (num_cls * 3)
    for j in range(num_cls):
        lab, i = j, 0
        while lab:
            palette[j * 3 + 0] |= ((lab >> 0) & 1) << (7 - i)
            palette[j * 3 + 1] |= ((lab >> 1) & 1) << (7 - i)
            palette[j * 3 + 2] |= ((lab >> 2) & 1) << (7 - i)
            i += 1
            lab >>= 3
    return palette


PALETTE = get_palette(256)


# -- SCHP pre/post-processing -------------------------------------------------
def letterbox_affine(width: int, height: int, size: int) -> np.ndarray:
    """The official 2x3 affine from the whole image to the size x size network input.

    simple_extractor uses box [0, 0, w-1, h-1], so centre ((w-1)/2, (h-1)/2) maps to
    ((S-1)/2, (S-1)/2) with scale k = (S-1)/max(w-1, h-1): aspect preserved, centred.
    """
    m = max(width - 1, height - 1, 1)
    k = (size - 1) / m
    tx = (size - 1) / 2 - k * (width - 1) / 2
    ty = (size - 1) / 2 - k * (height - 1) / 2
    return np.array([[k, 0.0, tx], [0.0, k, ty]], dtype=np.float64)


def _as_rgb_array(image) -> np.ndarray:
    if isinstance(image, Image.Image):
        image = np.asarray(image.convert("RGB"))
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or image.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image (H, W, 3), got {image.dtype} {image.shape}")
    return np.ascontiguousarray(image[:, :, :3])


def preprocess(image, size: int) -> tuple[torch.Tensor, np.ndarray]:
    """RGB image (PIL or HxWx3 uint8) -> ((3, size, size) normalised BGR tensor, forward affine)."""
    rgb = _as_rgb_array(image)
    h, w = rgb.shape[:2]
    bgr = rgb[:, :, ::-1]  # the official reader is cv2.imread: BGR, never converted
    trans = letterbox_affine(w, h, size)
    warped = cv2.warpAffine(
        np.ascontiguousarray(bgr), trans, (size, size),
        flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0),
    )  # (size, size, 3) uint8 BGR
    x = torch.from_numpy(warped).permute(2, 0, 1).float().div_(255.0)  # (3, size, size)
    mean = torch.tensor(MEAN_BGR).view(3, 1, 1)
    std = torch.tensor(STD_BGR).view(3, 1, 1)
    return (x - mean) / std, trans


def postprocess(logits: np.ndarray, trans: np.ndarray, width: int, height: int) -> np.ndarray:
    """(C, S, S) float logits in network geometry -> (height, width) uint8 label map.

    Each channel goes back through the inverse affine (official transform_logits);
    the argmax is kept as a running max so memory stays O(h*w), not O(C*h*w).
    """
    inv = cv2.invertAffineTransform(trans)
    best = np.full((height, width), -np.inf, dtype=np.float32)
    labels = np.zeros((height, width), dtype=np.uint8)
    for c in range(logits.shape[0]):
        chan = cv2.warpAffine(
            np.ascontiguousarray(logits[c], dtype=np.float32), inv, (width, height),
            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0,
        )
        better = chan > best  # strict: ties keep the lower index, as np.argmax does
        best[better] = chan[better]
        labels[better] = c
    return labels


def _device_of(net: torch.nn.Module) -> torch.device:
    p = next(net.parameters(), None) if isinstance(net, torch.nn.Module) else None
    return p.device if p is not None else torch.device("cpu")


@torch.inference_mode()
def parse_batch(
    net: torch.nn.Module, images: Sequence, dataset: str, device=None, size: int | None = None
) -> list[np.ndarray]:
    """Label maps (uint8 H x W, values < num labels) for RGB `images`, in ONE forward pass.

    `net` is an SCHP network already on `device` (default: its parameters' device), or its export
    in a closet.runtime session (then give `device`).
    `size` overrides the square input side (default: the official INPUT_SIZE of `dataset`).
    """
    if dataset not in INPUT_SIZE:
        raise ValueError(f"unknown SCHP dataset {dataset!r}; expected one of {sorted(INPUT_SIZE)}")
    if not images:
        return []
    size = size or INPUT_SIZE[dataset]
    device = torch.device(device) if device is not None else _device_of(net)
    prepared = [preprocess(im, size) for im in images]
    batch = torch.stack([x for x, _ in prepared]).to(device)  # (N, 3, S, S)
    out = net(batch)  # the module's [[parsing, fusion], [edge]], or its export's (fusion,) (closet.runtime)
    fusion = out[0][-1] if isinstance(out, list) else out[0]  # (N, C, S/4, S/4) fusion logits
    up = F.interpolate(fusion.float(), size=(size, size), mode="bilinear", align_corners=True)  # (N, C, S, S)
    up = up.cpu().numpy()
    out = []
    for logits, (_, trans), im in zip(up, prepared, images):
        w, h = im.size if isinstance(im, Image.Image) else (np.asarray(im).shape[1], np.asarray(im).shape[0])
        out.append(postprocess(logits, trans, w, h))
    return out


def parse(net: torch.nn.Module, image, dataset: str, device=None, size: int | None = None) -> np.ndarray:
    """The label map (uint8 H x W) of one RGB image; same as parse_batch(net, [image], dataset)[0]."""
    return parse_batch(net, [image], dataset, device, size)[0]


# -- garment masks and outputs ------------------------------------------------
def garment_labels(dataset: str, garments: Iterable[str] = DEFAULT_GARMENTS) -> list[int]:
    """Label indices in `dataset` that make up the requested garments.

    A garment the label space cannot express (e.g. coat in ATR) contributes nothing.
    Raises ValueError for a garment name not in GARMENTS.
    """
    names = LABELS[dataset]
    if dataset == POSE_LABEL_SPACE:  # every label but the background is someone's upper garment
        return list(range(1, len(names)))
    out = []
    for g in garments:
        key = g.strip().lower()
        if key not in GARMENTS:
            raise ValueError(f"unknown garment {g!r}; expected some of {sorted(GARMENTS)}")
        label = GARMENTS[key].get(dataset)
        if label is not None and names.index(label) not in out:
            out.append(names.index(label))
    return out


def garment_mask(labels: np.ndarray, dataset: str, garments: Iterable[str] = DEFAULT_GARMENTS) -> np.ndarray:
    """Boolean (H, W) mask of the upper garment in a label map of `dataset`."""
    return np.isin(labels, garment_labels(dataset, garments))


def bbox(mask: np.ndarray) -> list[int] | None:
    """[x0, y0, x1, y1] (inclusive) of the True pixels, or None when there are none."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return None
    return [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())]


def label_png(labels: np.ndarray) -> bytes:
    """The label map as a palettised PNG (mode P, VOC palette; pixel value = label), as the official tool writes."""
    img = Image.fromarray(np.asarray(labels, dtype=np.uint8), mode="P")
    img.putpalette(PALETTE)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def summary(labels: np.ndarray, dataset: str, garments: Iterable[str] = DEFAULT_GARMENTS) -> dict:
    """JSON-able summary: parser, label space, labels present with pixel counts, garment pixels and bbox."""
    names = LABELS[dataset]
    counts = np.bincount(np.asarray(labels, dtype=np.uint8).ravel(), minlength=len(names))
    garments = tuple(garments)
    mask = garment_mask(labels, dataset, garments)
    return {
        "parser": parser_name(dataset),
        "label_space": dataset,
        "width": int(labels.shape[1]),
        "height": int(labels.shape[0]),
        "labels": [
            {"index": i, "name": names[i] if i < len(names) else f"label-{i}", "pixels": int(n)}
            for i, n in enumerate(counts) if n > 0
        ],
        "garment": {
            "garments": list(garments),
            "labels": [names[i] for i in garment_labels(dataset, garments)],
            "pixels": int(mask.sum()),
            "bbox": bbox(mask),
        },
    }
