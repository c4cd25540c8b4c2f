"""The segment stage: U^2-Net person masks, with the official pre- and post-processing, batched.

Reproduces xuebinqin/U-2-Net u2net_test.py (see tests/reference/NOTES.md):
  pre:  skimage resize to 320x320 (bilinear, mode='constant', no anti-aliasing as in
        the pinned scikit-image 0.14) -> divide by the image max -> ImageNet mean/std, CHW.
  post: output 0 (fused map) -> per-image min-max (normPRED) -> x255 -> truncate to
        uint8 (PIL 'F' -> 'RGB') -> PIL BILINEAR resize back to the original W x H.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from closet import config as closet_config
from closet import runtime
from closet.archive import ArchiveFile, Setting, setting
from closet.errors import NoPerson

log = logging.getLogger(__name__)

INPUT_SIZE = 320
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def _as_array(image: Image.Image | np.ndarray) -> np.ndarray:
    """HxWxC uint8 as skimage.io.imread would give it: gray keeps 1 channel, RGBA keeps alpha."""
    if isinstance(image, np.ndarray):
        return image[:, :, None] if image.ndim == 2 else image
    if image.mode == "L":
        return np.asarray(image)[:, :, None]
    if image.mode != "RGBA":
        image = image.convert("RGB")
    return np.asarray(image)


def _linear_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear resampling of n_in samples to n_out, as ndimage.zoom(order=1, grid_mode=True,
    mode="grid-constant") does it: (i0, i1, w0, w1) per output sample; a tap past the edge reads 0."""
    x = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5  # output pixel centres in input pixels
    i0 = np.floor(x).astype(np.int64)
    w1 = (x - i0).astype(np.float32)
    w0 = 1.0 - w1
    i1 = i0 + 1
    w0[(i0 < 0) | (i0 >= n_in)] = 0.0
    w1[(i1 < 0) | (i1 >= n_in)] = 0.0
    return np.clip(i0, 0, n_in - 1), np.clip(i1, 0, n_in - 1), w0, w1


def resize_bilinear(arr: np.ndarray, size: int) -> np.ndarray:
    """uint8 (H, W, C) -> float32 (size, size, C) in [0, 255]: skimage's resize(order=1, mode="constant",
    anti_aliasing=False), without its float64 copy of the whole photo (11 s of a 40 MP request).
    Rows first, so a 12 MP photo costs two rows per output row, not a pass over its pixels."""
    r0, r1, rw0, rw1 = _linear_taps(arr.shape[0], size)
    c0, c1, cw0, cw1 = _linear_taps(arr.shape[1], size)
    rows = arr[r0].astype(np.float32) * rw0[:, None, None] + arr[r1].astype(np.float32) * rw1[:, None, None]
    return rows[:, c0] * cw0[None, :, None] + rows[:, c1] * cw1[None, :, None]


def preprocess(image: Image.Image | np.ndarray, size: int = INPUT_SIZE) -> torch.Tensor:
    """A PIL image or uint8 (H, W[, C]) array -> normalised float32 tensor (3, size, size), as upstream."""
    arr = _as_array(image)
    # order=1 bilinear; anti_aliasing=False mimics scikit-image 0.14 (>=0.15 blurs first).
    if arr.dtype == np.uint8:
        img = resize_bilinear(arr, size) / np.float32(255.0)
    else:  # float pixels from a caller, not a decoded photo; scikit-image is imported only for them
        from skimage.transform import resize

        img = resize(arr, (size, size), order=1, mode="constant", anti_aliasing=False).astype(np.float32)
    top = np.max(img)
    # Upstream divides by the max even when it is 0 (NaN); an all-black image stays 0 here.
    if top > 0:
        img = img / top
    channels = [0, 0, 0] if img.shape[2] == 1 else [0, 1, 2]  # gray: the red statistics on all three
    mean, std = np.array(MEAN, np.float32)[channels], np.array(STD, np.float32)[channels]
    out = (img[:, :, channels] - mean) / std
    return torch.from_numpy(np.ascontiguousarray(out.transpose(2, 0, 1)))  # (3, size, size)


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


def _device_of(net) -> torch.device:
    p = next(net.parameters(), None) if isinstance(net, torch.nn.Module) else None
    return p.device if p is not None else torch.device("cpu")


