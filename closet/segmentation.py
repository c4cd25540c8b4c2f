"""Salient-object masks with U^2-Net: the official pre- and post-processing, batched.

Reproduces xuebinqin/U-2-Net u2net_test.py (see tests/reference/NOTES.md):
  pre:  skimage resize to 320x320 (bilinear, mode='constant', no anti-aliasing as in
        the pinned scikit-image 0.14) -> divide by the image max -> ImageNet mean/std, CHW.
  post: output 0 (fused map) -> per-image min-max (normPRED) -> x255 -> truncate to
        uint8 (PIL 'F' -> 'RGB') -> PIL BILINEAR resize back to the original W x H.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image
from skimage.transform import resize

log = logging.getLogger(__name__)

INPUT_SIZE = 320
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def _as_array(image: Image.Image) -> np.ndarray:
    """HxWxC uint8 as skimage.io.imread would give it: gray keeps 1 channel, RGBA keeps alpha."""
    if image.mode == "L":
        return np.asarray(image)[:, :, None]
    if image.mode != "RGBA":
        image = image.convert("RGB")
    return np.asarray(image)


def preprocess(image: Image.Image, size: int = INPUT_SIZE) -> torch.Tensor:
    """A PIL image -> normalised float32 tensor (3, size, size), exactly as upstream."""
    arr = _as_array(image)
    # order=1 bilinear; anti_aliasing=False mimics scikit-image 0.14 (>=0.15 blurs first).
    img = resize(arr, (size, size), order=1, mode="constant", anti_aliasing=False)  # (size, size, C) float64 [0,1]
    top = np.max(img)
    # Upstream divides by the max even when it is 0 (NaN); an all-black image stays 0 here.
    if top > 0:
        img = img / top
    out = np.empty((size, size, 3), dtype=np.float64)
    if img.shape[2] == 1:
        out[:] = (img - MEAN[0]) / STD[0]
    else:
        for c in range(3):
            out[:, :, c] = (img[:, :, c] - MEAN[c]) / STD[c]
    return torch.from_numpy(out.transpose(2, 0, 1).astype(np.float32))  # (3, size, size)


def norm_pred(pred: torch.Tensor) -> torch.Tensor:
    """Per-image min-max to [0, 1] over a (N, H, W) batch; a constant map becomes 0 (upstream: NaN)."""
    flat = pred.reshape(pred.shape[0], -1)  # (N, H*W)
    lo = flat.min(dim=1).values.view(-1, 1, 1)
    hi = flat.max(dim=1).values.view(-1, 1, 1)
    span = hi - lo
    return torch.where(
        span > 0, (pred - lo) / torch.where(span > 0, span, torch.ones_like(span)), torch.zeros_like(pred)
    )


def postprocess(prob: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A normalised (h, w) map in [0, 1] -> uint8 mask (H, W) for the original `size` = (W, H)."""
    # PIL 'F' -> 'RGB' truncates toward zero and clips; gray channels are identical, keep one.
    small = np.clip(prob.astype(np.float32) * 255.0, 0.0, 255.0).astype(np.uint8)
    mask = Image.fromarray(small, mode="L").resize(size, resample=Image.BILINEAR)
    return np.asarray(mask, dtype=np.uint8)  # (H, W)


def _device_of(net: torch.nn.Module) -> torch.device:
    p = next(net.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@torch.inference_mode()
def predict_masks(
    net: torch.nn.Module, images: Sequence[Image.Image], device: torch.device | str | None = None
) -> list[np.ndarray]:
    """Masks (uint8 H x W, 255 = salient) for `images`, computed in ONE forward pass.

    `net` must already live on `device` (default: the device of its parameters).
    """
    if not images:
        return []
    device = torch.device(device) if device is not None else _device_of(net)
    batch = torch.stack([preprocess(im) for im in images]).to(device)  # (N, 3, 320, 320)
    fused = net(batch)[0][:, 0]  # (N, 320, 320)
    probs = norm_pred(fused.float()).cpu().numpy()
    return [postprocess(p, im.size) for p, im in zip(probs, images)]


def predict_mask(net: torch.nn.Module, image: Image.Image) -> np.ndarray:
    """The mask (uint8 H x W) of one image; same as `predict_masks(net, [image])[0]`."""
    return predict_masks(net, [image])[0]
