"""The garment-swap pipeline as pure functions, one per step; no server.

decode -> person mask -> garment mask -> crop -> translate -> composite -> encode.

Images are uint8 RGB numpy arrays (H, W, 3); masks are bool (H, W). The model
steps take lists so a batch runs as one forward pass; the geometric steps work
on one image. `closet.ensemble` chains them for the TorchServe handler.

Guarantee of `composite`: every pixel outside `dilate(garment, dilation_radius(shape))`
is byte-identical to the input.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from closet.errors import NoGarment, NoPerson
from closet.imageio import decode_image, encode_image

log = logging.getLogger(__name__)

# A person mask pixel is "person" above this probability.
PERSON_THRESHOLD = 0.5
# Fewer person / garment pixels than this fraction of the image means none was found.
MIN_PERSON_FRACTION = 0.005
MIN_GARMENT_FRACTION = 0.002
# Padding around the garment's bounding box, as a fraction of its longer side.
CROP_PAD = 0.12
# Dilation of the masks, as a fraction of the image's longer side (at least MIN_DILATION px).
DILATION_FRACTION = 0.01
MIN_DILATION = 2


@dataclass(frozen=True)
class Box:
    """A square crop in image coordinates; may extend past the image edges."""

    left: int
    top: int
    size: int

    def as_list(self) -> list[int]:
        return [self.left, self.top, self.size]


# -- decode / encode ---------------------------------------------------------
def decode(data: bytes, max_pixels: int, max_side: int) -> np.ndarray:
    """Encoded bytes -> upright uint8 RGB (H, W, 3); raises BadImage / TooLarge (closet.imageio)."""
    return np.asarray(decode_image(data, max_pixels, max_side), dtype=np.uint8)


def encode(image: np.ndarray, fmt: str = "png") -> tuple[bytes, str]:
    """uint8 RGB -> (bytes, content type); fmt is png, jpeg or webp."""
    return encode_image(np.ascontiguousarray(image), fmt)


def encode_mask(mask: np.ndarray) -> bytes:
    """bool mask -> 1-bit-looking 8-bit PNG (0 or 255)."""
    data, _ = encode_image(Image.fromarray(mask.astype(np.uint8) * 255, "L"), "png")
    return data


# -- masks -------------------------------------------------------------------
def person_masks(seg_net, images: list[np.ndarray], device) -> list[np.ndarray]:
    """U^2-Net person masks for a batch, one forward pass (closet.segmentation); bool (H, W) each."""
    from closet.segmentation import predict_masks

    probs = predict_masks(seg_net, [Image.fromarray(im) for im in images], device)  # uint8, 255 = person
    return [np.asarray(p).reshape(img.shape[:2]) >= PERSON_THRESHOLD * 255 for p, img in zip(probs, images)]


@dataclass
class Parser:
    """The garment parser: torso-estimate (default, no weights) or SCHP (`net` set)."""

    name: str
    dataset: str
    net: object = None
    device: object = None


def load_parser(model_dir, seg_net, device) -> Parser:
    """SCHP when the MAR packs schp.pth (closet/mar.py), else the torso estimator."""
    from pathlib import Path

    from closet import parsing
    from closet.mar import read_build_info

    ckpt = Path(model_dir) / "schp.pth"
    if ckpt.is_file():
        from closet.models import schp

        dataset = read_build_info(model_dir).get("settings", {}).get("PARSER_DATASET", "atr")
        net = schp.load_checkpoint(ckpt, dataset).to(device).eval()
        return Parser(parsing.parser_name(dataset), dataset, net, device)
    from closet import torso

    return Parser(torso.PARSER_NAME, torso.LABEL_SPACE, None, device)


def parser_name(parser: Parser) -> str:
    return parser.name


def garment_masks(parser: Parser, images: list[np.ndarray], persons: list[np.ndarray]) -> list:
    """Garment masks (bool H x W) for a batch, or the ClosetError for an image (no face, ...).

    SCHP runs one forward pass for the batch; the torso estimator reuses the person masks.
    """
    from closet import parsing
    from closet.errors import ClosetError

    if parser.net is not None:
        labels = parsing.parse_batch(parser.net, images, parser.dataset, parser.device)
        out = []
        for lab, person in zip(labels, persons):
            try:
                check_person(person)
                out.append(parsing.garment_mask(lab, parser.dataset))
            except ClosetError as e:
                out.append(e)
        return out
    from closet import torso

    out: list = []
    for img, person in zip(images, persons):
        try:
            check_person(person)
            out.append(parsing.garment_mask(torso.estimate(img, person).labels, parser.dataset))
        except ClosetError as e:
            out.append(e)
    return out


def check_person(mask: np.ndarray) -> None:
    if mask.mean() < MIN_PERSON_FRACTION:
        raise NoPerson("no person found in the image",
                       "send a photo in which one person is clearly visible, upper body included")


def check_garment(mask: np.ndarray) -> None:
    if mask.mean() < MIN_GARMENT_FRACTION:
        raise NoGarment("no upper-body garment found",
                        "send a photo showing the person's torso (shirt, top, dress or coat)")


# -- crop --------------------------------------------------------------------
def crop_box(garment: np.ndarray, pad: float = CROP_PAD) -> Box:
    """Square box around the garment mask's bounding box, padded by `pad` of its longer side."""
    ys, xs = np.nonzero(garment)
    if ys.size == 0:
        raise NoGarment("no upper-body garment found", "send a photo showing the person's torso")
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    side = max(y1 - y0, x1 - x0)
    size = max(int(round(side * (1 + 2 * pad))), 8)
    cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
    return Box(left=int(round(cx - size / 2)), top=int(round(cy - size / 2)), size=size)


