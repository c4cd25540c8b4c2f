"""The closet ensemble: segmentation -> parsing -> translation -> composite, in one process.

All three models live on one device; a batch of N requests runs each model
stage as one batched forward pass, with numpy arrays (never base64) between
stages. `Ensemble.run` is what the TorchServe handler and the in-process
benchmark call, so both measure the same code.

Per-request failures (bad image, unknown target, no person...) are returned in
that request's slot; the rest of the batch goes on.
"""

from __future__ import annotations

import base64
import logging
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from closet import pipeline
from closet.errors import BadOption, ClosetError, UnknownTarget
from closet.translation import resolve_mode

log = logging.getLogger(__name__)

# File names inside the MAR (closet/mar.py MARS["closet"]).
SEGMENTATION_WEIGHTS = "u2net.pth"
STARGAN_CKPT = "stargan.ckpt"
STARGAN_META = "stargan-meta.json"
MODES = ("latent", "reference")
FORMATS = ("png", "jpeg", "webp")
# Stages timed per batch (X-Closet-Timing, closet_stage_seconds); a subset of closet.metrics.STAGES.
STAGES = ("decode", "segmentation", "parsing", "translation", "composite", "encode")


@dataclass
class Request:
    """One validated ensemble request (raw bytes; decoding is a timed stage)."""

    image: bytes
    target: str | None = None  # None: the checkpoint's first domain
    mode: str | None = None  # None: "reference" when a reference is sent, else "latent"
    reference: bytes | None = None
    seed: int | None = None
    preserve_color: bool = True
    format: str = "png"
    want_json: bool = False


@dataclass
class Output:
    """One successful result."""

    body: bytes | dict
    content_type: str
    target: str
    mode: str
    parser: str
    image: np.ndarray = field(repr=False)
    person: np.ndarray = field(repr=False)
    garment: np.ndarray = field(repr=False)


Timer = Callable[[str], "object"]  # stage name -> context manager


@dataclass
class Models:
    segmentation: object  # U^2-Net (closet.models.u2net)
    parser: object  # closet.parsing parser
    translator: object  # closet.translation translator
    device: object


def resolve(req: Request, domains: list[str]) -> tuple[str, str, int]:
    """Check option combinations; returns (target, mode, seed) or raises a 4xx ClosetError."""
    target = domains[0] if req.target is None else req.target
    if target not in domains:
        raise UnknownTarget(f"unknown target '{_preview(target)}'", {"targets": list(domains)})
    mode = resolve_mode(req.mode, bool(req.reference))
    if mode == "reference" and req.seed is not None:
        raise BadOption("seed applies only to mode=latent", "drop seed, or use mode=latent")
    if req.format not in FORMATS:
        raise BadOption(f"unknown format '{_preview(req.format)}'", {"formats": list(FORMATS)})
    return target, mode, 0 if req.seed is None else req.seed


def _preview(value: str, limit: int = 40) -> str:
    from closet.serving.options import safe_preview

    return safe_preview(str(value), limit)