@torch.inference_mode()
def predict_masks(net, images: Sequence[Image.Image | np.ndarray], device: torch.device | str | None = None
                  ) -> list[np.ndarray]:
    """Masks (uint8 H x W, 255 = salient) for PIL images or uint8 arrays, computed in ONE forward pass.

    `net` is a U^2-Net module on `device` (default: the device of its parameters), or any callable
    like it (closet.runtime.OnnxNetwork / TorchNetwork).
    """
    if not images:
        return []
    device = torch.device(device) if device is not None else _device_of(net)
    batch = torch.stack([preprocess(im) for im in images]).to(device)  # (N, 3, 320, 320)
    fused = net(batch)[0][:, 0]  # (N, 320, 320)
    probs = norm_pred(fused.float()).cpu().numpy()
    return [postprocess(p, _size(im)) for p, im in zip(probs, images)]


def _size(image: Image.Image | np.ndarray) -> tuple[int, int]:
    """(width, height), PIL's order."""
    return image.size if isinstance(image, Image.Image) else (image.shape[1], image.shape[0])


def predict_mask(net: torch.nn.Module, image: Image.Image) -> np.ndarray:
    """The mask (uint8 H x W) of one image; same as `predict_masks(net, [image])[0]`."""
    return predict_masks(net, [image])[0]


# -- the stage ----------------------------------------------------------------------------------
U2NET_WEIGHTS = ArchiveFile("u2net.pth", var="U2NETP_WEIGHTS", default="model-store/weights/u2netp.pth")
# u2netp (the default, converted by `make weights`), or u2net for the official full-size checkpoint.
U2NET_ARCH = Setting("U2NET_ARCH", "u2netp")
# The network exported to ONNX at `make mars` (the onnxruntime and openvino runtimes, closet/runtime.py).
U2NET_ONNX = "u2net.onnx"
# A mask pixel is "person" at or above this value (uint8 probability, 255 = certain).
PERSON_THRESHOLD = 128
# Fewer person pixels than this fraction of the image means nobody is there (docs/parsing.md).
MIN_PERSON_FRACTION = 0.01


def is_person(mask: np.ndarray) -> np.ndarray:
    """bool (H, W) from a uint8 probability mask."""
    return mask >= PERSON_THRESHOLD


def check_person(person: np.ndarray) -> None:
    """Raise NoPerson when a bool person mask is (nearly) empty."""
    if person.mean() < MIN_PERSON_FRACTION:
        raise NoPerson("no person found in the image",
                       "send a photo in which one person is clearly visible, upper body included")


class Segmenter:
    """U^2-Net(-P) person masks: one batched forward pass per call."""

    files = (U2NET_WEIGHTS,)
    settings = (U2NET_ARCH,)

    def __init__(self, net, arch: str, device: torch.device, runtime_name: str = "torch"):
        self.net = net  # (N, 3, 320, 320) -> (fused map, side maps...), in the chosen runtime
        self.arch = arch
        self.device = device
        self.runtime = runtime_name

    @classmethod
    def load(cls, model_dir: str | Path, device: torch.device | str = "cpu",
             choice: closet_config.NetworkRuntime | None = None) -> Segmenter:
        """From an archive folder; `choice` defaults to config/closet.yaml's networks.u2net."""
        from closet.models.u2net import load_checkpoint

        device = torch.device(device)
        choice = choice or closet_config.load(model_dir=model_dir).network("u2net")
        name = runtime.resolve("u2net", choice, device)
        arch = setting(model_dir, U2NET_ARCH)
        weights = Path(model_dir) / U2NET_WEIGHTS.name
        if name in runtime.EXPORT_RUNTIMES:  # an archive packs the export: no PyTorch module to build (0.26 s a worker)
            model = runtime.packed_or_exported(model_dir, U2NET_ONNX, lambda: load_checkpoint(weights, arch),
                                               (3, INPUT_SIZE, INPUT_SIZE))
            return cls(runtime.OnnxNetwork(runtime.export_session(name, model, choice.precision)), arch, device, name)
        # BN folded into the convs + channels_last: ~30% faster on CPU than eager (closet.models.u2net).
        net = load_checkpoint(weights, arch, optimize=True).to(device)
        return cls(runtime.TorchNetwork(net, choice.precision, device), arch, device, name)

    @staticmethod
    def export(files: dict[str, Path], settings: dict[str, str]) -> dict[str, bytes]:
        """What `make mars` packs beside the weights: the network in ONNX."""
        from closet.models.u2net import load_checkpoint

        net = load_checkpoint(files[U2NET_WEIGHTS.name], settings.get(U2NET_ARCH.var) or U2NET_ARCH.default)
        return {U2NET_ONNX: runtime.export_onnx(net, (3, INPUT_SIZE, INPUT_SIZE))}

    def __call__(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """uint8 (H, W) person probability per uint8 RGB image, 255 = person."""
        return predict_masks(self.net, images, self.device)
