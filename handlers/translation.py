"""TorchServe handler `translation`: StarGAN v2 garment translation of one image per request.

POST /predictions/translation, image as the body or multipart field `image`. Options (multipart
fields or X-Closet-* headers): `target` (a domain of the checkpoint's sidecar; required),
`mode` latent|reference (default: reference when a `reference` file is sent), `seed` (latent; integer, same seed -> same bytes), `psi` (latent
truncation, 0..1], `describe=true` (JSON with the domains instead of an image). Reference mode
takes the style image as multipart field `reference`. Returns a PNG at the model's img_size.
A batch of N requests runs as one generator forward pass.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from PIL import Image

from closet.errors import BadImage, BadOption, ClosetError, UnknownTarget
from closet.imageio import decode_image, encode_image
from closet.serving.handler import ClosetHandler, Reply
from closet.serving.options import Option, ParsedRequest, boolean, choice, integer, parse_request, safe_preview
from closet.translation import MODES, resolve_mode

MAX_SEED = 2**31 - 1


def _psi(value: str) -> float:
    try:
        v = float(value)
    except ValueError:
        raise ValueError("must be a number in (0, 1]") from None
    if not 0 < v <= 1:
        raise ValueError("must be a number in (0, 1]")
    return v


class TranslationHandler(ClosetHandler):
    name = "translation"
    options = {
        "target": Option(lambda v: v.strip().lower(), None, "target domain (see describe=true)"),
        "mode": Option(choice(*MODES), None,
                       "latent: style from a seeded z; reference: style of 'reference' (default when one is sent)"),
        "seed": Option(integer(0, MAX_SEED), None, "latent style seed; default: random (returned in X-Closet-Seed)"),
        "psi": Option(_psi, 1.0, "latent truncation towards the domain's mean style, (0, 1]"),
        "describe": Option(boolean, False, "true: return JSON metadata (domains) instead of translating"),
    }
    file_fields = ("reference",)

    def load(self, model_dir: str, context) -> None:
        from closet.models.stargan_v2 import load_with_sidecar

        self.nets = load_with_sidecar(str(Path(model_dir) / "stargan.ckpt"), str(Path(model_dir) / "stargan-meta.json"))
        self.nets.to(self.device).eval()

    def describe(self) -> dict:
        from closet.translation import is_grayscale

        meta = self.nets.meta
        return {
            "model": self.name, "domains": list(self.nets.domains), "img_size": self.nets.img_size,
            "modes": list(MODES), "grayscale": is_grayscale(self.nets), "files": ["image", "reference"],
            "options": sorted(self.options), "trained_steps": meta.get("steps"), "data_source": meta.get("data_source"),
        }

    def parse(self, row, headers, request_id) -> ParsedRequest:
        try:
            return super().parse(row, headers, request_id)
        except BadImage:  # describe needs no image (a JSON body's own error stands)
            if any(isinstance(row.get(k), (dict, list)) for k in ("body", "data")):
                raise
            req = parse_request({**row, "image": b""}, headers, self.options, self.file_fields, request_id=request_id)
            if req.options["describe"]:
                return req
            raise

    def _check(self, req: ParsedRequest) -> int:
        """Validate target/mode/reference of one request; return the target domain index."""
        opts = req.options
        domains = list(self.nets.domains)
        if opts["target"] is None:
            raise UnknownTarget("option 'target' is required", {"allowed": domains})
        if opts["target"] not in domains:
            raise UnknownTarget(f"unknown target '{safe_preview(opts['target'])}'", {"allowed": domains})
        if resolve_mode(opts["mode"], bool(req.files.get("reference"))) == "reference":
            if opts["seed"] is not None or opts["psi"] != 1.0:
                raise BadOption("'seed' and 'psi' apply to mode=latent only", {"mode": "reference"})
        return domains.index(opts["target"])

    def predict(self, batch: list[ParsedRequest]) -> list[Reply | ClosetError]:
        import torch

        from closet.translation import Latent, Reference, is_grayscale, postprocess, prepare, translate

        limits, nets = self.config.limits, self.nets
        gray = is_grayscale(nets)
        out: list[Reply | ClosetError | None] = [None] * len(batch)
        rows, xs, ys, sources = [], [], [], []
        with self.timed("decode"):
            for i, req in enumerate(batch):
                if req.options["describe"]:
                    out[i] = Reply(self.describe())
                    continue
                try:  # a bad request fails alone
                    y = self._check(req)
                    img = decode_image(req.image, limits.max_pixels, limits.max_side)
                    if resolve_mode(req.options["mode"], bool(req.files.get("reference"))) == "reference":
                        ref = decode_image(req.files["reference"], limits.max_pixels, limits.max_side)
                        src = Reference(prepare(nets, ref))
                    else:
                        seed = req.options["seed"]
                        src = Latent(secrets.randbelow(MAX_SEED + 1) if seed is None else seed, req.options["psi"])
                except ClosetError as e:
                    out[i] = e
                    continue
                self.metrics.input_megapixels(img.width * img.height / 1e6)
                rows.append(i)
                xs.append(prepare(nets, img))
                ys.append(y)
                sources.append(src)
        if rows:
            with self.timed("translation"):
                fakes = postprocess(translate(nets, torch.stack(xs), ys, sources), gray)  # one generator pass
            with self.timed("encode"):
                for i, fake, y, src in zip(rows, fakes, ys, sources):
                    data, ctype = encode_image(Image.fromarray(fake, "L" if gray else "RGB"), "png")
                    mode = "latent" if isinstance(src, Latent) else "reference"
                    headers = {"X-Closet-Target": nets.domains[y], "X-Closet-Mode": mode}
                    if isinstance(src, Latent):
                        headers["X-Closet-Seed"] = str(src.seed)
                    self.metrics.request(nets.domains[y], mode)
                    out[i] = Reply(data, ctype, headers)
        return out