def _extract(image: np.ndarray, box: Box) -> np.ndarray:
    """The box's pixels; areas past the image edge are zero (black, like the training data)."""
    h, w = image.shape[:2]
    out = np.zeros((box.size, box.size) + image.shape[2:], dtype=image.dtype)
    sy0, sx0 = max(box.top, 0), max(box.left, 0)
    sy1, sx1 = min(box.top + box.size, h), min(box.left + box.size, w)
    if sy1 > sy0 and sx1 > sx0:
        out[sy0 - box.top:sy1 - box.top, sx0 - box.left:sx1 - box.left] = image[sy0:sy1, sx0:sx1]
    return out


def crop(image: np.ndarray, garment: np.ndarray, box: Box, img_size: int) -> np.ndarray:
    """The generator's input: the garment alone on black, the box resized to img_size x img_size.

    The garment-only view matches Fashion-MNIST-style training data (product on black).
    """
    only = np.where(garment[..., None], image, 0).astype(np.uint8)
    region = _extract(only, box)
    return np.asarray(Image.fromarray(region).resize((img_size, img_size), Image.Resampling.BOX))


def uncrop(crop_img: np.ndarray, box: Box, shape: tuple[int, int]) -> tuple[np.ndarray, tuple[slice, slice]]:
    """Undo `crop`: resize back to the box and clip to the image.

    Returns (pixels, (rows, cols)) where pixels fill image[rows, cols].
    """
    h, w = shape
    big = np.asarray(Image.fromarray(crop_img).resize((box.size, box.size), Image.Resampling.BICUBIC))
    sy0, sx0 = max(box.top, 0), max(box.left, 0)
    sy1, sx1 = min(box.top + box.size, h), min(box.left + box.size, w)
    region = big[sy0 - box.top:sy1 - box.top, sx0 - box.left:sx1 - box.left]
    return region, (slice(sy0, sy1), slice(sx0, sx1))


# -- translate ----------------------------------------------------------------
def load_translator(ckpt_path, meta_path, device):
    """The StarGAN v2 checkpoint plus its sidecar (domains, img_size), on `device`."""
    from closet.models.stargan_v2 import load_with_sidecar

    return load_with_sidecar(str(ckpt_path), str(meta_path)).to(device).eval()