def reference_image(data: bytes, size: int, max_pixels: int, max_side: int) -> np.ndarray:
    """A reference garment photo -> img_size square (letterboxed on black), uint8 RGB."""
    img = Image.fromarray(pipeline.decode(data, max_pixels, max_side))
    img.thumbnail((size, size), Image.Resampling.BOX)
    canvas = Image.new("RGB", (size, size))
    canvas.paste(img, ((size - img.width) // 2, (size - img.height) // 2))
    return np.asarray(canvas)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class Ensemble:
    """The three models plus the chain. Build with `Ensemble.load` or from `Models`."""

    def __init__(self, models: Models, max_pixels: int, max_side: int):
        self.models = models
        self.max_pixels = max_pixels
        self.max_side = max_side

    @classmethod
    def load(cls, model_dir: str | Path, device, max_pixels: int, max_side: int) -> Ensemble:
        return cls(load_models(model_dir, device), max_pixels, max_side)

    @property
    def domains(self) -> list[str]:
        return list(pipeline.translator_domains(self.models.translator))

    @property
    def img_size(self) -> int:
        return int(pipeline.translator_img_size(self.models.translator))

    @property
    def parser_name(self) -> str:
        return pipeline.parser_name(self.models.parser)

    def run(self, requests: list[Request], timer: Timer | None = None) -> list[Output | ClosetError]:
        """Run a batch; one Output or ClosetError per request, in order."""
        import torch

        with torch.inference_mode():
            return self._run(requests, timer or (lambda stage: nullcontext()))

    def _run(self, requests: list[Request], timer: Timer) -> list[Output | ClosetError]:
        results: list[Output | ClosetError | None] = [None] * len(requests)
        live: dict[int, dict] = {}
        domains = self.domains
        with timer("decode"):
            for i, req in enumerate(requests):
                try:
                    target, mode, seed = resolve(req, domains)
                    image = pipeline.decode(req.image, self.max_pixels, self.max_side)
                    ref = (reference_image(req.reference, self.img_size, self.max_pixels, self.max_side)
                           if mode == "reference" else None)
                    live[i] = {"target": target, "mode": mode, "seed": seed, "image": image, "ref": ref}
                except ClosetError as e:
                    results[i] = e

        def fail(i: int, e: ClosetError) -> None:
            results[i] = e
            live.pop(i, None)

        if live:
            with timer("segmentation"):
                idx = list(live)
                masks = pipeline.person_masks(self.models.segmentation, [live[i]["image"] for i in idx],
                                              self.models.device)
                for i, m in zip(idx, masks):
                    live[i]["person"] = m
        if live:
            with timer("parsing"):
                idx = list(live)
                garments = pipeline.garment_masks(self.models.parser, [live[i]["image"] for i in idx],
                                                  [live[i]["person"] for i in idx])
                for i, g in zip(idx, garments):
                    if isinstance(g, ClosetError):
                        fail(i, g)
                        continue
                    try:
                        pipeline.check_garment(g)
                        live[i]["garment"] = g
                        live[i]["box"] = pipeline.crop_box(g)
                    except ClosetError as e:
                        fail(i, e)
        if live:
            with timer("translation"):
                idx = list(live)
                crops = [pipeline.crop(live[i]["image"], live[i]["garment"], live[i]["box"], self.img_size)
                         for i in idx]
                outs = pipeline.translate(
                    self.models.translator, crops, [live[i]["target"] for i in idx],
                    modes=[live[i]["mode"] for i in idx], references=[live[i]["ref"] for i in idx],
                    seeds=[live[i]["seed"] for i in idx],
                )
                for i, o in zip(idx, outs):
                    live[i]["translated"] = o
        if live:
            with timer("composite"):
                for i, s in live.items():
                    s["result"] = pipeline.composite(s["image"], s["translated"], s["box"], s["garment"],
                                                     s["person"], preserve_color=requests[i].preserve_color)
        if live:
            parser = self.parser_name
            with timer("encode"):
                for i, s in live.items():
                    req = requests[i]
                    data, ctype = pipeline.encode(s["result"], req.format)
                    body: bytes | dict = data
                    if req.want_json:
                        body = {
                            "image": b64(data), "content_type": ctype,
                            "person_mask": b64(pipeline.encode_mask(s["person"])),
                            "garment_mask": b64(pipeline.encode_mask(s["garment"])),
                            "box": s["box"].as_list(), "target": s["target"], "mode": s["mode"],
                            "seed": s["seed"] if s["mode"] == "latent" else None,
                            "preserve_color": req.preserve_color, "parser": parser,
                            "width": int(s["image"].shape[1]), "height": int(s["image"].shape[0]),
                        }
                        ctype = "application/json"
                    results[i] = Output(body, ctype, s["target"], s["mode"], parser,
                                        s["result"], s["person"], s["garment"])
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]


def load_models(model_dir: str | Path, device) -> Models:
    """Load the three models from an unpacked closet.mar (or any folder with the same files)."""
    import torch

    from closet.mar import read_build_info
    from closet.models import u2net

    root = Path(model_dir)
    arch = read_build_info(root).get("settings", {}).get("U2NET_ARCH", "u2netp")
    seg = u2net.load_checkpoint(root / SEGMENTATION_WEIGHTS, arch=arch).to(device).eval()
    parser = pipeline.load_parser(root, seg, device)
    translator = pipeline.load_translator(root / STARGAN_CKPT, root / STARGAN_META, device)
    return Models(seg, parser, translator, torch.device(device))