def translator_domains(translator) -> list[str]:
    return list(translator.domains)


def translator_img_size(translator) -> int:
    return int(translator.img_size)


def translate(translator, crops: list[np.ndarray], targets: list[str], modes: list[str],
              references: list[np.ndarray | None], seeds: list[int]) -> list[np.ndarray]:
    """Translate garment crops (uint8 img_size^2 RGB) to target domains: ONE generator pass.

    Per row: mode "latent" takes the style from `seeds[i]` (mapping network), "reference" from
    `references[i]` (style encoder); closet.translation runs each network once per batch.
    A grayscale model (the Fashion-MNIST demo) gets luminance in and gray out; returns uint8 RGB.
    """
    import torch

    from closet import translation as tr

    gray = tr.is_grayscale(translator)

    def prep(img: np.ndarray):
        return tr.prepare(translator, Image.fromarray(_as_rgb8(img)))  # (C, S, S)

    x = torch.stack([prep(c) for c in crops])  # (N, C, S, S)
    sources = [tr.Reference(prep(ref)) if mode == "reference" else tr.Latent(int(seed))
               for mode, ref, seed in zip(modes, references, seeds)]
    y = [translator.domains.index(t) for t in targets]
    with torch.inference_mode():
        out = tr.translate(translator, x, y, sources)  # (N, C, S, S)
    return [_as_rgb8(o) for o in tr.postprocess(out, grayscale=gray)]


def _as_rgb8(img) -> np.ndarray:
    arr = np.asarray(img)
    if arr.dtype != np.uint8:
        arr = np.clip(arr * (255.0 if arr.max() <= 1.0 else 1.0) + 0.5, 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    elif arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return arr


# -- composite ----------------------------------------------------------------
def dilation_radius(shape: tuple[int, ...]) -> int:
    """Mask dilation in pixels for an image of this shape."""
    return max(MIN_DILATION, int(round(max(shape[:2]) * DILATION_FRACTION)))


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary dilation with a disc of `radius` pixels."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel) > 0


def blend_alpha(garment: np.ndarray, person: np.ndarray) -> np.ndarray:
    """Feathered blend weight in [0, 1]: garment within the dilated person, blurred, zero
    outside the dilated garment."""
    r = dilation_radius(garment.shape)
    core = garment & dilate(person, r)
    alpha = cv2.GaussianBlur(core.astype(np.float32), (0, 0), sigmaX=max(r / 2.0, 0.5))
    alpha[~dilate(garment, r)] = 0.0
    return alpha


def composite(image: np.ndarray, translated: np.ndarray, box: Box, garment: np.ndarray,
              person: np.ndarray, preserve_color: bool = True) -> np.ndarray:
    """Blend the translated crop back into the photo.

    Args:
        image: the decoded photo, uint8 (H, W, 3).
        translated: the generator output for `box`, uint8 (s, s, 3).
        box: the crop box from `crop_box`.
        garment, person: bool (H, W) masks.
        preserve_color: keep the photo's garment colours (closet.color), else raw generator colours.
    Returns:
        uint8 (H, W, 3); pixels where the blend weight is 0 (all pixels outside the dilated
        garment mask among them) are copied from `image` unchanged.
    """
    from closet import color

    alpha = blend_alpha(garment, person)
    region, (rows, cols) = uncrop(translated, box, image.shape[:2])
    original = image[rows, cols]
    a = alpha[rows, cols]
    if preserve_color:
        region = color.preserve_color(region, original, garment[rows, cols])
    mixed = original.astype(np.float32) * (1 - a[..., None]) + region.astype(np.float32) * a[..., None]
    mixed = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
    out = image.copy()
    out[rows, cols] = np.where(a[..., None] > 0, mixed, original)
    return out
